package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

// TestStatementsKept: queries run as kept prepared statements, a kept statement never
// serves a stale snapshot (a read after a write sees it, on every pooled connection),
// transactions use kept statements without preparing new ones, and past the bound
// queries still run, unprepared.
func TestStatementsKept(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "signet.db")
	s := openAt(t, path)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRealm(ctx, store.Realm{Name: "r", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, store.User{Realm: "r", ID: "u1", Username: "alice", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	rd := newDB(s.reader)
	if _, err := s.GetUser(ctx, "r", "u1"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		name := fmt.Sprintf("name-%d", i)
		if _, err := s.UpdateUser(ctx, "r", "u1", func(u store.User) (store.User, error) {
			u.Profile.Name = name
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		// Several reads at once, so more than one pooled connection runs the statement.
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				u, err := s.GetUser(ctx, "r", "u1")
				if err == nil && u.Profile.Name != name {
					err = fmt.Errorf("read %q after writing %q: a stale snapshot", u.Profile.Name, name)
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}

	// A pool's own statements: kept once per query, bounded.
	q := `SELECT count(*) FROM users WHERE realm = $1`
	var n int
	if err := rd.QueryRow(ctx, q, "r").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count: %d %v", n, err)
	}
	if rd.st.cached(q) == nil {
		t.Fatal("a query ran without its statement being kept")
	}
	for i := len(rd.st.m); i < maxStatements; i++ {
		if err := rd.QueryRow(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	extra := `SELECT 'past the bound'`
	var got string
	if err := rd.QueryRow(ctx, extra).Scan(&got); err != nil || got != "past the bound" {
		t.Fatalf("past the bound: %q %v", got, err)
	}
	if len(rd.st.m) != maxStatements || rd.st.cached(extra) != nil {
		t.Fatalf("%d statements kept, want %d", len(rd.st.m), maxStatements)
	}

	// In a transaction on the single writer connection: a kept statement is used, a
	// new query runs unprepared, and neither waits for a second connection.
	wr := newDB(s.writer)
	if _, err := wr.Exec(ctx, `UPDATE users SET version = version WHERE realm = $1`, "r"); err != nil {
		t.Fatal(err)
	}
	tx, err := wr.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE users SET version = version WHERE realm = $1`, "r"); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = $1`, "u1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("in a transaction: %d %v", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The kept statement outlives the transaction that used it, on the same connection
	// and in the next transaction.
	for range 2 {
		if _, err := wr.Exec(ctx, `UPDATE users SET version = version WHERE realm = $1`, "r"); err != nil {
			t.Fatalf("after the transaction: %v", err)
		}
		tx, err := wr.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET version = version WHERE realm = $1`, "r"); err != nil {
			t.Fatalf("in the next transaction: %v", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := rd.st.close(); err != nil || len(rd.st.m) != 0 {
		t.Fatalf("close: %v, %d statements left", err, len(rd.st.m))
	}
	_ = wr.st.close()
}
