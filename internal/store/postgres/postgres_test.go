package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/storetest"
	"github.com/signet-auth/signet/internal/testutil"
)

// freshSchema creates an empty schema for one test, dropped at cleanup, and returns an
// opener whose stores see only that schema.
func freshSchema(t *testing.T) storetest.Database {
	t.Helper()
	url, schema := newSchema(t)
	return func(t *testing.T) store.Store { return openSchema(t, url, schema, nil) }
}

// newSchema creates an empty schema in the test database, dropped at cleanup, and
// returns the database URL and the schema's name.
func newSchema(t *testing.T) (url, schema string) {
	t.Helper()
	url = testutil.PostgresURL(t)
	// rand.Text is upper-case base32; lowered, the name needs no quoting.
	schema = "signet_t_" + strings.ToLower(rand.Text()[:16])
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := admin(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return url, schema
}

// openSchema opens a store on url that sees only schema; tweak, when not nil, adjusts
// the pool configuration first.
func openSchema(t *testing.T, url, schema string, tweak func(*pgxpool.Config)) *Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	// Many stores run at once in parallel tests; keep them within max_connections.
	cfg.MaxConns = 4
	if tweak != nil {
		tweak(cfg)
	}
	s, err := OpenConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("OpenConfig: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return storetest.Migrated(t, freshSchema(t)(t))
	}, storetest.WithRecordMigration(recordMigration))
}

// recordMigration records version as applied, as a newer build's MigrateUp would.
func recordMigration(t *testing.T, s store.Store, version int) {
	t.Helper()
	_, err := s.(*Store).pool.Exec(t.Context(),
		`INSERT INTO signet_schema_migrations (version, name, applied_at) VALUES ($1, 'from_a_newer_build', now())`, version)
	if err != nil {
		t.Fatalf("record migration %d: %v", version, err)
	}
}

func TestShared(t *testing.T) {
	t.Parallel()
	storetest.RunShared(t, freshSchema)
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback refuses connections at once; connect_timeout bounds the rest.
	const url = "postgres://signet@127.0.0.1:1/signet?connect_timeout=2&sslmode=disable"
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	t.Run("Open", func(t *testing.T) {
		_, err := Open(ctx, url)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open error = %v, want ErrUnavailable", err)
		}
	})
	t.Run("Ping", func(t *testing.T) {
		// pgxpool connects lazily, so a Store on an unreachable server can exist, as it
		// does when the database goes away after Open.
		pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
		if err != nil {
			t.Fatalf("NewWithConfig: %v", err)
		}
		s := newStore(pool, nil)
		defer s.Close()
		err = s.Ping(ctx)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Ping error = %v, want ErrUnavailable", err)
		}
	})
	t.Run("BadURL", func(t *testing.T) {
		_, err := Open(ctx, "postgres://%zz")
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(bad URL) error = %v, want a parse error", err)
		}
	})
}

// TestNameCollation pins the key columns that listings order or page on to bytewise
// order, which the conformance listings only catch when the database's own locale is not
// C already.
func TestNameCollation(t *testing.T) {
	t.Parallel()
	s := storetest.Migrated(t, freshSchema(t)(t)).(*Store)
	t.Cleanup(func() { s.Close() })
	for _, col := range []string{
		"realms.name",
		"users.realm", "users.id", "users.username_lower", "users.email_lower",
		"clients.realm", "clients.client_id",
		"signing_keys.realm", "signing_keys.kid",
		"sessions.realm", "sessions.id", "sessions.user_id",
		"grants.realm", "grants.id", "grants.client_id", "grants.user_id", "grants.session_id",
		"consents.realm", "consents.user_id", "consents.client_id",
		"devices.realm", "devices.id", "devices.user_id",
		"activation_codes.realm", "activation_codes.id", "activation_codes.user_id",
		"audit_events.realm", "audit_events.user_id", "audit_events.device_id",
		"authn_requests.realm", "authn_requests.id", "authn_requests.user_id",
		"webhook_subscriptions.realm", "webhook_subscriptions.id",
		"webhook_subscription_types.realm", "webhook_subscription_types.subscription_id", "webhook_subscription_types.pattern",
		"webhook_deliveries.realm", "webhook_deliveries.subscription_id",
	} {
		table, column, _ := strings.Cut(col, ".")
		var collation *string
		err := s.pool.QueryRow(t.Context(),
			`SELECT collation_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`,
			table, column).Scan(&collation)
		if err != nil {
			t.Fatalf("query collation of %s: %v", col, err)
		}
		if collation == nil || *collation != "C" {
			t.Errorf("%s collation = %v, want C", col, collation)
		}
	}
}

// TestUpdateLocksLeaveReferencesFree checks the lock strength that updates take: while
// fn holds a user's or a realm's row, another session may still insert rows that
// reference it (a session of the user, a user of the realm), as logins do during a key
// rotation. A FOR UPDATE lock would block them until fn returned.
func TestUpdateLocksLeaveReferencesFree(t *testing.T) {
	t.Parallel()
	s := storetest.Migrated(t, freshSchema(t)(t)).(*Store)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if _, err := s.CreateRealm(ctx, store.Realm{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, store.User{Realm: "r", ID: "u1", Username: "u1"}); err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a lock that does block fails the test instead of hanging it.
	meanwhile := func(what string, insert func(context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := insert(ctx); err != nil {
			t.Errorf("%s while the row is locked: %v", what, err)
		}
	}
	_, err := s.UpdateUser(ctx, "r", "u1", func(u store.User) (store.User, error) {
		meanwhile("CreateSession", func(ctx context.Context) error {
			_, err := s.CreateSession(ctx, store.Session{Realm: "r", ID: "s1", UserID: "u1"})
			return err
		})
		u.FailedLogins++
		return u, nil
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	_, err = s.UpdateSigningKeys(ctx, "r", func(keys []store.SigningKey) ([]store.SigningKey, error) {
		meanwhile("CreateUser", func(ctx context.Context) error {
			_, err := s.CreateUser(ctx, store.User{Realm: "r", ID: "u2", Username: "u2"})
			return err
		})
		return append(keys, store.SigningKey{KID: "k1", State: "next"}), nil
	})
	if err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
}
