package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

// execOne runs a statement that changes (deletes, updates) one record and returns the
// error for op: ErrNotFound when it changed nothing.
func (s *Store) execOne(ctx context.Context, op string, query string, args ...any) error {
	n, err := s.exec(ctx, query, args...)
	if err == nil && n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return s.wrapErr(ctx, err, "%s", op)
}

// transact runs fn in one write transaction and commits it when fn returns nil. Errors
// of Begin and Commit are wrapped for op; fn's come back as they are. The transaction
// holds SQLite's only write connection, so fn must not write through this store.
func (s *Store) transact(ctx context.Context, op string, fn func(Tx) error) error {
	tx, err := s.writer.Begin(ctx)
	if err != nil {
		return s.wrapErr(ctx, err, "%s", op)
	}
	// A no-op after Commit; otherwise it ends the transaction even when ctx is done.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return s.wrapErr(ctx, tx.Commit(ctx), "%s", op)
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
	var next T
	err := s.transact(ctx, op, func(tx Tx) error {
		old, err := read(tx)
		if err != nil {
			return s.wrapErr(ctx, err, "%s", op)
		}
		var extra D
		if next, extra, err = prepare(old); err != nil {
			return err
		}
		return s.wrapErr(ctx, write(tx, next, extra), "%s", op)
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return next, nil
}

// filter is one optional condition of a listing: column equals value, unless value is
// empty.
type filter struct{ column, value string }

// where appends the values of the non-empty filters to args and returns their
// conditions, each starting with AND.
func where(args *[]any, filters ...filter) string {
	var conds strings.Builder
	for _, f := range filters {
		if f.value != "" {
			*args = append(*args, f.value)
			fmt.Fprintf(&conds, " AND %s = $%d", f.column, len(*args))
		}
	}
	return conds.String()
}

// limitClause appends limit to args and returns the LIMIT clause that takes it. Build
// the query before passing args on: a call's operands may be read before it runs.
func limitClause(args *[]any, limit int) string {
	*args = append(*args, limit)
	return ` LIMIT $` + strconv.Itoa(len(*args))
}

// listByTime returns one page of the listing kind: the rows of from (a SELECT of the
// columns scan reads) in realm that match filters, ordered by created_at, then id,
// which key returns of an item.
func listByTime[T any](ctx context.Context, s *Store, op, kind, from string, scan func(Row) (T, error),
	key func(T) (time.Time, string), realm string, opts store.ListOptions, filters ...filter,
) (store.Page[T], error) {
	afterTime, afterID, limit, err := store.PageRequestByTime(kind, opts)
	if err != nil {
		return store.Page[T]{}, s.wrapErr(ctx, err, "%s", op)
	}
	args := []any{realm, s.timeValue(afterTime), afterID}
	query := from + ` WHERE realm = $1 AND (created_at, id) > ($2, $3)` + where(&args, filters...)
	query += ` ORDER BY created_at, id` + limitClause(&args, limit+1)
	items, err := queryAll(ctx, s.reader, scan, query, args...)
	if err != nil {
		return store.Page[T]{}, s.wrapErr(ctx, err, "%s", op)
	}
	return store.NewPageByTime(kind, items, limit, key), nil
}
