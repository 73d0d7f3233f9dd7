package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/signet-auth/signet/internal/store"
)

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
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

// queryAll returns every row query selects, each read by scan; none is an empty slice.
func queryAll[T any](ctx context.Context, db querier, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []T{}
	}
	return items, nil
}

// exec runs a write and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int, error) {
	tag, err := s.pool.Exec(ctx, query, args...)
	return int(tag.RowsAffected()), err
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
// with write, in one transaction; D is what prepare hands write beside the record, such
// as its JSON document. read locks the row it reads (SELECT ... FOR NO KEY UPDATE), so
// concurrent updates on any node queue and none is lost; the lock is the one the UPDATE
// takes anyway, and lets rows that reference the record be inserted meanwhile. Errors
// from read, write and the database are wrapped for op; prepare's come back unchanged
// (the caller's own, or an ErrInvalid that names the record).
func update[T, D any](ctx context.Context, s *Store, op string,
	read func(pgx.Tx) (T, error), prepare func(T) (T, D, error), write func(pgx.Tx, T, D) error,
) (T, error) {
	var zero T
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return zero, wrapErr(ctx, err, "%s", op)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit

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
	if err := tx.Commit(ctx); err != nil {
		return zero, wrapErr(ctx, err, "%s", op)
	}
	return next, nil
}
