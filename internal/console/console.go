// Package console is Signet's admin console: server-rendered pages on the ADMIN listener
// at {prefix}/admin/ for platform administrators (the master realm) and at
// {prefix}/admin/{realm}/console/ for a realm's administrators.
//
// The console is a relying party of Signet's own OpenID provider: an administrator signs
// in to their realm through the realm's login pages with the built-in client
// signet-console (authorization code with PKCE, through golang.org/x/oauth2 and go-oidc,
// whose calls the provider serves in process). Every page then drives the admin API, in
// process, with the administrator's own access token: the console can do exactly what
// that token may do, and the API's role separation (a realm administrator sees and
// touches its realm only) holds for the pages without a second implementation.
//
// Pages need no script. Every form carries a CSRF token bound to the console session;
// the CSP allows nothing inline and nothing from elsewhere.
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/inproc"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/ops/history"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

// Names and limits of the console.
const (
	// sessionTTL bounds a console session; the realm's own session and token lifetimes
	// usually end it sooner.
	sessionTTL = 8 * time.Hour
	// loginTTL bounds a sign-in from its start to the callback.
	loginTTL = 10 * time.Minute
	// refreshEarly renews the access token this long before it expires.
	refreshEarly = 30 * time.Second
	// maxForm bounds a form body.
	maxForm = 64 << 10
)

// Config is what the console needs.
type Config struct {
	// AdminURL is the ADMIN listener's public base URL with the path prefix; Prefix is
	// the path prefix routes are mounted under.
	AdminURL string
	Prefix   string
	// Issuer returns the issuer URL of a realm (the PUBLIC listener's).
	Issuer func(realm string) string
	// Provider is the HTTP client that reaches the provider's endpoints (in process:
	// oidc.Provider.LocalClient).
	Provider *http.Client
	// API is the admin API's handler, called in process.
	API http.Handler
	// Ephemeral keeps console sessions and sign-ins in progress.
	Ephemeral ephemeral.Store
	// CSRF issues the forms' tokens.
	CSRF *web.CSRF
	// Catalog is the message catalog (the layout's development-mode texts).
	Catalog *web.Catalog
	Dev     bool
	// Health reports the node's components (the overview page); nil: not shown.
	Health *ops.Health
	// Plots returns the dashboard's plots; nil: no dashboard.
	Plots func() []history.Plot
	Log   *slog.Logger
	Now   func() time.Time
}

// Console serves the admin console.
type Console struct {
	cfg    Config
	render *web.Renderer
	api    *http.Client
	cookie *web.HostCookie
	login  *web.HostCookie
	// verifiers holds each realm's ID token verifier (its discovery and key set), made
	// at the realm's first sign-in; the key set fetches again for a key it does not know.
	verifiers sync.Map // realm → *gooidc.IDTokenVerifier
}

// New creates the console.
func New(cfg Config) (*Console, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	render, err := web.NewRendererFS(cfg.Dev, cfg.Prefix, cfg.Catalog, templateFS)
	if err != nil {
		return nil, err
	}
	api, err := inproc.Client(cfg.AdminURL, cfg.API)
	if err != nil {
		return nil, err
	}
	cookie, err := web.NewHostCookie("signet_console", http.SameSiteLaxMode)
	if err != nil {
		return nil, err
	}
	login, err := web.NewHostCookie("signet_console_login", http.SameSiteLaxMode)
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, render: render, api: api, cookie: cookie, login: login}, nil
}

// Routes mounts the console on mux: everything under {prefix}/admin/ that the admin API
// (more specific, under /admin/api/) does not serve; no realm may be named "api".
func (c *Console) Routes(mux *http.ServeMux) {
	p := c.cfg.Prefix + "/admin"
	own := http.NewServeMux()
	own.HandleFunc("GET "+p+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, c.base(admin.MasterRealm), http.StatusFound)
	})
	own.HandleFunc("GET "+p+"/{realm}/console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, c.base(r.PathValue("realm")), http.StatusFound)
	})
	base := p + "/{realm}/console"
	own.HandleFunc("GET "+base+"/callback", c.callback)
	own.HandleFunc("POST "+base+"/logout", c.logout)
	for _, pg := range c.pages() {
		own.Handle(pg.method+" "+base+pg.path, c.page(pg.handler))
	}
	own.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "There is no such page.")
	})
	mux.Handle(p+"/", own)
}

// base is the console's root URL path for administrators of realm.
func (c *Console) base(realm string) string {
	return c.cfg.Prefix + "/admin/" + url.PathEscape(realm) + "/console/"
}

// redirectURI is where the provider sends administrators of realm back to.
func (c *Console) redirectURI(realm string) string {
	return c.cfg.AdminURL + "/admin/" + url.PathEscape(realm) + "/console/callback"
}

// session is a signed-in administrator, kept in the ephemeral store under the hash of
// the cookie's random id.
type session struct {
	Realm    string    `json:"realm"`
	Subject  string    `json:"sub"`
	Username string    `json:"username"`
	Access   string    `json:"access"`
	Refresh  string    `json:"refresh"`
	Expiry   time.Time `json:"expiry"`
	IDToken  string    `json:"id_token"`
	Flash    string    `json:"flash,omitempty"`
	FlashErr bool      `json:"flash_err,omitempty"`
}

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return "console:session:" + hex.EncodeToString(h[:])
}

// pendingLogin is a sign-in between its start and the callback.
type pendingLogin struct {
	Realm    string `json:"realm"`
	Verifier string `json:"verifier"`
	Nonce    string `json:"nonce"`
	Return   string `json:"return"`
}

func loginKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return "console:login:" + hex.EncodeToString(h[:])
}

func (c *Console) oauth(realm string) oauth2.Config {
	issuer := c.cfg.Issuer(realm)
	return oauth2.Config{
		ClientID:    admin.ConsoleClientID,
		RedirectURL: c.redirectURI(realm),
		Scopes:      []string{gooidc.ScopeOpenID, "profile", admin.Scope},
		Endpoint: oauth2.Endpoint{
			AuthURL:   issuer + "/protocol/openid-connect/auth",
			TokenURL:  issuer + "/protocol/openid-connect/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

func (c *Console) providerCtx(ctx context.Context) context.Context {
	return context.WithValue(gooidc.ClientContext(ctx, c.cfg.Provider), oauth2.HTTPClient, c.cfg.Provider)
}

// startLogin sends the browser to the realm's authorization endpoint, to come back to
// the page it asked for.
func (c *Console) startLogin(w http.ResponseWriter, r *http.Request, realm string) error {
	state, verifier, nonce := randomID(), oauth2.GenerateVerifier(), randomID()
	ret := r.URL.Path
	if r.Method != http.MethodGet {
		ret = c.base(realm)
	}
	b, _ := json.Marshal(pendingLogin{Realm: realm, Verifier: verifier, Nonce: nonce, Return: ret})
	if _, err := c.cfg.Ephemeral.Set(r.Context(), loginKey(state), b, loginTTL); err != nil {
		return err
	}
	if err := c.login.Set(w, state, loginTTL); err != nil {
		return err
	}
	conf := c.oauth(realm)
	http.Redirect(w, r, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), http.StatusFound)
	return nil
}

// callback finishes a sign-in: the state must be the one this browser started with,
// redeemed once; the code is exchanged with the PKCE verifier, and the ID token
// verified (issuer, audience, nonce) before a console session starts.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	realm := r.PathValue("realm")
	q := r.URL.Query()
	state := q.Get("state")
	cookieState, ok := c.login.Get(r)
	if !ok || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookieState)) != 1 {
		c.fail(w, r, http.StatusBadRequest, "This sign-in was not started in this browser, or it has expired. Start again from the console.")
		return
	}
	c.login.Clear(w)
	raw, err := c.cfg.Ephemeral.Take(r.Context(), loginKey(state))
	var pl pendingLogin
	if err == nil {
		err = json.Unmarshal(raw, &pl)
	}
	if errors.Is(err, ephemeral.ErrNotFound) || err == nil && pl.Realm != realm {
		c.fail(w, r, http.StatusBadRequest, "This sign-in has expired or was already used. Start again from the console.")
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The console cannot keep sessions right now. Try again shortly.")
		c.cfg.Log.Warn("console sign-in", "err", err)
		return
	}
	if e := q.Get("error"); e != "" {
		c.fail(w, r, http.StatusForbidden, "The sign-in did not complete ("+e+").")
		return
	}
	if iss := q.Get("iss"); iss != "" && iss != c.cfg.Issuer(realm) {
		c.fail(w, r, http.StatusBadRequest, "The sign-in came back from another issuer.")
		return
	}
	ctx := c.providerCtx(r.Context())
	conf := c.oauth(realm)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pl.Verifier))
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "The sign-in could not be completed. Start again from the console.")
		c.cfg.Log.Info("console sign-in: code exchange refused", "realm", realm, "err", err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	verifier, err := c.verifier(realm)
	var idt *gooidc.IDToken
	if err == nil {
		idt, err = verifier.Verify(ctx, rawID)
	}
	var claims struct {
		Username string `json:"preferred_username"`
	}
	if err == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pl.Nonce)) != 1 {
		err = errors.New("nonce mismatch")
	}
	if err == nil {
		err = idt.Claims(&claims)
	}
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "The sign-in could not be verified. Start again from the console.")
		c.cfg.Log.Warn("console sign-in: ID token refused", "realm", realm, "err", err)
		return
	}
	s := session{Realm: realm, Subject: idt.Subject, Username: claims.Username, Access: tok.AccessToken,
		Refresh: tok.RefreshToken, Expiry: tok.Expiry, IDToken: rawID}
	id := randomID()
	if err := c.saveSession(r.Context(), id, s); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The console cannot keep sessions right now. Try again shortly.")
		return
	}
	if err := c.cookie.Set(w, id, sessionTTL); err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The session could not start.")
		return
	}
	ret := pl.Return
	if !strings.HasPrefix(ret, c.base(realm)) {
		ret = c.base(realm)
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// verifier returns realm's ID token verifier.
func (c *Console) verifier(realm string) (*gooidc.IDTokenVerifier, error) {
	if v, ok := c.verifiers.Load(realm); ok {
		return v.(*gooidc.IDTokenVerifier), nil
	}
	// The key set outlives this request: its fetches use a context of its own.
	provider, err := gooidc.NewProvider(c.providerCtx(context.Background()), c.cfg.Issuer(realm))
	if err != nil {
		return nil, err
	}
	v, _ := c.verifiers.LoadOrStore(realm, provider.Verifier(&gooidc.Config{ClientID: admin.ConsoleClientID}))
	return v.(*gooidc.IDTokenVerifier), nil
}

func (c *Console) saveSession(ctx context.Context, id string, s session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = c.cfg.Ephemeral.Set(ctx, sessionKey(id), b, sessionTTL)
	return err
}

// current returns the browser's console session for realm, with a live access token
// (renewed with the refresh token when it is about to expire). ok is false when there
// is none (or it can no longer be renewed).
func (c *Console) current(ctx context.Context, r *http.Request, realm string) (id string, s session, ok bool, err error) {
	id, ok = c.cookie.Get(r)
	if !ok {
		return "", session{}, false, nil
	}
	raw, err := c.cfg.Ephemeral.Get(ctx, sessionKey(id))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return "", session{}, false, nil
	}
	if err != nil {
		return "", session{}, false, err
	}
	if json.Unmarshal(raw.Value, &s) != nil || s.Realm != realm {
		return "", session{}, false, nil
	}
	if c.cfg.Now().Add(refreshEarly).Before(s.Expiry) {
		return id, s, true, nil
	}
	if s.Refresh == "" {
		return "", session{}, false, nil
	}
	conf := c.oauth(realm)
	tok, err := conf.TokenSource(c.providerCtx(ctx), &oauth2.Token{RefreshToken: s.Refresh}).Token()
	if err != nil {
		// Revoked, expired or the user is locked: the session is over.
		_ = c.cfg.Ephemeral.Delete(ctx, sessionKey(id))
		return "", session{}, false, nil
	}
	s.Access, s.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		s.Refresh = tok.RefreshToken
	}
	return id, s, true, c.saveSession(ctx, id, s)
}

// logout ends the console session and the realm's single sign-on session (RP-initiated
// logout), then comes back to the console, which asks to sign in again.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	realm := r.PathValue("realm")
	id, s, ok, err := c.current(r.Context(), r, realm)
	if err != nil || !ok {
		http.Redirect(w, r, c.base(realm), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil || c.cfg.CSRF.Verify(r.PostForm.Get(web.CSRFFieldName), id, sessionTTL) != nil {
		c.fail(w, r, http.StatusForbidden, "The form has expired. Reload the page and try again.")
		return
	}
	_ = c.cfg.Ephemeral.Delete(r.Context(), sessionKey(id))
	c.cookie.Clear(w)
	end := c.cfg.Issuer(realm) + "/protocol/openid-connect/logout?" + url.Values{
		"id_token_hint": {s.IDToken}, "client_id": {admin.ConsoleClientID},
		"post_logout_redirect_uri": {c.cfg.AdminURL + "/admin/" + url.PathEscape(realm) + "/console/"},
	}.Encode()
	http.Redirect(w, r, end, http.StatusSeeOther)
}

// apiError is a refusal of the admin API: its status and its problem's detail.
type apiError struct {
	Status int
	Detail string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Detail) }

// call runs one admin API operation with the administrator's token: path is below
// /admin/api; in (when not nil) is the JSON body; the answer is decoded into out (when
// not nil). A refusal is an *apiError.
func (c *Console) call(ctx context.Context, s session, method, path string, in, out any) error {
	return c.callIf(ctx, s, method, path, "", in, out)
}

// callIf is call with If-Match: etag (when not empty), so a change read from one version
// is refused (412) when the record has changed since.
func (c *Console) callIf(ctx context.Context, s session, method, path, etag string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.AdminURL+admin.BasePath+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Access)
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var p rest.ProblemBody
		_ = json.Unmarshal(raw, &p)
		if p.Detail == "" {
			p.Detail = http.StatusText(resp.StatusCode)
		}
		return &apiError{Status: resp.StatusCode, Detail: p.Detail}
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// randomID is 128 bits of randomness, URL-safe.
func randomID() string { return rand.Text() }
