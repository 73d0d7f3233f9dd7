package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlstore"
)

// migrationLockKey names the transaction-level advisory lock that serializes migrations
// across nodes ("signet" in ASCII).
const migrationLockKey int64 = 0x7369676e6574

// dialect is how sqlstore talks to PostgreSQL. Times are TIMESTAMPTZ. An update's first
// SELECT takes the row lock FOR NO KEY UPDATE: the lock its UPDATE takes anyway, so
// concurrent updates on any node queue and none is lost, while rows that reference the
// record (a user's new session, a realm's new user) can still be inserted meanwhile.
func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:           "postgres",
		TimeValue:      tstz,
		TimeDest:       func(t *time.Time) any { return pgTime{t} },
		RowLock:        ` FOR NO KEY UPDATE`,
		KeyShareLock:   ` FOR KEY SHARE`,
		SkipLocked:     ` FOR UPDATE SKIP LOCKED`,
		NoWait:         ` FOR UPDATE NOWAIT`,
		InInt64s:       func(column string, n int) string { return fmt.Sprintf("%s = ANY($%d)", column, n) },
		Int64s:         func(list []int64) any { return list },
		LockMigrations: lockMigrations,
		CreateMigrationsTable: `CREATE TABLE IF NOT EXISTS signet_schema_migrations (
			version    INTEGER     PRIMARY KEY,
			name       TEXT        NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL
		)`,
		HasMigrationsTable: `SELECT to_regclass('signet_schema_migrations') IS NOT NULL`,
		Classify:           classify,
	}
}

// lockMigrations takes the migration advisory lock, which PostgreSQL releases when tx
// commits or rolls back.
func lockMigrations(ctx context.Context, tx sqlstore.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey)
	return err
}

// tstz is t as a TIMESTAMPTZ value: store.Timestamp(t), so that a time compares with
// stored ones as on SQLite, or NULL for the zero time.
func tstz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.Timestamp(t)
}

// pgTime scans a TIMESTAMPTZ into t: UTC, the zero time for NULL.
type pgTime struct{ t *time.Time }

func (p pgTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*p.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("timestamp is infinite")
	default:
		*p.t = v.Time.UTC()
	}
	return nil
}
