package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS signet_schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// MigrateUp applies every pending migration in order, each in its own transaction. The
// write lock that BEGIN IMMEDIATE takes serializes callers, in this process and in others.
// It refuses a database migrated by a newer build.
func (s *Store) MigrateUp(ctx context.Context) ([]store.Migration, error) {
	if _, err := s.writer.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, wrapErr(ctx, err, "migrate sqlite")
	}
	recorded, err := recordedMigrations(ctx, s.writer)
	if err != nil {
		return nil, wrapErr(ctx, err, "migrate sqlite")
	}
	if err := store.CheckSchemaNotNewer(store.MigrationStatusOf(s.migrations, recorded)); err != nil {
		return nil, fmt.Errorf("migrate sqlite: %w", err)
	}
	applied, err := store.ApplyMigrations(ctx, s.migrations, s.applyMigration)
	if err != nil {
		return applied, wrapErr(ctx, err, "migrate sqlite")
	}
	return applied, nil
}

func (s *Store) applyMigration(ctx context.Context, m store.MigrationFile) (time.Time, bool, error) {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, false, err
	}
	defer tx.Rollback() // a no-op after Commit

	var done bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM signet_schema_migrations WHERE version = ?)`, m.Version).Scan(&done); err != nil {
		return time.Time{}, false, err
	}
	if done {
		return time.Time{}, false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return time.Time{}, false, err
	}
	at := store.Timestamp(s.now())
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO signet_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, at.UnixNano()); err != nil {
		return time.Time{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, false, err
	}
	return at, true, nil
}

// MigrationStatus lists every embedded migration and whether it is applied, then every
// recorded migration this build lacks.
func (s *Store) MigrationStatus(ctx context.Context) ([]store.Migration, error) {
	var exists bool
	if err := s.reader.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'signet_schema_migrations')`).Scan(&exists); err != nil {
		return nil, wrapErr(ctx, err, "migration status")
	}
	recorded := map[int]time.Time{}
	if exists {
		var err error
		if recorded, err = recordedMigrations(ctx, s.reader); err != nil {
			return nil, wrapErr(ctx, err, "migration status")
		}
	}
	return store.MigrationStatusOf(s.migrations, recorded), nil
}

// recordedMigrations reads signet_schema_migrations: each recorded version and when it
// was applied.
func recordedMigrations(ctx context.Context, db *sql.DB) (map[int]time.Time, error) {
	rows, err := db.QueryContext(ctx, `SELECT version, applied_at FROM signet_schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recorded := map[int]time.Time{}
	for rows.Next() {
		var version int
		var at int64
		if err := rows.Scan(&version, &at); err != nil {
			return nil, err
		}
		recorded[version] = time.Unix(0, at).UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return recorded, nil
}
