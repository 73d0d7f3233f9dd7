package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/storetest"
)

func TestClassifyCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		want error
	}{
		{sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, store.ErrConflict},
		{sqlite3.SQLITE_CONSTRAINT_UNIQUE, store.ErrConflict},
		{sqlite3.SQLITE_CANTOPEN, store.ErrUnavailable},
		{sqlite3.SQLITE_CANTOPEN_ISDIR, store.ErrUnavailable},
		{sqlite3.SQLITE_IOERR, store.ErrUnavailable},
		{sqlite3.SQLITE_IOERR_READ, store.ErrUnavailable},
		{sqlite3.SQLITE_IOERR_SHORT_READ, store.ErrUnavailable},
		{sqlite3.SQLITE_IOERR_WRITE, store.ErrUnavailable},
		{sqlite3.SQLITE_IOERR_FSYNC, store.ErrUnavailable},
		{sqlite3.SQLITE_FULL, store.ErrUnavailable},
		{sqlite3.SQLITE_BUSY, store.ErrUnavailable},
		{sqlite3.SQLITE_BUSY_SNAPSHOT, store.ErrUnavailable},
		{sqlite3.SQLITE_CONSTRAINT_NOTNULL, nil},
		{sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, store.ErrNotFound},
		{sqlite3.SQLITE_ERROR, nil},
		{sqlite3.SQLITE_INTERRUPT, nil},
		{sqlite3.SQLITE_READONLY, nil},
	} {
		if got := classifyCode(tc.code); got != tc.want {
			t.Errorf("classifyCode(%d, %s) = %v, want %v", tc.code, sqlite.ErrorCodeString[tc.code], got, tc.want)
		}
	}
}

// TestWrapErr maps errors the driver really returns.
func TestWrapErr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "signet.db")
	db := openDB(t, "file:"+path+"?_pragma=busy_timeout(10)&_pragma=foreign_keys(1)&_txlock=immediate")
	db.SetMaxOpenConns(1) // so the max_page_count pragma holds for every statement
	exec := func(query string) error {
		_, err := db.ExecContext(t.Context(), query)
		return err
	}
	if err := exec(`CREATE TABLE t (k TEXT NOT NULL PRIMARY KEY, v TEXT) STRICT`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO t VALUES ('a', '')`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`CREATE TABLE child (k TEXT NOT NULL REFERENCES t (k)) STRICT`); err != nil {
		t.Fatal(err)
	}

	// Another connection holds the write lock for longer than busy_timeout.
	holder := openDB(t, "file:"+path+"?_txlock=immediate")
	tx, err := holder.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, busy := db.BeginTx(t.Context(), nil)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	_, cantOpen := openDB(t, "file:"+filepath.Join(dir, "missing", "x.db")).ExecContext(t.Context(), `SELECT 1`)

	if err := exec(`PRAGMA max_page_count = 1`); err != nil { // 1 becomes the current size
		t.Fatal(err)
	}
	full := exec(`INSERT INTO t VALUES ('big', '` + strings.Repeat("x", 64<<10) + `')`)
	if err := exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}

	// A query that never ends on its own, stopped by its context: the driver interrupts it.
	endless := func(ctx context.Context) error {
		var n int
		return db.QueryRowContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`).Scan(&n)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	cancelledErr := endless(cancelled)
	expired, cancelExpired := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancelExpired()
	expiredErr := endless(expired)

	for _, tc := range []struct {
		name      string
		err       error
		ctx       context.Context
		want, not error
	}{
		{"busy", busy, t.Context(), store.ErrUnavailable, nil},
		{"cannot open", cantOpen, t.Context(), store.ErrUnavailable, nil},
		{"disk full", full, t.Context(), store.ErrUnavailable, nil},
		{"unique", exec(`INSERT INTO t VALUES ('a', '')`), t.Context(), store.ErrConflict, store.ErrUnavailable},
		{"not null", exec(`INSERT INTO t VALUES (NULL, '')`), t.Context(), nil, store.ErrUnavailable},
		{"foreign key", exec(`INSERT INTO child VALUES ('missing')`), t.Context(), store.ErrNotFound, store.ErrUnavailable},
		{"syntax", exec(`SELEKT 1`), t.Context(), nil, store.ErrUnavailable},
		{"cancelled", cancelledErr, cancelled, context.Canceled, store.ErrUnavailable},
		{"deadline", expiredErr, expired, store.ErrUnavailable, nil},
	} {
		if tc.err == nil {
			t.Errorf("%s: the driver returned no error", tc.name)
			continue
		}
		if _, ok := errors.AsType[*sqlite.Error](tc.err); !ok && tc.ctx == t.Context() {
			t.Errorf("%s: the driver returned %v, want a *sqlite.Error", tc.name, tc.err)
			continue
		}
		err := dialect().WrapError(tc.ctx, tc.err, "op")
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: WrapError = %v, want it to wrap the driver error", tc.name, err)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: WrapError = %v, want it to wrap %v", tc.name, err, tc.want)
		}
		if tc.not != nil && errors.Is(err, tc.not) {
			t.Errorf("%s: WrapError = %v, want it not to wrap %v", tc.name, err, tc.not)
		}
	}
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDiskFull fills the disk under a live store, as far as SQLite can tell: writes
// answer ErrUnavailable, and once there is room again the same store writes again.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	s := storetest.Migrated(t, openAt(t, filepath.Join(t.TempDir(), "signet.db"))).(*Store)
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateRealm(t.Context(), store.Realm{Name: "kept"}); err != nil {
		t.Fatalf("CreateRealm: %v", err)
	}
	// The writer pool holds one connection for good, so the limit stays on every write.
	setMaxPages := func(n int) {
		t.Helper()
		if _, err := s.writer.ExecContext(t.Context(), `PRAGMA max_page_count = `+strconv.Itoa(n)); err != nil {
			t.Fatalf("PRAGMA max_page_count: %v", err)
		}
	}
	big := map[string]string{"blob": strings.Repeat("x", 64<<10)}

	setMaxPages(1) // 1 becomes the current size
	if _, err := s.CreateRealm(t.Context(), store.Realm{Name: "big", Attributes: big}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateRealm on a full disk: %v, want ErrUnavailable", err)
	}
	_, err := s.UpdateRealm(t.Context(), "kept", func(r store.Realm) (store.Realm, error) {
		r.Attributes = big
		return r, nil
	})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("UpdateRealm on a full disk: %v, want ErrUnavailable", err)
	}

	setMaxPages(1073741823)
	if _, err := s.CreateRealm(t.Context(), store.Realm{Name: "big", Attributes: big}); err != nil {
		t.Errorf("CreateRealm with room again: %v", err)
	}
}
