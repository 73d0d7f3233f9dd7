package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/storetest"
)

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return storetest.Migrated(t, openAt(t, filepath.Join(t.TempDir(), "signet.db")))
	}, storetest.WithRecordMigration(recordMigration))
}

// recordMigration records version as applied, as a newer build's MigrateUp would.
func recordMigration(t *testing.T, s store.Store, version int) {
	t.Helper()
	_, err := s.(*Store).writer.ExecContext(t.Context(),
		`INSERT INTO signet_schema_migrations (version, name, applied_at) VALUES (?, 'from_a_newer_build', ?)`,
		version, time.Now().UnixNano())
	if err != nil {
		t.Fatalf("record migration %d: %v", version, err)
	}
}

func TestShared(t *testing.T) {
	t.Parallel()
	storetest.RunShared(t, func(t *testing.T) storetest.Database {
		path := filepath.Join(t.TempDir(), "signet.db")
		return func(t *testing.T) store.Store { return openAt(t, path) }
	})
}

// TestPragmas checks the settings on every connection of both pools, not just the
// first: a pooled connection without busy_timeout is how "database is locked" returns.
func TestPragmas(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "signet.db"))
	t.Cleanup(func() { s.Close() })

	check := func(t *testing.T, db *sql.DB, conns int, queryOnly int) {
		t.Helper()
		held := make([]*sql.Conn, 0, conns)
		t.Cleanup(func() {
			for _, c := range held {
				c.Close()
			}
		})
		for range conns {
			c, err := db.Conn(t.Context())
			if err != nil {
				t.Fatalf("Conn: %v", err)
			}
			held = append(held, c)
			var (
				journal                        string
				timeout, fk, sync, onlyQueries int
			)
			for _, q := range []struct {
				pragma string
				dest   any
			}{
				{"journal_mode", &journal},
				{"busy_timeout", &timeout},
				{"foreign_keys", &fk},
				{"synchronous", &sync},
				{"query_only", &onlyQueries},
			} {
				if err := c.QueryRowContext(t.Context(), "PRAGMA "+q.pragma).Scan(q.dest); err != nil {
					t.Fatalf("PRAGMA %s: %v", q.pragma, err)
				}
			}
			if journal != "wal" || timeout != int(busyTimeout/time.Millisecond) || fk != 1 || sync != 1 || onlyQueries != queryOnly {
				t.Errorf("connection %d: journal_mode=%s busy_timeout=%d foreign_keys=%d synchronous=%d query_only=%d; want wal %d 1 1 %d",
					len(held), journal, timeout, fk, sync, onlyQueries, busyTimeout.Milliseconds(), queryOnly)
			}
		}
	}
	t.Run("writer", func(t *testing.T) { check(t, s.writer, 1, 0) })
	t.Run("reader", func(t *testing.T) { check(t, s.reader, 4, 1) })
}

func TestWALFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "signet.db")
	s := storetest.Migrated(t, openAt(t, path))
	if _, err := s.CreateRealm(t.Context(), store.Realm{Name: "wal"}); err != nil {
		t.Fatalf("CreateRealm: %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no write-ahead log beside the database: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// WAL mode is a property of the file: a plain connection sees it too.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatalf("PRAGMA journal_mode: %v", err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state", "db")
	path := filepath.Join(dir, "signet.db")
	s := openAt(t, path)
	t.Cleanup(func() { s.Close() })
	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode(); got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := Open(t.Context(), ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if _, err := Open(t.Context(), t.TempDir()); err == nil {
		t.Error("Open(a directory) succeeded")
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 6789, time.FixedZone("X", 3600))
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "signet.db"), store.WithClock(func() time.Time { return fixed }))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	storetest.Migrated(t, s)
	r, err := s.CreateRealm(t.Context(), store.Realm{Name: "clock"})
	if err != nil {
		t.Fatalf("CreateRealm: %v", err)
	}
	if want := store.Timestamp(fixed); !r.CreatedAt.Equal(want) || r.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", r.CreatedAt, want)
	}
}

// TestNumberedPlaceholders pins the driver behaviour sqlstore's queries rely on: $N binds
// the Nth argument, wherever it stands and however often it recurs, as on PostgreSQL.
func TestNumberedPlaceholders(t *testing.T) {
	t.Parallel()
	db := openDB(t, "file:"+filepath.Join(t.TempDir(), "signet.db"))
	var a, b, c string
	if err := db.QueryRowContext(t.Context(), `SELECT $2, $1, $2 || $3`, "one", "two", "three").Scan(&a, &b, &c); err != nil {
		t.Fatalf("query: %v", err)
	}
	if a != "two" || b != "one" || c != "twothree" {
		t.Errorf("SELECT $2, $1, $2 || $3 = %q, %q, %q; want two, one, twothree", a, b, c)
	}
}
