package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhooks: a realm's subscriptions to its event log, and the deliveries of events to
// them and to per-request callbacks (Event.Callback). The event log is the outbox:
// AppendEvents inserts, in the transaction that writes an event, one delivery per
// enabled subscription of the realm whose types match, and one for its callback. A
// deliverer (package events) claims due deliveries with a lease, posts them outside any
// transaction and records each attempt's outcome.

// WebhookSubscription is a realm's standing order to receive its events at a URL.
type WebhookSubscription struct {
	Realm string
	// ID is opaque and random, chosen by the caller; it names the subscription in the
	// sealing of its secrets.
	ID string
	// URL is an absolute https URL (http where the outbound policy allows the target),
	// without user information or fragment.
	URL string
	// EventTypes selects the events delivered: empty (or "*") for every event; an entry
	// ending in ".*" matches every type that starts with what precedes the "*"
	// ("authn.*" matches "authn.approved"); any other entry matches that type exactly.
	EventTypes  []string
	Description string
	// Enabled subscriptions get deliveries; a disabled one gets none, and disabling it
	// fails its pending deliveries (they may be redelivered).
	Enabled bool
	// Secrets are the subscription's signing secrets, sealed by the caller under the
	// key-encryption key (package events); never empty.
	Secrets   []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increases by one on every update; it backs ETags.
	Version int64
}

// Limits on webhook subscriptions and deliveries.
const (
	MaxWebhookURLLen         = 2048     // bytes
	MaxWebhookEventTypes     = 64       // entries
	MaxWebhookDescriptionLen = 500      // characters
	MaxWebhookSecretsLen     = 16 << 10 // bytes, sealed
	MaxCallbackHeadersLen    = 16 << 10 // bytes, sealed
	MaxWebhookErrorLen       = 1000     // characters
	// MaxWebhookClaim bounds how many deliveries one claim takes.
	MaxWebhookClaim = 1000
)

// Validate reports whether w may be stored: an ID of 1 to MaxIDLen bytes, a URL that
// CheckWebhookURL accepts, at most MaxWebhookEventTypes event types that are type names
// or patterns (see EventTypes), a description of at most MaxWebhookDescriptionLen
// characters, 1 byte to MaxWebhookSecretsLen of sealed secrets and storable times. The
// error wraps ErrInvalid.
func (w WebhookSubscription) Validate() error {
	key := w.key()
	if err := checkID(key, "ID", w.ID); err != nil {
		return err
	}
	if err := checkWebhookURL(key, w.URL); err != nil {
		return err
	}
	if len(w.EventTypes) > MaxWebhookEventTypes {
		return invalid(key, "at most %d event types, got %d", MaxWebhookEventTypes, len(w.EventTypes))
	}
	for _, t := range w.EventTypes {
		if err := checkText(key, "event type", t, 1, MaxEventTypeLen, false); err != nil {
			return err
		}
		if strings.Contains(strings.TrimSuffix(t, "*"), "*") || strings.HasSuffix(t, "*") && t != "*" && !strings.HasSuffix(t, ".*") {
			return invalid(key, "event type %q: a \"*\" may only stand alone or end the pattern after a \".\"", t)
		}
	}
	if err := checkText(key, "description", w.Description, 0, MaxWebhookDescriptionLen, true); err != nil {
		return err
	}
	if n := len(w.Secrets); n == 0 || n > MaxWebhookSecretsLen {
		return invalid(key, "sealed secrets must be 1 to %d bytes, got %d", MaxWebhookSecretsLen, n)
	}
	return checkTimes(key, w.CreatedAt, w.UpdatedAt)
}

// CheckWebhookURL reports whether u may receive webhooks or callbacks: an absolute http
// or https URL with a host, at most MaxWebhookURLLen bytes, without user information
// (credentials belong in sealed headers, not in a URL that is listed and logged) or
// fragment. Whether its target may be reached is the outbound policy's to decide at
// delivery. The error wraps ErrInvalid.
func CheckWebhookURL(u string) error { return checkWebhookURL("webhook", u) }

func checkWebhookURL(key, raw string) error {
	if raw == "" || len(raw) > MaxWebhookURLLen {
		return invalid(key, "URL must be 1 to %d bytes, got %d", MaxWebhookURLLen, len(raw))
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !utf8.ValidString(raw):
		return invalid(key, "URL does not parse")
	case u.Scheme != "https" && u.Scheme != "http":
		return invalid(key, "URL scheme must be https or http")
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return invalid(key, "URL must be absolute, with a host")
	case u.User != nil:
		return invalid(key, "URL must not hold user information")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return invalid(key, "URL must not have a fragment")
	}
	return nil
}

// WebhookTypeMatches reports whether an event of type typ goes to a subscription with
// these EventTypes; the store matches the same way in SQL.
func WebhookTypeMatches(types []string, typ string) bool {
	for _, p := range WebhookPatterns(types) {
		if p.Prefix && strings.HasPrefix(typ, p.Pattern) || !p.Prefix && typ == p.Pattern {
			return true
		}
	}
	return false
}

// WebhookPattern is one entry of a subscription's EventTypes as the store matches it:
// Pattern is an exact type, or with Prefix the start of every type it matches.
type WebhookPattern struct {
	Pattern string
	Prefix  bool
}

// WebhookPatterns returns the distinct patterns of valid EventTypes: none or "*" is the
// empty prefix, which matches every type.
func WebhookPatterns(types []string) []WebhookPattern {
	if len(types) == 0 {
		return []WebhookPattern{{Pattern: "", Prefix: true}}
	}
	out := make([]WebhookPattern, 0, len(types))
	for _, t := range types {
		p := WebhookPattern{Pattern: t}
		if strings.HasSuffix(t, "*") {
			p = WebhookPattern{Pattern: strings.TrimSuffix(t, "*"), Prefix: true}
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func (w *WebhookSubscription) key() string { return recordKey("webhook subscription", w.Realm, w.ID) }

func (w *WebhookSubscription) normalize() {
	w.EventTypes = cloneStrings(w.EventTypes)
	w.Secrets = cloneBytes(w.Secrets)
	timestamps(&w.CreatedAt, &w.UpdatedAt)
}

func (w *WebhookSubscription) stamps() stamps {
	return stamps{created: &w.CreatedAt, updated: &w.UpdatedAt, version: &w.Version}
}

func (w *WebhookSubscription) document() any {
	return &struct {
		EventTypes  *[]string `json:"event_types"`
		Description *string   `json:"description"`
	}{&w.EventTypes, &w.Description}
}

// WebhookState is the state of a delivery.
type WebhookState string

// Delivery states.
const (
	// WebhookPending deliveries wait for their next attempt, or are being attempted.
	WebhookPending WebhookState = "pending"
	// WebhookDelivered deliveries got a 2xx answer.
	WebhookDelivered WebhookState = "delivered"
	// WebhookFailed deliveries were given up (retried for as long as the deliverer
	// allows, or their subscription was disabled); RedeliverWebhook starts them again.
	WebhookFailed WebhookState = "failed"
)

var webhookStates = []WebhookState{WebhookPending, WebhookDelivered, WebhookFailed}

// WebhookDelivery is one event on its way to one subscription or callback.
type WebhookDelivery struct {
	Realm string
	// ID is assigned by the store, increasing; it is stable across retries and
	// redeliveries, so receivers deduplicate by it (the webhook-id header).
	ID int64
	// SubscriptionID names the subscription; empty for a per-request callback.
	SubscriptionID string
	// URL is the callback's; for a subscription's delivery it is empty in listings (the
	// delivery goes to the subscription's current URL) and set in claims.
	URL       string
	EventSeq  int64
	EventType string
	State     WebhookState
	// Attempts counts the requests made (or refused by the outbound policy) since the
	// delivery was created or last redelivered.
	Attempts int
	// NextAttemptAt is when a pending delivery is due; while it is leased, the end of
	// the lease.
	NextAttemptAt time.Time
	// ScheduledAt is when the current series of attempts began: creation, or the last
	// redelivery. The deliverer gives up a fixed time after it.
	ScheduledAt time.Time
	// LeaseUntil is when the claim being worked on ends; zero when not leased.
	LeaseUntil time.Time
	// LastStatus is the HTTP status of the last attempt (0: no answer) and LastError
	// what went wrong, without secrets; empty after a success.
	LastStatus  int
	LastError   string
	CreatedAt   time.Time
	DeliveredAt time.Time
}

// WebhookDeliveryFilter narrows ListWebhookDeliveries; an empty field matches any.
type WebhookDeliveryFilter struct {
	SubscriptionID string
	State          WebhookState
	EventSeq       int64
}

// ValidWebhookDeliveryFilter reports whether f may filter a listing: its State is empty
// or a WebhookState, its EventSeq not negative. The error wraps ErrInvalid.
func ValidWebhookDeliveryFilter(f WebhookDeliveryFilter) error {
	if f.State != "" && !slices.Contains(webhookStates, f.State) {
		return invalid("webhook delivery filter", "state %q is not one of %v", f.State, webhookStates)
	}
	if f.EventSeq < 0 {
		return invalid("webhook delivery filter", "event seq %d is negative", f.EventSeq)
	}
	return nil
}

// WebhookClaim is a delivery claimed for one attempt, with all it takes to make it.
type WebhookClaim struct {
	// Delivery has its URL set: the callback's, or the subscription's current one.
	Delivery WebhookDelivery
	// Token identifies the claim; only an outcome that carries it is recorded.
	Token string
	// Headers are the callback's sealed extra headers (nil for none or a
	// subscription); Secrets the subscription's sealed signing secrets (nil for a
	// callback).
	Headers []byte
	Secrets []byte
	// Event is the event delivered, without its Callback.
	Event Event
}

// WebhookOutcome is what became of a claimed delivery.
type WebhookOutcome struct {
	ID    int64
	Token string
	// Attempted tells that a request was made, or refused by the outbound policy: it
	// counts as an attempt and sets LastStatus and LastError. A delivery released
	// unattempted (a shutdown, a lease running short, an earlier delivery of its
	// subscription failing) keeps its count and last result.
	Attempted bool
	// At is when the attempt was made.
	At time.Time
	// Delivered records a 2xx answer (Status).
	Delivered bool
	Status    int
	Error     string
	// NextAttemptAt, for a delivery not delivered, is when it is due again; zero gives
	// it up as WebhookFailed.
	NextAttemptAt time.Time
}

// Validate reports whether o may be recorded. The error wraps ErrInvalid.
func (o WebhookOutcome) Validate() error {
	key := fmt.Sprintf("webhook outcome of delivery %d", o.ID)
	switch {
	case o.ID <= 0:
		return invalid(key, "no delivery ID")
	case o.Token == "" || len(o.Token) > MaxIDLen:
		return invalid(key, "claim token must be 1 to %d bytes", MaxIDLen)
	case o.At.IsZero():
		return invalid(key, "attempt time is zero")
	case o.Status < 0 || o.Status > 999:
		return invalid(key, "HTTP status %d out of range", o.Status)
	case o.Delivered && !o.Attempted:
		return invalid(key, "a delivery not attempted cannot be delivered")
	}
	if err := checkText(key, "error", o.Error, 0, MaxWebhookErrorLen, false); err != nil {
		return err
	}
	return checkTimes(key, o.At, o.NextAttemptAt)
}

// WebhookSubscriptions stores the realms' webhook subscriptions.
type WebhookSubscriptions interface {
	// CreateWebhookSubscription stores a new subscription; ErrConflict if the ID is
	// taken in the realm, ErrNotFound if the realm is missing. CreatedAt, UpdatedAt and
	// Version are the store's.
	CreateWebhookSubscription(ctx context.Context, w WebhookSubscription) (WebhookSubscription, error)
	GetWebhookSubscription(ctx context.Context, realm, id string) (WebhookSubscription, error)
	// ListWebhookSubscriptions returns the realm's subscriptions ordered by CreatedAt,
	// then ID.
	ListWebhookSubscriptions(ctx context.Context, realm string, opts ListOptions) (Page[WebhookSubscription], error)
	// UpdateWebhookSubscription applies fn atomically; realm and ID cannot change. An
	// update that disables the subscription fails its pending deliveries in the same
	// transaction.
	UpdateWebhookSubscription(ctx context.Context, realm, id string, fn func(WebhookSubscription) (WebhookSubscription, error)) (WebhookSubscription, error)
	// DeleteWebhookSubscription removes the subscription and its deliveries.
	DeleteWebhookSubscription(ctx context.Context, realm, id string) error
}

// WebhookDeliveries stores deliveries; AppendEvents creates them.
type WebhookDeliveries interface {
	// GetWebhookDelivery returns the realm's delivery or ErrNotFound.
	GetWebhookDelivery(ctx context.Context, realm string, id int64) (WebhookDelivery, error)
	// ListWebhookDeliveries returns the realm's deliveries that match f, newest (highest
	// ID) first. An invalid filter is ErrInvalid.
	ListWebhookDeliveries(ctx context.Context, realm string, f WebhookDeliveryFilter, opts ListOptions) (Page[WebhookDelivery], error)
	// RedeliverWebhook puts a failed delivery back to pending, due now, with its attempts
	// reset and a new series of attempts (ScheduledAt) starting now; it keeps its ID. A
	// delivery that is not failed, or whose subscription is disabled, is ErrConflict.
	RedeliverWebhook(ctx context.Context, realm string, id int64) (WebhookDelivery, error)
	// ClaimWebhookDeliveries leases up to limit (1 to MaxWebhookClaim) deliveries due at
	// now, in every realm, until now+lease, and returns them ordered by ID. Of any
	// number of concurrent claims, on any node, each delivery goes to one claim at a
	// time; a lease that ends without an outcome makes the delivery due again.
	//
	// Order per subscription: of a subscription, a claim takes only the earliest due
	// delivery, and none while an earlier one is leased, so its deliveries go to one
	// claimer at a time, oldest first; that claimer takes the next ones with
	// ContinueWebhookDeliveries. An earlier delivery waiting for a retry (not due, not
	// leased) holds nothing back, so order is kept while the receiver answers, not
	// through its failures.
	ClaimWebhookDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookClaim, error)
	// ContinueWebhookDeliveries leases, like ClaimWebhookDeliveries, up to limit of one
	// subscription's due deliveries, oldest first, for the holder of claim token after
	// that holder posted every delivery of the subscription it holds under token: those
	// no longer hold the later ones back. The holder keeps at least one of them leased
	// (its outcome unrecorded) until this returns, so that no other claim takes the
	// subscription's later deliveries meanwhile. It takes none when another claim holds
	// one of the due deliveries it would take first.
	ContinueWebhookDeliveries(ctx context.Context, realm, subscriptionID, token string, now time.Time, lease time.Duration, limit int) ([]WebhookClaim, error)
	// PurgeWebhookDeliveries deletes the deliveries, in every realm, created before
	// before that are delivered or failed, and returns how many. Pending ones stay.
	PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
	// RecordWebhookOutcomes records outcomes in one transaction and returns how many it
	// recorded: an outcome whose claim is no longer current (its lease ended and the
	// delivery was claimed again, or redelivered) is skipped. An invalid outcome fails the call with ErrInvalid.
	RecordWebhookOutcomes(ctx context.Context, outcomes []WebhookOutcome) (int, error)
}

// Webhooks is the webhook area of the store.
type Webhooks interface {
	WebhookSubscriptions
	WebhookDeliveries
}

// Types of the events the store writes itself, in the transaction of the change they
// report, so every entry point (API, admin, device channel, login) produces them.
const (
	EventDeviceEnrolled = "device.enrolled"
	EventDeviceLocked   = "device.locked"
	EventDeviceUnlocked = "device.unlocked"
	EventDeviceRevoked  = "device.revoked"
	EventDeviceRemoved  = "device.removed"
	EventUserLocked     = "user.locked"
)

// ChangeEvent is the data of the events the store writes itself: what business
// applications receive.
type ChangeEvent struct {
	Type     string `json:"type"`
	Realm    string `json:"realm"`
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id,omitempty"`
	// State is a device's state after the change.
	State string `json:"state,omitempty"`
	// Reason tells why a user is locked: "disabled" (until enabled again) or "locked"
	// (until LockedUntil).
	Reason      string    `json:"reason,omitempty"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	At          time.Time `json:"at"`
}

// DeviceStateEvent returns the type of the event a device's change of state from old
// to next writes, or "" when it writes none.
func DeviceStateEvent(old, next DeviceState) string {
	if old == next {
		return ""
	}
	switch next {
	case DeviceLocked:
		return EventDeviceLocked
	case DeviceActive:
		return EventDeviceUnlocked
	case DeviceRevoked:
		return EventDeviceRevoked
	}
	return ""
}

// UserLockEvent returns the event an update of a user from old to next at now writes,
// and whether it writes one: "user.locked" when the user, active at now before, is
// disabled or locked at now after.
func UserLockEvent(old, next User, now time.Time) (ChangeEvent, bool) {
	wasActive := old.Enabled && !now.Before(old.LockedUntil)
	if !wasActive {
		return ChangeEvent{}, false
	}
	e := ChangeEvent{Type: EventUserLocked, Realm: next.Realm, UserID: next.ID, At: Timestamp(now)}
	switch {
	case !next.Enabled:
		e.Reason = "disabled"
	case now.Before(next.LockedUntil):
		e.Reason, e.LockedUntil = "locked", Timestamp(next.LockedUntil)
	default:
		return ChangeEvent{}, false
	}
	return e, true
}

// Record is the event as AppendEvents takes it: about the device when there is one,
// else the user.
func (c ChangeEvent) Record() Event {
	subject := c.DeviceID
	if subject == "" {
		subject = c.UserID
	}
	data, _ := json.Marshal(c) // strings and times: cannot fail
	return Event{Realm: c.Realm, Type: c.Type, Subject: subject, UserID: c.UserID, At: c.At, Data: data}
}
