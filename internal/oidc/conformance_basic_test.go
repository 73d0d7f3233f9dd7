package oidc

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

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
	t.Parallel()
	tp := newTestProvider(t)
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
}
