package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// GrantCIBA is the grant type of CIBA's token requests (OpenID CIBA Core 1.0 §10.1).
const GrantCIBA = "urn:openid:params:grant-type:ciba"

// CIBA limits.
const (
	// cibaInterval is the poll interval the endpoint announces, in seconds; a client that
	// polls sooner gets slow_down (CIBA Core §11).
	cibaInterval = 5
	// maxBindingMessage bounds a binding message: short enough to read on a phone and
	// compare with the client's screen (CIBA Core §7.1).
	maxBindingMessage = 120
	// maxNotificationToken bounds client_notification_token.
	maxNotificationToken = 1024
	// unknownUserID is CIBA's error for a hint that names no user (§13).
	unknownUserID = "unknown_user_id"
	// cibaStartsPerMinute bounds one client's backchannel requests, whatever their hints.
	cibaStartsPerMinute = 120
)

// cibaRequest is what the token endpoint needs of a backchannel request, kept beside
// the authn request under its own key (CIBA ids are their own namespace).
type cibaRequest struct {
	ClientID          string          `json:"client_id"`
	Scopes            []string        `json:"scopes"`
	Mode              string          `json:"mode"`
	NotificationToken string          `json:"notification_token,omitempty"`
	Claims            json.RawMessage `json:"claims,omitempty"`
}

func cibaKey(realm, id string) string     { return "ciba:" + realm + ":" + id }
func cibaPollKey(realm, id string) string { return "ciba:poll:" + realm + ":" + id }
func cibaBinding(clientID string) []byte  { return []byte("ciba:" + clientID) }

// cibaMode is the client's delivery mode; poll unless it registered another.
func cibaMode(c store.Client) string {
	if c.BackchannelTokenDeliveryMode == "" {
		return "poll"
	}
	return c.BackchannelTokenDeliveryMode
}

// backchannelAuth is the backchannel authentication endpoint (CIBA Core §7): an
// authenticated client asks for a user, named by a hint, to approve on their phone.
func (p *Provider) backchannelAuth(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	c, err := p.authenticateClient(ctx, realm.Name, r)
	if err != nil {
		return err
	}
	if c.Public || !slices.Contains(c.GrantTypes, GrantCIBA) {
		return UnauthorizedClient("the client is not registered for CIBA")
	}
	if p.requests == nil || p.stopping() {
		return TemporarilyUnavailable("this node does not serve phone requests")
	}
	if !slices.Contains(login.FirstFactorsFor(realm, c), login.FactorPhone) {
		// Every way in follows the same policy (CONFORMANCE §3).
		return AccessDenied("the realm's policy does not let users sign in with the phone")
	}
	if n, err := p.eph.Incr(ctx, "ciba:starts:"+realm.Name+":"+c.ID, time.Minute); err != nil {
		return err
	} else if n > cibaStartsPerMinute {
		w.Header().Set("Retry-After", "60")
		return TooManyRequests("too many backchannel requests from this client; try again in a minute")
	}
	v := r.PostForm
	if v.Has("request") || v.Has("request_uri") {
		// CIBA Core §7.1.1: signed authentication requests are optional; refused cleanly.
		return RequestNotSupported("signed authentication requests are not supported; send the parameters in the body")
	}
	scopes := strings.Fields(v.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		return InvalidScope("scope must include openid")
	}
	if acr := strings.Fields(v.Get("acr_values")); slices.Contains(acr, login.ACRMulti) && !slices.Contains(acr, login.ACRSingle) {
		return InvalidRequest("acr 2 is not available through CIBA: an approval on the phone is one factor")
	}
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return InvalidScope("the client may not ask for scope " + s)
		}
	}
	mode := cibaMode(c)
	token := v.Get("client_notification_token")
	switch {
	case (mode == "ping" || mode == "push") && token == "":
		return InvalidRequest("client_notification_token is required in " + mode + " mode")
	case len(token) > maxNotificationToken:
		return InvalidRequest("client_notification_token is too long")
	case v.Has("user_code"):
		return InvalidRequest("user_code is not supported (backchannel_user_code_parameter_supported is false)")
	}
	message := v.Get("binding_message")
	if utf8.RuneCountInString(message) > maxBindingMessage || authn.CheckText(message) != nil || strings.Contains(message, "\n") {
		return InvalidBindingMessage("binding_message must be one line of at most " + strconv.Itoa(maxBindingMessage) + " printable characters")
	}
	ttl, err := requestedExpiry(v.Get("requested_expiry"))
	if err != nil {
		return err
	}
	u, err := p.cibaUser(ctx, realm.Name, c.ID, r)
	if err != nil {
		return err
	}
	kind := authn.KindCIBA
	var details json.RawMessage
	if raw := v.Get("authorization_details"); raw != "" {
		// RFC 9396: what the user confirms becomes a transaction with a receipt.
		kind, details = authn.KindTransaction, json.RawMessage(raw)
	}
	if ttl == 0 {
		ttl = authn.ClientTTL(c.Attributes)
	}
	req, err := device.Ask(ctx, p.st, p.requests, p.now(), authn.NewRequest{
		Realm: realm.Name, Kind: kind, ClientID: c.ID, ClientName: c.Name, UserID: u.ID, Text: message,
		AuthorizationDetails: details, RequesterIP: session.ClientIP(r), Binding: cibaBinding(c.ID), TTL: ttl,
		NoNumber: true, // the client shows the binding message, not a number
		Policy:   authn.RealmPolicy(realm),
	})
	switch {
	case errors.Is(err, device.ErrUserDisabled):
		return AccessDenied("the user is disabled or locked")
	case errors.Is(err, device.ErrNoDevice):
		return AccessDenied("the user has no device to approve on")
	case errors.Is(err, authn.ErrTooManyPending), errors.Is(err, authn.ErrTooManyCreated), errors.Is(err, authn.ErrCoolingDown):
		return AccessDenied("too many requests for this user; try again later")
	case errors.Is(err, authn.ErrInvalid):
		return InvalidRequest(strings.TrimPrefix(err.Error(), authn.ErrInvalid.Error()+": "))
	case err != nil:
		return err
	}
	rec := cibaRequest{ClientID: c.ID, Scopes: scopes, Mode: mode, NotificationToken: token}
	raw, _ := json.Marshal(rec)
	life := req.ExpiresAt.Sub(req.CreatedAt)
	if _, err := p.eph.Set(ctx, cibaKey(realm.Name, req.ID), raw, life+cibaRetention); err != nil {
		_, _ = p.requests.Cancel(ctx, realm.Name, req.ID, cibaBinding(c.ID))
		return err
	}
	if mode != "poll" && !p.watchCIBA(realm, c, rec, req.ID) {
		_, _ = p.requests.Cancel(ctx, realm.Name, req.ID, cibaBinding(c.ID))
		return TemporarilyUnavailable("this node is shutting down; try again")
	}
	resp := map[string]any{"auth_req_id": req.ID, "expires_in": int64(life.Seconds())}
	if mode != "push" {
		resp["interval"] = cibaInterval
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, resp)
}

// cibaRetention is how long an answered request stays redeemable after its expiry.
const cibaRetention = 10 * time.Minute

// requestedExpiry reads requested_expiry (seconds; CIBA Core §7.1); 0 when absent.
func requestedExpiry(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 16) // digits only; bounded before the product
	d := time.Duration(n) * time.Second
	if err != nil || d < authn.MinTTL || d > authn.MaxTTL {
		return 0, InvalidRequest("requested_expiry must be a whole number of seconds from " +
			strconv.Itoa(int(authn.MinTTL.Seconds())) + " to " + strconv.Itoa(int(authn.MaxTTL.Seconds())))
	}
	return d, nil
}

// cibaUser finds the user of exactly one hint: login_hint (a username or e-mail) or
// id_token_hint (an ID token this realm issued to the client); login_hint_token is not
// supported.
func (p *Provider) cibaUser(ctx context.Context, realm, clientID string, r *http.Request) (store.User, error) {
	v := r.PostForm
	n := 0
	for _, h := range []string{"login_hint", "id_token_hint", "login_hint_token"} {
		if v.Has(h) {
			n++
		}
	}
	if n != 1 {
		return store.User{}, InvalidRequest("exactly one of login_hint and id_token_hint is required")
	}
	var u store.User
	var err error
	switch {
	case v.Has("login_hint_token"):
		return store.User{}, InvalidRequest("login_hint_token is not supported; use login_hint or id_token_hint")
	case v.Has("id_token_hint"):
		sub, herr := p.idTokenHintSubject(ctx, realm, clientID, v.Get("id_token_hint"))
		if herr != nil {
			return store.User{}, InvalidRequest("id_token_hint is not an ID token this realm issued for the client")
		}
		u, err = p.st.GetUser(ctx, realm, sub)
	default:
		hint := v.Get("login_hint")
		if strings.Contains(hint, "@") {
			u, err = p.st.GetUserByEmail(ctx, realm, hint)
		}
		if !strings.Contains(hint, "@") || errors.Is(err, store.ErrNotFound) {
			u, err = p.st.GetUserByUsername(ctx, realm, hint)
		}
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return store.User{}, &Error{Code: unknownUserID, Description: "the hint names no user", Status: http.StatusBadRequest}
	}
	if err != nil {
		return store.User{}, err
	}
	if !userActive(u, p.now()) {
		return store.User{}, AccessDenied("the user is disabled or locked")
	}
	return u, nil
}

// loadCIBA reads a backchannel request of realm.
func (p *Provider) loadCIBA(ctx context.Context, realm, id string) (cibaRequest, error) {
	if id == "" || len(id) > 64 {
		return cibaRequest{}, InvalidGrant("unknown auth_req_id")
	}
	e, err := p.eph.Get(ctx, cibaKey(realm, id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return cibaRequest{}, InvalidGrant("unknown auth_req_id")
	}
	if err != nil {
		return cibaRequest{}, err
	}
	var rec cibaRequest
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return cibaRequest{}, err
	}
	return rec, nil
}
