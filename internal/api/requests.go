package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// RequestCreate is what starting an authentication or a transaction request takes
// besides what the user is shown: whom to ask (user_id or username), for how long, and
// where to deliver the outcome.
type RequestCreate struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	// TTLSeconds is how long the request waits for an answer, 10 to 600; 0: the
	// client's setting, else 120. A phone that is offline is woken by push and gets the
	// request when it connects, until then.
	TTLSeconds int64 `json:"ttl_seconds"`
	// CallbackURL, when set, receives the event that ends the request (approved,
	// denied, expired, cancelled), signed like the realm's webhooks, with
	// CallbackHeaders added (kept sealed, never shown again).
	CallbackURL     string            `json:"callback_url"`
	CallbackHeaders map[string]string `json:"callback_headers"`
}

// AuthenticationCreate is the body of POST .../authentications.
type AuthenticationCreate struct {
	RequestCreate
	// BindingMessage is shown on the phone (and by the caller, for the user to compare).
	BindingMessage string `json:"binding_message"`
}

// TransactionCreate is the body of POST .../transactions: text, RFC 9396
// authorization_details, or both.
type TransactionCreate struct {
	RequestCreate
	Text                 string          `json:"text"`
	AuthorizationDetails json.RawMessage `json:"authorization_details"`
}

// RequestStatus is where a request is: pending, then approved, denied, expired or
// cancelled.
type RequestStatus struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	UserID      string    `json:"user_id"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	AnsweredAt  time.Time `json:"answered_at,omitzero"`
	DeviceID    string    `json:"device_id,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
}

// Authentication is an authentication request.
type Authentication struct {
	RequestStatus
	BindingMessage string `json:"binding_message,omitempty"`
}

// Transaction is a transaction request; Receipt is the realm-signed receipt of the
// device's signed answer, once there is one.
type Transaction struct {
	RequestStatus
	Text                 string          `json:"text,omitempty"`
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
	Receipt              string          `json:"receipt,omitempty"`
}

func statusOf(q authn.Request) RequestStatus {
	s := RequestStatus{ID: q.ID, State: string(q.State), UserID: q.UserID, CreatedAt: q.CreatedAt.UTC(), ExpiresAt: q.ExpiresAt.UTC()}
	if q.State != authn.Pending {
		s.AnsweredAt = q.ChangedAt.UTC()
	}
	if q.Answer != nil {
		s.DeviceID = q.Answer.DeviceID
	}
	if q.Callback != nil {
		s.CallbackURL = q.Callback.URL
	}
	return s
}

// binding binds the requests of an API client to it: only it reads and cancels them.
func binding(clientID string) []byte { return []byte("api:" + clientID) }

func (a *API) createAuthentication(w http.ResponseWriter, r *http.Request) error {
	var in AuthenticationCreate
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	q, err := a.start(r, in.RequestCreate, authn.NewRequest{Kind: authn.KindPushLogin, Text: in.BindingMessage})
	if err != nil {
		return err
	}
	w.Header().Set("Location", a.location("/realms/"+q.Realm+"/authentications/"+q.ID))
	return rest.WriteJSON(w, http.StatusCreated, Authentication{RequestStatus: statusOf(q), BindingMessage: q.Text})
}

func (a *API) createTransaction(w http.ResponseWriter, r *http.Request) error {
	var in TransactionCreate
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	if in.Text == "" && len(in.AuthorizationDetails) == 0 {
		return rest.BadRequest("a transaction needs text, authorization_details, or both: what the user confirms")
	}
	q, err := a.start(r, in.RequestCreate, authn.NewRequest{Kind: authn.KindTransaction, Text: in.Text, AuthorizationDetails: in.AuthorizationDetails})
	if err != nil {
		return err
	}
	w.Header().Set("Location", a.location("/realms/"+q.Realm+"/transactions/"+q.ID))
	return rest.WriteJSON(w, http.StatusCreated, a.transaction(q, ""))
}

// start makes a request of n's kind and text for the user in, of every active device of
// the user: connected phones get it at once, the others are woken by push and get it
// when they connect, until it expires.
func (a *API) start(r *http.Request, in RequestCreate, n authn.NewRequest) (authn.Request, error) {
	if a.cfg.Requests == nil {
		return authn.Request{}, &rest.Problem{Status: http.StatusServiceUnavailable, Detail: "this node serves no phone requests",
			Header: http.Header{"Retry-After": {"5"}}}
	}
	ctx := r.Context()
	realm, err := rest.Realm(r, a.cfg.Store)
	if err != nil {
		return authn.Request{}, err
	}
	c := caller(r)
	client, err := a.cfg.Store.GetClient(ctx, realm.Name, c.ClientID)
	if err != nil {
		return authn.Request{}, rest.StoreError(err, fmt.Sprintf("client %q in realm %q", c.ClientID, realm.Name))
	}
	if !slices.Contains(login.FirstFactorsFor(realm, client), login.FactorPhone) {
		// Every way in follows the same policy (CONFORMANCE §3).
		return authn.Request{}, rest.Problemf(http.StatusForbidden, "the realm's policy does not let users sign in with the phone")
	}
	if err := authn.CheckText(n.Text); err != nil {
		return authn.Request{}, rest.BadRequest("%s", authnDetail(err))
	}
	// Checked in seconds before it becomes a Duration, which a huge value would wrap.
	ttl := time.Duration(in.TTLSeconds) * time.Second
	if in.TTLSeconds != 0 && (in.TTLSeconds < int64(authn.MinTTL/time.Second) || in.TTLSeconds > int64(authn.MaxTTL/time.Second)) {
		return authn.Request{}, rest.BadRequest("ttl_seconds must be from %d to %d", int(authn.MinTTL.Seconds()), int(authn.MaxTTL.Seconds()))
	}
	cb, err := a.callback(realm.Name, in)
	if err != nil {
		return authn.Request{}, err
	}
	if cb != nil && !events.HasCallbackSecret(realm) {
		// Callbacks are signed like webhooks; none goes out unsigned.
		return authn.Request{}, rest.Conflict("realm %q has no callback secret to sign callbacks with; create one with POST %s first",
			realm.Name, a.path("/realms/"+realm.Name+"/callback-secret"))
	}
	u, err := a.target(ctx, realm.Name, in)
	if err != nil {
		return authn.Request{}, err
	}
	n.Realm, n.ClientID, n.ClientName, n.UserID, n.TTL = realm.Name, c.ClientID, client.Name, u.ID, ttl
	n.RequesterIP, n.Binding, n.Callback = session.ClientIP(r), binding(c.ClientID), cb
	n.NoNumber = true // the caller shows the binding message or the transaction, not a number
	n.Policy = authn.RealmPolicy(realm)
	q, err := device.Ask(ctx, a.cfg.Store, a.cfg.Requests, a.now(), n)
	switch {
	case errors.Is(err, device.ErrUserDisabled):
		return q, rest.Conflict("the user is disabled or locked")
	case errors.Is(err, device.ErrNoDevice):
		return q, rest.Conflict("the user has no active device to ask")
	case errors.Is(err, authn.ErrTooManyPending), errors.Is(err, authn.ErrTooManyCreated), errors.Is(err, authn.ErrCoolingDown):
		return q, &rest.Problem{Status: http.StatusTooManyRequests, Detail: "too many requests for this user; try again later",
			Cause: err, Header: http.Header{"Retry-After": {"60"}}}
	case errors.Is(err, authn.ErrInvalid):
		return q, rest.BadRequest("%s", authnDetail(err))
	case err != nil:
		return q, rest.StoreError(err, rest.UserWhat(realm.Name, u.ID))
	}
	return q, nil
}

// authnDetail is an authn validation error's message without the sentinel's prefix.
func authnDetail(err error) string {
	msg := err.Error()
	if p := authn.ErrInvalid.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// target finds the user of a request, named by exactly one of user_id and username.
func (a *API) target(ctx context.Context, realm string, in RequestCreate) (store.User, error) {
	var (
		u   store.User
		err error
	)
	switch {
	case (in.UserID == "") == (in.Username == ""):
		return u, rest.BadRequest("exactly one of user_id and username names the user")
	case in.UserID != "":
		u, err = a.cfg.Store.GetUser(ctx, realm, in.UserID)
	default:
		u, err = a.cfg.Store.GetUserByUsername(ctx, realm, in.Username)
	}
	if errors.Is(err, store.ErrInvalid) {
		err = store.ErrNotFound
	}
	return u, rest.StoreError(err, fmt.Sprintf("user %q in realm %q", in.UserID+in.Username, realm))
}

// callback seals the request's callback; headers need a URL.
func (a *API) callback(realm string, in RequestCreate) (*store.EventCallback, error) {
	switch {
	case in.CallbackURL == "" && len(in.CallbackHeaders) > 0:
		return nil, rest.BadRequest("callback_headers need a callback_url")
	case in.CallbackURL == "":
		return nil, nil
	case len(in.CallbackHeaders) > 0 && a.cfg.Keyring == nil:
		return nil, rest.Problemf(http.StatusNotImplemented, "this node cannot keep callback headers")
	}
	cb, err := authn.SealCallback(a.cfg.Keyring, realm, authn.Callback{URL: in.CallbackURL, Headers: in.CallbackHeaders})
	if errors.Is(err, authn.ErrInvalid) {
		return nil, rest.BadRequest("%s", authnDetail(err))
	}
	return cb, err
}

// request loads a request of kind the caller made; another client's, or one of
// another kind, is not found.
func (a *API) request(r *http.Request, kind authn.Kind) (authn.Request, error) {
	if a.cfg.Requests == nil {
		return authn.Request{}, &rest.Problem{Status: http.StatusServiceUnavailable, Detail: "this node serves no phone requests",
			Header: http.Header{"Retry-After": {"5"}}}
	}
	realm, err := rest.Realm(r, a.cfg.Store)
	if err != nil {
		return authn.Request{}, err
	}
	id := r.PathValue("id")
	q, err := a.cfg.Requests.Get(r.Context(), realm.Name, id)
	if err == nil && (!q.BoundTo(binding(caller(r).ClientID)) || q.Kind != kind) {
		err = authn.ErrNotFound
	}
	if errors.Is(err, authn.ErrNotFound) {
		return q, &rest.Problem{Status: http.StatusNotFound, Detail: fmt.Sprintf("no %s request %q of this client in realm %q (or no longer)", kindName(kind), id, realm.Name), Cause: err}
	}
	return q, err
}

func kindName(k authn.Kind) string {
	if k == authn.KindTransaction {
		return "transaction"
	}
	return "authentication"
}

func (a *API) getAuthentication(w http.ResponseWriter, r *http.Request) error {
	q, err := a.request(r, authn.KindPushLogin)
	if err != nil {
		return err
	}
	return rest.WriteJSON(w, http.StatusOK, Authentication{RequestStatus: statusOf(q), BindingMessage: q.Text})
}

// getTransaction answers a transaction with its receipt once the device has answered.
// After the request's short life its kept receipt still answers.
func (a *API) getTransaction(w http.ResponseWriter, r *http.Request) error {
	q, err := a.request(r, authn.KindTransaction)
	var p *rest.Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		if kept, ok := a.keptTransaction(r); ok {
			return rest.WriteJSON(w, http.StatusOK, kept)
		}
	}
	if err != nil {
		return err
	}
	receipt := ""
	if a.cfg.Receipts != nil && q.Answer != nil && (q.State == authn.Approved || q.State == authn.Denied) {
		// Made when the device answered; made now if that failed (Issue finds a kept one).
		if receipt, err = a.cfg.Receipts.Issue(r.Context(), q); err != nil {
			return fmt.Errorf("api: the receipt of %s: %w", q.ID, err)
		}
	}
	return rest.WriteJSON(w, http.StatusOK, a.transaction(q, receipt))
}

func (a *API) transaction(q authn.Request, receipt string) Transaction {
	return Transaction{RequestStatus: statusOf(q), Text: q.Text, AuthorizationDetails: q.AuthorizationDetails, Receipt: receipt}
}

// keptTransaction reads the durable record of an answered transaction of the caller.
func (a *API) keptTransaction(r *http.Request) (Transaction, bool) {
	kept, err := a.cfg.Store.GetAuthnRequest(r.Context(), r.PathValue("realm"), r.PathValue("id"))
	if err != nil || kept.ClientID != caller(r).ClientID || kept.Kind != string(authn.KindTransaction) || kept.Receipt == "" {
		return Transaction{}, false
	}
	return Transaction{RequestStatus: RequestStatus{ID: kept.ID, State: string(kept.State), UserID: kept.UserID,
		CreatedAt: kept.CreatedAt.UTC(), ExpiresAt: kept.ExpiresAt.UTC(), AnsweredAt: kept.AnsweredAt.UTC(), DeviceID: kept.DeviceID},
		Text: kept.BindingMessage, AuthorizationDetails: kept.AuthorizationDetails, Receipt: kept.Receipt}, true
}

func (a *API) cancelAuthentication(w http.ResponseWriter, r *http.Request) error {
	q, err := a.cancel(w, r, authn.KindPushLogin)
	if err != nil {
		return err
	}
	return rest.WriteJSON(w, http.StatusOK, Authentication{RequestStatus: statusOf(q), BindingMessage: q.Text})
}

func (a *API) cancelTransaction(w http.ResponseWriter, r *http.Request) error {
	q, err := a.cancel(w, r, authn.KindTransaction)
	if err != nil {
		return err
	}
	return rest.WriteJSON(w, http.StatusOK, a.transaction(q, ""))
}

// cancel ends a pending request of the caller; one with an outcome is a conflict.
func (a *API) cancel(w http.ResponseWriter, r *http.Request, kind authn.Kind) (authn.Request, error) {
	if err := rest.Decode(w, r, &struct{}{}, true); err != nil {
		return authn.Request{}, err
	}
	q, err := a.request(r, kind)
	if err != nil {
		return q, err
	}
	out, err := a.cfg.Requests.Cancel(r.Context(), q.Realm, q.ID, binding(caller(r).ClientID))
	switch {
	case errors.Is(err, authn.ErrNotPending), errors.Is(err, authn.ErrExpired):
		cur, _ := a.cfg.Requests.Get(r.Context(), q.Realm, q.ID)
		return q, rest.Conflict("the request is %s already; only a pending request can be cancelled", stateOr(cur.State, "over"))
	case errors.Is(err, authn.ErrNotFound):
		return q, rest.Problemf(http.StatusNotFound, "no such request (or no longer)")
	}
	return out, err
}

func stateOr(s authn.State, def string) string {
	if s == "" {
		return def
	}
	return string(s)
}

// location is the absolute URL of a resource below the API.
func (a *API) location(p string) string {
	return strings.TrimRight(a.cfg.PublicURL, "/") + BasePath + p
}
