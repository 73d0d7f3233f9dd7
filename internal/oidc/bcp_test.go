package oidc

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// CONFORMANCE §2 (RFC 9700): the authorization-server rules, one subtest each.
func TestAuthorizationServerRules(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now())
	tp := newClockedProvider(t, clock)
	tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web", func(c *store.Client) { c.RedirectURIs = append(c.RedirectURIs, "https://rp.example/cb2") })
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)

	t.Run("no CORS on the authorization endpoint, framing denied on its pages", func(t *testing.T) {
		req, _ := http.NewRequest("GET", r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
		req.Header.Set("Origin", "https://attacker.example")
		p := tp.newBrowser(t).Do(req)
		if p.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatal("CORS on the authorization endpoint")
		}
		bad := tp.newBrowser(t).Get(tp.endpoint("demo", "auth") + "?client_id=nobody")
		for _, pg := range []page{p, bad} {
			if !strings.Contains(pg.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || pg.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: framing headers %v", pg.URL, pg.Header)
			}
		}
	})
	t.Run("no password grant and no implicit or hybrid responses", func(t *testing.T) {
		if status, _, body := tp.postFormNoFatal(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse battery"}}, "web", secret); status != 400 || body["error"] != "unsupported_grant_type" {
			t.Fatalf("password grant: %d %v", status, body)
		}
		for _, rt := range []string{"token", "id_token", "code id_token", "code token"} {
			resp := callback(t, tp.newBrowser(t).Get(r.conf.AuthCodeURL("s", oauth2.SetAuthURLParam("response_type", rt))))
			if resp.Get("error") != "unsupported_response_type" || resp.Get("access_token") != "" {
				t.Errorf("response_type %q: %v", rt, resp)
			}
		}
	})
	t.Run("codes are long, live 60 s at most and are bound to the redirect URI", func(t *testing.T) {
		b := tp.newBrowser(t)
		resp, verifier, _ := r.signIn(t, b, "alice", "correct horse battery")
		if len(resp.Get("code")) < 43 {
			t.Fatalf("code %q has less than 256 bits", resp.Get("code"))
		}
		clock.Advance(61 * time.Second)
		if _, err := r.conf.Exchange(r.ctx, resp.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("61 s old code: %v", err)
		}
		resp, verifier, _ = r.signIn(t, b, "alice", "correct horse battery")
		status, _, body := tp.postFormNoFatal(url.Values{"grant_type": {"authorization_code"}, "code": {resp.Get("code")}, "code_verifier": {verifier}, "redirect_uri": {"https://rp.example/cb2"}}, "web", secret)
		if status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("code with another registered redirect URI: %d %v", status, body)
		}
	})
	t.Run("refresh tokens expire when idle and at their absolute end", func(t *testing.T) {
		s := freshTokens(t, tp, r)
		clock.Advance(defaultRefreshIdle + time.Minute)
		if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: s.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("idle refresh token: %v", err)
		}
		s = freshTokens(t, tp, r)
		rt := s.RefreshToken
		for elapsed := time.Duration(0); elapsed <= defaultRefreshMax; elapsed += defaultRefreshIdle / 2 {
			clock.Advance(defaultRefreshIdle / 2)
			next, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: rt}).Token()
			if err != nil {
				if elapsed+defaultRefreshIdle/2 < defaultRefreshMax || !isOAuthError(err, "invalid_grant") {
					t.Fatalf("after %v: %v", elapsed, err)
				}
				return
			}
			rt = next.RefreshToken
		}
		t.Fatal("the refresh token outlived its absolute lifetime")
	})
}

// freshTokens signs alice in (prompting for login again) and redeems the code.
func freshTokens(t *testing.T, tp *testProvider, r *rp) *oauth2.Token {
	t.Helper()
	resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
	tok, _ := r.tokens(t, resp.Get("code"), verifier)
	return tok
}

// Rotation is a per-client policy: a client without it keeps its refresh token.
func TestRefreshWithoutRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		secret := tp.addWebClient(t, "web", func(c *store.Client) { c.RefreshRotation = false })
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		tok := freshTokens(t, tp, r)
		for range 3 {
			next, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			if err != nil || next.RefreshToken != tok.RefreshToken {
				t.Fatalf("non-rotating refresh: %v", err)
			}
		}
	})
}

// CONFORMANCE §4.3: a script URL that reached the store some other way is never
// rendered into a form_post page.
func TestFormPostNeverRendersScriptURLs(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		for _, ru := range []string{"javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>"} {
			id := "c" + RandomToken(6)
			if _, err := tp.st.CreateClient(context.Background(), store.Client{
				Realm: "demo", ID: id, Enabled: true, AuthMethod: AuthClientSecretBasic, RedirectURIs: []string{ru},
				GrantTypes: []string{"authorization_code"}, Scopes: allScopes,
			}); err != nil {
				t.Fatal(err)
			}
			b := tp.newBrowser(t)
			p := b.Get(tp.endpoint("demo", "auth") + "?" + url.Values{"client_id": {id}, "redirect_uri": {ru}, "response_type": {"code"},
				"scope": {"openid"}, "response_mode": {"form_post"}}.Encode())
			if strings.Contains(strings.ToLower(p.Body), "javascript:") || strings.Contains(p.Body, "data:text") || strings.Contains(strings.ToLower(p.Header.Get("Location")), "javascript:") {
				t.Errorf("%s rendered: %d %q\n%s", ru, p.Status, p.Header.Get("Location"), p.Body)
			}
		}
	})
}
