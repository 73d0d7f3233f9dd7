// Package sqlstore is the one implementation of store.Store in SQL. The sqlite and
// postgres back ends open the connections, adapt them to DB and hand over a Dialect:
// what differs between the two databases (time columns, row locks, migration locking,
// driver errors). Queries are written once, with $1, $2... placeholders, which pgx
// takes natively and modernc.org/sqlite binds by number.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Dialect is what differs between the databases a Store runs on.
type Dialect struct {
	// Name is what Backend returns and error messages use: "sqlite" or "postgres".
	Name string
	// TimeValue is t as a column value, NULL (nil) for the zero time; t is already
	// store.Timestamp's, or is a bound a caller compares with.
	TimeValue func(t time.Time) any
	// TimeDest is a Scan destination that reads a time column into t: UTC, the zero
	// time for NULL.
	TimeDest func(t *time.Time) any
	// RowLock ends the SELECT that starts a read-modify-write transaction: the lock that
	// keeps concurrent updates from being lost. Empty when the write transaction itself
	// excludes other writers (SQLite's BEGIN IMMEDIATE).
	RowLock string
	// KeyShareLock ends a SELECT of a row that the transaction then references (a
	// realm its new rows name), so the row is not deleted before the transaction ends.
	// Empty when the write transaction itself excludes other writers.
	KeyShareLock string
	// SkipLocked ends a SELECT ... LIMIT that picks rows for this transaction to take
	// from a queue: it locks them and passes over rows other transactions hold, so
	// concurrent claimers take different rows. Empty when the write transaction itself
	// excludes other writers.
	SkipLocked string
	// NoWait ends a SELECT that locks the rows it picks, or fails at once, with an error
	// that Classify reads as ErrConflict, when another transaction holds one. Empty when
	// the write transaction itself excludes other writers.
	NoWait string
	// InInt64s returns the condition that column is one of a list of integers bound as
	// the one argument $n, and Int64s that argument's value for a list.
	InInt64s func(column string, n int) string
	Int64s   func(list []int64) any
	// LastInsertSeq, when not empty, selects the rowid of the transaction's last insert;
	// rows inserted one after another in one write transaction then have consecutive
	// ids (SQLite's AUTOINCREMENT under its single writer). Empty: inserts return their
	// ids with RETURNING.
	LastInsertSeq string
	// LockMigrations, when not nil, runs first in each migration transaction and takes a
	// lock that serializes migrating nodes until the transaction ends.
	LockMigrations func(ctx context.Context, tx Tx) error
	// CreateMigrationsTable creates signet_schema_migrations (version, name, applied_at)
	// if it does not exist; applied_at holds TimeValue's values.
	CreateMigrationsTable string
	// HasMigrationsTable selects one boolean: whether signet_schema_migrations exists.
	HasMigrationsTable string
	// Classify returns the store sentinel a driver error means (ErrConflict for a unique
	// violation, ErrNotFound for a foreign key violation, ErrUnavailable when the database
	// cannot be reached or written), or nil.
	Classify func(err error) error
}

// Sentinel returns the store sentinel err means: ErrNotFound when a query for one row
// found none, else what the dialect's Classify says.
func (d Dialect) Sentinel(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return d.Classify(err)
}

// WrapError returns err from the operation format names as a store error, classified
// by Sentinel; every method that reaches the database returns its errors through it.
func (d Dialect) WrapError(ctx context.Context, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return store.WrapError(ctx, err, d.Sentinel, format, args...)
}

// Config is what New needs.
type Config struct {
	Dialect Dialect
	// Writer runs every write, transaction and migration.
	Writer DB
	// Reader runs plain reads; it may be Writer itself.
	Reader DB
	// Migrations are the dialect's schema migrations, from store.LoadMigrations.
	Migrations []store.MigrationFile
}

// Store implements store.Store on a Dialect and its DB handles. It is safe for
// concurrent use.
type Store struct {
	dialect    Dialect
	writer     DB
	reader     DB
	now        func() time.Time
	migrations []store.MigrationFile
	// The queries that depend on the dialect, built once.
	fanOutSQL, claimSQL, continueSQL string
}

var _ store.Store = (*Store)(nil)

// New returns a Store on the handles in cfg, which it owns from now on: Close closes
// them. It does not connect; call Ping.
func New(cfg Config, opts ...store.Option) *Store {
	return &Store{
		dialect:     cfg.Dialect,
		writer:      cfg.Writer,
		reader:      cfg.Reader,
		now:         store.NewOptions(opts...).Now,
		migrations:  cfg.Migrations,
		fanOutSQL:   fanOutSQL(cfg.Dialect),
		claimSQL:    claimSQL(cfg.Dialect),
		continueSQL: continueSQL(cfg.Dialect),
	}
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping %s: %w: %w", s.dialect.Name, store.ErrUnavailable, err)
	}
	return nil
}

// Backend returns the dialect's name.
func (s *Store) Backend() string { return s.dialect.Name }

// Close closes the reader, then the writer: SQLite checkpoints the WAL into the main
// file when its last connection, the writer's, closes.
func (s *Store) Close() error {
	if s.reader == s.writer {
		return s.writer.Close()
	}
	return errors.Join(s.reader.Close(), s.writer.Close())
}
