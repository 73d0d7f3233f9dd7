package authn

import (
	"context"
	"encoding/json"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Event is one state change of a request, for the outbox that delivers callbacks and
// the event log.
type Event struct {
	// Type is "authn.created", "authn.approved", "authn.denied", "authn.expired",
	// "authn.cancelled", "authn.consumed", "authn.claimed" (a device scanned a QR login)
	// or "authn.reported" (a denial the user marked "this wasn't me", which follows its
	// "authn.denied").
	Type      string    `json:"type"`
	Realm     string    `json:"realm"`
	RequestID string    `json:"request_id"`
	Kind      Kind      `json:"kind"`
	ClientID  string    `json:"client_id"`
	UserID    string    `json:"user_id,omitempty"`
	DeviceID  string    `json:"device_id,omitempty"`
	At        time.Time `json:"at"`
	// Callback is the request's own callback, on the events that end it (approved,
	// denied, expired, cancelled); business applications never see it in the data.
	Callback *store.EventCallback `json:"-"`
}

// Sink takes the events of every state change. Emit is called after the change is made;
// an error is logged, the change stands.
type Sink interface {
	Emit(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, e Event) error

// Emit calls f.
func (f SinkFunc) Emit(ctx context.Context, e Event) error { return f(ctx, e) }

func eventOf(typ string, r *Request, device string) Event {
	e := Event{Type: typ, Realm: r.Realm, RequestID: r.ID, Kind: r.Kind, ClientID: r.ClientID,
		UserID: r.UserID, DeviceID: device, At: r.ChangedAt}
	switch typ {
	case "authn.approved", "authn.denied", "authn.expired", "authn.cancelled":
		e.Callback = r.Callback
	}
	return e
}

// Record is the event as the event log keeps it: its JSON is what business applications
// receive.
func (e Event) Record() store.Event {
	data, _ := json.Marshal(e) // strings and a time: cannot fail
	return store.Event{Realm: e.Realm, Type: e.Type, Subject: e.RequestID, UserID: e.UserID, At: e.At, Data: data,
		Callback: e.Callback}
}
