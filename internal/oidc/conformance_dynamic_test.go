package oidc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// The Dynamic OP profile (CONFORMANCE §1): clients registered through the registration
// endpoint, authenticating with private_key_jwt where the module says so, through the
// whole code flow.

// publishRaw serves body as-is at path and returns its URL.
func (ds *docServer) publishRaw(path string, body []byte) string {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	ds.docs[path] = body
	return ds.URL + path
}

// dynamicClient registers a client under the open policy and returns its id and secret.
func dynamicClient(t *testing.T, tp *testProvider, metadata md) (string, string) {
	t.Helper()
	tp.setRegistrationPolicy(t, RegistrationOpen)
	base := md{"redirect_uris": []string{rpRedirect}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scope": "openid profile email address phone offline_access"}
	for k, v := range metadata {
		base[k] = v
	}
	out := tp.mustRegister(t, base)
	secret, _ := out["client_secret"].(string)
	return out["client_id"].(string), secret
}

// oidcc-idtoken-rs256: a registered client asking for RS256 ID tokens gets them, and
// go-oidc verifies them.
func TestOIDCCIDTokenRS256(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		id, secret := dynamicClient(t, tp, md{"id_token_signed_response_alg": "RS256"})
		r := tp.newRP(t, id, secret, oauth2.AuthStyleInHeader)
		resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
		tok, idt := r.tokens(t, resp.Get("code"), verifier)
		if idt == nil || decodeHeader(t, tok.Extra("id_token").(string))["alg"] != "RS256" {
			t.Fatal("no RS256 ID token")
		}
	})
}

// oidcc-userinfo-rs256: userinfo_signed_response_alg gives a signed userinfo response
// that verifies with the realm's JWKS and names the client as audience.
func TestOIDCCUserinfoRS256(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		u := tp.addUser(t, "alice", "correct horse battery")
		id, secret := dynamicClient(t, tp, md{"userinfo_signed_response_alg": "RS256"})
		r := tp.newRP(t, id, secret, oauth2.AuthStyleInHeader)
		resp, verifier, _ := r.signIn(t, tp.newBrowser(t), "alice", "correct horse battery")
		tok, _ := r.tokens(t, resp.Get("code"), verifier)
		req, _ := http.NewRequest("GET", tp.endpoint("demo", "userinfo"), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := tp.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.Header.Get("Content-Type") != "application/jwt" {
			t.Fatalf("content type %q", res.Header.Get("Content-Type"))
		}
		set, err := tp.keys.PublicKeys(context.Background(), "demo")
		if err != nil {
			t.Fatal(err)
		}
		payload, _, err := keys.Verify(string(body), set, []keys.Alg{keys.RS256})
		if err != nil {
			t.Fatalf("signed userinfo does not verify: %v", err)
		}
		var c map[string]any
		_ = json.Unmarshal(payload, &c)
		if c["sub"] != u.ID || c["aud"] != id || c["iss"] != tp.Issuer("demo") {
			t.Fatalf("signed userinfo claims %v", c)
		}
	})
}

// oidcc-ensure-redirect-uri-in-authorization-request: with two registered redirect URIs
// and none in the request, an error page and no redirect.
func TestOIDCCEnsureRedirectURIInAuthorizationRequest(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		id, _ := dynamicClient(t, tp, md{"redirect_uris": []string{rpRedirect, "https://rp.example/cb2"}})
		p := tp.newBrowser(t).Get(tp.endpoint("demo", "auth") + "?" + url.Values{
			"client_id": {id}, "response_type": {"code"}, "scope": {"openid"},
		}.Encode())
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Fatalf("%d %q", p.Status, p.Header.Get("Location"))
		}
	})
}

// oidcc-redirect-uri-query-OK, -query-mismatch and -query-added: a registered query is
// part of the exact match; the response parameters are appended to it.
func TestOIDCCRedirectURIQuery(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		tp.addUser(t, "alice", "correct horse battery")
		registered := "https://rp.example/cb?foo=bar"
		id, secret := dynamicClient(t, tp, md{"redirect_uris": []string{registered}})
		b := tp.newBrowser(t)
		auth := func(ru string) page {
			return b.Get(tp.endpoint("demo", "auth") + "?" + url.Values{
				"client_id": {id}, "redirect_uri": {ru}, "response_type": {"code"}, "scope": {"openid"}, "state": {"q"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
			}.Encode())
		}
		for name, ru := range map[string]string{"oidcc-redirect-uri-query-mismatch": "https://rp.example/cb?foo=baz", "oidcc-redirect-uri-query-added": registered + "&foo2=bar2"} {
			if p := auth(ru); p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Errorf("%s: %d %q", name, p.Status, p.Header.Get("Location"))
			}
		}
		p := b.Login(auth(registered), "alice", "correct horse battery")
		loc, _ := url.Parse(p.Header.Get("Location"))
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(loc.String(), registered+"&") || loc.Query().Get("foo") != "bar" || loc.Query().Get("code") == "" {
			t.Fatalf("oidcc-redirect-uri-query-OK: %d %q", p.Status, loc)
		}
		_ = secret
	})
}

// oidcc-server-rotate-keys: after a rotation the JWKS holds the new and the old key; new
// ID tokens use the new key, and tokens signed before still verify.
func TestOIDCCServerRotateKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, tp *testProvider) {
		s := signInFresh(t, tp, nil)
		oldKID := decodeHeader(t, s.tok.Extra("id_token").(string))["kid"]
		if err := tp.keys.Rotate(context.Background(), "demo", keys.RS256); err != nil {
			t.Fatal(err)
		}
		resp, verifier := s.silent(t)
		tok, _ := s.rp.tokens(t, resp.Get("code"), verifier)
		newKID := decodeHeader(t, tok.Extra("id_token").(string))["kid"]
		if newKID == oldKID {
			t.Fatal("the ID token is still signed with the old key after a rotation")
		}
		set, _ := tp.keys.PublicKeys(context.Background(), "demo")
		if len(set.Key(oldKID.(string))) == 0 || len(set.Key(newKID.(string))) == 0 {
			t.Fatalf("JWKS lacks the old or the new key: %v %v", oldKID, newKID)
		}
		// A fresh go-oidc verifier (which fetches the JWKS anew) accepts the old token.
		r2 := tp.newRP(t, "web", s.rp.conf.ClientSecret, oauth2.AuthStyleInHeader)
		if _, err := r2.verifier.Verify(r2.ctx, s.tok.Extra("id_token").(string)); err != nil {
			t.Fatalf("the token signed before the rotation: %v", err)
		}
	})
}

// oidcc-request-uri-signed-rs256 and oidcc-request-uri-unsigned: a request object by
// reference, fetched from the client's server, signed with its registered key or
// unsigned.
func TestOIDCCRequestURI(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	tp.addUser(t, "alice", "correct horse battery")
	k := generateKey(t, keys.RS256)
	jwks, _ := json.Marshal(keys.JWKS([]*keys.Key{k}))
	secret := tp.addWebClient(t, "web", func(c *store.Client) { c.JWKS = jwks })
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
	for name, sign := range map[string]bool{"oidcc-request-uri-signed-rs256": true, "oidcc-request-uri-unsigned": false} {
		verifier := oauth2.GenerateVerifier()
		obj := map[string]any{
			"iss": "web", "aud": tp.Issuer("demo"), "client_id": "web", "redirect_uri": rpRedirect, "response_type": "code",
			"scope": "openid", "state": name, "code_challenge": oauth2.S256ChallengeFromVerifier(verifier), "code_challenge_method": "S256",
		}
		raw := unsignedJWT(obj)
		if sign {
			payload, _ := json.Marshal(obj)
			var err error
			if raw, err = keys.Sign(k, keys.TypeRequestObject, payload); err != nil {
				t.Fatal(err)
			}
		}
		ref := ds.publishRaw("/"+name+".jwt", []byte(raw))
		b := tp.newBrowser(t)
		p := b.Get(tp.endpoint("demo", "auth") + "?" + url.Values{"client_id": {"web"}, "request_uri": {ref}, "response_type": {"code"}, "scope": {"openid"}}.Encode())
		resp := callback(t, b.Login(p, "alice", "correct horse battery"))
		if resp.Get("state") != name {
			t.Fatalf("%s: %v", name, resp)
		}
		r.tokens(t, resp.Get("code"), verifier)
	}
	// A request_uri on a private address is refused by default (CONFORMANCE §4.18).
	plain := newTestProvider(t)
	plain.addWebClient(t, "web")
	resp := callback(t, plain.newBrowser(t).Get(plain.endpoint("demo", "auth")+"?"+url.Values{
		"client_id": {"web"}, "redirect_uri": {rpRedirect}, "request_uri": {ds.URL + "/x.jwt"}, "response_type": {"code"}, "scope": {"openid"},
	}.Encode()))
	if resp.Get("error") != "invalid_request_uri" {
		t.Fatalf("loopback request_uri: %v", resp)
	}
}
