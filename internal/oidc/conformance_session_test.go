package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// silent runs an authorization request that must not show a page, and returns the
// response the client got.
func (s *signedIn) silent(t *testing.T, opts ...oauth2.AuthCodeOption) (url.Values, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, opts...)
	return callback(t, s.b.Get(s.rp.conf.AuthCodeURL("silent", opts...))), verifier
}

// oidcc-prompt-none-not-logged-in: login_required, redirected with state and iss.
func TestOIDCCPromptNoneNotLoggedIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		resp := callback(t, tp.newBrowser(t).Get(r.conf.AuthCodeURL("s9", oauth2.SetAuthURLParam("prompt", "none"))))
		if resp.Get("error") != "login_required" || resp.Get("state") != "s9" || resp.Get("iss") != tp.Issuer("demo") {
			t.Fatalf("response %v", resp)
		}
	})
}

// oidcc-prompt-none-logged-in: a second request with a live session is answered without
// any page, for the same user.
func TestOIDCCPromptNoneLoggedIn(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		resp, verifier := s.silent(t, oauth2.SetAuthURLParam("prompt", "none"))
		_, idt := s.rp.tokens(t, resp.Get("code"), verifier)
		if idt.Subject != s.u.ID || authTime(t, idt) != authTime(t, s.idt) {
			t.Fatalf("silent login: sub %s auth_time %d, first %d", idt.Subject, authTime(t, idt), authTime(t, s.idt))
		}
	})
}

// oidcc-id-token-hint: prompt=none with the first ID token as hint is silent and names
// the same subject; a hint for another user is login_required.
func TestOIDCCIDTokenHint(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		hint := s.tok.Extra("id_token").(string)
		resp, verifier := s.silent(t, oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint))
		if _, idt := s.rp.tokens(t, resp.Get("code"), verifier); idt.Subject != s.u.ID {
			t.Fatalf("sub %s", idt.Subject)
		}
		// Bob's hint, in Alice's browser.
		tp.addUser(t, "bob", "correct horse battery")
		bobResp, bobVerifier, _ := s.rp.signIn(t, tp.newBrowser(t), "bob", "correct horse battery")
		bobTok, _ := s.rp.tokens(t, bobResp.Get("code"), bobVerifier)
		resp, _ = s.silent(t, oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", bobTok.Extra("id_token").(string)))
		if resp.Get("error") != "login_required" {
			t.Fatalf("foreign hint: %v", resp)
		}
	})
}

// oidcc-prompt-login and oidcc-max-age-1: the user must log in again, and the new ID
// token has a later auth_time; oidcc-max-age-10000 is silent.
func TestOIDCCPromptLoginAndMaxAge(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]oauth2.AuthCodeOption{
		"oidcc-prompt-login": oauth2.SetAuthURLParam("prompt", "login"),
		"oidcc-max-age-1":    oauth2.SetAuthURLParam("max_age", "1"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := testutil.NewClock(time.Now())
			tp := newClockedProvider(t, clock)
			s := signInFresh(t, tp, nil)
			clock.Advance(2 * time.Second)
			if resp, verifier := s.silent(t, oauth2.SetAuthURLParam("max_age", "10000")); resp.Get("code") == "" {
				t.Fatalf("oidcc-max-age-10000 was not silent: %v", resp)
			} else if _, idt := s.rp.tokens(t, resp.Get("code"), verifier); authTime(t, idt) != authTime(t, s.idt) {
				t.Fatal("max_age=10000 changed auth_time")
			}
			resp, verifier, _ := s.rp.signIn(t, s.b, "alice", "correct horse battery", opt)
			_, idt := s.rp.tokens(t, resp.Get("code"), verifier)
			if authTime(t, idt) <= authTime(t, s.idt) {
				t.Fatalf("auth_time %d not after %d", authTime(t, idt), authTime(t, s.idt))
			}
		})
	}
}

// oidcc-codereuse and oidcc-codereuse-30seconds: the second redemption is invalid_grant and
// the tokens of the first stop working.
func TestOIDCCCodeReuse(t *testing.T) {
	t.Parallel()
	for name, wait := range map[string]time.Duration{"oidcc-codereuse": 0, "oidcc-codereuse-30seconds": 30 * time.Second} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := testutil.NewClock(time.Now())
			tp := newClockedProvider(t, clock)
			tp.addUser(t, "alice", "correct horse battery")
			secret := tp.addWebClient(t, "web")
			r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
			resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
			tok, _ := r.tokens(t, resp.Get("code"), verifier)
			clock.Advance(wait)
			if _, err := r.conf.Exchange(r.ctx, resp.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("second redemption: %v", err)
			}
			if active := tp.introspect(t, tok.AccessToken, "web", secret); active {
				t.Fatal("the access token of the first redemption is still active")
			}
			if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("refresh after code reuse: %v", err)
			}
		})
	}
}

func isOAuthError(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}

func (tp *testProvider) introspect(t *testing.T, token, client, secret string) bool {
	t.Helper()
	code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token/introspect", url.Values{"token": {token}}, client, secret)
	if code != 200 {
		t.Fatalf("introspect: %d %v", code, body)
	}
	return body["active"] == true
}

// oidcc-ensure-registered-redirect-uri: an unregistered redirect URI is an error page,
// never a redirect (also with the attacks of CONFORMANCE §4.1 and §4.2).
func TestOIDCCEnsureRegisteredRedirectURI(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addWebClient(t, "web", func(c *store.Client) {
			c.RedirectURIs = append(c.RedirectURIs, "http://localhost/cb")
		})
		b := tp.newBrowser(t)
		for _, ru := range []string{
			"https://attacker.example/cb", "https://rp.example/cb/", "https://RP.example/cb", "https://rp.example/cb?x=1",
			"https://rp.example@attacker.example/cb", "https://rp.example/cb/..;/x", "https://rp.example/%2e%2e/cb",
			`https://rp.example\@attacker.example/cb`, "https://rp.example/cb#frag", "http://rp.example/cb",
			"http://localhost.attacker.example/cb", "http://localhost@attacker.example/cb", "http://localhost:8080@attacker.example/cb",
		} {
			p := b.Get(tp.endpoint("demo", "auth") + "?" + url.Values{
				"client_id": {"web"}, "redirect_uri": {ru}, "response_type": {"code"}, "scope": {"openid"},
			}.Encode())
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" || !strings.Contains(p.Body, "redirect_uri") {
				t.Errorf("%s: %d Location=%q", ru, p.Status, p.Header.Get("Location"))
			}
		}
		// RFC 8252 §7.3: a registered loopback URI may change only its port.
		p := b.Get(tp.endpoint("demo", "auth") + "?" + url.Values{
			"client_id": {"web"}, "redirect_uri": {"http://localhost:51234/cb"}, "response_type": {"code"}, "scope": {"openid"}, "prompt": {"none"},
		}.Encode())
		if !strings.HasPrefix(p.Header.Get("Location"), "http://localhost:51234/cb?") {
			t.Fatalf("loopback with a port: %d %q", p.Status, p.Header.Get("Location"))
		}
	})
}

// oidcc-ensure-post-request-succeeds: the authorization endpoint takes a form POST and
// answers with 303 (never 307, which would repost the form).
func TestOIDCCEnsurePostRequestSucceeds(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r, _ := aliceAndWebOn(t, tp)
		verifier := oauth2.GenerateVerifier()
		b := tp.newBrowser(t)
		p := b.Post(tp.endpoint("demo", "auth"), url.Values{
			"client_id": {"web"}, "redirect_uri": {rpRedirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"p1"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		})
		resp := callback(t, b.Login(p, "alice", "correct horse battery"))
		if resp.Get("state") != "p1" {
			t.Fatalf("response %v", resp)
		}
		r.tokens(t, resp.Get("code"), verifier)
	})
}

// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported and
// oidcc-ensure-request-object-with-redirect-uri: an unsigned request object is honoured,
// including its redirect_uri and state, which win over the plain parameters.
func TestOIDCCUnsignedRequestObjectSupported(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r, _ := aliceAndWebOn(t, tp)
		verifier := oauth2.GenerateVerifier()
		obj := unsignedJWT(map[string]any{
			"client_id": "web", "redirect_uri": rpRedirect, "response_type": "code", "scope": "openid email",
			"state": "from-object", "nonce": "n-obj", "code_challenge": oauth2.S256ChallengeFromVerifier(verifier),
			"code_challenge_method": "S256",
		})
		b := tp.newBrowser(t)
		p := b.Get(tp.endpoint("demo", "auth") + "?" + url.Values{
			"client_id": {"web"}, "response_type": {"code"}, "scope": {"openid"}, "request": {obj}, "state": {"plain"},
		}.Encode())
		resp := callback(t, b.Login(p, "alice", "correct horse battery"))
		if resp.Get("state") != "from-object" {
			t.Fatalf("response %v", resp)
		}
		if _, idt := r.tokens(t, resp.Get("code"), verifier); idt.Nonce != "n-obj" {
			t.Fatalf("nonce %q", idt.Nonce)
		}
		// A request object naming another client is refused.
		bad := unsignedJWT(map[string]any{"client_id": "other", "redirect_uri": rpRedirect})
		resp = callback(t, b.Get(tp.endpoint("demo", "auth")+"?"+url.Values{
			"client_id": {"web"}, "redirect_uri": {rpRedirect}, "response_type": {"code"}, "scope": {"openid"}, "request": {bad},
		}.Encode()))
		if resp.Get("error") != "invalid_request_object" {
			t.Fatalf("foreign request object: %v", resp)
		}
	})
}

func unsignedJWT(claims map[string]any) string {
	h, _ := jsonMarshal(map[string]string{"alg": "none"})
	c, _ := jsonMarshal(claims)
	return b64url(h) + "." + b64url(c) + "."
}

// oidcc-claims-essential: a claim requested by name (essential) through the claims
// parameter is returned at userinfo although its scope was not requested.
func TestOIDCCClaimsEssential(t *testing.T) {
	t.Parallel()
	s := signInFresh(t, newTestProvider(t), []string{"openid"},
		oauth2.SetAuthURLParam("claims", `{"userinfo":{"name":{"essential":true}},"id_token":{"email":null}}`))
	r, _ := http.NewRequest("GET", s.tp.endpoint("demo", "userinfo"), nil)
	r.Header.Set("Authorization", "Bearer "+s.tok.AccessToken)
	if ui := userinfoJSON(t, s.tp, r); ui["name"] != s.u.Profile.Name {
		t.Fatalf("userinfo %v", ui)
	}
	var c map[string]any
	_ = s.idt.Claims(&c)
	if c["email"] != s.u.Email {
		t.Fatalf("id token %v", c)
	}
}

// oidcc-refresh-token: refresh works, the new ID token names the same subject and
// auth_time, and the token is bound to its client.
func TestOIDCCRefreshToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		next, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		idt, err := s.rp.verifier.Verify(s.rp.ctx, next.Extra("id_token").(string))
		if err != nil || idt.Subject != s.u.ID || authTime(t, idt) != authTime(t, s.idt) {
			t.Fatalf("refreshed id token %+v %v", idt, err)
		}
		if next.RefreshToken == s.tok.RefreshToken {
			t.Fatal("rotation policy: the refresh token did not rotate")
		}
		// Another client cannot use it.
		other := tp.addWebClient(t, "other")
		o := tp.newRP(t, "other", other, oauth2.AuthStyleInHeader)
		if _, err := o.conf.TokenSource(o.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh by another client: %v", err)
		}
		if _, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); err != nil {
			t.Fatalf("the other client's attempt broke the token: %v", err)
		}
	})
}

// oidcc-ensure-request-with-valid-pkce-succeeds, and CONFORMANCE §4.6: a wrong verifier
// and a verifier without a challenge are invalid_grant.
func TestOIDCCEnsureRequestWithValidPKCESucceeds(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r, _ := aliceAndWebOn(t, tp)
		b := tp.newBrowser(t)
		resp, _, _ := r.signIn(t, b, "alice", "correct horse battery")
		if _, err := r.conf.Exchange(r.ctx, resp.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("wrong verifier: %v", err)
		}
		noChallenge := callback(t, b.Get(r.conf.AuthCodeURL("x")))
		if _, err := r.conf.Exchange(r.ctx, noChallenge.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("PKCE downgrade: %v", err)
		}
		resp, verifier, _ := r.signIn(t, b, "alice", "correct horse battery")
		r.tokens(t, resp.Get("code"), verifier)
	})
}

// Concurrency (issue requirement): of 100 concurrent redemptions of one code exactly one
// wins; 100 concurrent refreshes of one token all get the same successor or a clean
// invalid_grant; never a 5xx.
func TestConcurrentCodeAndRefreshRedemption(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
		const n = 100
		type result struct {
			Status int
			Body   map[string]any
		}
		run := func(form url.Values) []result {
			out := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					code, _, body := tp.postFormNoFatal(form, "web", secret)
					out[i] = result{code, body}
				})
			}
			wg.Wait()
			return out
		}
		codeResults := run(url.Values{"grant_type": {"authorization_code"}, "code": {resp.Get("code")}, "redirect_uri": {rpRedirect}, "code_verifier": {verifier}})
		wins, refresh := 0, ""
		for _, res := range codeResults {
			switch {
			case res.Status == 200:
				wins++
				refresh, _ = res.Body["refresh_token"].(string)
			case res.Status >= 500 || res.Body["error"] != "invalid_grant":
				t.Fatalf("code redemption: %d %v", res.Status, res.Body)
			}
		}
		if wins != 1 {
			t.Fatalf("%d code redemptions won", wins)
		}
		// The winner's grant was revoked by the 99 replays (RFC 6749 §4.1.2), so use a
		// fresh code for the refresh race.
		resp, verifier, _ = r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
		tok, _ := r.tokens(t, resp.Get("code"), verifier)
		_ = refresh
		successors := map[string]int{}
		for _, res := range run(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}) {
			switch {
			case res.Status == 200:
				successors[res.Body["refresh_token"].(string)]++
			case res.Status >= 500 || res.Body["error"] != "invalid_grant":
				t.Fatalf("refresh: %d %v", res.Status, res.Body)
			}
		}
		if len(successors) != 1 {
			t.Fatalf("concurrent refreshes got %d different successors", len(successors))
		}
		for succ := range successors {
			if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: succ}).Token(); err != nil {
				t.Fatalf("the successor does not work: %v", err)
			}
		}
	})
}

func authTime(t *testing.T, idt *gooidc.IDToken) int64 {
	t.Helper()
	var c struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := idt.Claims(&c); err != nil || c.AuthTime == 0 {
		t.Fatalf("auth_time: %v %v", c, err)
	}
	return c.AuthTime
}
