package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/storetest"
	"github.com/signet-auth/signet/internal/testutil"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	// A real connection failure: port 1 on loopback refuses at once.
	_, refused := pgconn.Connect(t.Context(), "postgres://signet@127.0.0.1:1/signet?connect_timeout=2&sslmode=disable")
	if _, ok := errors.AsType[*pgconn.ConnectError](refused); !ok {
		t.Fatalf("connect to a closed port: %v, want a *pgconn.ConnectError", refused)
	}
	pgError := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "test"} }
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unique_violation", pgError("23505"), store.ErrConflict},
		{"unique_violation wrapped", fmt.Errorf("exec: %w", pgError("23505")), store.ErrConflict},
		{"connection refused", refused, store.ErrUnavailable},
		{"connection_failure", pgError("08006"), store.ErrUnavailable},
		{"sqlclient_unable_to_establish_sqlconnection", pgError("08001"), store.ErrUnavailable},
		{"admin_shutdown", pgError("57P01"), store.ErrUnavailable},
		{"crash_shutdown", pgError("57P02"), store.ErrUnavailable},
		{"cannot_connect_now", pgError("57P03"), store.ErrUnavailable},
		{"too_many_connections", pgError("53300"), store.ErrUnavailable},
		{"disk_full", pgError("53100"), store.ErrUnavailable},
		{"io_error", pgError("58030"), store.ErrUnavailable},
		{"network", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, store.ErrUnavailable},
		{"EOF", fmt.Errorf("failed to receive message: %w", io.EOF), store.ErrUnavailable},
		{"unexpected EOF", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"conn closed", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), store.ErrUnavailable},
		{"query_canceled", pgError("57014"), nil},
		{"syntax_error", pgError("42601"), nil},
		{"check_violation", pgError("23514"), nil},
		{"other", errors.New("cannot scan"), nil},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("%s: classify(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestOutage cuts the network between a live store and PostgreSQL: every method that
// reaches the database answers ErrUnavailable, promptly rather than at its deadline, and
// once the network is back the same store serves again without being reopened.
func TestOutage(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	direct, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	proxy := testutil.NewProxy(t, net.JoinHostPort(direct.Host, strconv.Itoa(int(direct.Port))))
	host, portText, err := net.SplitHostPort(proxy.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	s := openSchema(t, url, schema, func(cfg *pgxpool.Config) {
		cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(port)
		for _, fallback := range cfg.ConnConfig.Fallbacks { // sslmode=prefer retries without TLS
			fallback.Host, fallback.Port = host, uint16(port)
		}
		// Fail a connection attempt fast, and keep few connections to find broken.
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
		cfg.MaxConns = 2
	})
	t.Cleanup(func() { s.Close() })
	storetest.Migrated(t, s)
	if _, err := s.CreateRealm(t.Context(), store.Realm{Name: "kept"}); err != nil {
		t.Fatalf("CreateRealm: %v", err)
	}

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"CreateRealm", func(ctx context.Context) error {
			_, err := s.CreateRealm(ctx, store.Realm{Name: "during"})
			return err
		}},
		{"GetRealm", func(ctx context.Context) error {
			_, err := s.GetRealm(ctx, "kept")
			return err
		}},
		{"ListRealms", func(ctx context.Context) error {
			_, err := s.ListRealms(ctx, store.ListOptions{})
			return err
		}},
		{"UpdateRealm", func(ctx context.Context) error {
			_, err := s.UpdateRealm(ctx, "kept", func(r store.Realm) (store.Realm, error) {
				r.DisplayName = "updated"
				return r, nil
			})
			return err
		}},
		{"DeleteRealm", func(ctx context.Context) error { return s.DeleteRealm(ctx, "kept") }},
		{"MigrateUp", func(ctx context.Context) error {
			_, err := s.MigrateUp(ctx)
			return err
		}},
		{"MigrationStatus", func(ctx context.Context) error {
			_, err := s.MigrationStatus(ctx)
			return err
		}},
		{"Ping", s.Ping},
	}
	run := func(call func(context.Context) error) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return call(ctx)
	}

	// The first call meets the pooled connection the proxy closed under it; the others
	// meet refused connection attempts.
	proxy.Cut()
	for _, c := range calls {
		err := run(c.call)
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s during the outage: %v; want ErrUnavailable, and before the deadline", c.name, err)
		}
	}

	proxy.Restore()
	testutil.Eventually(t, 10*time.Second, func() bool { return run(s.Ping) == nil }, "the store did not answer again after the outage")
	// Every call now succeeds, in an order that leaves each one something to do.
	for _, c := range calls {
		if err := run(c.call); err != nil {
			t.Errorf("%s after the outage: %v", c.name, err)
		}
	}
	if _, err := s.GetRealm(t.Context(), "during"); err != nil {
		t.Errorf("GetRealm(during) after the outage: %v", err)
	}
}
