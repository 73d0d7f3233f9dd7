// Package push wakes phones that are not connected to the device channel: a push
// through FCM (fcm/), APNs (apns/) or UnifiedPush/WebPush (unifiedpush/) that carries
// only an opaque id and a generic title, on which the phone connects and fetches what it
// is asked over the channel. Google, Apple and push distributors so learn nothing of the
// login or the transaction.
package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Providers as devices name them in their push registration (store.Device.PushProvider).
const (
	ProviderFCM         = "fcm"
	ProviderAPNs        = "apns"
	ProviderUnifiedPush = "unifiedpush"
)

// Message is one wake-up. It never holds what the user is asked: the phone fetches that
// over the device channel.
type Message struct {
	// ID is opaque to everyone but the phone's Signet session: the id of the request or
	// delivery the phone should fetch. Providers put it in the payload's data.
	ID string
	// Title is the generic text of a visible notification ("Sign-in request"); empty
	// sends a data-only (silent) wake-up where the provider allows it.
	Title string
	// CollapseID makes a later wake-up with the same value replace an undelivered
	// earlier one (APNs apns-collapse-id, FCM collapse_key, WebPush Topic).
	CollapseID string
	// TTL is how long the provider may hold the message for an unreachable phone;
	// after it the message is dropped (APNs apns-expiration, FCM android.ttl, WebPush
	// TTL). 0 means deliver now or never.
	TTL time.Duration
}

// Sender delivers wake-ups through one provider with one realm's credentials.
//
// Send returns nil once the provider accepted the message. Otherwise its error is one of:
//   - ErrInvalidToken (errors.Is): the provider says the device's token or endpoint is
//     no longer valid; the device's push registration should be cleared, and retrying
//     is pointless;
//   - a *RetryError (errors.As): the provider or the network failed for now (quota,
//     unavailable, timeout); retry no sooner than its After;
//   - anything else: a permanent failure of this message or of the configuration (bad
//     credentials, payload refused), which retrying will not mend.
type Sender interface {
	Send(ctx context.Context, token string, m Message) error
}

// ErrInvalidToken means the provider no longer knows the device's token or endpoint.
var ErrInvalidToken = errors.New("push: the device's push token is not valid")

// RetryError is a temporary failure. After is the provider's Retry-After when it sent
// one, else a backoff the sender chose.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryError) Unwrap() error { return e.Err }

// Retry wraps err as a temporary failure to retry after d.
func Retry(d time.Duration, err error) error { return &RetryError{After: d, Err: err} }

// MaxRetryAfter caps what a provider's Retry-After may ask for, so one bad header does
// not park a wake-up for a day.
const MaxRetryAfter = 10 * time.Minute

// RetryAfter reads an HTTP Retry-After value (RFC 9110 §10.2.3: seconds, or an HTTP
// date), capped at MaxRetryAfter; a missing or unreadable value gives fallback.
func RetryAfter(value string, now time.Time, fallback time.Duration) time.Duration {
	if value == "" {
		return fallback
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(value, 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(value); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return fallback
	}
	return min(d, MaxRetryAfter)
}
