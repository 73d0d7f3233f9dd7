package login

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// Types of the events of sign-ins with a password at the login pages. Sign-ins approved
// on a phone have their request's events instead (authn.approved and the others).
const (
	EventSucceeded = "login.succeeded"
	EventFailed    = "login.failed"
)

// Methods of an Attempt: the credential that decided it.
const (
	MethodPassword = "password"
	MethodTOTP     = "totp"
)

// maxUserAgent is how much of the browser's user agent an attempt keeps.
const maxUserAgent = 256

// Attempt is the outcome of a credential typed at the login pages: a sign-in it
// completed, or its refusal. Its JSON is the event's data, as business applications
// receive it; it holds no credential and, for a name that is no user, no name.
type Attempt struct {
	Type     string `json:"type"` // EventSucceeded or EventFailed
	Realm    string `json:"realm"`
	ClientID string `json:"client_id"`
	// UserID is empty when the name typed is no user of the realm.
	UserID string `json:"user_id,omitempty"`
	// Method is MethodPassword, or MethodTOTP for a code after the password.
	Method string `json:"method"`
	// AMR lists a sign-in's authentication methods (RFC 8176), as its tokens carry them.
	AMR []string `json:"amr,omitempty"`
	// Reason tells why a credential was refused.
	Reason    Refusal   `json:"reason,omitempty"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	At        time.Time `json:"at"`
}

// Outcome is the attempt's outcome as the metrics count it: "approved", "denied" (a
// wrong password or code, or a name that is no user) or "locked" (a locked or disabled
// user, whose credential was not checked).
func (a Attempt) Outcome() string {
	switch {
	case a.Type == EventSucceeded:
		return "approved"
	case a.Reason == RefusedLocked, a.Reason == RefusedDisabled:
		return "locked"
	}
	return "denied"
}

// Record is the attempt as the event log keeps it, about its user; false for an attempt
// without a user, which the log does not keep (it keeps no names typed).
func (a Attempt) Record() (store.Event, bool) {
	if a.UserID == "" {
		return store.Event{}, false
	}
	data, _ := json.Marshal(a) // strings and a time: cannot fail
	return store.Event{Realm: a.Realm, Type: a.Type, Subject: a.UserID, UserID: a.UserID, At: a.At, Data: data}, true
}

// attempt tells Config.Attempts of a refused credential (refused set) or of a sign-in
// completed with a: a sign-in with the phone among its methods is told by its request.
func (p *Pages) attempt(ctx context.Context, r *http.Request, q *request, userID, method string, refused Refusal, amr []string) {
	if p.attempts == nil || refused == "" && slices.Contains(amr, AMRPhone) {
		return
	}
	a := Attempt{Type: EventSucceeded, Realm: q.realm.Name, ClientID: q.ix.Client.ID, UserID: userID, Method: method,
		AMR: amr, Reason: refused, IP: session.ClientIP(r), UserAgent: authn.Clip(r.UserAgent(), maxUserAgent), At: store.Timestamp(p.now())}
	if refused != "" {
		a.Type, a.AMR = EventFailed, nil
	}
	p.attempts(ctx, a)
}
