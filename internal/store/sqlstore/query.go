package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// wrapErr is s.dialect.WrapError.
func (s *Store) wrapErr(ctx context.Context, err error, format string, args ...any) error {
	return s.dialect.WrapError(ctx, err, format, args...)
}

// timeValue is t as a column value in this dialect.
func (s *Store) timeValue(t time.Time) any { return s.dialect.TimeValue(t) }

// timeDest is a Scan destination that reads a time column into t.
func (s *Store) timeDest(t *time.Time) any { return s.dialect.TimeDest(t) }

// queryAll returns every row query selects, each read by scan; none is an empty slice.
func queryAll[T any](ctx context.Context, db Querier, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
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
	n, err := s.writer.Exec(ctx, query, args...)
	return int(n), err
}

// deleteOne runs a DELETE of one record and returns the error for op: ErrNotFound when
// there was nothing to delete.
func (s *Store) deleteOne(ctx context.Context, op string, query string, args ...any) error {
	n, err := s.exec(ctx, query, args...)
	if err == nil && n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return s.wrapErr(ctx, err, "%s", op)
}

// update reads a record with read, computes its successor with prepare and stores that
// with write, in one write transaction; D is what prepare hands write beside the record,
// such as its JSON document. read ends its SELECT with s.dialect.RowLock, so concurrent
// updates queue, across nodes too, and none is lost: on PostgreSQL the row lock is FOR
// NO KEY UPDATE, the one the UPDATE takes anyway, which lets rows that reference the
// record be inserted meanwhile; on SQLite the transaction holds the single writer
// connection, so fn, inside prepare, must not write through this store. Errors from
// read, write and the database are wrapped for op; prepare's come back unchanged (the
// caller's own, or an ErrInvalid that names the record).
func update[T, D any](ctx context.Context, s *Store, op string,
	read func(Tx) (T, error), prepare func(T) (T, D, error), write func(Tx, T, D) error,
) (T, error) {
	var zero T
	tx, err := s.writer.Begin(ctx)
	if err != nil {
		return zero, s.wrapErr(ctx, err, "%s", op)
	}
	// A no-op after Commit; otherwise it ends the transaction even when ctx is done.
	defer tx.Rollback(context.WithoutCancel(ctx))

	old, err := read(tx)
	if err != nil {
		return zero, s.wrapErr(ctx, err, "%s", op)
	}
	next, extra, err := prepare(old)
	if err != nil {
		return zero, err
	}
	if err := write(tx, next, extra); err != nil {
		return zero, s.wrapErr(ctx, err, "%s", op)
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, s.wrapErr(ctx, err, "%s", op)
	}
	return next, nil
}
