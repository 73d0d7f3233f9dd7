package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/store/sqlstore"
)

// sqlDB adapts a database/sql handle to sqlstore.DB. Its queries run as prepared
// statements, each prepared once per connection and kept (see statements).
type sqlDB struct {
	sqlQuerier
	db *sql.DB
}

func newDB(db *sql.DB) sqlDB {
	st := &statements{db: db, m: map[string]*sql.Stmt{}}
	return sqlDB{sqlQuerier{q: db, st: st}, db}
}

// Begin starts a transaction; on the writer, whose DSN sets _txlock=immediate, it is
// BEGIN IMMEDIATE.
func (d sqlDB) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqlTx{sqlQuerier: sqlQuerier{q: tx, st: d.st, tx: tx, missed: new([]string)}, tx: tx}, nil
}

func (d sqlDB) Close() error { return errors.Join(d.st.close(), d.db.Close()) }

// statements keeps a prepared statement per distinct query. Preparing (parsing and
// planning) is most of what a simple indexed read costs in SQLite: a user read by id
// took 63 µs prepared anew each time (BenchmarkGetUser). database/sql prepares a kept
// statement again on each pooled connection the first time it runs there, and resets it
// when its rows are closed, so no statement holds a read snapshot between queries. The
// queries are the store's own constants and the few variants its listings build, so
// the set is small; past maxStatements further queries simply run unprepared.
type statements struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

const maxStatements = 512

// cached returns the statement kept for query, if there is one.
func (s *statements) cached(query string) *sql.Stmt {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[query]
}

// get returns the statement for query, preparing it if it is not kept yet; nil when the
// cache is full. It prepares without holding the lock: preparing takes a connection
// from the pool, which may wait.
func (s *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := s.cached(query); st != nil {
		return st, nil
	}
	s.mu.RLock()
	full := len(s.m) >= maxStatements
	s.mu.RUnlock()
	if full {
		return nil, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kept := s.m[query]; kept != nil { // prepared meanwhile by another caller
		_ = st.Close()
		return kept, nil
	}
	if len(s.m) >= maxStatements {
		_ = st.Close()
		return nil, nil
	}
	s.m[query] = st
	return st, nil
}

func (s *statements) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for q, st := range s.m {
		errs = append(errs, st.Close())
		delete(s.m, q)
	}
	return errors.Join(errs...)
}

// sqlTx adapts a *sql.Tx to sqlstore.Tx. database/sql ends a transaction whose context
// is done by itself, so Commit and Rollback need none.
type sqlTx struct {
	sqlQuerier
	tx *sql.Tx
}

func (t *sqlTx) Commit(ctx context.Context) error {
	err := t.tx.Commit()
	t.prepareMissed(ctx)
	return err
}

func (t *sqlTx) Rollback(ctx context.Context) error {
	err := t.tx.Rollback()
	t.prepareMissed(ctx)
	return err
}

// prepareMissed keeps a statement for each query the transaction ran unprepared, now
// that its connection is back in the pool, so the next transaction finds them kept: an
// insert parsed anew in every transaction cost a third of an event-log write. A failure
// only leaves the query unprepared.
func (t *sqlTx) prepareMissed(ctx context.Context) {
	missed := *t.missed
	if len(missed) == 0 {
		return
	}
	*t.missed = nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), prepareTimeout)
	defer cancel()
	for _, q := range missed {
		if _, err := t.st.get(ctx, q); err != nil {
			return
		}
	}
}

// prepareTimeout bounds waiting for the writer connection to prepare what a transaction
// missed.
const prepareTimeout = 2 * time.Second

// sqlQuerier adapts a *sql.DB or a *sql.Tx to sqlstore.Querier, through the pool's
// kept statements.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	st *statements
	// tx is set in a transaction. There a kept statement is used only if it exists
	// already: preparing a new one takes a pool connection, and the writer pool's only
	// one is the transaction's.
	tx *sql.Tx
	// missed collects, in a transaction, the queries that ran unprepared, to prepare
	// once it has ended.
	missed *[]string
}

// stmt returns a kept statement for query, bound to the transaction when there is one;
// nil means run query unprepared.
func (q sqlQuerier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if q.tx != nil {
		if st := q.st.cached(query); st != nil {
			return q.tx.StmtContext(ctx, st), nil
		}
		if len(*q.missed) < 16 && !slices.Contains(*q.missed, query) {
			*q.missed = append(*q.missed, query)
		}
		return nil, nil
	}
	return q.st.get(ctx, query)
}

func (q sqlQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := q.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.q.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	st, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.q.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q sqlQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	st, err := q.stmt(ctx, query)
	switch {
	case err != nil:
		return errRow{err}
	case st != nil:
		return st.QueryRowContext(ctx, args...)
	}
	return q.q.QueryRowContext(ctx, query, args...)
}

// errRow is a row whose Scan reports the error that kept the query from running.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// sqlRows is a *sql.Rows whose Close reports nothing: its error, if any, is the one
// Err returns after the last row.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
