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

	"github.com/jackc/pgx/v5"
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
		{"foreign_key_violation", pgError("23503"), store.ErrNotFound},
		{"no rows", fmt.Errorf("scan: %w", pgx.ErrNoRows), store.ErrNotFound},
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
		if got := dialect().Sentinel(tc.err); got != tc.want {
			t.Errorf("%s: Sentinel(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
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
	seedIdentity(t, s, "kept")

	calls := []call{
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
	}
	calls = append(calls, identityCalls(s, "kept")...)
	calls = append(calls, []call{
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
	}...)
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

// call is one store method, called with what it needs.
type call struct {
	name string
	call func(ctx context.Context) error
}

// seedIdentity gives realm what identityCalls work on: user u1, client c1, session s1
// of u1, grant g1 of u1 to c1 and u1's consent to c1.
func seedIdentity(t *testing.T, s store.Store, realm string) {
	t.Helper()
	ctx := t.Context()
	_, err := s.CreateUser(ctx, store.User{Realm: realm, ID: "u1", Username: "u1", Email: "u1@example.com"})
	if err == nil {
		_, err = s.CreateClient(ctx, store.Client{Realm: realm, ID: "c1"})
	}
	if err == nil {
		_, err = s.CreateSession(ctx, store.Session{Realm: realm, ID: "s1", UserID: "u1"})
	}
	if err == nil {
		_, err = s.CreateGrant(ctx, store.Grant{Realm: realm, ID: "g1", ClientID: "c1", UserID: "u1", SessionID: "s1"})
	}
	if err == nil {
		err = s.PutConsent(ctx, store.Consent{Realm: realm, UserID: "u1", ClientID: "c1"})
	}
	if err != nil {
		t.Fatalf("seed identity: %v", err)
	}
}

// identityCalls calls every method of the identity areas once, in an order in which
// each succeeds on a realm that seedIdentity filled.
func identityCalls(s store.Store, realm string) []call {
	value := func(_ any, err error) error { return err }
	return []call{
		{"CreateUser", func(ctx context.Context) error {
			return value(s.CreateUser(ctx, store.User{Realm: realm, ID: "u2", Username: "u2"}))
		}},
		{"GetUser", func(ctx context.Context) error { return value(s.GetUser(ctx, realm, "u1")) }},
		{"GetUserByUsername", func(ctx context.Context) error { return value(s.GetUserByUsername(ctx, realm, "U1")) }},
		{"GetUserByEmail", func(ctx context.Context) error { return value(s.GetUserByEmail(ctx, realm, "u1@example.com")) }},
		{"ListUsers", func(ctx context.Context) error {
			return value(s.ListUsers(ctx, realm, store.UserFilter{Search: "u"}, store.ListOptions{}))
		}},
		{"UpdateUser", func(ctx context.Context) error {
			return value(s.UpdateUser(ctx, realm, "u1", func(u store.User) (store.User, error) { u.FailedLogins++; return u, nil }))
		}},
		{"CreateClient", func(ctx context.Context) error {
			return value(s.CreateClient(ctx, store.Client{Realm: realm, ID: "c2"}))
		}},
		{"GetClient", func(ctx context.Context) error { return value(s.GetClient(ctx, realm, "c1")) }},
		{"ListClients", func(ctx context.Context) error { return value(s.ListClients(ctx, realm, store.ListOptions{})) }},
		{"UpdateClient", func(ctx context.Context) error {
			return value(s.UpdateClient(ctx, realm, "c1", func(c store.Client) (store.Client, error) { c.Name = "x"; return c, nil }))
		}},
		{"UpdateSigningKeys", func(ctx context.Context) error {
			return value(s.UpdateSigningKeys(ctx, realm, func(keys []store.SigningKey) ([]store.SigningKey, error) {
				return append(keys, store.SigningKey{KID: fmt.Sprintf("k%d", len(keys)), State: "next"}), nil
			}))
		}},
		{"ListSigningKeys", func(ctx context.Context) error { return value(s.ListSigningKeys(ctx, realm)) }},
		{"CreateSession", func(ctx context.Context) error {
			return value(s.CreateSession(ctx, store.Session{Realm: realm, ID: "s2", UserID: "u1"}))
		}},
		{"GetSession", func(ctx context.Context) error { return value(s.GetSession(ctx, realm, "s1")) }},
		{"ListUserSessions", func(ctx context.Context) error { return value(s.ListUserSessions(ctx, realm, "u1")) }},
		{"UpdateSession", func(ctx context.Context) error {
			return value(s.UpdateSession(ctx, realm, "s1", func(sess store.Session) (store.Session, error) { return sess, nil }))
		}},
		{"CreateGrant", func(ctx context.Context) error {
			return value(s.CreateGrant(ctx, store.Grant{Realm: realm, ID: "g2", ClientID: "c1"}))
		}},
		{"GetGrant", func(ctx context.Context) error { return value(s.GetGrant(ctx, realm, "g1")) }},
		{"UpdateGrant", func(ctx context.Context) error {
			return value(s.UpdateGrant(ctx, realm, "g1", func(g store.Grant) (store.Grant, error) { return g, nil }))
		}},
		{"ListUserGrants", func(ctx context.Context) error { return value(s.ListUserGrants(ctx, realm, "u1")) }},
		{"RevokeUserGrants", func(ctx context.Context) error {
			return value(s.RevokeUserGrants(ctx, realm, "u1", "s1", "test", time.Time{}))
		}},
		{"DeleteExpiredGrants", func(ctx context.Context) error { return value(s.DeleteExpiredGrants(ctx, time.Now())) }},
		{"PutConsent", func(ctx context.Context) error {
			return s.PutConsent(ctx, store.Consent{Realm: realm, UserID: "u1", ClientID: "c2"})
		}},
		{"GetConsent", func(ctx context.Context) error { return value(s.GetConsent(ctx, realm, "u1", "c1")) }},
		{"ListUserConsents", func(ctx context.Context) error { return value(s.ListUserConsents(ctx, realm, "u1")) }},
		{"DeleteConsent", func(ctx context.Context) error { return s.DeleteConsent(ctx, realm, "u1", "c1") }},
		{"DeleteSession", func(ctx context.Context) error { return s.DeleteSession(ctx, realm, "s2") }},
		{"DeleteUserSessions", func(ctx context.Context) error { return value(s.DeleteUserSessions(ctx, realm, "u1")) }},
		{"DeleteExpiredSessions", func(ctx context.Context) error { return value(s.DeleteExpiredSessions(ctx, time.Now())) }},
		{"DeleteClient", func(ctx context.Context) error { return s.DeleteClient(ctx, realm, "c2") }},
		{"DeleteUser", func(ctx context.Context) error { return s.DeleteUser(ctx, realm, "u2") }},
	}
}
