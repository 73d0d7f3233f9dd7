// Package postgres is the clustered store back end on PostgreSQL, through a pgx
// connection pool. Several nodes share one database; row locks and an advisory lock
// keep their concurrent updates and migrations safe. The queries are sqlstore's; this
// package opens the pool and supplies the dialect.
package postgres

import (
	"context"
	"crypto/tls"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL back end. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	// pool is the embedded store's only DB, for writes and reads alike.
	pool *pgxpool.Pool
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
	s := newStore(pool, migrations, opts...)
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// newStore returns a Store on pool without connecting.
func newStore(pool *pgxpool.Pool, migrations []store.MigrationFile, opts ...store.Option) *Store {
	db := newDB(pool)
	return &Store{
		Store: sqlstore.New(sqlstore.Config{
			Dialect:    dialect(),
			Writer:     db,
			Reader:     db,
			Migrations: migrations,
		}, opts...),
		pool: pool,
	}
}
