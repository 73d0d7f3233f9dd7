package store

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid: a record breaks a rule of its area, such as a malformed name or a rename.
var ErrInvalid = errors.New("store: invalid")

// MaxRealmNameLen is the longest realm name accepted.
const MaxRealmNameLen = 64

// Validate reports whether r may be stored: its name is 1 to MaxRealmNameLen characters
// of [a-z0-9_-] and starts with a letter or digit. The error wraps ErrInvalid.
func (r Realm) Validate() error {
	name := r.Name
	if name == "" || len(name) > MaxRealmNameLen {
		return fmt.Errorf("%w: realm name must be 1 to %d characters, got %d", ErrInvalid, MaxRealmNameLen, len(name))
	}
	if !isLowerAlnum(name[0]) {
		return fmt.Errorf("%w: realm name %q must start with a lowercase letter or digit", ErrInvalid, name)
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isLowerAlnum(c) && c != '-' && c != '_' {
			return fmt.Errorf("%w: realm name %q may only hold a-z, 0-9, '-' and '_'", ErrInvalid, name)
		}
	}
	return nil
}

func isLowerAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}

func (r *Realm) key() string { return fmt.Sprintf("realm %q", r.Name) }

// normalize: a realm's JSON document is its attributes.
func (r *Realm) normalize() {
	r.Attributes = cloneMap(r.Attributes)
	timestamps(&r.CreatedAt, &r.UpdatedAt)
}

func (r *Realm) document() any { return &r.Attributes }

func (r *Realm) stamps() stamps {
	return stamps{created: &r.CreatedAt, updated: &r.UpdatedAt, version: &r.Version}
}

// Timestamp is t as every back end stores it: UTC, truncated to the microsecond that
// PostgreSQL keeps, so a value reads back exactly as it was written on any back end.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
