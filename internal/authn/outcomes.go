package authn

import (
	"context"
	"errors"

	"github.com/signet-auth/signet/internal/store"
)

// Recorder keeps the outcome of a request in the durable store with the events that
// tell of it, in one transaction. The Service records an outcome before it makes it in
// the ephemeral store: an outcome exists, for the device that answered, the requester
// that waits and the webhooks, only once it and its events are durable; and the first
// outcome recorded is the request's, on whichever node it was made.
type Recorder interface {
	// Keeps reports whether the recorder keeps the outcomes of r; those of other
	// requests go, with their events, the way of every other change (Config.Events).
	Keeps(r *Request) bool
	// Record keeps r, which has just reached an outcome (Approved, Denied, Expired or
	// Cancelled), with events. When an outcome of the request was recorded before, it
	// returns that outcome and ErrRecorded, and keeps nothing.
	Record(ctx context.Context, r Request, events []Event) (State, error)
}

// ErrRecorded is Record's answer for a request whose outcome was recorded before.
var ErrRecorded = errors.New("authn: the request's outcome was recorded before")

// storeStates are the durable states of the outcomes.
var storeStates = map[State]store.AuthnState{
	Approved: store.AuthnApproved, Denied: store.AuthnDenied, Expired: store.AuthnExpired, Cancelled: store.AuthnCancelled,
}

// Record is the durable record of a request that has reached its outcome (Outcome): what
// was asked, of whom, by whom, and the signed answer if there is one. The events and,
// for a transaction, the receipt are the caller's to add.
func (r *Request) Record() store.AuthnRequest {
	origin := map[string]string{}
	for k, v := range map[string]string{"ip": r.RequesterIP, "user_agent": r.UserAgent} {
		if v != "" {
			origin[k] = v
		}
	}
	rec := store.AuthnRequest{
		Realm: r.Realm, ID: r.ID, UserID: r.UserID, ClientID: r.ClientID, Kind: string(r.Kind), BindingMessage: r.Text,
		AuthorizationDetails: r.AuthorizationDetails, MatchNumber: r.MatchNumber, Origin: origin, State: r.State.Stored(),
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, AnsweredAt: r.ChangedAt,
	}
	if a := r.Answer; a != nil {
		rec.DeviceID, rec.Signature, rec.SignedAt, rec.SignedDecision, rec.AnsweredNumber, rec.DeviceKey =
			a.DeviceID, a.Signature, a.SignedAt, a.Decision, a.Number, a.DeviceKey
	}
	return rec
}

// Stored is s as the durable store writes it; empty for a state that is no outcome.
func (s State) Stored() store.AuthnState { return storeStates[s] }

// StateOf is the outcome a durable record holds; Pending for a record without one.
func StateOf(s store.AuthnState) State {
	for state, stored := range storeStates {
		if stored == s {
			return state
		}
	}
	return Pending
}

// Records are the event log's records of events.
func Records(events []Event) []store.Event {
	out := make([]store.Event, len(events))
	for i, e := range events {
		out[i] = e.Record()
	}
	return out
}

// changeEvents are the events of a change of type typ that left r as it is: the change's
// own, and "authn.reported" after a denial the user marked "this wasn't me".
func changeEvents(typ string, r *Request) []Event {
	device := ""
	if r.Answer != nil {
		device = r.Answer.DeviceID
	}
	events := []Event{eventOf(typ, r, device)}
	if typ == "authn.denied" && r.Answer != nil && r.Answer.NotMe {
		events = append(events, eventOf("authn.reported", r, device))
	}
	return events
}
