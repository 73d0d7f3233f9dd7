package sqlite

import (
	"context"
	"database/sql"

	"github.com/signet-auth/signet/internal/store/sqlstore"
)

// sqlDB adapts a database/sql handle to sqlstore.DB.
type sqlDB struct {
	sqlQuerier
	db *sql.DB
}

func newDB(db *sql.DB) sqlDB { return sqlDB{sqlQuerier{db}, db} }

// Begin starts a transaction; on the writer, whose DSN sets _txlock=immediate, it is
// BEGIN IMMEDIATE.
func (d sqlDB) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sqlTx{sqlQuerier{tx}, tx}, nil
}

func (d sqlDB) Close() error { return d.db.Close() }

// sqlTx adapts a *sql.Tx to sqlstore.Tx. database/sql ends a transaction whose context
// is done by itself, so Commit and Rollback need none.
type sqlTx struct {
	sqlQuerier
	tx *sql.Tx
}

func (t sqlTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }

// sqlQuerier adapts a *sql.DB or a *sql.Tx to sqlstore.Querier.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (q sqlQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q sqlQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.q.QueryRowContext(ctx, query, args...)
}

// sqlRows is a *sql.Rows whose Close reports nothing: its error, if any, is the one
// Err returns after the last row.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
