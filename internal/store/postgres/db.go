package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signet-auth/signet/internal/store/sqlstore"
)

// pgxDB adapts a pgx pool to sqlstore.DB, on pgx's own interface: database/sql would
// convert every argument and column value once more.
type pgxDB struct {
	pgxQuerier
	pool *pgxpool.Pool
}

func newDB(pool *pgxpool.Pool) pgxDB { return pgxDB{pgxQuerier{pool}, pool} }

func (d pgxDB) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgxTx{pgxQuerier{tx}, tx}, nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (d pgxDB) Close() error {
	d.pool.Close()
	return nil
}

// pgxTx adapts a pgx.Tx to sqlstore.Tx.
type pgxTx struct {
	pgxQuerier
	tx pgx.Tx
}

func (t pgxTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgxTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// pgxQuerier adapts a pool or a pgx.Tx to sqlstore.Querier.
type pgxQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (q pgxQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (q pgxQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q pgxQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.q.QueryRow(ctx, query, args...)
}
