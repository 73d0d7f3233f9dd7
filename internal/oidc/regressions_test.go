package oidc

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/totp"
)

// Regressions for flaws found in review of the sign-in code, one test each.

// A request that demands a fresh login (prompt=login) is not answered by the consent
// page of the existing session, even with a valid CSRF token.
func TestForcedLoginIsNotAnsweredByConsent(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web", func(c *store.Client) { c.ConsentRequired = true })
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
	b := tp.newBrowser(t)
	consent := b.Login(b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "correct horse battery")
	callback(t, b.Submit(consent, "", url.Values{"decision": {"allow"}}))

	p := b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
	if !strings.Contains(p.URL.Path, "/login-actions/authenticate") {
		t.Fatalf("prompt=login did not ask for a login: %s", p.URL)
	}
	consentURL := strings.Replace(p.URL.String(), "/login-actions/authenticate", "/login-actions/consent", 1)
	token := csrfOf(t, p)
	got := b.Post(consentURL, url.Values{"csrf_token": {token}, "decision": {"allow"}})
	if got.Status == http.StatusSeeOther && strings.HasPrefix(got.Header.Get("Location"), rpRedirect) {
		t.Fatalf("the consent page answered a prompt=login request: %s", got.Header.Get("Location"))
	}
}

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	i := strings.Index(p.Body, `name="csrf_token" value="`)
	if i < 0 {
		t.Fatalf("no CSRF token on %s", p.URL)
	}
	rest := p.Body[i+len(`name="csrf_token" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// A right password does not reset the count of wrong TOTP codes: guessing codes between
// correct passwords still ends in a lock.
func TestTOTPGuessesLockDespiteCorrectPasswords(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	ctx := context.Background()
	if _, err := tp.st.UpdateRealm(ctx, "demo", func(r store.Realm) (store.Realm, error) {
		r.Attributes = map[string]string{login.AttrLockoutThreshold: "3"}
		return r, nil
	}); err != nil {
		t.Fatal(err)
	}
	key, _ := totp.Generate("Signet", "alice")
	u := tp.addUser(t, "alice", "correct horse battery", func(u *store.User) {
		u.TOTPSecret, _ = login.SealTOTPSecret(tp.ring, "demo", u.ID, key.Secret)
	})
	secret := tp.addWebClient(t, "web")
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
	for range 4 {
		b := tp.newBrowser(t)
		p := b.Login(b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "correct horse battery")
		if !strings.Contains(p.Body, `name="otp"`) {
			break // locked: the password page refused
		}
		b.Submit(p, "otp", url.Values{"otp": {"000000"}})
	}
	got, err := tp.st.GetUser(ctx, "demo", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !time.Now().Before(got.LockedUntil) {
		t.Fatalf("wrong TOTP codes between correct passwords never locked the user: %+v", got)
	}
}

// Logging out with an ID token of another session (or a signed userinfo response) asks
// for confirmation instead of ending this browser's session.
func TestLogoutHintOfAnotherSessionAsks(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	s := signInFresh(t, tp, nil)
	// Mallory's own ID token, from her own browser.
	tp.addUser(t, "mallory", "correct horse battery")
	resp, verifier, _ := s.rp.signIn(t, tp.newBrowser(t), "mallory", "correct horse battery")
	mtok, _ := s.rp.tokens(t, resp.Get("code"), verifier)
	p := s.b.Get(tp.endpoint("demo", "logout") + "?" + url.Values{"id_token_hint": {mtok.Extra("id_token").(string)}}.Encode())
	if p.Status != 200 || !strings.Contains(p.Body, `name="confirm"`) {
		t.Fatalf("a foreign hint logged out without asking: %d", p.Status)
	}
	if resp, _ := s.silent(t, oauth2.SetAuthURLParam("prompt", "none")); resp.Get("code") == "" {
		t.Fatalf("the session ended: %v", resp)
	}
	// A signed userinfo response is no ID token.
	if _, err := tp.st.UpdateClient(context.Background(), "demo", "web", func(c store.Client) (store.Client, error) {
		c.UserinfoSignedResponseAlg = "RS256"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", tp.endpoint("demo", "userinfo"), nil)
	req.Header.Set("Authorization", "Bearer "+mtok.AccessToken)
	res, err := tp.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jwt, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if p := s.b.Get(tp.endpoint("demo", "logout") + "?" + url.Values{"id_token_hint": {string(jwt)}, "post_logout_redirect_uri": {rpLogout}}.Encode()); p.Status != http.StatusBadRequest {
		t.Fatalf("a signed userinfo response was taken as an ID token hint: %d", p.Status)
	}
}

// The first refresh token of a family, replayed after two rotations, revokes the family.
func TestFirstRefreshTokenReplayRevokesFamily(t *testing.T) {
	t.Parallel()
	s := signInFresh(t, newTestProvider(t), nil)
	first := s.tok.RefreshToken
	rt := first
	for range 2 {
		next, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			t.Fatal(err)
		}
		rt = next.RefreshToken
	}
	if _, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: first}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed first token: %v", err)
	}
	if _, err := s.rp.conf.TokenSource(s.rp.ctx, &oauth2.Token{RefreshToken: rt}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the family survived the replay of its first token: %v", err)
	}
}

// The claims parameter does not release claims of scopes the client may not have.
func TestClaimsParameterStaysWithinTheClientsScopes(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	u := tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web", func(c *store.Client) { c.Scopes = []string{"openid", "profile"} })
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader, "openid")
	resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery",
		oauth2.SetAuthURLParam("claims", `{"userinfo":{"email":null,"phone_number":null,"name":null}}`))
	tok, _ := r.tokens(t, resp.Get("code"), verifier)
	req, _ := http.NewRequest("GET", tp.endpoint("demo", "userinfo"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	ui := userinfoJSON(t, tp, req)
	if _, ok := ui["email"]; ok {
		t.Fatalf("email released to a client without the email scope: %v", ui)
	}
	if _, ok := ui["phone_number"]; ok {
		t.Fatalf("phone released to a client without the phone scope: %v", ui)
	}
	if ui["name"] != u.Profile.Name {
		t.Fatalf("a claim of an allowed scope was not released: %v", ui)
	}
}

// A code whose session ended (logout) before the redemption does not redeem; a
// redirect_uri sent at the authorization endpoint is required at the token endpoint.
func TestCodeRedemptionRules(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	s := signInFresh(t, tp, nil)
	resp, verifier := s.silent(t)
	hint := s.tok.Extra("id_token").(string)
	s.b.Get(tp.endpoint("demo", "logout") + "?" + url.Values{"id_token_hint": {hint}}.Encode())
	if _, err := s.rp.conf.Exchange(s.rp.ctx, resp.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("code redeemed after logout: %v", err)
	}
	resp, verifier, _ = s.rp.signIn(t, s.b, "alice", "correct horse battery")
	status, _, body := tp.postFormNoFatal(url.Values{"grant_type": {"authorization_code"}, "code": {resp.Get("code")}, "code_verifier": {verifier}}, "web", s.rp.conf.ClientSecret)
	if status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("token request without the redirect_uri the authorization request had: %d %v", status, body)
	}
}

// A temporary password (set by an administrator) must be replaced at the next sign-in:
// the new one is typed twice and follows the policy; afterwards it is the password, the
// mark is gone, and the old one no longer works.
func TestTemporaryPasswordMustBeChanged(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	u := tp.addUser(t, "alice", "temporary pass 1", func(u *store.User) {
		u.Attributes = map[string]string{login.AttrPasswordTemporary: "true"}
	})
	secret := tp.addWebClient(t, "web")
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
	b := tp.newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	p := b.Login(b.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "alice", "temporary pass 1")
	if !strings.Contains(p.Body, `name="new_password"`) {
		t.Fatalf("no password change after a temporary password:\n%s", p.Body)
	}
	if q := b.Submit(p, "update_password", url.Values{"new_password": {"a brand new secret"}, "confirm_password": {"a different one!"}}); q.Status != http.StatusBadRequest {
		t.Fatalf("differing passwords: %d", q.Status)
	}
	if q := b.Submit(p, "update_password", url.Values{"new_password": {"short"}, "confirm_password": {"short"}}); q.Status != http.StatusBadRequest {
		t.Fatalf("a too short password: %d", q.Status)
	}
	resp := callback(t, b.Submit(p, "update_password", url.Values{"new_password": {"a brand new secret"}, "confirm_password": {"a brand new secret"}}))
	r.tokens(t, resp.Get("code"), verifier)
	got, err := tp.st.GetUser(context.Background(), "demo", u.ID)
	if err != nil || got.Attributes[login.AttrPasswordTemporary] != "" || got.PasswordChangedAt.IsZero() {
		t.Fatalf("after the change: %+v %v", got, err)
	}
	b2 := tp.newBrowser(t)
	if p := b2.Login(b2.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "alice", "temporary pass 1"); p.Status != http.StatusUnauthorized {
		t.Fatalf("the temporary password still works: %d", p.Status)
	}
	callback(t, b2.Login(b2.Get(r.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), "alice", "a brand new secret"))
}
