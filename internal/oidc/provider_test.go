package oidc

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
)

// testProvider is a provider for realm "demo" behind a real HTTPS server, with its store.
type testProvider struct {
	*Provider
	srv       *httptest.Server
	st        store.Store
	secrets   *SecretHasher
	eph       ephemeral.Store
	ring      *keys.Keyring
	passwords *password.Hasher
}

func newTestProvider(t testing.TB, opts ...Option) *testProvider {
	return newTestProviderOn(t, testdb.Open(t, "sqlite"), opts...)
}

// newTestProviderOn serves realm "demo" from st (migrated and empty) with the login pages
// mounted, as the server wires them.
func newTestProviderOn(t testing.TB, st store.Store, opts ...Option) *testProvider {
	t.Helper()
	return newTestProviderWith(t, st, nil, opts...)
}

// newClockedProvider runs the provider and its ephemeral store on clock, so tests can
// let codes, sessions and tokens expire without waiting.
func newClockedProvider(t testing.TB, clock *testutil.Clock, opts ...Option) *testProvider {
	t.Helper()
	return newTestProviderWith(t, testdb.Open(t, "sqlite"), clock, append([]Option{WithClock(clock.Now)}, opts...)...)
}

func newTestProviderWith(t testing.TB, st store.Store, clock *testutil.Clock, opts ...Option) *testProvider {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "demo", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	km, err := keys.NewManager(st, ring, keys.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	var ephOpts []memory.Option
	if clock != nil {
		ephOpts = append(ephOpts, memory.WithClock(clock.Now))
	}
	eph := memory.New(ephOpts...)
	t.Cleanup(func() { eph.Close() })
	// As in the server: realms and clients come through the invalidating cache.
	cache, err := cached.New(st, eph)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Stop)
	st = cache
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := New(srv.URL, "", st, eph, km, ring, log, opts...)
	p.Routes(mux)
	// Cheap Argon2id parameters: the tests log in hundreds of times under -race.
	pw, err := password.New(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	login.New(login.Config{
		Store: st, Ephemeral: eph, Keyring: ring, Passwords: pw, Sessions: p.Sessions(),
		Renderer: p.Renderer(), CSRF: p.CSRF(), Flow: p, Log: log, Now: p.now,
	}).Routes(mux)
	secrets, err := p.SecretHasher(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return &testProvider{Provider: p, srv: srv, st: st, secrets: secrets, eph: eph, ring: ring, passwords: pw}
}

// addClient registers a confidential client and returns its secret.
func (tp *testProvider) addClient(t testing.TB, c store.Client) string {
	t.Helper()
	secret := NewSecret()
	c.Realm, c.SecretHash = "demo", tp.secrets.Hash(secret)
	if c.AuthMethod == "" {
		c.AuthMethod = AuthClientSecretBasic
	}
	c.Enabled = !c.Enabled // callers set Enabled: true to get a disabled client
	if _, err := tp.st.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return secret
}

func (tp *testProvider) tokenURL() string {
	return tp.srv.URL + "/realms/demo/protocol/openid-connect/token"
}

func (tp *testProvider) httpCtx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, tp.srv.Client())
}

// postForm sends a form with optional Basic credentials and decodes the JSON answer.
func (tp *testProvider) postForm(t *testing.T, path string, form url.Values, user, pass string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", tp.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := tp.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, resp.Header, body
}

// TestClientCredentialsWithOAuth2Library: golang.org/x/oauth2 gets an access token with
// client_secret_basic and client_secret_post; the token is an RFC 9068 JWT that verifies
// against the realm's published JWKS and introspects as active.
func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	basicSecret := tp.addClient(t, store.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api.read", "api.write"}})
	postSecret := tp.addClient(t, store.Client{ID: "svc-post", AuthMethod: AuthClientSecretPost, GrantTypes: []string{"client_credentials"}, Scopes: []string{"api.read"}})

	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: basicSecret, TokenURL: tp.tokenURL(), Scopes: []string{"api.read"}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(tp.httpCtx())
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
		t.Fatalf("token response: %+v", tok)
	}
	if got := tok.Extra("scope"); got != "api.read" {
		t.Fatalf("scope %v", got)
	}

	// The token verifies against the JWKS the realm publishes.
	resp, err := tp.srv.Client().Get(tp.srv.URL + "/realms/demo/protocol/openid-connect/certs")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	payload, header, err := keys.Verify(tok.AccessToken, set, []keys.Alg{keys.ES256})
	if err != nil || !keys.TypeIs(header, keys.TypeAccessToken) {
		t.Fatalf("access token does not verify as at+jwt: %v %v", header, err)
	}
	var claims accessClaims
	_ = json.Unmarshal(payload, &claims)
	if claims.Issuer != tp.Issuer("demo") || claims.Subject != "svc" || claims.ClientID != "svc" || len(claims.JTI) < 22 {
		t.Fatalf("claims %+v", claims)
	}

	post := clientcredentials.Config{ClientID: "svc-post", ClientSecret: postSecret, TokenURL: tp.tokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	if _, err := post.Token(tp.httpCtx()); err != nil {
		t.Fatalf("client_secret_post: %v", err)
	}

	// Introspection by an authenticated client.
	code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token/introspect", url.Values{"token": {tok.AccessToken}}, "svc", basicSecret)
	if code != 200 || body["active"] != true || body["client_id"] != "svc" || body["scope"] != "api.read" {
		t.Fatalf("introspection: %d %v", code, body)
	}
	flipped := []byte(tok.AccessToken)
	flipped[len(flipped)-3] ^= 1
	for name, bad := range map[string]string{
		"bit-flipped": string(flipped), "truncated": tok.AccessToken[:len(tok.AccessToken)-1],
		"garbage": "not.a.token", "other realm": strings.Replace(tok.AccessToken, ".", "..", 1),
	} {
		if _, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token/introspect", url.Values{"token": {bad}}, "svc", basicSecret); body["active"] != false {
			t.Errorf("%s token introspects as %v", name, body)
		}
	}
	if code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token/introspect", url.Values{"token": {tok.AccessToken}}, "", ""); code != 401 || body["error"] != "invalid_client" {
		t.Errorf("introspection without client authentication: %d %v", code, body)
	}
}

// TestTokenEndpointRefusals: every bad request gets the right OAuth error, never a 5xx.
func TestTokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	secret := tp.addClient(t, store.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"api.read"}})
	noCC := tp.addClient(t, store.Client{ID: "web", GrantTypes: []string{"authorization_code"}})
	disabled := tp.addClient(t, store.Client{ID: "off", GrantTypes: []string{"client_credentials"}, Enabled: true})
	path := "/realms/demo/protocol/openid-connect/token"
	cc := url.Values{"grant_type": {"client_credentials"}}
	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"wrong secret", cc, "svc", secret + "x", 401, "invalid_client"},
		{"unknown client", cc, "nobody", secret, 401, "invalid_client"},
		{"disabled client", cc, "off", disabled, 401, "invalid_client"},
		{"secret in the form for a basic client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {secret}}, "", "", 401, "invalid_client"},
		{"two methods at once", url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}}, "svc", secret, 400, "invalid_request"},
		{"no client", cc, "", "", 401, "invalid_client"},
		{"grant type not allowed", cc, "web", noCC, 400, "unauthorized_client"},
		{"unsupported grant type", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, "svc", secret, 400, "unsupported_grant_type"},
		{"implicit", url.Values{"grant_type": {"implicit"}}, "svc", secret, 400, "unsupported_grant_type"},
		{"no grant type", url.Values{}, "svc", secret, 400, "invalid_request"},
		{"scope not allowed", url.Values{"grant_type": {"client_credentials"}, "scope": {"api.read admin"}}, "svc", secret, 400, "invalid_scope"},
		{"repeated parameter", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, "svc", secret, 400, "invalid_request"},
	}
	for _, c := range cases {
		code, h, body := tp.postForm(t, path, c.form, c.user, c.pass)
		if code != c.status || body["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, code, body, c.status, c.code)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: error response cacheable", c.name)
		}
		if code == 401 && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}

	// Malformed bodies.
	client := tp.srv.Client()
	for name, req := range map[string]*http.Request{
		"JSON body":      mustRequest(t, tp.srv.URL+path, "application/json", `{"grant_type":"client_credentials"}`),
		"oversized body": mustRequest(t, tp.srv.URL+path, "application/x-www-form-urlencoded", "grant_type=client_credentials&x="+strings.Repeat("a", maxFormBytes)),
		"bad escape":     mustRequest(t, tp.srv.URL+path, "application/x-www-form-urlencoded", "grant_type=%zz"),
	} {
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}
	if resp, err := client.Get(tp.srv.URL + path); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on the token endpoint: %v %v", resp, err)
	}
	code, _, body := tp.postForm(t, "/realms/nosuch/protocol/openid-connect/token", cc, "svc", secret)
	if code != 404 || body["error"] == nil {
		t.Errorf("unknown realm: %d %v", code, body)
	}
}

func mustRequest(t *testing.T, u, contentType, body string) *http.Request {
	req, err := http.NewRequest("POST", u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return req
}

// TestDiscoveryAndCerts: the metadata names this realm's issuer and endpoints, built from
// the configured public URL, and the JWKS holds public keys only.
func TestDiscoveryAndCerts(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	for _, doc := range []string{"openid-configuration", "oauth-authorization-server"} {
		req, _ := http.NewRequest("GET", tp.srv.URL+"/realms/demo/.well-known/"+doc, nil)
		req.Host = "evil.example" // links never come from the Host header (§4.13)
		req.Header.Set("X-Forwarded-Host", "evil.example")
		resp, err := tp.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		err = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if meta["issuer"] != tp.srv.URL+"/realms/demo" || meta["token_endpoint"] != tp.tokenURL() {
			t.Errorf("%s: %v", doc, meta)
		}
		raw, _ := json.Marshal(meta)
		if strings.Contains(string(raw), "evil.example") {
			t.Errorf("%s took a link from request headers", doc)
		}
	}
	resp, err := tp.srv.Client().Get(tp.srv.URL + "/realms/nosuch/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown realm: %v %v", resp, err)
	}
	resp.Body.Close()
	// No key exists until something signs; then the JWKS holds public keys only.
	if _, err := tp.keys.SigningKey(context.Background(), "demo", keys.ES256); err != nil {
		t.Fatal(err)
	}
	resp, err = tp.srv.Client().Get(tp.srv.URL + "/realms/demo/protocol/openid-connect/certs")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS: %s %v", raw, err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.KeyID == "" || k.Use != "sig" {
			t.Errorf("JWKS key %+v", k)
		}
	}
	if strings.Contains(string(raw), `"d"`) {
		t.Error("JWKS carries private material")
	}
}

func (tp *testProvider) mustRealm(name string) store.Realm {
	return store.Realm{Name: name, Enabled: true}
}

func TestSimpleRoute(t *testing.T) {
	t.Parallel()
	p := &Provider{prefix: "/auth"}
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/auth/realms/demo/protocol/openid-connect/token", true},
		{"POST", "/auth/realms/demo/protocol/openid-connect/token/introspect", true},
		{"POST", "/auth/realms/demo/protocol/openid-connect/revoke", true},
		{"GET", "/auth/realms/demo/protocol/openid-connect/userinfo", true},
		{"POST", "/auth/realms/demo/protocol/openid-connect/userinfo", true},
		{"GET", "/auth/realms/demo/protocol/openid-connect/certs", true},
		{"GET", "/auth/realms/demo/.well-known/openid-configuration", true},
		{"GET", "/auth/realms/demo/.well-known/oauth-authorization-server", true},
		{"GET", "/auth/realms/demo/protocol/openid-connect/token", false},
		{"GET", "/auth/realms/demo/protocol/openid-connect/auth", false},
		{"POST", "/auth/realms/demo/protocol/openid-connect/logout", false},
		{"GET", "/auth/realms/demo/login-actions/authenticate", false},
		{"POST", "/realms/demo/protocol/openid-connect/token", false},
		{"POST", "/auth/realms//protocol/openid-connect/token", false},
		{"POST", "/auth/realms/demo/x/protocol/openid-connect/token", false},
	} {
		if got := p.SimpleRoute(tc.method, tc.path); got != tc.want {
			t.Errorf("SimpleRoute(%s %s) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}
