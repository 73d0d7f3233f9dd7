package sqlite

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlstore"
)

// dialect is how sqlstore talks to SQLite. Times are INTEGER unix nanoseconds. Updates
// need no row lock and migrations no lock of their own: every write transaction is
// BEGIN IMMEDIATE on the single writer connection, which holds the database's write
// lock against this process and any other.
func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:      "sqlite",
		TimeValue: nanos,
		TimeDest:  func(t *time.Time) any { return nanoTime{t} },
		// The event log appends with plain inserts: RETURNING costs a third more per
		// row through database/sql.
		LastInsertSeq: `SELECT last_insert_rowid()`,
		// A list travels as one JSON array, so its statement is prepared once whatever
		// its length.
		InInt64s: func(column string, n int) string {
			return fmt.Sprintf("%s IN (SELECT value FROM json_each($%d))", column, n)
		},
		Int64s: int64sJSON,
		CreateMigrationsTable: `CREATE TABLE IF NOT EXISTS signet_schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		) STRICT`,
		HasMigrationsTable: `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'signet_schema_migrations')`,
		Classify:           classify,
	}
}

// nanos is t as a column value: UTC unix nanoseconds of store.Timestamp(t), so that a
// time compares with stored ones as on PostgreSQL, or NULL for the zero time. A time
// beyond what an int64 holds, which the store refuses to write but a caller may compare
// with, becomes the nearest one it holds.
func nanos(t time.Time) any {
	t = store.Timestamp(t)
	switch {
	case t.IsZero():
		return nil
	case t.Before(minTime):
		return int64(math.MinInt64)
	case t.After(maxTime):
		return int64(math.MaxInt64)
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanoTime scans a column that nanos wrote into t: UTC, the zero time for NULL.
type nanoTime struct{ t *time.Time }

func (n nanoTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n.t = time.Time{}
	case int64:
		*n.t = time.Unix(0, v).UTC()
	default:
		return fmt.Errorf("time column holds %T, want INTEGER", v)
	}
	return nil
}

// int64sJSON is list as a JSON array.
func int64sJSON(list []int64) any {
	b := make([]byte, 0, 2+len(list)*8)
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return string(append(b, ']'))
}
