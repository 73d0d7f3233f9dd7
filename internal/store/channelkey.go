package store

import (
	"context"
	"time"
)

// ChannelKey is a static key of the device channel (package sigma), sealed under the
// key-encryption key. Devices pin a channel key by its fingerprint at enrollment, so a
// retired key is kept while devices still pin it.
type ChannelKey struct {
	// ID is the key's fingerprint (base64url SHA-256 of its public point).
	ID        string
	Sealed    []byte
	CreatedAt time.Time
	// RetiredAt: no longer offered to new enrollments (zero: current).
	RetiredAt time.Time
}

// Validate reports whether k may be stored.
func (k ChannelKey) Validate() error {
	key := recordKey("channel key", "", k.ID)
	switch {
	case k.ID == "" || len(k.ID) > 128:
		return invalid(key, "ID must have 1 to 128 bytes")
	case len(k.Sealed) == 0:
		return invalid(key, "the sealed key is empty")
	}
	return checkTimes(key, k.CreatedAt, k.RetiredAt)
}

// ScannedChannelKey normalizes a key read from a database.
func ScannedChannelKey(k ChannelKey) ChannelKey {
	k.Sealed = cloneBytes(k.Sealed)
	timestamps(&k.CreatedAt, &k.RetiredAt)
	return k
}

// ChannelKeys stores the device channel's keys.
type ChannelKeys interface {
	// CreateChannelKey stores k; ErrConflict if its ID exists (another node made it first).
	CreateChannelKey(ctx context.Context, k ChannelKey) (ChannelKey, error)
	// ListChannelKeys returns every key, oldest (CreatedAt, then ID) first.
	ListChannelKeys(ctx context.Context) ([]ChannelKey, error)
}
