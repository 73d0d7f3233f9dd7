package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/web"
)

// Lifetimes of the authorization flow's single-use state.
const (
	// pendingTTL is how long a user may take to log in.
	pendingTTL = 30 * time.Minute
	// codeTTL: RFC 9700 §4.2.1 and CONFORMANCE §2 — codes live 60 s at most.
	codeTTL = 60 * time.Second
	// codeReuseTTL keeps a redeemed code's grant id so a replay revokes the grant
	// (RFC 6749 §4.1.2) also well after the code expired (oidcc-codereuse-30seconds).
	codeReuseTTL = 10 * time.Minute
	// browserCookieTTL bounds the browser-binding cookie.
	browserCookieTTL = time.Hour
)

// browserCookie binds pending logins to the browser that started them (CONFORMANCE §4.8).
var browserCookie = mustCookie("signet_browser")

func mustCookie(name string) *web.HostCookie {
	c, err := web.NewHostCookie(name, http.SameSiteLaxMode)
	if err != nil {
		panic(err)
	}
	return c
}

// Ephemeral keys: one namespace per realm and artifact type, so one kind never redeems as
// another (CONFORMANCE §4.7).
func pendingKey(realm, id string) string { return "authz:" + realm + ":" + id }
func codeKey(realm string, h [32]byte) string {
	return "code:" + realm + ":" + fmt.Sprintf("%x", h)
}
func codeGrantKey(realm string, h [32]byte) string {
	return "code-grant:" + realm + ":" + fmt.Sprintf("%x", h)
}
func codeReusedKey(realm string, h [32]byte) string {
	return "code-reused:" + realm + ":" + fmt.Sprintf("%x", h)
}

// authorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2), GET and
// POST. Errors before the client and redirect URI are settled are shown as a page;
// later ones are sent to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if err := p.authorizeErr(w, r); err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			p.logErr(r, re.err)
			p.respond(w, r, re.req, errorParams(re.err))
			return
		}
		p.errorPage(w, r, err)
	}
}

func (p *Provider) authorizeErr(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	v, err := authzParams(w, r)
	if err != nil {
		return err
	}
	a, c, err := p.parseAuthRequest(r.Context(), realm, v)
	if err != nil {
		return err
	}
	a.ID, a.CreatedAt = RandomToken(16), p.now().UnixMicro()
	a.Browser = p.bindBrowser(w, r)
	ctx := r.Context()
	s, live, err := p.liveSession(ctx, r, realm)
	if err != nil {
		return &redirectError{err: AsError(err), req: a}
	}
	if live {
		switch {
		case a.hasPrompt("login"):
			live = false
		case a.MaxAge >= 0 && p.now().Sub(s.AuthTime) > time.Duration(a.MaxAge)*time.Second:
			live = false
		case a.HintSubject != "" && a.HintSubject != s.UserID:
			live = false
		case a.requiredACR() == login.ACRMulti && s.ACR != login.ACRMulti:
			// Step-up: the session's factors are fewer than the client asks for.
			live = false
		}
	}
	a.ForceLogin = !live
	if !live {
		if a.hasPrompt("none") {
			return &redirectError{err: LoginRequired("the user must log in"), req: a}
		}
		return p.toLogin(w, r, a, login.Path(p.prefix, realm.Name, a.ID))
	}
	consent, err := p.needsConsent(ctx, c, s.UserID, a)
	if err != nil {
		return &redirectError{err: AsError(err), req: a}
	}
	if consent {
		if a.hasPrompt("none") {
			return &redirectError{err: ConsentRequired("the user must consent"), req: a}
		}
		return p.toLogin(w, r, a, login.ConsentPath(p.prefix, realm.Name, a.ID))
	}
	return p.issueCode(w, r, a, s)
}

// requiredACR is the level the request asks for: two factors when acr_values names
// ACRMulti and not the single-factor level (acr_values lists the acceptable values,
// OIDC Core §3.1.2.1: with "1" among them one factor is enough), or when the claims
// parameter asks for an essential acr whose values are ACRMulti alone (§5.5.1.1); else
// none in particular.
func (a *authRequest) requiredACR() string {
	if slices.Contains(a.ACRValues, login.ACRMulti) && !slices.Contains(a.ACRValues, login.ACRSingle) {
		return login.ACRMulti
	}
	var acr struct {
		Essential bool     `json:"essential"`
		Value     string   `json:"value"`
		Values    []string `json:"values"`
	}
	if raw, ok := parseClaimsRequest(a.Claims).IDToken["acr"]; ok && json.Unmarshal(raw, &acr) == nil && acr.Essential {
		values := acr.Values
		if acr.Value != "" {
			values = append(values, acr.Value)
		}
		if slices.Contains(values, login.ACRMulti) && !slices.Contains(values, login.ACRSingle) {
			return login.ACRMulti
		}
	}
	return ""
}

// toLogin keeps the request and sends the browser to the login pages (303, so a POST is
// never repeated, RFC 9700 §4.12).
func (p *Provider) toLogin(w http.ResponseWriter, r *http.Request, a *authRequest, path string) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := p.eph.Set(r.Context(), pendingKey(a.Realm, a.ID), raw, pendingTTL); err != nil {
		return &redirectError{err: AsError(err), req: a}
	}
	http.Redirect(w, r, p.publicOrigin()+path, http.StatusSeeOther)
	return nil
}

// publicOrigin is the scheme and host of the public URL: login paths already carry the
// prefix.
func (p *Provider) publicOrigin() string {
	return strings.TrimSuffix(p.publicURL, p.prefix)
}

// bindBrowser returns the hash of the browser-binding cookie, setting one first if the
// browser has none.
func (p *Provider) bindBrowser(w http.ResponseWriter, r *http.Request) []byte {
	v, ok := browserCookie.Get(r)
	if !ok || len(v) < 22 || len(v) > 64 {
		v = RandomToken(16)
	}
	// Set again every time, so the cookie outlives every pending request bound to it.
	_ = browserCookie.Set(w, v, browserCookieTTL)
	sum := sha256.Sum256([]byte(v))
	return sum[:]
}

func sameBrowser(r *http.Request, want []byte) bool {
	v, ok := browserCookie.Get(r)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// liveSession returns the browser's session in realm if there is one and its user may
// still sign in.
func (p *Provider) liveSession(ctx context.Context, r *http.Request, realm store.Realm) (store.Session, bool, error) {
	s, err := p.sessions.Current(ctx, r, realm)
	if errors.Is(err, session.ErrNoSession) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, err
	}
	u, err := p.st.GetUser(ctx, realm.Name, s.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, err
	}
	return s, userActive(u, p.now()), nil
}

func userActive(u store.User, now time.Time) bool { return u.Enabled && !now.Before(u.LockedUntil) }

// needsConsent reports whether the user must (again) consent to the requested scopes.
func (p *Provider) needsConsent(ctx context.Context, c store.Client, userID string, a *authRequest) (bool, error) {
	if a.hasPrompt("consent") {
		return true, nil
	}
	if !c.ConsentRequired {
		return false, nil
	}
	got, err := p.st.GetConsent(ctx, a.Realm, userID, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range a.Scopes {
		if !slices.Contains(got.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// codeRecord is what a code redeems: everything the token endpoint needs.
type codeRecord struct {
	ClientID      string          `json:"client_id"`
	RedirectURI   string          `json:"redirect_uri"`
	Scopes        []string        `json:"scopes"`
	Nonce         string          `json:"nonce,omitempty"`
	CodeChallenge string          `json:"code_challenge,omitempty"`
	UserID        string          `json:"user_id"`
	SessionID     string          `json:"session_id"`
	AuthTime      int64           `json:"auth_time"`
	AMR           []string        `json:"amr,omitempty"`
	ACR           string          `json:"acr,omitempty"`
	Claims        json.RawMessage `json:"claims,omitempty"`
	// GrantID is chosen when the code is issued, so a replay can revoke the grant.
	GrantID string `json:"grant_id"`
	// RedirectGiven: the request named redirect_uri, so the token request must too.
	RedirectGiven bool `json:"redirect_given,omitempty"`
}

// issueCode makes a code for a and sends it to the client. Only the code's hash is a key.
func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, a *authRequest, s store.Session) error {
	code := RandomToken(32)
	h := sha256.Sum256([]byte(code))
	rec := codeRecord{
		ClientID: a.ClientID, RedirectURI: a.RedirectURI, Scopes: a.Scopes, Nonce: a.Nonce,
		CodeChallenge: a.CodeChallenge, UserID: s.UserID, SessionID: s.ID, AuthTime: s.AuthTime.Unix(),
		AMR: s.AMR, ACR: s.ACR, Claims: a.Claims, GrantID: RandomToken(16), RedirectGiven: a.RedirectGiven,
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := p.eph.Set(ctx, codeGrantKey(a.Realm, h), []byte(rec.GrantID), codeReuseTTL); err != nil {
		return &redirectError{err: AsError(err), req: a}
	}
	if _, err := p.eph.Set(ctx, codeKey(a.Realm, h), raw, codeTTL); err != nil {
		return &redirectError{err: AsError(err), req: a}
	}
	p.respond(w, r, a, url.Values{"code": {code}, "session_state": {sessionState(a.ClientID, a.RedirectURI, s)}})
	return nil
}

func errorParams(e *Error) url.Values {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	return v
}

// respond sends an authorization response to the client's redirect URI in the request's
// response mode, with state and iss (RFC 9207) always.
func (p *Provider) respond(w http.ResponseWriter, r *http.Request, a *authRequest, params url.Values) {
	if a.State != "" {
		params.Set("state", a.State)
	}
	params.Set("iss", p.Issuer(a.Realm))
	switch a.ResponseMode {
	case ResponseModeFormPost:
		p.formPost(w, a.RedirectURI, params)
	case ResponseModeFragment:
		u := a.RedirectURI
		if i := strings.IndexByte(u, '#'); i >= 0 {
			u = u[:i]
		}
		http.Redirect(w, r, u+"#"+params.Encode(), http.StatusSeeOther)
	default:
		sep := "?"
		if strings.Contains(a.RedirectURI, "?") {
			sep = "&"
		}
		http.Redirect(w, r, a.RedirectURI+sep+params.Encode(), http.StatusSeeOther)
	}
}

// formPostPage auto-submits the response to the client (OAuth 2.0 Form Post Response
// Mode). Its only script is fixed, allowed by hash; the form may post only to the
// redirect URI's origin. Every value is escaped by html/template, and the redirect URI was
// validated at registration (no javascript: or data:, CONFORMANCE §4.3).
var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Submit</title></head>
<body><form method="post" action="{{.Action}}">{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}
<noscript><button type="submit">Continue</button></noscript></form>
<script>` + formPostScript + `</script></body></html>`))

const formPostScript = `document.forms[0].submit();`

var formPostScriptHash = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "'sha256-" + b64std(sum[:]) + "'"
}()

func (p *Provider) formPost(w http.ResponseWriter, action string, params url.Values) {
	h := w.Header()
	web.SecurityHeadersWithCSP(h, "default-src 'none'; script-src "+formPostScriptHash+
		"; form-action "+origin(action)+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	// action is a plain string: html/template neutralizes any script or data URL that
	// reached the store some other way (CONFORMANCE §4.3, defence in depth).
	_ = formPostPage.Execute(w, struct {
		Action string
		Params url.Values
	}{action, params})
}

// origin is the scheme://host[:port] of an absolute http(s) URI, or "" for anything else.
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Interaction implements login.Flow.
func (p *Provider) Interaction(ctx context.Context, r *http.Request, realm store.Realm, id string) (login.Interaction, error) {
	a, _, err := p.pending(ctx, r, realm.Name, id)
	if err != nil {
		return login.Interaction{}, err
	}
	c, err := p.st.GetClient(ctx, realm.Name, a.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return login.Interaction{}, login.ErrInteractionGone
	}
	if err != nil {
		return login.Interaction{}, err
	}
	return login.Interaction{
		ID: a.ID, Client: c, Scopes: a.Scopes, LoginHint: a.LoginHint, UILocales: a.UILocales,
		ForceLogin: a.ForceLogin, ForceConsent: a.hasPrompt("consent"), RedirectOrigin: origin(a.RedirectURI),
		CreatedAt: time.UnixMicro(a.CreatedAt), ACR: a.requiredACR(),
	}, nil
}

func (p *Provider) pending(ctx context.Context, r *http.Request, realm, id string) (*authRequest, uint64, error) {
	if id == "" || len(id) > 64 {
		return nil, 0, login.ErrInteractionGone
	}
	e, err := p.eph.Get(ctx, pendingKey(realm, id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return nil, 0, login.ErrInteractionGone
	}
	if err != nil {
		return nil, 0, err
	}
	var a authRequest
	if err := json.Unmarshal(e.Value, &a); err != nil || a.Realm != realm || !sameBrowser(r, a.Browser) {
		return nil, 0, login.ErrInteractionGone
	}
	return &a, e.Version, nil
}

// Complete implements login.Flow: it redeems the pending request once and issues a code
// for the session's user.
func (p *Provider) Complete(w http.ResponseWriter, r *http.Request, realm store.Realm, id string, s store.Session) error {
	a, err := p.takePending(r, realm.Name, id)
	if err != nil {
		return err
	}
	// A request that demanded a fresh login (prompt=login, max_age, an id_token_hint for
	// someone else) completes only with a login made after it: the consent page of an
	// older session must not answer it.
	if s.UserID == "" || a.ForceLogin && s.AuthTime.UnixMicro() < a.CreatedAt {
		return login.ErrInteractionGone
	}
	if a.requiredACR() == login.ACRMulti && s.ACR != login.ACRMulti {
		return login.ErrInteractionGone // the pages ask for the second factor; never skipped
	}
	if err := p.issueCode(w, r, a, s); err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			p.respond(w, r, a, errorParams(re.err))
			return nil
		}
		return err
	}
	return nil
}

// Deny implements login.Flow.
func (p *Provider) Deny(w http.ResponseWriter, r *http.Request, realm store.Realm, id string) error {
	a, err := p.takePending(r, realm.Name, id)
	if err != nil {
		return err
	}
	p.respond(w, r, a, errorParams(AccessDenied("the user denied the request")))
	return nil
}

// takePending redeems a pending request: of concurrent completions exactly one wins.
func (p *Provider) takePending(r *http.Request, realm, id string) (*authRequest, error) {
	a, _, err := p.pending(r.Context(), r, realm, id)
	if err != nil {
		return nil, err
	}
	if _, err := p.eph.Take(r.Context(), pendingKey(realm, id)); err != nil {
		if errors.Is(err, ephemeral.ErrNotFound) {
			return nil, login.ErrInteractionGone
		}
		return nil, err
	}
	return a, nil
}

// errorPage shows an error the client must not receive (unknown client, bad redirect
// URI): a page, never a redirect.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	oe := AsError(err)
	p.logErr(r, oe)
	status := oe.Status
	if status == http.StatusUnauthorized {
		status = http.StatusBadRequest
	}
	locale := p.render.Catalog().Negotiate(r.URL.Query().Get("ui_locales"), r.Header.Get("Accept-Language"))
	msg := oe.Description
	if oe.Status >= 500 {
		msg = ""
	}
	if rerr := p.render.RenderView(w, status, web.View{
		Name: "error", Locale: locale, TitleKey: "error.title",
		Data: struct{ Code, Message string }{oe.Code, msg},
	}); rerr != nil {
		p.log.Error("render error page", "err", rerr)
	}
}

func (p *Provider) logErr(r *http.Request, oe *Error) { logError(r, p.log, oe) }
