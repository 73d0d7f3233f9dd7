package sqlstore

import "context"

// DB is a database connection pool as the store uses it. Each back end adapts its
// driver's: SQLite's database/sql handles, PostgreSQL's pgx pool, which keeps pgx's own
// (faster) path rather than going through database/sql.
type DB interface {
	Querier
	// Begin starts a transaction for a read-modify-write or a migration. On SQLite it
	// takes the write lock at once (BEGIN IMMEDIATE).
	Begin(ctx context.Context) (Tx, error)
	Close() error
}

// Querier runs statements: a DB on any of its connections, a Tx on its own. Queries
// number their arguments $1, $2..., which pgx takes natively and modernc.org/sqlite binds
// by number.
type Querier interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a query for one row; its Scan returns an error that wraps
	// sql.ErrNoRows when there is none (pgx.ErrNoRows does).
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Tx is a transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	// Rollback ends the transaction; after Commit it does nothing and its error does not
	// matter.
	Rollback(ctx context.Context) error
}

// Row is one row of a result, or the error that stopped the query.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result read row by row: a *sql.Rows or a pgx.Rows.
type Rows interface {
	Row
	Next() bool
	Err() error
	Close()
}
