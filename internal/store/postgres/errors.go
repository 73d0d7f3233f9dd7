package postgres

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signet-auth/signet/internal/store"
)

// classify returns the store sentinel a pgx error means: ErrNotFound for a foreign key
// violation (every reference in the schema is to a realm, user or client that a create
// needs), ErrConflict for a unique violation or a NOWAIT lock taken, ErrUnavailable when the server cannot be
// reached or cannot serve now, nil for any other error.
func classify(err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch code := pgErr.Code; {
		case code == "23503": // foreign_key_violation
			return store.ErrNotFound
		case code == "23505": // unique_violation
			return store.ErrConflict
		case code == "55P03": // lock_not_available: a NOWAIT lock another transaction holds
			return store.ErrConflict
		case code == "40P01" || code == "40001": // deadlock_detected, serialization_failure: try again
			return store.ErrUnavailable
		case strings.HasPrefix(code, "08"): // connection_exception
			return store.ErrUnavailable
		case strings.HasPrefix(code, "53"): // insufficient_resources: disk_full, too_many_connections...
			return store.ErrUnavailable
		case code == "57P01" || code == "57P02" || code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return store.ErrUnavailable
		case code == "58030": // io_error
			return store.ErrUnavailable
		}
	}
	// A failed connection attempt, whatever the reason (refused, timed out, a password
	// the server no longer accepts), leaves the node without its database.
	_, connecting := errors.AsType[*pgconn.ConnectError](err)
	_, network := errors.AsType[net.Error](err)
	// The server or the network closed the connection under a query.
	closed := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed)
	if connecting || network || closed {
		return store.ErrUnavailable
	}
	return nil
}
