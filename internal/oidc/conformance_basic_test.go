package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
)

// The tests in this file re-create the OpenID Foundation conformance suite's Basic OP
// profile (CONFORMANCE §1); each is named after its module and runs on every durable back
// end, driven by golang.org/x/oauth2 and coreos/go-oidc with a cookie-keeping browser.

// eachBackend runs f against a fresh provider on SQLite and on PostgreSQL.
func eachBackend(t *testing.T, f func(t *testing.T, tp *testProvider)) {
	t.Helper()
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			f(t, newTestProviderOn(t, testdb.Open(t, backend)))
		})
	}
}

// oidcc-server and oidcc-server-client-secret-post: the happy path with both secret
// methods: state and iss come back, the token response is not cacheable, and the ID token
// carries iss, aud, exp, a recent iat, nonce and sub, and verifies through the JWKS by kid.
func TestOIDCCServer(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		u := tp.addUser(t, "alice", "correct horse battery")
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			id := "web-basic"
			if style == oauth2.AuthStyleInParams {
				id = "web-post"
			}
			secret := tp.addWebClient(t, id, func(c *store.Client) {
				if style == oauth2.AuthStyleInParams {
					c.AuthMethod = AuthClientSecretPost
				}
			})
			r := tp.newRP(t, id, secret, style)
			resp, verifier, nonce := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
			if resp.Get("state") != "st-"+nonce || resp.Get("iss") != tp.Issuer("demo") || resp.Get("code") == "" {
				t.Fatalf("%s: authorization response %v", id, resp)
			}
			tok, idt := r.tokens(t, resp.Get("code"), verifier)
			if idt == nil || idt.Subject != u.ID || idt.Nonce != nonce || idt.Issuer != tp.Issuer("demo") || !slices.Equal(idt.Audience, []string{id}) {
				t.Fatalf("%s: id token %+v", id, idt)
			}
			if time.Since(idt.IssuedAt) > time.Minute || !idt.Expiry.After(time.Now()) {
				t.Fatalf("%s: iat %v exp %v", id, idt.IssuedAt, idt.Expiry)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Fatalf("%s: at_hash: %v", id, err)
			}
			if tok.RefreshToken == "" {
				t.Fatalf("%s: no refresh token", id)
			}
			// The raw token response must not be cacheable.
			code, header := rawCodeExchange(t, tp, r, style)
			if code != http.StatusBadRequest || header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: replayed code: %d %q", id, code, header.Get("Cache-Control"))
			}
		}
	})
}

// rawCodeExchange posts an unknown code, to read the token endpoint's headers.
func rawCodeExchange(t *testing.T, tp *testProvider, r *rp, style oauth2.AuthStyle) (int, http.Header) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {rpRedirect}}
	user, pass := r.conf.ClientID, r.conf.ClientSecret
	if style == oauth2.AuthStyleInParams {
		form.Set("client_id", user)
		form.Set("client_secret", pass)
		user, pass = "", ""
	}
	code, header, _ := tp.postForm(t, "/realms/demo/protocol/openid-connect/token", form, user, pass)
	return code, header
}

// oidcc-discovery-endpoint-verification (Config profile).
func TestOIDCCDiscoveryEndpointVerification(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r := tp.newRP(t, "x", "", oauth2.AuthStyleInHeader)
		var doc map[string]any
		if err := r.provider.Claims(&doc); err != nil {
			t.Fatal(err)
		}
		if doc["issuer"] != tp.Issuer("demo") {
			t.Fatalf("issuer %v", doc["issuer"])
		}
		for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint", "revocation_endpoint", "introspection_endpoint"} {
			if s, _ := doc[k].(string); !strings.HasPrefix(s, "https://") {
				t.Errorf("%s = %v, want an https URL", k, doc[k])
			}
		}
		has := func(k, v string) bool {
			list, _ := doc[k].([]any)
			return slices.Contains(list, any(v))
		}
		for k, v := range map[string]string{
			"scopes_supported": "openid", "response_types_supported": "code", "subject_types_supported": "public",
			"id_token_signing_alg_values_supported": "RS256", "code_challenge_methods_supported": "S256",
		} {
			if !has(k, v) {
				t.Errorf("%s lacks %s: %v", k, v, doc[k])
			}
		}
		if has("id_token_signing_alg_values_supported", "none") || has("code_challenge_methods_supported", "plain") {
			t.Error("discovery offers none or plain")
		}
		if doc["authorization_response_iss_parameter_supported"] != true {
			t.Error("RFC 9207 iss parameter not advertised")
		}
	})
}

// signedIn is a relying party whose user has just signed in through browser b.
type signedIn struct {
	tp  *testProvider
	rp  *rp
	b   *browser
	u   store.User
	tok *oauth2.Token
	idt *gooidc.IDToken
}

// signInFresh registers client id and user alice, signs in and redeems the code.
func signInFresh(t *testing.T, tp *testProvider, scopes []string, opts ...oauth2.AuthCodeOption) *signedIn {
	t.Helper()
	u := tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web")
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader, scopes...)
	b := tp.newBrowser(t)
	resp, verifier, _ := r.signIn(t, b, "alice", "correct horse battery", opts...)
	if resp.Get("code") == "" {
		t.Fatalf("no code: %v", resp)
	}
	tok, idt := r.tokens(t, resp.Get("code"), verifier)
	return &signedIn{tp: tp, rp: r, b: b, u: u, tok: tok, idt: idt}
}

// oidcc-response-type-missing: an error redirect (the client and redirect URI are good).
func TestOIDCCResponseTypeMissing(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addWebClient(t, "web")
		p := tp.newBrowser(t).Get(tp.endpoint("demo", "auth") + "?" + url.Values{
			"client_id": {"web"}, "redirect_uri": {rpRedirect}, "scope": {"openid"}, "state": {"s1"},
		}.Encode())
		resp := callback(t, p)
		if resp.Get("error") != "invalid_request" || resp.Get("state") != "s1" || resp.Get("iss") != tp.Issuer("demo") {
			t.Fatalf("response %v", resp)
		}
	})
}

// oidcc-idtoken-signature and oidcc-idtoken-unsigned: RS256 by default, with a kid from
// the JWKS; a client registered for "none" never gets an unsigned token.
func TestOIDCCIDTokenSignature(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		raw := s.tok.Extra("id_token").(string)
		hdr := decodeHeader(t, raw)
		if hdr["alg"] != "RS256" || hdr["kid"] == "" {
			t.Fatalf("id token header %v", hdr)
		}
	})
}

func TestOIDCCIDTokenUnsigned(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		secret := tp.addWebClient(t, "web", func(c *store.Client) { c.IDTokenSignedResponseAlg = "none" })
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
		tok, err := r.conf.Exchange(r.ctx, resp.Get("code"), oauth2.VerifierOption(verifier))
		if err == nil {
			t.Fatalf("an ID token for alg none was issued: %v", tok.Extra("id_token"))
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode >= 500 {
			t.Fatalf("want a 4xx OAuth error, got %v", err)
		}
	})
}

func decodeHeader(t *testing.T, jwt string) map[string]any {
	t.Helper()
	b, err := decodeSegment(strings.SplitN(jwt, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// oidcc-userinfo-get, -post-header and -post-body.
func TestOIDCCUserinfo(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, []string{"openid", "email"})
		// go-oidc's UserInfo is a GET with the bearer header.
		ui, err := s.rp.provider.UserInfo(s.rp.ctx, oauth2.StaticTokenSource(s.tok))
		if err != nil || ui.Subject != s.u.ID || ui.Email != s.u.Email || !ui.EmailVerified {
			t.Fatalf("userinfo GET: %+v %v", ui, err)
		}
		endpoint := tp.endpoint("demo", "userinfo")
		for name, req := range map[string]*http.Request{
			"post-header": func() *http.Request {
				r, _ := http.NewRequest("POST", endpoint, nil)
				r.Header.Set("Authorization", "Bearer "+s.tok.AccessToken)
				return r
			}(),
			"post-body": func() *http.Request {
				r, _ := http.NewRequest("POST", endpoint, strings.NewReader(url.Values{"access_token": {s.tok.AccessToken}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			}(),
		} {
			claims := userinfoJSON(t, tp, req)
			if claims["sub"] != s.u.ID || claims["email"] != s.u.Email {
				t.Errorf("%s: %v", name, claims)
			}
			if _, ok := claims["name"]; ok {
				t.Errorf("%s: profile claim without the profile scope: %v", name, claims)
			}
		}
		// A bad token is a 401 with a Bearer challenge.
		r, _ := http.NewRequest("GET", endpoint, nil)
		r.Header.Set("Authorization", "Bearer "+s.tok.AccessToken[:len(s.tok.AccessToken)-2])
		resp, err := tp.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("bad token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
}

func userinfoJSON(t *testing.T, tp *testProvider, req *http.Request) map[string]any {
	t.Helper()
	resp, err := tp.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims map[string]any
	if resp.StatusCode != 200 {
		t.Fatalf("userinfo: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// oidcc-ensure-request-without-nonce-succeeds-for-code-flow.
func TestOIDCCEnsureRequestWithoutNonceSucceedsForCodeFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r, _ := aliceAndWebOn(t, tp)
		b := tp.newBrowser(t)
		p := b.Login(b.Get(r.conf.AuthCodeURL("s")), "alice", "correct horse battery")
		resp := callback(t, p)
		tok, idt := r.tokens(t, resp.Get("code"), "")
		if idt == nil || idt.Nonce != "" || tok.AccessToken == "" {
			t.Fatalf("without nonce: %+v", idt)
		}
	})
}

// oidcc-scope-profile, -email, -address, -phone and -all: each scope releases its claims
// in the ID token and at userinfo, and nothing more.
func TestOIDCCScopes(t *testing.T) {
	t.Parallel()
	for scope, want := range map[string][]string{
		"profile": {"name", "given_name", "family_name", "preferred_username", "locale"},
		"email":   {"email", "email_verified"},
		"address": {"address"},
		"phone":   {"phone_number", "phone_number_verified"},
		"all":     {"name", "email", "address", "phone_number"},
	} {
		t.Run("oidcc-scope-"+scope, func(t *testing.T) {
			t.Parallel()
			scopes := []string{"openid", scope}
			if scope == "all" {
				scopes = []string{"openid", "profile", "email", "address", "phone"}
			}
			s := signInFresh(t, newTestProvider(t), scopes)
			var idClaims map[string]any
			if err := s.idt.Claims(&idClaims); err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest("GET", s.tp.endpoint("demo", "userinfo"), nil)
			r.Header.Set("Authorization", "Bearer "+s.tok.AccessToken)
			ui := userinfoJSON(t, s.tp, r)
			for _, c := range want {
				if _, ok := idClaims[c]; !ok {
					t.Errorf("id token lacks %s: %v", c, idClaims)
				}
				if _, ok := ui[c]; !ok {
					t.Errorf("userinfo lacks %s: %v", c, ui)
				}
			}
			if scope == "email" {
				if _, ok := ui["name"]; ok {
					t.Errorf("email scope released profile claims: %v", ui)
				}
			}
		})
	}
}

// oidcc-alternate-happy-flow, oidcc-display-page, -popup, oidcc-ui-locales,
// oidcc-claims-locales, oidcc-login-hint, oidcc-ensure-request-with-acr-values-succeeds,
// oidcc-ensure-request-with-unknown-parameter-succeeds: none of these cause an error.
func TestOIDCCParametersThatMustNotFail(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"oidcc-alternate-happy-flow":                           {oauth2.SetAuthURLParam("scope", "email profile openid")},
		"oidcc-display-page":                                   {oauth2.SetAuthURLParam("display", "page")},
		"oidcc-display-popup":                                  {oauth2.SetAuthURLParam("display", "popup")},
		"oidcc-ui-locales":                                     {oauth2.SetAuthURLParam("ui_locales", "de-DE en")},
		"oidcc-claims-locales":                                 {oauth2.SetAuthURLParam("claims_locales", "de")},
		"oidcc-login-hint":                                     {oauth2.SetAuthURLParam("login_hint", "alice")},
		"oidcc-ensure-request-with-acr-values-succeeds":        {oauth2.SetAuthURLParam("acr_values", "1 2")},
		"oidcc-ensure-request-with-unknown-parameter-succeeds": {oauth2.SetAuthURLParam("extra_param_xyz", "1")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := signInFresh(t, newTestProvider(t), nil, opts...)
			if s.idt == nil || s.idt.Subject != s.u.ID {
				t.Fatalf("id token %+v", s.idt)
			}
		})
	}
}

// oidcc-ui-locales shows the login page in German when asked; oidcc-login-hint fills in
// the username.
func TestOIDCCLoginPageHonoursLocaleAndHint(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		p := tp.newBrowser(t).Get(r.conf.AuthCodeURL("s", oauth2.SetAuthURLParam("ui_locales", "de"), oauth2.SetAuthURLParam("login_hint", "bob@example.com")))
		if p.Status != 200 || !strings.Contains(p.Body, `lang="de"`) || !strings.Contains(p.Body, "Anmelden") || !strings.Contains(p.Body, `value="bob@example.com"`) {
			t.Fatalf("login page:\n%s", p.Body)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
			if p.Header.Get(h) == "" {
				t.Errorf("login page without %s", h)
			}
		}
		// The last form redirects to the client, which CSP form-action must allow.
		if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://rp.example;") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("login page CSP %q", csp)
		}
	})
}
