package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// record is what the shared create, update and scan steps need of a stored type: Realm,
// User, Client, Session, Grant, Consent, Device, ActivationCode, AuditEvent or
// AuthnRequest. Each keeps the fields that no query looks at in one JSON document column.
type record[T any] interface {
	*T
	Validate() error
	// key names the record; an update may not change it.
	key() string
	// normalize gives the record private copies of its slices and maps, empty rather
	// than nil (byte slices: nil rather than empty), and its times as Timestamp has them.
	normalize()
	// stamps points at the fields the store owns.
	stamps() stamps
	// document is the value of the record's JSON document column. It points into the
	// record, so it encodes from it and decodes into it.
	document() any
}

// PrepareCreate returns r as a back end stores it on creation (for a Consent, on every
// put), with its JSON document: validated, normalized, and stamped with now: Version 1
// and UpdatedAt now where the type has them; CreatedAt (an AuditEvent's At) now, except
// that the CreatedAt of a Session, Grant or AuthnRequest and the GrantedAt of a Consent
// stay as the caller set them unless zero. T is a record type (see record). An invalid
// record is an error wrapping ErrInvalid.
func PrepareCreate[T any, P record[T]](r T, now time.Time) (T, []byte, error) {
	p := P(&r)
	p.normalize()
	p.stamps().create(Timestamp(now))
	return encode[T, P](r)
}

// PrepareUpdate applies fn to old, the stored record, and returns the record to store
// with its JSON document: validated, normalized, Version one higher, UpdatedAt now where
// the type has it, CreatedAt kept whatever fn did. An error from fn comes back
// unchanged; a change to the record's key (realm and ID) is refused with ErrInvalid.
func PrepareUpdate[T any, P record[T]](old T, fn func(T) (T, error), now time.Time) (T, []byte, error) {
	next, err := fn(old)
	if err != nil {
		return *new(T), nil, err
	}
	if was, is := P(&old).key(), P(&next).key(); was != is {
		return *new(T), nil, fmt.Errorf("%w: %s cannot become %s", ErrInvalid, was, is)
	}
	P(&next).normalize()
	P(&next).stamps().update(P(&old).stamps(), Timestamp(now))
	return encode[T, P](next)
}

// stamps points at the fields of a record that the store sets; a nil pointer is a field
// the type does not have.
type stamps struct {
	// created is set on creation and kept by updates. callerCreated lets the caller
	// choose it on creation, the store filling it in only when it is zero.
	created       *time.Time
	callerCreated bool
	// updated is set on creation and by every update.
	updated *time.Time
	// version is 1 on creation and one more at every update.
	version *int64
}

func (s stamps) create(now time.Time) {
	if !s.callerCreated || s.created.IsZero() {
		*s.created = now
	}
	if s.updated != nil {
		*s.updated = now
	}
	if s.version != nil {
		*s.version = 1
	}
}

func (s stamps) update(prev stamps, now time.Time) {
	*s.created = *prev.created
	if s.updated != nil {
		*s.updated = now
	}
	if s.version != nil {
		*s.version = *prev.version + 1
	}
}

func encode[T any, P record[T]](r T) (T, []byte, error) {
	p := P(&r)
	if err := p.Validate(); err != nil {
		return *new(T), nil, err
	}
	data, err := json.Marshal(p.document())
	if err != nil {
		return *new(T), nil, fmt.Errorf("%s: encode: %w", p.key(), err)
	}
	return r, data, nil
}

// Scanned completes a record a back end has read from a row: data, its stored JSON
// document, fills the fields kept there, and the record is normalized (non-nil slices
// and maps, byte slices nil when empty, times in UTC).
func Scanned[T any, P record[T]](r T, data []byte) (T, error) {
	p := P(&r)
	if err := json.Unmarshal(data, p.document()); err != nil {
		return *new(T), fmt.Errorf("%s: decode stored document: %w", p.key(), err)
	}
	p.normalize()
	return r, nil
}

// invalid returns an error wrapping ErrInvalid about the record key names.
func invalid(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
}

// recordKey names a record of a realm in errors, and tells records apart in updates.
func recordKey(kind, realm, id string) string {
	return fmt.Sprintf("%s %q in realm %q", kind, id, realm)
}

func cloneStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// cloneBytes copies b; an empty byte field means "none" (no secret, no TOTP), so it is nil.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

func timestamps(ts ...*time.Time) {
	for _, t := range ts {
		*t = Timestamp(*t)
	}
}

// The times a back end can store: SQLite keeps unix nanoseconds in an int64. The zero
// time, which means "never" or "not set", is stored as NULL.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkTimes refuses a time that not every back end can store.
func checkTimes(key string, ts ...time.Time) error {
	for _, t := range ts {
		if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
			return invalid(key, "time %v is outside the storable range %v to %v", t, minTime, maxTime)
		}
	}
	return nil
}
