package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// row is a *sql.Row or *sql.Rows, for scan functions that read either.
type row interface{ Scan(dest ...any) error }

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
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

// queryAll returns every row query selects, each read by scan; none is an empty slice.
func queryAll[T any](ctx context.Context, db querier, scan func(row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := []T{}
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, rows.Err()
}

// exec runs a write on the writer and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int, error) {
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// deleteOne runs a DELETE of one record and returns the error for op: ErrNotFound when
// there was nothing to delete.
func (s *Store) deleteOne(ctx context.Context, op string, query string, args ...any) error {
	n, err := s.exec(ctx, query, args...)
	if err == nil && n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return wrapErr(ctx, err, "%s", op)
}

// update reads a record with read, computes its successor with prepare and stores that
// with write, in one write transaction; D is what prepare hands write beside the record,
// such as its JSON document. fn, inside prepare, runs while the single writer connection
// is held, so it must not write through this store. Errors from read, write and the
// database are wrapped for op; prepare's come back unchanged (the caller's own, or an
// ErrInvalid that names the record).
func update[T, D any](ctx context.Context, s *Store, op string,
	read func(*sql.Tx) (T, error), prepare func(T) (T, D, error), write func(*sql.Tx, T, D) error,
) (T, error) {
	var zero T
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return zero, wrapErr(ctx, err, "%s", op)
	}
	defer tx.Rollback() // a no-op after Commit

	old, err := read(tx)
	if err != nil {
		return zero, wrapErr(ctx, err, "%s", op)
	}
	next, extra, err := prepare(old)
	if err != nil {
		return zero, err
	}
	if err := write(tx, next, extra); err != nil {
		return zero, wrapErr(ctx, err, "%s", op)
	}
	if err := tx.Commit(); err != nil {
		return zero, wrapErr(ctx, err, "%s", op)
	}
	return next, nil
}
