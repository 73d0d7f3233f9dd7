package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
)

// Kind is what a request is for.
type Kind string

// The kinds of request.
const (
	KindPushLogin   Kind = "push_login"  // a login page sent it to a named user's devices
	KindQRLogin     Kind = "qr_login"    // a login page showed it as a QR code; the scanning device names the user
	KindCIBA        Kind = "ciba"        // a client asked through the CIBA endpoint
	KindTransaction Kind = "transaction" // a client asked the user to confirm a transaction
)

var kinds = []Kind{KindPushLogin, KindQRLogin, KindCIBA, KindTransaction}

// State is where a request is in its life.
type State string

// The states: Pending, then one outcome, then Consumed once the outcome was read by
// whoever started the request.
const (
	Pending   State = "pending"
	Approved  State = "approved"
	Denied    State = "denied"
	Expired   State = "expired"
	Cancelled State = "cancelled"
	Consumed  State = "consumed"
)

// Outcome reports whether s is one of the four outcomes of a pending request.
func (s State) Outcome() bool {
	return s == Approved || s == Denied || s == Expired || s == Cancelled
}

// Limits on what a request carries; a request and its answer always fit in one frame of
// the device channel.
const (
	MaxText                 = 1000     // characters of the binding message or transaction text
	MaxAuthorizationDetails = 16 << 10 // bytes of RFC 9396 authorization_details
	MaxUserAgent            = 256      // characters kept of the requester's user agent
	MaxDevices              = 32       // devices one request addresses
	MinTTL                  = 10 * time.Second
	MaxTTL                  = 10 * time.Minute // CONFORMANCE §3: out-of-band requests expire in ≤ 10 min
	DefaultTTL              = 2 * time.Minute
)

// Request is one authentication or transaction request.
type Request struct {
	ID       string `json:"id"`
	Realm    string `json:"realm"`
	Kind     Kind   `json:"kind"`
	ClientID string `json:"client_id"`
	// ClientName is the application's name as the user is shown it.
	ClientName string `json:"client_name,omitempty"`
	// UserID is the user asked; for a QR login it is empty until a device claims it.
	UserID string `json:"user_id,omitempty"`
	// Devices are the devices addressed; a QR login addresses the device that claims it.
	Devices []string `json:"devices,omitempty"`
	// Text is the binding message, or a transaction's text.
	Text string `json:"text,omitempty"`
	// AuthorizationDetails are a transaction's RFC 9396 details, compact JSON, kept byte
	// for byte (the device signs these bytes; as a JSON value they would be re-escaped).
	AuthorizationDetails []byte `json:"authorization_details,omitempty"`
	RequesterIP          string `json:"requester_ip,omitempty"`
	UserAgent            string `json:"user_agent,omitempty"`
	// MatchNumber is the two-digit number the requester shows and the user picks; empty
	// when the requester shows none (NewRequest.NoNumber), or for a push login of a realm
	// with number matching off (Policy).
	MatchNumber string    `json:"match_number"`
	State       State     `json:"state"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// binding is the SHA-256 of what the request is bound to (see Service.Create).
	Binding []byte `json:"binding"`

	Answer *Answer `json:"answer,omitempty"`
	// Callback is where the outcome goes besides the realm's webhooks (headers sealed);
	// nil for none.
	Callback *store.EventCallback `json:"callback,omitempty"`
	// ChangedAt is when the state last changed.
	ChangedAt time.Time `json:"changed_at"`
	// Policy is the realm's policy as it applied when the request was made, the node's
	// values where the realm set none; empty in a request stored before there was one.
	Policy Policy `json:"policy,omitzero"`

	version uint64
}

// Answer is a device's signed decision, as recorded.
type Answer struct {
	DeviceID string `json:"device_id"`
	// Decision is what the device signed: "approve" or "deny". A signed approval with the
	// wrong number still ends the request Denied.
	Decision string `json:"decision"`
	Number   string `json:"number,omitempty"`
	// SignedAt is the time in the signed statement, in Unix seconds.
	SignedAt  int64  `json:"signed_at"`
	Signature []byte `json:"signature"`
	// DeviceKey is the device's public key (uncompressed P-256 point), kept so the
	// answer verifies after the device is gone.
	DeviceKey []byte `json:"device_key"`
	// NotMe: the user reported the request as not theirs.
	NotMe bool `json:"not_me,omitempty"`
	// WrongNumber: the device approved with a number other than the one shown.
	WrongNumber bool `json:"wrong_number,omitempty"`
}

// Addressed reports whether the request is addressed to device id.
func (r *Request) Addressed(id string) bool { return slices.Contains(r.Devices, id) }

// Errors of the state machine; each wraps ErrInvalid or is one the caller maps to its
// protocol's answer.
var (
	// ErrInvalid: the request or answer is malformed.
	ErrInvalid = errors.New("authn: invalid request")
	// ErrNotFound: no such request in this realm, or not for this caller.
	ErrNotFound = errors.New("authn: no such request")
	// ErrNotPending: the request already has an outcome.
	ErrNotPending = errors.New("authn: the request is no longer pending")
	// ErrPending: the request has no outcome yet.
	ErrPending = errors.New("authn: the request is still pending")
	// ErrExpired: the request expired before it was answered.
	ErrExpired = errors.New("authn: the request has expired")
	// ErrConsumed: the outcome was read already.
	ErrConsumed = errors.New("authn: the request was used already")
	// ErrTooManyPending: the user has as many pending requests as allowed.
	ErrTooManyPending = errors.New("authn: too many pending requests for this user")
	// ErrTooManyCreated: as many requests were made for the user lately as allowed.
	ErrTooManyCreated = errors.New("authn: too many requests for this user lately; try again later")
	// ErrClosed: the service is closing.
	ErrClosed = errors.New("authn: closing")
	// ErrCoolingDown: the user denied several requests lately; new ones wait.
	ErrCoolingDown = errors.New("authn: the user denied recent requests; try again later")
	// ErrBadSignature: the answer's signature does not verify with the device key.
	ErrBadSignature = errors.New("authn: the signature does not verify")
	// ErrNotAddressed: the device answering is not one the request was sent to.
	ErrNotAddressed = errors.New("authn: the request is not addressed to this device")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CheckText reports whether s may be shown on a phone: UTF-8 of at most MaxText
// characters, no control characters other than newlines. CIBA answers a failure with
// invalid_binding_message.
func CheckText(s string) error {
	if !utf8.ValidString(s) {
		return invalid("the text is not UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxText {
		return invalid("the text is %d characters long; at most %d", n, MaxText)
	}
	for _, r := range s {
		if r != '\n' && (unicode.IsControl(r) || r == utf8.RuneError) {
			return invalid("the text holds a control character")
		}
	}
	return nil
}

// compactDetails checks RFC 9396 authorization_details (a JSON array of objects, each
// with a type) and returns them compact: the device signs them byte for byte as it
// receives them.
func compactDetails(details json.RawMessage) ([]byte, error) {
	if len(details) == 0 {
		return nil, nil
	}
	if len(details) > MaxAuthorizationDetails {
		return nil, invalid("authorization_details is %d bytes; at most %d", len(details), MaxAuthorizationDetails)
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(details, &items); err != nil {
		return nil, invalid("authorization_details is not a JSON array of objects")
	}
	if len(items) == 0 {
		return nil, invalid("authorization_details is empty")
	}
	for i, it := range items {
		var typ string
		if err := json.Unmarshal(it["type"], &typ); err != nil || typ == "" {
			// RFC 9396 §2: every object has a type.
			return nil, invalid("authorization_details[%d] has no type", i)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, details); err != nil {
		return nil, invalid("authorization_details is not JSON")
	}
	return buf.Bytes(), nil
}

// Clip keeps at most n characters of s, as valid UTF-8 without control characters: how
// a request keeps what its requester sent (a user agent, a client name).
func Clip(s string, n int) string {
	out := make([]rune, 0, min(len(s), n))
	for _, r := range s {
		if len(out) == n {
			break
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}

// AttrRequestTTL is the client attribute setting the life of the requests made for it
// (a Go duration such as "90s", within MinTTL and MaxTTL); absent, DefaultTTL.
const AttrRequestTTL = "signet.authn.request_ttl"

// ClientTTL is the life of requests made for client c: its AttrRequestTTL when valid,
// else 0 (DefaultTTL).
func ClientTTL(attrs map[string]string) time.Duration {
	d, err := time.ParseDuration(attrs[AttrRequestTTL])
	if err != nil || d < MinTTL || d > MaxTTL {
		return 0
	}
	return d
}
