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

// Open returns a migrated store of backend, opened with opts and closed at cleanup. The
// PostgreSQL variant is skipped when SIGNET_TEST_POSTGRES_URL is unset (CI always sets it
// and fails on skips).
func Open(t testing.TB, backend string, opts ...store.Option) store.Store {
	t.Helper()
	return Fresh(t, backend)(t, opts...)
}

// Opener opens one database again and again, as several nodes or a restarted node do:
// each call returns a new migrated store on it, opened with opts and closed at cleanup
// (closing it earlier is fine).
type Opener func(t testing.TB, opts ...store.Option) store.Store

// Fresh creates an empty database of backend, dropped at cleanup, and returns its
// Opener: a file in a temporary directory for SQLite, a schema for PostgreSQL.
func Fresh(t testing.TB, backend string) Opener {
	t.Helper()
	var open func(t testing.TB, opts []store.Option) store.Store
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "signet.db")
		open = func(t testing.TB, opts []store.Option) store.Store {
			db, err := sqlite.Open(context.Background(), path, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	case "postgres":
		url, schema := newSchema(t)
		open = func(t testing.TB, opts []store.Option) store.Store { return openSchema(t, url, schema, nil, opts...) }
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	return func(t testing.TB, opts ...store.Option) store.Store {
		t.Helper()
		s := open(t, opts)
		t.Cleanup(func() { s.Close() })
		if _, err := s.MigrateUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// OpenPostgresVia is Open("postgres") with every connection going through a cuttable
// loopback proxy, for tests of what happens when the database goes away.
func OpenPostgresVia(t testing.TB) (store.Store, *testutil.Proxy) {
	t.Helper()
	var proxy *testutil.Proxy
	url, schema := newSchema(t)
	s := openSchema(t, url, schema, func(cfg *pgxpool.Config) {
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

// newSchema creates an empty schema in the test database, dropped at cleanup, and
// returns the database URL and the schema's name.
func newSchema(t testing.TB) (url, schema string) {
	url = testutil.PostgresURL(t)
	schema = "signet_e2e_" + strings.ToLower(rand.Text()[:16])
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
	return url, schema
}

// openSchema opens a store on url that sees only schema; tweak, when not nil, adjusts
// the pool configuration first.
func openSchema(t testing.TB, url, schema string, tweak func(*pgxpool.Config), opts ...store.Option) store.Store {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 8
	if tweak != nil {
		tweak(cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := postgres.OpenConfig(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
