package account

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/web"
)

// Sign-in: the console is a relying party of the realm's provider. The state, nonce and
// PKCE verifier of a sign-in under way live in the ephemeral store, named by the state,
// which a short-lived cookie binds to the browser that started it.
const (
	pendingTTL = 15 * time.Minute
	// maxSessionTTL bounds a console session whose SSO session has no absolute end.
	maxSessionTTL = 12 * time.Hour
	// purposeEnroll marks the fresh sign-in that adding a phone needs.
	purposeEnroll = "enroll"
)

// The cookies are Lax: the callback arrives at the end of a redirect chain that may have
// begun on another site (a link to the console), where Strict cookies are withheld.
var (
	stateCookie = mustCookie("signet_account_state")
)

func mustCookie(name string) *web.HostCookie {
	c, err := web.NewHostCookie(name, http.SameSiteLaxMode)
	if err != nil {
		panic(err) // constant names
	}
	return c
}

// sessionCookie is the console's session cookie in realm: one per realm, as __Host-
// cookies cannot be scoped to a path.
func sessionCookie(realm string) *web.HostCookie {
	// Realm names are [a-z0-9_-], always a valid cookie-name suffix.
	return mustCookie("signet_account_" + realm)
}

// pending is a sign-in under way.
type pending struct {
	Verifier  string    `json:"verifier"`
	Nonce     string    `json:"nonce"`
	Purpose   string    `json:"purpose,omitempty"`
	Return    string    `json:"return"`
	CreatedAt time.Time `json:"created_at"`
}

func pendingKey(realm, state string) string { return "account:signin:" + realm + ":" + state }

// record is a console session, kept in the ephemeral store under the hash of its id.
type record struct {
	Realm  string `json:"realm"`
	UserID string `json:"user_id"`
	// SID is the SSO session the console session came from (the ID token's sid).
	SID      string    `json:"sid"`
	AuthTime time.Time `json:"auth_time"`
	// IDToken is the ID token of the sign-in, the id_token_hint of the sign-out.
	IDToken string `json:"id_token"`
	// Approved is the auth_time of a fresh sign-in made to add a phone, until a phone's
	// activation code is made with it; zero: none.
	Approved time.Time `json:"approved,omitzero"`
	// TOTPSecret and TOTPURL are a TOTP key being set up until the user confirms a code:
	// the secret sealed as User.TOTPSecret keeps it, the otpauth URL sealed likewise.
	TOTPSecret []byte `json:"totp_secret,omitempty"`
	TOTPURL    []byte `json:"totp_url,omitempty"`
}

// recordKey names a console session's record by the hash of its id, so that what the
// ephemeral store holds is no cookie.
func recordKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "account:session:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// current loads the console session of the request and checks that it may go on: the
// browser's SSO session is still the one it came from, and the user may still sign in.
// Otherwise the console session ends and the browser is sent to sign in again.
func (c *Console) current(w http.ResponseWriter, r *http.Request, realm store.Realm) (*request, bool) {
	ctx := r.Context()
	locale := c.render.Catalog().Negotiate("", r.Header.Get("Accept-Language"))
	q := &request{realm: realm, locale: locale, base: c.base(realm.Name), done: r.URL.Query().Get("done")}
	id, ok := sessionCookie(realm.Name).Get(r)
	if !ok || len(id) > 64 {
		return nil, c.signIn(w, r, q, "")
	}
	e, err := c.eph.Get(ctx, recordKey(id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return nil, c.signIn(w, r, q, "")
	}
	if err != nil {
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return nil, false
	}
	if json.Unmarshal(e.Value, &q.sess) != nil || q.sess.Realm != realm.Name {
		return nil, c.signIn(w, r, q, "")
	}
	q.id = id
	s, err := c.sessions.Current(ctx, r, realm)
	switch {
	case errors.Is(err, session.ErrNoSession) || err == nil && s.ID != q.sess.SID:
		c.endLocal(ctx, w, realm.Name, id)
		return nil, c.signIn(w, r, q, "")
	case err != nil:
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return nil, false
	}
	q.user, err = c.st.GetUser(ctx, realm.Name, q.sess.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && (!q.user.Enabled || c.now().Before(q.user.LockedUntil)):
		c.endLocal(ctx, w, realm.Name, id)
		return nil, c.signIn(w, r, q, "")
	case err != nil:
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return nil, false
	}
	q.locale = c.render.Catalog().Negotiate(q.user.Profile.Locale, r.Header.Get("Accept-Language"))
	return q, true
}

// endLocal ends the console session (not the SSO session).
func (c *Console) endLocal(ctx context.Context, w http.ResponseWriter, realm, id string) {
	sessionCookie(realm).Clear(w)
	if err := c.eph.Delete(ctx, recordKey(id)); err != nil {
		c.log.Warn("end account console session", "err", err)
	}
}

// returnable are the pages a sign-in may return to (below the console's base).
var returnable = []string{"", "security", "totp", "devices", "devices/enroll", "sessions", "activity"}

// signIn starts a sign-in at the realm's authorization endpoint and returns false (the
// request is answered). A GET returns to its page afterwards, anything else to the
// profile. purposeEnroll asks for a fresh login (prompt=login) as the same user.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request, q *request, purpose string) bool {
	ret := q.base + "/"
	if page, ok := strings.CutPrefix(r.URL.Path, q.base+"/"); ok && r.Method == http.MethodGet && slices.Contains(returnable, page) {
		ret = q.base + "/" + page
	}
	p := pending{Verifier: oauth2.GenerateVerifier(), Nonce: oidc.RandomToken(16), Purpose: purpose, Return: ret, CreatedAt: c.now()}
	raw, _ := json.Marshal(p) // strings and a time: cannot fail
	state := oidc.RandomToken(24)
	if _, err := c.eph.Set(r.Context(), pendingKey(q.realm.Name, state), raw, pendingTTL); err != nil {
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return false
	}
	if err := stateCookie.Set(w, state, pendingTTL); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "error.generic", err)
		return false
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier), oauth2.SetAuthURLParam("nonce", p.Nonce),
		oauth2.SetAuthURLParam("ui_locales", q.locale)}
	if purpose == purposeEnroll {
		// OIDC Core §3.1.2.1: prompt=login makes the user authenticate again, now.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("login_hint", q.user.Username))
	}
	http.Redirect(w, r, c.oauth(q.realm.Name).AuthCodeURL(state, opts...), http.StatusSeeOther)
	return false
}

// oauth is the console's client in realm.
func (c *Console) oauth(realm string) *oauth2.Config {
	issuer := c.provider.Issuer(realm)
	return &oauth2.Config{
		ClientID: c.clientID,
		Endpoint: oauth2.Endpoint{
			AuthURL: issuer + "/protocol/openid-connect/auth", TokenURL: issuer + "/protocol/openid-connect/token",
			// A public client: client_id in the body, no secret (RFC 6749 §2.3).
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: issuer + "/account/callback",
		Scopes:      []string{gooidc.ScopeOpenID, "profile", "email"},
	}
}

// local is ctx for the clients that call the provider's token and key endpoints in
// process.
func (c *Console) local(ctx context.Context) context.Context {
	client := c.provider.LocalClient()
	return context.WithValue(gooidc.ClientContext(ctx, client), oauth2.HTTPClient, client)
}

// verifier checks ID tokens of realm: signature by the realm's keys, issuer, audience
// (the console's client), expiry.
func (c *Console) verifier(realm string) *gooidc.IDTokenVerifier {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.verifiers[realm]
	if !ok {
		issuer := c.provider.Issuer(realm)
		// The key set lives as long as the console and fetches again on an unknown kid.
		ks := gooidc.NewRemoteKeySet(c.local(context.Background()), issuer+"/protocol/openid-connect/certs")
		var algs []string
		for _, a := range keys.Algs() {
			algs = append(algs, string(a))
		}
		v = gooidc.NewVerifier(issuer, ks, &gooidc.Config{ClientID: c.clientID, Now: c.now, SupportedSigningAlgs: algs})
		c.verifiers[realm] = v
	}
	return v
}

// callback finishes a sign-in: the state must be the one this browser started, the code
// redeems with its PKCE verifier, and the ID token must be the realm's, for the console,
// with the sign-in's nonce and the sid of the browser's SSO session. A new console
// session starts (a new id: nothing set before the sign-in survives it).
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	realm, ok := c.realm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	params := r.URL.Query()
	state := params.Get("state")
	started, ok := stateCookie.Get(r)
	stateCookie.Clear(w)
	if state == "" || !ok || subtle.ConstantTimeCompare([]byte(started), []byte(state)) != 1 {
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("state does not match the browser's"))
		return
	}
	raw, err := c.eph.Take(ctx, pendingKey(realm.Name, state))
	if errors.Is(err, ephemeral.ErrNotFound) {
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("sign-in expired or used"))
		return
	}
	if err != nil {
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	var p pending
	if err := json.Unmarshal(raw, &p); err != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", err)
		return
	}
	issuer := c.provider.Issuer(realm.Name)
	switch {
	case params.Get("error") == "access_denied":
		c.fail(w, r, nil, http.StatusForbidden, "account.error.signin_cancelled", nil)
		return
	case params.Get("error") != "":
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("authorization error "+oneLine(params.Get("error"), 64)))
		return
	case params.Get("iss") != issuer:
		// RFC 9207: the provider names itself in every response; another issuer's code
		// must not be sent to this one's token endpoint.
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("iss does not name the realm's issuer"))
		return
	}
	lctx := c.local(ctx)
	tok, err := c.oauth(realm.Name).Exchange(lctx, params.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("code refused: "+re.ErrorCode))
			return
		}
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := c.verifier(realm.Name).Verify(lctx, rawID)
	var claims struct {
		SID      string `json:"sid"`
		AuthTime int64  `json:"auth_time"`
	}
	if err == nil {
		err = idt.Claims(&claims)
	}
	switch {
	case err != nil:
	case subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1:
		err = errors.New("nonce does not match")
	case claims.SID == "" || claims.AuthTime == 0:
		err = errors.New("the ID token has no sid or auth_time")
	}
	if err != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", err)
		return
	}
	// The SSO session the code came from must be this browser's.
	if s, err := c.sessions.Current(ctx, r, realm); err != nil || s.ID != claims.SID {
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("the browser's SSO session is not the ID token's"))
		return
	}
	now := c.now()
	authTime := time.Unix(claims.AuthTime, 0)
	rec := record{Realm: realm.Name, UserID: idt.Subject, SID: claims.SID, AuthTime: authTime, IDToken: rawID}
	to := p.Return
	if p.Purpose == purposeEnroll {
		// Fresh: a login made after this sign-in began, within the last few minutes.
		if !authTime.Before(p.CreatedAt.Truncate(time.Second)) && now.Sub(authTime) <= freshApproval {
			rec.Approved = authTime
		} else {
			to = c.base(realm.Name) + "/devices?done=enroll_not_fresh"
		}
	}
	ttl := maxSessionTTL
	if s, err := c.st.GetSession(ctx, realm.Name, claims.SID); err == nil && !s.ExpiresAt.IsZero() {
		ttl = min(ttl, s.ExpiresAt.Sub(now))
	}
	if ttl <= 0 {
		c.fail(w, r, nil, http.StatusBadRequest, "account.error.signin_failed", errors.New("the SSO session has ended"))
		return
	}
	if old, ok := sessionCookie(realm.Name).Get(r); ok {
		_ = c.eph.Delete(ctx, recordKey(old))
	}
	id := oidc.RandomToken(32)
	value, _ := json.Marshal(rec) // strings, bytes and times: cannot fail
	if _, err := c.eph.Set(ctx, recordKey(id), value, ttl); err != nil {
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if err := sessionCookie(realm.Name).Set(w, id, ttl); err != nil {
		c.fail(w, r, nil, http.StatusInternalServerError, "error.generic", err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// update changes the console session's record with fn, keeping its expiry; false when
// another request changed it first or it is gone.
func (c *Console) update(ctx context.Context, q *request, fn func(*record)) (bool, error) {
	key := recordKey(q.id)
	e, err := c.eph.Get(ctx, key)
	if errors.Is(err, ephemeral.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var rec record
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return false, err
	}
	fn(&rec)
	value, _ := json.Marshal(rec)
	if _, err := c.eph.CompareAndSwap(ctx, key, e.Version, value, 0); err != nil {
		if errors.Is(err, ephemeral.ErrConflict) || errors.Is(err, ephemeral.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	q.sess = rec
	return true, nil
}

// logout ends the console session here and the SSO session at the provider: RP-initiated
// logout with the sign-in's ID token, back to the console (which asks to sign in).
func (c *Console) logout(w http.ResponseWriter, r *http.Request, q *request) {
	c.endLocal(r.Context(), w, q.realm.Name, q.id)
	issuer := c.provider.Issuer(q.realm.Name)
	v := url.Values{
		"id_token_hint":            {q.sess.IDToken},
		"post_logout_redirect_uri": {issuer + "/account/"},
		"client_id":                {c.clientID},
		"ui_locales":               {q.locale},
	}
	http.Redirect(w, r, issuer+"/protocol/openid-connect/logout?"+v.Encode(), http.StatusSeeOther)
}
