package store

import (
	"context"
	"errors"
	"fmt"
)

// WrapError is how a back end returns an error from the database: prefixed with the
// operation (format and args), and carrying, beside the driver error, the sentinel that
// classify finds for it (ErrConflict or ErrUnavailable, or nil for none). Errors that
// already are store errors, such as ErrNotFound from a scan, only get the prefix.
//
// The caller's context decides two cases whatever the driver says: a cancelled ctx is
// context.Canceled and not an outage, and an expired deadline means the database did
// not answer in time, which is ErrUnavailable.
func WrapError(ctx context.Context, err error, classify func(error) error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	op := fmt.Sprintf(format, args...)
	if isStoreError(err) {
		return fmt.Errorf("%s: %w", op, err)
	}
	// Drivers report a done context in their own words (SQLite as an interrupt, pgx at
	// times as a closed connection); add the context's error so errors.Is finds it.
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	sentinel := classify(err)
	switch {
	case sentinel != nil && sentinel != ErrUnavailable: // a definite answer from the database
		return fmt.Errorf("%s: %w: %w", op, sentinel, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case sentinel == ErrUnavailable || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isStoreError(err error) bool {
	for _, sentinel := range []error{
		ErrNotFound, ErrConflict, ErrInvalid, ErrInvalidCursor, ErrUnavailable, ErrSchemaNewer,
		ErrActivationRedeemed, ErrActivationExpired, ErrActivationRealm, ErrDeviceLimit,
		ErrUserInactive, ErrLastDevice,
	} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return false
}
