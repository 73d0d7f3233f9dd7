package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	pqtotp "github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/store"
)

// The relying party of the end-to-end tests: its redirect and logout URIs are never
// fetched; the browser stops at them and the test reads the response from the URL.
const (
	rpRedirect = "https://rp.example/cb"
	rpLogout   = "https://rp.example/logged-out"
)

var allScopes = []string{"openid", "profile", "email", "address", "phone", "offline_access"}

// addUser creates an enabled user with a password and a full profile.
func (tp *testProvider) addUser(t testing.TB, username, pw string, mutate ...func(*store.User)) store.User {
	t.Helper()
	hash, err := tp.passwords.Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{
		Realm: "demo", ID: "u-" + RandomToken(12), Username: username, Email: username + "@example.com",
		EmailVerified: true, Enabled: true, PasswordHash: hash,
		Profile: store.Profile{
			Name: "Ada " + username, GivenName: "Ada", FamilyName: username, Locale: "en",
			PhoneNumber: "+49 30 1234567", PhoneNumberVerified: true,
			Address: store.Address{StreetAddress: "Main St 1", Locality: "Berlin", PostalCode: "10115", Country: "DE"},
		},
	}
	for _, m := range mutate {
		m(&u)
	}
	u, err = tp.st.CreateUser(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// addWebClient registers a confidential code-flow client for the relying party.
func (tp *testProvider) addWebClient(t testing.TB, id string, mutate ...func(*store.Client)) string {
	t.Helper()
	c := store.Client{
		ID: id, Name: "App " + id, RedirectURIs: []string{rpRedirect}, PostLogoutRedirectURIs: []string{rpLogout},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		Scopes: allScopes, RefreshRotation: true,
	}
	for _, m := range mutate {
		m(&c)
	}
	return tp.addClient(t, c)
}

// rp is a relying party built from golang.org/x/oauth2 and coreos/go-oidc, configured
// from Signet's discovery document.
type rp struct {
	conf     oauth2.Config
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	ctx      context.Context
}

func (tp *testProvider) newRP(t testing.TB, clientID, secret string, style oauth2.AuthStyle, scopes ...string) *rp {
	t.Helper()
	ctx := gooidc.ClientContext(context.Background(), tp.srv.Client())
	provider, err := gooidc.NewProvider(ctx, tp.Issuer("demo"))
	if err != nil {
		t.Fatalf("go-oidc refuses the discovery document: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email"}
	}
	ep := provider.Endpoint()
	ep.AuthStyle = style
	return &rp{
		conf:     oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: rpRedirect, Scopes: scopes},
		provider: provider,
		verifier: provider.Verifier(&gooidc.Config{ClientID: clientID}),
		ctx:      ctx,
	}
}

// tokens redeems a code and verifies the ID token with go-oidc.
func (r *rp) tokens(t testing.TB, code, verifier string) (*oauth2.Token, *gooidc.IDToken) {
	t.Helper()
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := r.conf.Exchange(r.ctx, code, opts...)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return tok, nil
	}
	idt, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	return tok, idt
}

// browser is a cookie-keeping HTTP client that follows redirects within Signet and stops
// at the first redirect anywhere else (the relying party).
type browser struct {
	t    testing.TB
	c    *http.Client
	host string
}

func (tp *testProvider) newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(tp.srv.URL)
	b := &browser{t: t, host: u.Host}
	b.c = &http.Client{
		Transport: tp.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host != b.host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// page is a response read in full.
type page struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	formRE  = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)">(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submit fills the page's form whose hidden step (or, without steps, the first form)
// matches step, and posts it with fields added.
func (b *browser) submit(p page, step string, fields url.Values) page {
	b.t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(p.body, -1) {
		form := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
			form.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		if step != "" && form.Get("step") != step {
			continue
		}
		for k, v := range fields {
			form[k] = v
		}
		action, err := p.url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			b.t.Fatal(err)
		}
		return b.post(action.String(), form)
	}
	b.t.Fatalf("no form for step %q on page %s (%d):\n%s", step, p.url, p.status, p.body)
	return page{}
}

// login fills the username and password pages.
func (b *browser) login(p page, username, pw string) page {
	b.t.Helper()
	p = b.submit(p, "username", url.Values{"username": {username}})
	return b.submit(p, "password", url.Values{"password": {pw}})
}

// callback returns the parameters of an authorization response that redirected to the
// relying party, from the query or the fragment.
func callback(t testing.TB, p page) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("want a 303 to the client, got %d at %s:\n%s", p.status, p.url, p.body)
	}
	loc, err := url.Parse(p.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), rpRedirect) && !strings.HasPrefix(loc.String(), rpLogout) {
		t.Fatalf("redirect to %q", p.header.Get("Location"))
	}
	if loc.Fragment != "" {
		v, _ := url.ParseQuery(loc.Fragment)
		return v
	}
	return loc.Query()
}

// signIn runs the code flow with PKCE and nonce for rp in browser b, logging in as
// username when Signet asks, and returns the authorization response.
func (r *rp) signIn(t testing.TB, b *browser, username, pw string, opts ...oauth2.AuthCodeOption) (resp url.Values, verifier, nonce string) {
	t.Helper()
	verifier, nonce = oauth2.GenerateVerifier(), RandomToken(12)
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)}, opts...)
	p := b.get(r.conf.AuthCodeURL("st-"+nonce, opts...))
	if p.status == http.StatusOK && strings.Contains(p.body, `value="username"`) {
		p = b.login(p, username, pw)
	}
	return callback(t, p), verifier, nonce
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// postFormNoFatal posts to the token endpoint from any goroutine; transport errors
// become status 0.
func (tp *testProvider) postFormNoFatal(form url.Values, user, pass string) (int, http.Header, map[string]any) {
	req, _ := http.NewRequest("POST", tp.tokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	resp, err := tp.srv.Client().Do(req)
	if err != nil {
		return 0, nil, map[string]any{"transport": err.Error()}
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

// totpNow computes the current TOTP code for a base32 secret.
func totpNow(t testing.TB, secret string) string {
	t.Helper()
	code, err := pqtotp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// aliceAndWeb is the common setup: a provider with user alice and confidential client
// web, and the relying party for it.
func aliceAndWeb(t testing.TB) (*testProvider, *rp, string) {
	t.Helper()
	tp := newTestProvider(t)
	tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web")
	return tp, tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader), secret
}
