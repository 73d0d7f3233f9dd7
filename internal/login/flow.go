package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Interaction is a pending authorization request as the login pages see it: who asks,
// for what, and what the user must do.
type Interaction struct {
	ID     string
	Client store.Client
	Scopes []string
	// LoginHint prefills the username (OIDC Core §3.1.2.1).
	LoginHint string
	UILocales string
	// ForceLogin: the user must authenticate even with a live session (prompt=login,
	// max_age, an id_token_hint naming someone else).
	ForceLogin bool
	// ForceConsent: prompt=consent.
	ForceConsent bool
	// CreatedAt is when the request arrived: with ForceLogin, only a login after it counts.
	CreatedAt time.Time
	// RedirectOrigin is the origin of the client's redirect URI, where the last form
	// submission ends up (the pages' CSP form-action must allow it).
	RedirectOrigin string
	// ACR is the level the login must reach: ACRMulti when the client asked for two
	// factors (acr_values), else empty.
	ACR string
}

// Flow is the protocol side of a login: the OpenID provider implements it. The login
// pages authenticate the user and collect consent; the flow then answers the client.
type Flow interface {
	// Interaction returns the pending request id if it exists and belongs to this browser,
	// else ErrInteractionGone.
	Interaction(ctx context.Context, r *http.Request, realm store.Realm, id string) (Interaction, error)
	// Complete finishes request id for the user of session s and writes the response to
	// the client (a redirect or a form post). It redeems the request: it works once.
	Complete(w http.ResponseWriter, r *http.Request, realm store.Realm, id string, s store.Session) error
	// Deny answers the client with access_denied (the user cancelled or refused consent).
	Deny(w http.ResponseWriter, r *http.Request, realm store.Realm, id string) error
}

// ErrInteractionGone: the pending request expired, was used, or belongs to another browser.
var ErrInteractionGone = errors.New("login: the sign-in request is no longer valid")

// Path is where the login pages of realm start for pending request id, under the
// configured path prefix.
func Path(prefix, realm, id string) string {
	return prefix + "/realms/" + realm + "/login-actions/authenticate?authz=" + url.QueryEscape(id)
}

// ConsentPath is the consent page for a user who is logged in already.
func ConsentPath(prefix, realm, id string) string {
	return prefix + "/realms/" + realm + "/login-actions/consent?authz=" + url.QueryEscape(id)
}
