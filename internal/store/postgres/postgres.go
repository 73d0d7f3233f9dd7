// Package postgres is the clustered store back end on PostgreSQL, through a pgx
// connection pool. Several nodes share one database; row locks and an advisory lock
// keep their concurrent updates and migrations safe.
package postgres

import (
	"context"
	"crypto/tls"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-auth/signet/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL back end. It is safe for concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	now        func() time.Time
	migrations []store.MigrationFile
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value string, as pgx
// parses it) and pings it. It does not migrate; call MigrateUp.
func Open(ctx context.Context, url string, opts ...store.Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// TLS to the database, when the URL asks for it, is 1.3 only like every Signet listener.
	// (sslmode=prefer's plaintext fallback has no TLSConfig; operators choose verify-full.)
	if c := cfg.ConnConfig.TLSConfig; c != nil {
		c.MinVersion = tls.VersionTLS13
	}
	for _, fb := range cfg.ConnConfig.Fallbacks {
		if fb.TLSConfig != nil {
			fb.TLSConfig.MinVersion = tls.VersionTLS13
		}
	}
	return OpenConfig(ctx, cfg, opts...)
}

// OpenConfig is Open with a parsed pool configuration, for settings a URL cannot carry
// (tests set search_path through cfg.ConnConfig.RuntimeParams). An unreachable database
// is an error wrapping store.ErrUnavailable.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config, opts ...store.Option) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres migrations: %w", err)
	}
	migrations, err := store.LoadMigrations(sub)
	if err != nil {
		return nil, fmt.Errorf("postgres migrations: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, now: store.NewOptions(opts...).Now, migrations: migrations}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// Backend returns "postgres".
func (s *Store) Backend() string { return "postgres" }

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
