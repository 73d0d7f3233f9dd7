package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWrapError(t *testing.T) {
	t.Parallel()
	var (
		errDown        = errors.New("driver: connection refused")
		errDup         = errors.New("driver: duplicate key")
		errOther       = errors.New("driver: syntax error")
		errInterrupted = errors.New("driver: interrupted")
	)
	// classify stands in for a back end's: it knows its driver's errors only.
	classify := func(err error) error {
		switch {
		case errors.Is(err, errDown):
			return ErrUnavailable
		case errors.Is(err, errDup):
			return ErrConflict
		}
		return nil
	}
	live := t.Context()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithTimeout(t.Context(), 0)
	defer cancel()

	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		want    []error // all of these are in the chain
		notWant []error // none of these is
	}{
		{"outage", live, errDown, []error{ErrUnavailable, errDown}, []error{context.Canceled}},
		{"outage wrapped", live, fmt.Errorf("apply migration 0001_a: %w", errDown), []error{ErrUnavailable, errDown}, nil},
		{"conflict", live, errDup, []error{ErrConflict, errDup}, []error{ErrUnavailable}},
		{"other", live, errOther, []error{errOther}, []error{ErrUnavailable, ErrConflict}},
		{"not found", live, ErrNotFound, []error{ErrNotFound}, []error{ErrUnavailable}},
		{"invalid cursor", live, ErrInvalidCursor, []error{ErrInvalidCursor}, []error{ErrUnavailable}},
		{"caller cancelled", live, context.Canceled, []error{context.Canceled}, []error{ErrUnavailable}},
		{"caller cancelled, driver saw an outage", cancelled, errDown, []error{context.Canceled, errDown}, []error{ErrUnavailable}},
		{"caller cancelled, driver interrupted", cancelled, errInterrupted, []error{context.Canceled, errInterrupted}, []error{ErrUnavailable}},
		{"deadline", live, context.DeadlineExceeded, []error{ErrUnavailable, context.DeadlineExceeded}, nil},
		{"deadline, driver interrupted", expired, errInterrupted, []error{ErrUnavailable, context.DeadlineExceeded, errInterrupted}, nil},
		{"conflict just before the deadline", expired, errDup, []error{ErrConflict}, []error{ErrUnavailable}},
		{"not found just before the deadline", expired, ErrNotFound, []error{ErrNotFound}, []error{ErrUnavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := WrapError(tc.ctx, tc.err, classify, "get realm %q", "acme")
			if err == nil || !strings.HasPrefix(err.Error(), `get realm "acme": `) {
				t.Fatalf("WrapError = %v, want it prefixed with the operation", err)
			}
			for _, target := range tc.want {
				if !errors.Is(err, target) {
					t.Errorf("WrapError = %v, want it to wrap %v", err, target)
				}
			}
			for _, target := range tc.notWant {
				if errors.Is(err, target) {
					t.Errorf("WrapError = %v, want it not to wrap %v", err, target)
				}
			}
		})
	}
	if err := WrapError(live, nil, classify, "get realm"); err != nil {
		t.Errorf("WrapError(nil) = %v, want nil", err)
	}
}
