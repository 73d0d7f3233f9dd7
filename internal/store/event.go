package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event is one row of the event log: a state change that business applications hear of
// (an authentication request approved, a device reported). The log is the outbox that
// callbacks are delivered from, in Seq order; it goes with the realm.
type Event struct {
	// Seq is assigned by the store, increasing across the whole log.
	Seq   int64
	Realm string
	// Type names the change, such as "authn.approved".
	Type string
	// Subject is what the event is about, such as a request id.
	Subject string
	// UserID is the user concerned, or empty.
	UserID string
	At     time.Time
	// Data is the event as business applications receive it: a JSON object.
	Data json.RawMessage
	// Callback, when set, is a per-request callback (an API request's callbackUrl) the
	// event is delivered to, besides the realm's webhook subscriptions. It is not part
	// of the event log's row and is not read back by ListEvents.
	Callback *EventCallback
}

// EventCallback is where one event is delivered besides the realm's subscriptions.
type EventCallback struct {
	// URL is an absolute https (or, where the outbound policy allows, http) URL.
	URL string
	// Headers are extra request headers, sealed with the key-encryption key by whoever
	// set them (they may carry the receiver's credentials); nil for none.
	Headers []byte
}

// Limits on events.
const (
	MaxEventTypeLen = 64       // characters
	MaxEventData    = 64 << 10 // bytes
)

// An OutboxEntry is what one writer of the event log writes at once: events and,
// optionally, the claim of an authentication request's outcome they tell of, written
// only if no outcome of the request was claimed before (the first outcome of a request
// is its outcome), with the request's record if one is to be kept.
type OutboxEntry struct {
	Outcome *AuthnOutcome
	// Record, with Outcome, is kept with it (a transaction's, with its receipt) unless
	// the request has a record already, or its user is gone; its Events are ignored.
	Record *AuthnRequest
	Events []Event
}

// AuthnOutcome claims the outcome of an authentication request.
type AuthnOutcome struct {
	Realm string
	ID    string
	// CreatedAt is the request's creation time: every claim of one request names it.
	CreatedAt time.Time
	// State is an outcome: approved, denied, expired or cancelled.
	State AuthnState
	// Token, random, tells the writer's own claim: a writer that writes its claim again
	// (not knowing whether its commit landed) finds it Kept, not refused.
	Token string
}

// Validate reports whether o may be written: an ID of 1 to MaxIDLen bytes, a creation
// time, and an outcome. The error wraps ErrInvalid.
func (o AuthnOutcome) Validate() error {
	key := fmt.Sprintf("outcome of authentication request %q in realm %q", o.ID, o.Realm)
	if err := checkID(key, "ID", o.ID); err != nil {
		return err
	}
	switch {
	case o.Realm == "":
		return invalid(key, "no realm")
	case o.CreatedAt.IsZero():
		return invalid(key, "no creation time")
	case o.State == AuthnPending || !slices.Contains(authnStates, o.State):
		return invalid(key, "state %q is not an outcome", o.State)
	case len(o.Token) > MaxIDLen:
		return invalid(key, "token longer than %d bytes", MaxIDLen)
	}
	return checkTimes(key, o.CreatedAt)
}

// OutboxResult tells what became of an OutboxEntry.
type OutboxResult struct {
	// Kept is false when the entry's outcome was refused because an outcome of its
	// request was claimed before, Existing; nothing of the entry was written.
	Kept     bool
	Existing AuthnState
}

// EventFilter narrows ListEvents; an empty (or zero) field matches any event.
type EventFilter struct {
	// Type is an exact type, or a pattern ending in ".*" for every type that starts
	// with what precedes the "*" ("authn.*" matches "authn.approved").
	Type    string
	Subject string
	UserID  string
	// Since and Until bound the events' times: Since included, Until excluded.
	Since, Until time.Time
}

// TypePrefix returns the start of the types a pattern Type matches, and false for an
// exact Type.
func (f EventFilter) TypePrefix() (string, bool) {
	if strings.HasSuffix(f.Type, ".*") {
		return strings.TrimSuffix(f.Type, "*"), true
	}
	return "", false
}

// EventLog is the event log.
type EventLog interface {
	// AppendEvents writes events in one transaction, in order, and returns them with
	// their Seq. An event of a realm that does not exist (deleted since) is dropped and
	// comes back with Seq 0; an invalid event fails the whole call with ErrInvalid.
	AppendEvents(ctx context.Context, events []Event) ([]Event, error)
	// WriteOutbox writes entries in one transaction, in order: each entry's outcome
	// claim, unless an outcome of its request was claimed before (the entry is then not
	// written at all: its result is not Kept), its record, and its events, as
	// AppendEvents writes them (a deleted realm's entries are dropped). An invalid entry
	// fails the whole call with ErrInvalid.
	WriteOutbox(ctx context.Context, entries []OutboxEntry) ([]OutboxResult, error)
	// PurgeAuthnOutcomes deletes the outcome claims, in every realm, of requests created
	// before before: none of them can change any more.
	PurgeAuthnOutcomes(ctx context.Context, before time.Time) (int, error)
	// ListEvents returns the realm's events that match f, newest (highest Seq) first.
	ListEvents(ctx context.Context, realm string, f EventFilter, opts ListOptions) (Page[Event], error)
}

// Validate reports whether e may be appended: a realm, a Type of 1 to MaxEventTypeLen
// characters, a Subject and UserID of at most MaxIDLen bytes, Data a JSON object of at
// most MaxEventData bytes, a storable time, and a Callback, if any, with a URL that
// CheckWebhookURL accepts and at most MaxCallbackHeadersLen bytes of sealed headers.
// The error wraps ErrInvalid.
func (e Event) Validate() error {
	key := fmt.Sprintf("event %q in realm %q", e.Type, e.Realm)
	if err := checkID(key, "realm", e.Realm); err != nil {
		return err
	}
	if err := checkText(key, "type", e.Type, 1, MaxEventTypeLen, false); err != nil {
		return err
	}
	switch {
	case len(e.Subject) > MaxIDLen:
		return invalid(key, "subject must be at most %d bytes", MaxIDLen)
	case len(e.UserID) > MaxIDLen:
		return invalid(key, "user ID must be at most %d bytes", MaxIDLen)
	case len(e.Data) > MaxEventData:
		return invalid(key, "data must be at most %d bytes, got %d", MaxEventData, len(e.Data))
	case !json.Valid(e.Data) || !bytes.HasPrefix(bytes.TrimLeft(e.Data, " \t\r\n"), []byte("{")):
		return invalid(key, "data must be a JSON object")
	}
	if c := e.Callback; c != nil {
		if err := checkWebhookURL(key+" callback", c.URL); err != nil {
			return err
		}
		if len(c.Headers) > MaxCallbackHeadersLen {
			return invalid(key, "callback headers must be at most %d bytes sealed, got %d", MaxCallbackHeadersLen, len(c.Headers))
		}
	}
	return checkTimes(key, e.At)
}
