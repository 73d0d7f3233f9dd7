package oidc

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/internal/totp"
)

// The security rules of CONFORMANCE §2–§4 that apply to the authorization flow, each a
// test against the real provider and login pages.

// perRequest matches what differs between any two login pages: the CSRF token and the
// pending request's id.
var perRequest = regexp.MustCompile(`name="csrf_token" value="[^"]*"|authz=[A-Za-z0-9_-]+`)

// ASVS: no account enumeration by message or status: an unknown user and a wrong
// password get the same page (apart from its fresh CSRF token).
func TestLoginDoesNotEnumerateAccounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r, _ := aliceAndWebOn(t, tp)
		answer := func(user string) page {
			b := tp.newBrowser(t)
			p := b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			return b.Login(p, user, "wrong password!")
		}
		known, unknown := answer("alice"), answer("mallory")
		norm := func(p page) string {
			return strings.ReplaceAll(perRequest.ReplaceAllString(p.Body, ""), "mallory", "alice")
		}
		if known.Status != unknown.Status || norm(known) != norm(unknown) || known.Status != http.StatusUnauthorized {
			t.Fatalf("known %d / unknown %d differ:\n%s\n---\n%s", known.Status, unknown.Status, known.Body, unknown.Body)
		}
	})
}

// CONFORMANCE §4.11: 50 concurrent wrong passwords still lock the account at the
// configured count; the lock refuses the right password, and ends by itself.
func TestConcurrentWrongPasswordsLock(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		u := tp.addUser(t, "alice", "correct horse battery")
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		// Each attempt in its own browser, past the username page.
		const n = 50
		pages := make([]page, n)
		browsers := make([]*browser, n)
		for i := range n {
			browsers[i] = tp.newBrowser(t)
			p := browsers[i].Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			pages[i] = browsers[i].Submit(p, "username", url.Values{"username": {"alice"}})
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { browsers[i].Submit(pages[i], "password", url.Values{"password": {"wrong"}}) })
		}
		wg.Wait()
		got, err := tp.st.GetUser(context.Background(), "demo", u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !time.Now().Before(got.LockedUntil) {
			t.Fatalf("not locked after %d concurrent failures (threshold %d): %+v", n, login.DefaultLockoutThreshold, got)
		}
		b := tp.newBrowser(t)
		p := b.Login(b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "correct horse battery")
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("locked user signed in: %d", p.Status)
		}
	})
}

// CONFORMANCE §4.16: amr and acr reflect every factor used; a TOTP code is single use.
func TestTOTPSecondFactor(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		key, err := totp.Generate("Signet", "alice")
		if err != nil {
			t.Fatal(err)
		}
		var sealed []byte
		u := tp.addUser(t, "alice", "correct horse battery", func(u *store.User) {
			sealed, err = login.SealTOTPSecret(tp.ring, "demo", u.ID, key.Secret)
			u.TOTPSecret = sealed
		})
		if err != nil {
			t.Fatal(err)
		}
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		b := tp.newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		p := b.Login(b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "alice", "correct horse battery")
		if p.Status != 200 || !strings.Contains(p.Body, `name="otp"`) {
			t.Fatalf("no TOTP page after the password: %d\n%s", p.Status, p.Body)
		}
		if bad := b.Submit(p, "otp", url.Values{"otp": {"000000"}}); bad.Status != http.StatusUnauthorized {
			t.Fatalf("wrong code: %d", bad.Status)
		}
		code := totpNow(t, key.Secret)
		resp := callback(t, b.Submit(p, "otp", url.Values{"otp": {code}}))
		_, idt := r.tokens(t, resp.Get("code"), verifier)
		var c struct {
			AMR []string `json:"amr"`
			ACR string   `json:"acr"`
		}
		_ = idt.Claims(&c)
		if strings.Join(c.AMR, ",") != "pwd,otp" || c.ACR != login.ACRMulti || idt.Subject != u.ID {
			t.Fatalf("amr %v acr %q", c.AMR, c.ACR)
		}
		// The same code again, in a new login, is refused.
		b2 := tp.newBrowser(t)
		p = b2.Login(b2.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "alice", "correct horse battery")
		if again := b2.Submit(p, "otp", url.Values{"otp": {code}}); again.Status != http.StatusUnauthorized {
			t.Fatalf("reused TOTP code: %d", again.Status)
		}
	})
}

// Consent: a client that requires it shows its logo, policy and terms; deny is
// access_denied; allow is remembered.
func TestConsentPage(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		secret := tp.addWebClient(t, "web", func(c *store.Client) {
			c.ConsentRequired = true
			c.LogoURI, c.PolicyURI, c.TOSURI = "https://rp.example/logo.png", "https://rp.example/policy", "https://rp.example/tos"
		})
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		b := tp.newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		consent := b.Login(b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "alice", "correct horse battery")
		for _, want := range []string{`name="decision"`, "https://rp.example/logo.png", "https://rp.example/policy", "https://rp.example/tos", "<li>email</li>"} {
			if !strings.Contains(consent.Body, want) {
				t.Fatalf("consent page lacks %q:\n%s", want, consent.Body)
			}
		}
		if resp := callback(t, b.Submit(consent, "", url.Values{"decision": {"deny"}})); resp.Get("error") != "access_denied" {
			t.Fatalf("deny: %v", resp)
		}
		p := b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
		resp := callback(t, b.Submit(p, "", url.Values{"decision": {"allow"}}))
		r.tokens(t, resp.Get("code"), verifier)
		// Remembered: the next request is silent.
		if resp := callback(t, b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))); resp.Get("code") == "" {
			t.Fatalf("consent not remembered: %v", resp)
		}
	})
}

// CONFORMANCE §4.8: a pending login is bound to the browser that started it; another
// browser with the login page's URL gets an error page and no code.
func TestPendingLoginBoundToBrowser(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "mallory", "correct horse battery")
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		victim := tp.newBrowser(t)
		p := victim.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		attacker := tp.newBrowser(t)
		if q := attacker.Get(p.URL.String()); q.Status != http.StatusBadRequest || strings.Contains(q.Body, `name="step"`) {
			t.Fatalf("another browser opened the pending login: %d", q.Status)
		}
		// Nor can the form be posted from another browser, even with a valid CSRF token.
		if q := attacker.Submit(p, "username", url.Values{"username": {"mallory"}}); q.Status != http.StatusBadRequest {
			t.Fatalf("another browser posted the login form: %d", q.Status)
		}
	})
}

// Every login form needs its CSRF token.
func TestLoginFormsNeedCSRF(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		b := tp.newBrowser(t)
		p := b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if q := b.Post(p.URL.String(), url.Values{"step": {"username"}, "username": {"alice"}}); q.Status != http.StatusBadRequest {
			t.Fatalf("form without CSRF token: %d", q.Status)
		}
	})
}

// The session cookie is __Host-, Secure, HttpOnly and SameSite=Lax, and a login rotates it.
func TestSessionCookie(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		r, _ := aliceAndWebOn(t, tp)
		b := tp.newBrowser(t)
		var cookies []string
		for range 2 {
			p := b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
			p = b.Submit(p, "username", url.Values{"username": {"alice"}})
			p = b.Submit(p, "password", url.Values{"password": {"correct horse battery"}})
			for _, sc := range p.Header.Values("Set-Cookie") {
				if strings.HasPrefix(sc, "__Host-signet_session_demo=") {
					for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
						if !strings.Contains(sc, attr) {
							t.Fatalf("session cookie lacks %s: %s", attr, sc)
						}
					}
					cookies = append(cookies, strings.SplitN(sc, ";", 2)[0])
				}
			}
		}
		if len(cookies) != 2 || cookies[0] == cookies[1] {
			t.Fatalf("the session cookie did not rotate at login: %v", cookies)
		}
	})
}

// Response modes: fragment, and form_post with a script allowed only by hash and a form
// that can post nowhere but the client.
func TestResponseModes(t *testing.T) {
	t.Parallel()
	s := signInFresh(t, newTestProvider(t), nil)
	resp, _ := s.silent(t, oauth2.SetAuthURLParam("response_mode", "fragment"))
	if resp.Get("code") == "" {
		t.Fatalf("fragment: %v", resp)
	}
	p := s.b.Get(s.rp.conf.AuthCodeURL("fp", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("response_mode", "form_post")))
	csp := p.Header.Get("Content-Security-Policy")
	if p.Status != 200 || !strings.Contains(p.Body, `action="https://rp.example/cb"`) || !strings.Contains(p.Body, `name="code"`) ||
		!strings.Contains(p.Body, `name="iss"`) || !strings.Contains(csp, "form-action https://rp.example") || !strings.Contains(csp, "script-src 'sha256-") {
		t.Fatalf("form_post: %d %q\n%s", p.Status, csp, p.Body)
	}
}

// CONFORMANCE §4.12 and §4.14: a locked or disabled user is refused at the token
// endpoint and at refresh, and introspection and userinfo stop at once.
func TestLockedUserLosesTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		// A code issued before the lock does not redeem after it.
		resp, verifier := s.silent(t)
		ctx := context.Background()
		if _, err := tp.st.UpdateUser(ctx, "demo", s.u.ID, func(u store.User) (store.User, error) {
			u.LockedUntil = time.Now().Add(time.Hour)
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.rp.conf.Exchange(s.rp.ctx, resp.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("code of a locked user: %v", err)
		}
		if _, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("refresh of a locked user: %v", err)
		}
		if tp.introspect(t, s.tok.AccessToken, "web", s.rp.conf.ClientSecret) {
			t.Fatal("introspection of a locked user's token is active")
		}
		if _, err := s.rp.provider.UserInfo(s.rp.ctx, oauth2.StaticTokenSource(s.tok)); err == nil {
			t.Fatal("userinfo for a locked user")
		}
	})
}

// CONFORMANCE §4.15 and §4.7: truncated or bit-flipped codes and refresh tokens are
// refused; a code does not redeem as a refresh token or for another client.
func TestArtifactsAreExactAndTyped(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		secret := tp.addWebClient(t, "web")
		otherSecret := tp.addWebClient(t, "other")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		b := tp.newBrowser(t)
		resp, verifier, _ := r.signIn(t, b, "alice", "correct horse battery")
		code := resp.Get("code")
		flip := func(s string) string { x := []byte(s); x[len(x)/2] ^= 1; return string(x) }
		for name, form := range map[string]url.Values{
			"truncated code":        {"grant_type": {"authorization_code"}, "code": {code[:len(code)-1]}, "redirect_uri": {rpRedirect}, "code_verifier": {verifier}},
			"bit-flipped code":      {"grant_type": {"authorization_code"}, "code": {flip(code)}, "redirect_uri": {rpRedirect}, "code_verifier": {verifier}},
			"code as refresh":       {"grant_type": {"refresh_token"}, "refresh_token": {code}},
			"code of web, by other": {"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {rpRedirect}, "code_verifier": {verifier}},
		} {
			user, pass := "web", secret
			if strings.HasSuffix(name, "by other") {
				user, pass = "other", otherSecret
			}
			if status, _, body := tp.postFormNoFatal(form, user, pass); status != 400 || body["error"] != "invalid_grant" {
				t.Errorf("%s: %d %v", name, status, body)
			}
		}
		// The code was spent by the other client's attempt; a fresh one for the refresh checks.
		resp, verifier, _ = r.signIn(t, b, "alice", "correct horse battery")
		tok, _ := r.tokens(t, resp.Get("code"), verifier)
		rt := tok.RefreshToken
		for name, bad := range map[string]string{"truncated": rt[:len(rt)-1], "bit-flipped": flip(rt), "grant id only": strings.SplitN(rt, ".", 2)[0]} {
			if status, _, body := tp.postFormNoFatal(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bad}}, "web", secret); status != 400 || body["error"] != "invalid_grant" {
				t.Errorf("%s refresh token: %d %v", name, status, body)
			}
		}
		// A wrong secret with a real grant id revokes nothing (grant ids are in access tokens).
		if _, err := r.conf.TokenSource(r.ctx, &oauth2.Token{RefreshToken: rt}).Token(); err != nil {
			t.Fatalf("the real refresh token stopped working after bad attempts: %v", err)
		}
	})
}

// RFC 9700 §4.14.2: a refresh token used after its successor (outside the grace window)
// revokes the whole family.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now())
	tp := newClockedProvider(t, clock)
	s := signInFresh(t, tp, nil)
	next, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	// Inside the grace window the old token gets the same successor.
	again, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
	if err != nil || again.RefreshToken != next.RefreshToken {
		t.Fatalf("grace window: %v, same successor %v", err, again != nil && again.RefreshToken == next.RefreshToken)
	}
	clock.Advance(refreshGrace + time.Second)
	if _, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed refresh token: %v", err)
	}
	if _, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the family survived a replay: %v", err)
	}
}

// CONFORMANCE §4.5: a revocation that cannot be stored answers 503, and the token stays
// valid; once the database is back, revocation works.
func TestRevocationStorageErrorIs503(t *testing.T) {
	t.Parallel()
	st, proxy := testdb.OpenPostgresVia(t)
	tp := newTestProviderOn(t, st)
	s := signInFresh(t, tp, nil)
	form := url.Values{"token": {s.tok.RefreshToken}}
	proxy.Cut()
	code, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/revoke", form, "web", s.rp.conf.ClientSecret)
	proxy.Restore()
	if code != http.StatusServiceUnavailable {
		t.Fatalf("revocation during an outage: %d %v", code, body)
	}
	if !tp.introspect(t, s.tok.AccessToken, "web", s.rp.conf.ClientSecret) {
		t.Fatal("the token is not valid after a failed revocation")
	}
	req, _ := http.NewRequest("POST", tp.srv.URL+"/realms/demo/protocol/openid-connect/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", s.rp.conf.ClientSecret)
	resp, err := tp.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || tp.introspect(t, s.tok.AccessToken, "web", s.rp.conf.ClientSecret) {
		t.Fatalf("revocation after the outage: %d", resp.StatusCode)
	}
}

// CONFORMANCE §4.13: links come from the configured public URL, never from Host.
func TestLinksIgnoreHostHeaders(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		secret := tp.addWebClient(t, "web")
		r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
		req, _ := http.NewRequest("GET", r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), nil)
		req.Host = "evil.example"
		req.Header.Set("X-Forwarded-Host", "evil.example")
		c := tp.srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, tp.srv.URL+"/realms/demo/login-actions/") {
			t.Fatalf("login redirect %q", loc)
		}
	})
}

// Public clients must use PKCE, authenticate with "none" only, and cannot use
// client_credentials or introspection.
func TestPublicClient(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		if _, err := tp.st.CreateClient(context.Background(), store.Client{
			Realm: "demo", ID: "spa", Public: true, AuthMethod: AuthNone, Enabled: true, RedirectURIs: []string{rpRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scopes: allScopes, RefreshRotation: true,
		}); err != nil {
			t.Fatal(err)
		}
		r := tp.newRP(t, "spa", "", oauth2.AuthStyleInParams)
		b := tp.newBrowser(t)
		if resp := callback(t, b.Get(r.conf.AuthCodeURL("s"))); resp.Get("error") != "invalid_request" {
			t.Fatalf("public client without PKCE: %v", resp)
		}
		resp, verifier, _ := r.signIn(t, b, "alice", "correct horse battery")
		tok, idt := r.tokens(t, resp.Get("code"), verifier)
		if idt == nil || tok.RefreshToken == "" {
			t.Fatal("public client got no tokens")
		}
		if status, _, body := tp.postForm(t, "/realms/demo/protocol/openid-connect/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}, "", ""); status != 400 || body["error"] != "unauthorized_client" {
			t.Fatalf("client_credentials for a public client: %d %v", status, body)
		}
		if status, _, _ := tp.postForm(t, "/realms/demo/protocol/openid-connect/token/introspect", url.Values{"token": {tok.AccessToken}, "client_id": {"spa"}}, "", ""); status != 401 {
			t.Fatalf("introspection by a public client: %d", status)
		}
	})
}
