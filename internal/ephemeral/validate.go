package ephemeral

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid: an argument is out of range (empty key or channel, ttl <= 0 where a TTL is
// required, negative CompareAndSwap ttl) or the stored value does not fit the operation
// (Incr of a value that is not a counter). Every implementation checks arguments with the
// Validate functions below so that all of them refuse the same calls.
var ErrInvalid = errors.New("ephemeral: invalid argument")

// ValidateKey refuses the empty key, which is always a caller bug.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	return nil
}

// ValidateWrite checks a call that may create key: every key has a TTL, so ttl must be
// positive (SetNX, Set, Incr).
func ValidateWrite(key string, ttl time.Duration) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: ttl %s for %q is not positive", ErrInvalid, ttl, key)
	}
	return nil
}

// ValidateSwap checks a CompareAndSwap: ttl == 0 keeps the current expiry, ttl > 0 sets a
// new one, a negative ttl is refused.
func ValidateSwap(key string, ttl time.Duration) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if ttl < 0 {
		return fmt.Errorf("%w: negative ttl %s for %q", ErrInvalid, ttl, key)
	}
	return nil
}

// ValidateChannel refuses the empty pub/sub channel name.
func ValidateChannel(channel string) error {
	if channel == "" {
		return fmt.Errorf("%w: empty channel", ErrInvalid)
	}
	return nil
}

// NotCounter is the error of an Incr on a key that holds a value other than a decimal
// counter.
func NotCounter(key string) error {
	return fmt.Errorf("%w: %q holds a value that is not a counter", ErrInvalid, key)
}
