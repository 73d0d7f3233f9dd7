package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	pqtotp "github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
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

// browser is Signet's test browser, stopping at redirects off the provider's host.
type browser = testutil.Browser

// page is a response the browser read.
type page = testutil.Page

func (tp *testProvider) newBrowser(t testing.TB) *browser {
	u, _ := url.Parse(tp.srv.URL)
	return testutil.NewBrowser(t, tp.srv.Client().Transport, u.Host)
}

// callback returns the parameters of an authorization response that redirected to the
// relying party, from the query or the fragment.
func callback(t testing.TB, p page) url.Values {
	t.Helper()
	if p.Status != http.StatusSeeOther {
		t.Fatalf("want a 303 to the client, got %d at %s:\n%s", p.Status, p.URL, p.Body)
	}
	loc, err := url.Parse(p.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), rpRedirect) && !strings.HasPrefix(loc.String(), rpLogout) {
		t.Fatalf("redirect to %q", p.Header.Get("Location"))
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
	p := b.Get(r.conf.AuthCodeURL("st-"+nonce, opts...))
	if p.Status == http.StatusOK && strings.Contains(p.Body, `value="username"`) {
		p = b.Login(p, username, pw)
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

// aliceAndWebOn is the common setup: user alice and confidential client web on tp, and
// the relying party for it.
func aliceAndWebOn(t testing.TB, tp *testProvider) (*rp, string) {
	t.Helper()
	tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web")
	return tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader), secret
}
