package sqlite

import (
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/signet-auth/signet/internal/store"
)

// classify returns the store sentinel a SQLite error means, or nil.
func classify(err error) error {
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
