package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-auth/signet/internal/store"
)

// migrationLockKey names the transaction-level advisory lock that serializes migrations
// across nodes ("signet" in ASCII).
const migrationLockKey int64 = 0x7369676e6574

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS signet_schema_migrations (
	version    INTEGER     PRIMARY KEY,
	name       TEXT        NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL
)`

// MigrateUp applies every pending migration in order, each in its own transaction that
// first takes the migration advisory lock, so nodes that start together apply each
// migration exactly once. It refuses a database migrated by a newer build.
func (s *Store) MigrateUp(ctx context.Context) ([]store.Migration, error) {
	var recorded map[int]time.Time
	// Even CREATE TABLE IF NOT EXISTS fails when two sessions race on it, so it runs
	// under the lock too.
	err := s.lockedTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
			return err
		}
		var err error
		recorded, err = recordedMigrations(ctx, tx)
		return err
	})
	if err != nil {
		return nil, wrapErr(ctx, err, "migrate postgres")
	}
	if err := store.CheckSchemaNotNewer(store.MigrationStatusOf(s.migrations, recorded)); err != nil {
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	applied, err := store.ApplyMigrations(ctx, s.migrations, s.applyMigration)
	if err != nil {
		return applied, wrapErr(ctx, err, "migrate postgres")
	}
	return applied, nil
}

func (s *Store) applyMigration(ctx context.Context, m store.MigrationFile) (at time.Time, applied bool, err error) {
	err = s.lockedTx(ctx, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM signet_schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		at = store.Timestamp(s.now())
		if _, err := tx.Exec(ctx,
			`INSERT INTO signet_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, at); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return at, applied, nil
}

// lockedTx runs fn in a transaction holding the migration advisory lock, which
// PostgreSQL releases at commit or rollback.
func (s *Store) lockedTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
			return err
		}
		return fn(tx)
	})
}

// MigrationStatus lists every embedded migration and whether it is applied, then every
// recorded migration this build lacks.
func (s *Store) MigrationStatus(ctx context.Context) ([]store.Migration, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx,
		`SELECT to_regclass('signet_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, wrapErr(ctx, err, "migration status")
	}
	recorded := map[int]time.Time{}
	if exists {
		var err error
		if recorded, err = recordedMigrations(ctx, s.pool); err != nil {
			return nil, wrapErr(ctx, err, "migration status")
		}
	}
	return store.MigrationStatusOf(s.migrations, recorded), nil
}

// recordedMigrations reads signet_schema_migrations: each recorded version and when it
// was applied.
func recordedMigrations(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) (map[int]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT version, applied_at FROM signet_schema_migrations`)
	if err != nil {
		return nil, err
	}
	recorded := map[int]time.Time{}
	var (
		version int
		at      time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&version, &at}, func() error {
		recorded[version] = at.UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recorded, nil
}
