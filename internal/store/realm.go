package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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

// PrepareRealmCreate returns r as a back end stores it on creation, with its attributes
// as JSON: validated, stamped with now as CreatedAt and UpdatedAt, Version 1 and a
// private, non-nil Attributes map.
func PrepareRealmCreate(r Realm, now time.Time) (Realm, []byte, error) {
	if err := r.Validate(); err != nil {
		return Realm{}, nil, err
	}
	now = Timestamp(now)
	r.CreatedAt, r.UpdatedAt = now, now
	r.Version = 1
	return withAttributesJSON(r)
}

// PrepareRealmUpdate applies fn to old, the stored realm, and returns the realm to store
// with its attributes as JSON: Version one higher, UpdatedAt now, CreatedAt kept. An
// error from fn comes back unchanged; a rename is refused with ErrInvalid.
func PrepareRealmUpdate(old Realm, fn func(Realm) (Realm, error), now time.Time) (Realm, []byte, error) {
	next, err := fn(old)
	if err != nil {
		return Realm{}, nil, err
	}
	if next.Name != old.Name {
		return Realm{}, nil, fmt.Errorf("%w: realm %q cannot be renamed to %q", ErrInvalid, old.Name, next.Name)
	}
	if err := next.Validate(); err != nil {
		return Realm{}, nil, err
	}
	next.CreatedAt = old.CreatedAt
	next.UpdatedAt = Timestamp(now)
	next.Version = old.Version + 1
	return withAttributesJSON(next)
}

// withAttributesJSON gives r a private, non-nil copy of its attributes and encodes them.
func withAttributesJSON(r Realm) (Realm, []byte, error) {
	if r.Attributes == nil {
		r.Attributes = map[string]string{}
	} else {
		r.Attributes = maps.Clone(r.Attributes)
	}
	data, err := json.Marshal(r.Attributes)
	if err != nil {
		return Realm{}, nil, fmt.Errorf("realm %q: encode attributes: %w", r.Name, err)
	}
	return r, data, nil
}

// ScannedRealm completes a realm a back end has read from a row: attrs, the stored JSON,
// becomes a non-nil Attributes map, and the times are put in UTC.
func ScannedRealm(r Realm, attrs []byte) (Realm, error) {
	r.Attributes = map[string]string{}
	if err := json.Unmarshal(attrs, &r.Attributes); err != nil {
		return Realm{}, fmt.Errorf("realm %q: decode attributes: %w", r.Name, err)
	}
	if r.Attributes == nil { // the stored JSON was null
		r.Attributes = map[string]string{}
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// Timestamp is t as every back end stores it: UTC, truncated to the microsecond that
// PostgreSQL keeps, so a value reads back exactly as it was written on any back end.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
