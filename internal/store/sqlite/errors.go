package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/signet-auth/signet/internal/store"
)

// wrapErr returns err from the operation format names as a store error; every method
// that reaches the database returns its errors through it.
func wrapErr(ctx context.Context, err error, format string, args ...any) error {
	return store.WrapError(ctx, err, classify, format, args...)
}

// classify returns the store sentinel a SQLite error means, or nil. A query for one row
// that finds none is ErrNotFound.
func classify(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		return classifyCode(se.Code())
	}
	return nil
}

// classifyCode maps a SQLite result code, extended or primary, to ErrConflict for a
// PRIMARY KEY or UNIQUE violation, to ErrNotFound for a FOREIGN KEY violation (every
// reference in the schema is to a realm, user or client that a create needs), and to
// ErrUnavailable when the file cannot be opened, read or written, the disk is full, or
// another process held the lock past busyTimeout.
func classifyCode(code int) error {
	switch code {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return store.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return store.ErrNotFound
	}
	switch code & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_BUSY:
		return store.ErrUnavailable
	}
	return nil
}
