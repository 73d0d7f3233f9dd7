// Package ephemeral holds short-lived state with a TTL: pending requests, single-use
// redemptions, rate-limit counters and cross-node signals. memory/ serves one node;
// redis/ serves a cluster. ephemeraltest/ is the conformance suite both must pass.
package ephemeral

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every implementation.
var (
	// ErrNotFound: the key does not exist or has expired.
	ErrNotFound = errors.New("ephemeral: not found")
	// ErrConflict: a compare-and-swap saw another version.
	ErrConflict = errors.New("ephemeral: version conflict")
	// ErrUnavailable: the backing service could not be reached.
	ErrUnavailable = errors.New("ephemeral: unavailable")
	// ErrClosed: the store or subscription was closed.
	ErrClosed = errors.New("ephemeral: closed")
)

// Entry is a stored value with its version. Version starts at 1 when a key is created
// and increases by one on every write to it.
type Entry struct {
	Value   []byte
	Version uint64
	// ExpiresAt is when the key disappears.
	ExpiresAt time.Time
}

// Store is TTL state shared by every node using the same backing service.
// Every key has a TTL; a ttl <= 0 passed to a creating call is an error.
type Store interface {
	// SetNX stores value if key is absent, atomically. It reports whether it stored.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Set stores value unconditionally and returns the new version.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error)
	// Get returns the entry or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Take returns the value and deletes the key atomically: of N concurrent Takes of one
	// key exactly one succeeds; the others get ErrNotFound. This is single-use redemption.
	Take(ctx context.Context, key string) ([]byte, error)
	// CompareAndSwap replaces the value if the stored version equals version and returns the
	// new version. ErrNotFound if the key is absent, ErrConflict if the version differs.
	// ttl > 0 sets a new TTL; ttl == 0 keeps the current expiry.
	CompareAndSwap(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (uint64, error)
	// Delete removes the key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Incr adds one to the counter at key and returns the new count. The first increment
	// creates the counter with the given window as TTL; later ones keep that expiry, so the
	// counter resets when the window ends (fixed-window rate limiting).
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	// Publish sends msg to every current subscriber of channel on every node.
	// Delivery is at most once; a subscriber that cannot keep up loses messages.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe listens on channel until the subscription is closed or ctx ends. The
	// subscription is active when Subscribe returns.
	Subscribe(ctx context.Context, channel string) (Subscription, error)
	// Ping checks the backing service; it wraps ErrUnavailable when unreachable.
	Ping(ctx context.Context) error
	// Backend names the implementation ("memory" or "redis").
	Backend() string
	Close() error
}

// Subscription delivers published messages in order.
type Subscription interface {
	// C yields messages; it is closed when the subscription ends.
	C() <-chan []byte
	Close() error
}
