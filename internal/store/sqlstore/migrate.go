package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// MigrateUp applies every pending migration in order, each in its own write transaction
// that holds the dialect's migration lock, so nodes that start together apply each
// migration exactly once. It refuses a database migrated by a newer build.
func (s *Store) MigrateUp(ctx context.Context) ([]store.Migration, error) {
	op := "migrate " + s.dialect.Name
	var recorded map[int]time.Time
	// Even CREATE TABLE IF NOT EXISTS fails on PostgreSQL when two sessions race on it,
	// so it runs under the lock too.
	err := s.migrationTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, s.dialect.CreateMigrationsTable); err != nil {
			return err
		}
		var err error
		recorded, err = s.recordedMigrations(ctx, tx)
		return err
	})
	if err != nil {
		return nil, s.wrapErr(ctx, err, "%s", op)
	}
	if err := store.CheckSchemaNotNewer(store.MigrationStatusOf(s.migrations, recorded)); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	applied, err := store.ApplyMigrations(ctx, s.migrations, s.applyMigration)
	if err != nil {
		return applied, s.wrapErr(ctx, err, "%s", op)
	}
	return applied, nil
}

func (s *Store) applyMigration(ctx context.Context, m store.MigrationFile) (at time.Time, applied bool, err error) {
	err = s.migrationTx(ctx, func(tx Tx) error {
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
			m.Version, m.Name, s.timeValue(at)); err != nil {
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

// migrationTx runs fn in a write transaction that first takes the migration lock. The
// write transaction alone serializes migrations on SQLite (BEGIN IMMEDIATE, across
// processes too); PostgreSQL takes an advisory lock that it releases at commit or
// rollback.
func (s *Store) migrationTx(ctx context.Context, fn func(Tx) error) error {
	tx, err := s.writer.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit

	if lock := s.dialect.LockMigrations; lock != nil {
		if err := lock(ctx, tx); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// MigrationStatus lists every embedded migration and whether it is applied, then every
// recorded migration this build lacks.
func (s *Store) MigrationStatus(ctx context.Context) ([]store.Migration, error) {
	var exists bool
	if err := s.reader.QueryRow(ctx, s.dialect.HasMigrationsTable).Scan(&exists); err != nil {
		return nil, s.wrapErr(ctx, err, "migration status")
	}
	recorded := map[int]time.Time{}
	if exists {
		var err error
		if recorded, err = s.recordedMigrations(ctx, s.reader); err != nil {
			return nil, s.wrapErr(ctx, err, "migration status")
		}
	}
	return store.MigrationStatusOf(s.migrations, recorded), nil
}

// recordedMigrations reads signet_schema_migrations: each recorded version and when it
// was applied.
func (s *Store) recordedMigrations(ctx context.Context, db Querier) (map[int]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT version, applied_at FROM signet_schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recorded := map[int]time.Time{}
	for rows.Next() {
		var (
			version int
			at      time.Time
		)
		if err := rows.Scan(&version, s.timeDest(&at)); err != nil {
			return nil, err
		}
		recorded[version] = at
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recorded, nil
}
