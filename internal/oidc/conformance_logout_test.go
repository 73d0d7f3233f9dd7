package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// RP-initiated logout (CONFORMANCE §1): end_session_endpoint is advertised; a registered
// post_logout_redirect_uri with a valid id_token_hint gets the redirect with state, and a
// later prompt=none fails. Everything doubtful ends on Signet's page instead.
func TestOIDCCRPInitiatedLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		var doc struct {
			EndSession string `json:"end_session_endpoint"`
		}
		if err := s.rp.provider.Claims(&doc); err != nil || doc.EndSession != tp.endpoint("demo", "logout") {
			t.Fatalf("end_session_endpoint %q %v", doc.EndSession, err)
		}
		hint := s.tok.Extra("id_token").(string)
		p := s.b.Get(doc.EndSession + "?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLogout}, "state": {"bye"}}.Encode())
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != rpLogout+"?state=bye" {
			t.Fatalf("logout: %d %q", p.Status, p.Header.Get("Location"))
		}
		resp, _ := s.silent(t, oauth2.SetAuthURLParam("prompt", "none"))
		if resp.Get("error") != "login_required" {
			t.Fatalf("prompt=none after logout: %v", resp)
		}
		// The session's grants are revoked with it.
		if tp.introspect(t, s.tok.AccessToken, "web", s.rp.conf.ClientSecret) {
			t.Fatal("access token still active after logout")
		}
	})
}

// The cases of RP-initiated logout that must end on a page, never a redirect.
func TestOIDCCRPInitiatedLogoutRefusesRedirects(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		hint := s.tok.Extra("id_token").(string)
		parts := strings.Split(hint, ".")
		noneHint := unsignedJWT(map[string]any{"iss": tp.Issuer("demo"), "sub": s.u.ID, "aud": "web"})
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		for name, q := range map[string]url.Values{
			"unregistered uri":            {"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://attacker.example/"}},
			"added query":                 {"id_token_hint": {hint}, "post_logout_redirect_uri": {rpLogout + "?x=1"}},
			"hint with alg none":          {"id_token_hint": {noneHint}, "post_logout_redirect_uri": {rpLogout}},
			"hint signed by someone else": {"id_token_hint": {forged}, "post_logout_redirect_uri": {rpLogout}},
			"uri without hint":            {"post_logout_redirect_uri": {rpLogout}},
		} {
			p := s.b.Get(tp.endpoint("demo", "logout") + "?" + q.Encode())
			if p.Header.Get("Location") != "" || p.Status == http.StatusSeeOther {
				t.Errorf("%s: redirected to %q", name, p.Header.Get("Location"))
			}
		}
		// Still logged in: none of the above ended the session.
		if resp, _ := s.silent(t, oauth2.SetAuthURLParam("prompt", "none")); resp.Get("code") == "" {
			t.Fatalf("a refused logout ended the session: %v", resp)
		}
		// No parameters at all: a confirmation page (a cross-site GET alone logs nobody out),
		// then the user confirms and is logged out, on Signet's page.
		p := s.b.Get(tp.endpoint("demo", "logout"))
		if p.Status != 200 || !strings.Contains(p.Body, `name="confirm"`) {
			t.Fatalf("confirmation page: %d\n%s", p.Status, p.Body)
		}
		p = s.b.Submit(p, "", url.Values{"confirm": {"yes"}})
		if p.Status != 200 || p.Header.Get("Location") != "" {
			t.Fatalf("confirmed logout: %d %q", p.Status, p.Header.Get("Location"))
		}
		if resp, _ := s.silent(t, oauth2.SetAuthURLParam("prompt", "none")); resp.Get("error") != "login_required" {
			t.Fatalf("still logged in after confirmed logout: %v", resp)
		}
	})
}
