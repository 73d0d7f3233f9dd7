// Package testdb opens a migrated, empty durable store for tests of the packages above
// the store, on SQLite (a temporary file) or on PostgreSQL (a fresh schema in the
// database named by SIGNET_TEST_POSTGRES_URL, dropped at cleanup), so end-to-end suites
// run unchanged on both back ends.
package testdb

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/postgres"
	"github.com/signet-auth/signet/internal/store/sqlite"
	"github.com/signet-auth/signet/internal/testutil"
)

// Backends are the durable back ends every end-to-end suite runs on.
var Backends = []string{"sqlite", "postgres"}

// Open returns a migrated store of backend, closed at cleanup. The PostgreSQL variant is
// skipped when SIGNET_TEST_POSTGRES_URL is unset (CI always sets it and fails on skips).
func Open(t testing.TB, backend string) store.Store {
	t.Helper()
	ctx := context.Background()
	var s store.Store
	switch backend {
	case "sqlite":
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "signet.db"))
		if err != nil {
			t.Fatal(err)
		}
		s = db
	case "postgres":
		s = openSchema(t, nil)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// OpenPostgresVia is Open("postgres") with every connection going through a cuttable
// loopback proxy, for tests of what happens when the database goes away.
func OpenPostgresVia(t testing.TB) (store.Store, *testutil.Proxy) {
	t.Helper()
	var proxy *testutil.Proxy
	s := openSchema(t, func(cfg *pgxpool.Config) {
		proxy = testutil.NewProxy(t, fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port))
		host, port, _ := net.SplitHostPort(proxy.Addr())
		n, _ := strconv.Atoi(port)
		cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(n)
	})
	t.Cleanup(func() { s.Close() })
	if _, err := s.MigrateUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, proxy
}

func openSchema(t testing.TB, tweak func(*pgxpool.Config)) store.Store {
	url := testutil.PostgresURL(t)
	schema := "signet_e2e_" + strings.ToLower(rand.Text()[:16])
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	if tweak != nil {
		tweak(cfg)
	}
	s, err := postgres.OpenConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
