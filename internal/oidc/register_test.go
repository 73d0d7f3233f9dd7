package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// setRegistrationPolicy sets the realm's registration policy attribute.
func (tp *testProvider) setRegistrationPolicy(t testing.TB, policy string) {
	t.Helper()
	_, err := tp.st.UpdateRealm(context.Background(), "demo", func(r store.Realm) (store.Realm, error) {
		r.Attributes = maps.Clone(r.Attributes)
		if r.Attributes == nil {
			r.Attributes = map[string]string{}
		}
		r.Attributes[RegistrationPolicyAttribute] = policy
		return r, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (tp *testProvider) registrationURL() string {
	return tp.srv.URL + "/realms/demo/clients-registrations/openid-connect"
}

// sendJSON sends body (a string as it is, anything else encoded as JSON) with an
// optional bearer token and decodes the JSON answer, if any.
func (tp *testProvider) sendJSON(t testing.TB, method, u, token string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	raw, ok := body.(string)
	if !ok && body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(b)
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := tp.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if buf.Len() > 0 {
		if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, u, buf.String())
		}
	}
	return resp.StatusCode, resp.Header, out
}

func (tp *testProvider) register(t testing.TB, token string, metadata any) (int, map[string]any) {
	t.Helper()
	code, _, body := tp.sendJSON(t, "POST", tp.registrationURL(), token, metadata)
	return code, body
}

// mustRegister registers a client under the open policy and returns the answer.
func (tp *testProvider) mustRegister(t testing.TB, metadata any) map[string]any {
	t.Helper()
	code, body := tp.register(t, "", metadata)
	if code != 201 {
		t.Fatalf("registration: %d %v", code, body)
	}
	return body
}

type md = map[string]any

const rpCallback = "https://rp.example/cb"

// TestRegistrationPolicy: off (the default, and any unknown value) refuses, token needs
// the realm's current initial access token, open lets anyone register; discovery names
// the endpoint only when registration is possible.
func TestRegistrationPolicy(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	client := md{"redirect_uris": []string{rpCallback}}
	check := func(name string, token string, status int, errCode string) {
		t.Helper()
		code, h, body := tp.sendJSON(t, "POST", tp.registrationURL(), token, client)
		if code != status || (errCode != "" && body["error"] != errCode) {
			t.Errorf("%s: %d %v, want %d %s", name, code, body, status, errCode)
		}
		if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without a Bearer challenge", name)
		}
	}
	endpoint := func() any { return tp.discoveryDoc(t)["registration_endpoint"] }

	check("default", "", 403, "access_denied")
	if endpoint() != nil {
		t.Error("discovery names a registration endpoint while registration is off")
	}
	tp.setRegistrationPolicy(t, "yes please")
	check("unknown policy", "", 403, "access_denied")
	tp.setRegistrationPolicy(t, RegistrationOff)
	check("off", "", 403, "access_denied")

	tp.setRegistrationPolicy(t, RegistrationToken)
	check("token policy without a token configured", "anything", 401, "invalid_token")
	first, err := tp.GenerateInitialAccessToken(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	check("token policy without a token", "", 401, "invalid_token")
	check("token policy with a wrong token", first+"x", 401, "invalid_token")
	check("token policy with the token", first, 201, "")
	second, err := tp.GenerateInitialAccessToken(context.Background(), "demo")
	if err != nil || second == first || len(second) < 43 {
		t.Fatalf("second token %q: %v", second, err)
	}
	check("replaced token", first, 401, "invalid_token")
	check("new token", second, 201, "")
	if endpoint() != tp.registrationURL() {
		t.Errorf("registration_endpoint %v", endpoint())
	}
	realm, _ := tp.st.GetRealm(context.Background(), "demo")
	if strings.Contains(fmt.Sprint(realm.Attributes), second) {
		t.Error("the initial access token is stored in the clear")
	}

	tp.setRegistrationPolicy(t, RegistrationOpen)
	check("open", "", 201, "")
	check("open, any bearer token", "whatever", 201, "")
	if endpoint() != tp.registrationURL() {
		t.Errorf("registration_endpoint %v", endpoint())
	}
}

// TestRegistrationDefaults: a minimal registration gets a confidential code-flow client
// with the documented defaults, stored as a dynamic client with hashed credentials.
func TestRegistrationDefaults(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	before := time.Now().Add(-time.Second).Unix()
	body := tp.mustRegister(t, md{"redirect_uris": []string{rpCallback, rpCallback}})
	want := md{
		"redirect_uris": []any{rpCallback}, "grant_types": []any{"authorization_code"}, "response_types": []any{"code"},
		"token_endpoint_auth_method": "client_secret_basic", "id_token_signed_response_alg": "RS256",
		"scope": "openid profile email", "subject_type": "public", "client_secret_expires_at": float64(0),
	}
	for k, v := range want {
		if got, _ := json.Marshal(body[k]); string(got) != mustJSON(v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(v))
		}
	}
	id, _ := body["client_id"].(string)
	secret, _ := body["client_secret"].(string)
	token, _ := body["registration_access_token"].(string)
	if len(id) < 22 || len(secret) < 43 || len(token) < 43 {
		t.Fatalf("client_id %q, secret %q, token %q: too short", id, secret, token)
	}
	if issued, _ := body["client_id_issued_at"].(float64); int64(issued) < before {
		t.Errorf("client_id_issued_at %v", body["client_id_issued_at"])
	}
	if body["registration_client_uri"] != tp.registrationURL()+"/"+id {
		t.Errorf("registration_client_uri %v", body["registration_client_uri"])
	}
	c, err := tp.st.GetClient(context.Background(), "demo", id)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dynamic || !c.Enabled || c.Public || !tp.secrets.Verify(secret, c.SecretHash) || len(c.RegistrationTokenHash) != 32 {
		t.Errorf("stored client %+v", c)
	}
	raw, _ := json.Marshal(c)
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(token)) {
		t.Error("a credential is stored in the clear")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRegistrationRules: every registration rule, each with the RFC 7591 §3.2.2 error
// it earns; and the accepted variants.
func TestRegistrationRules(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	ec := generateKey(t, keys.ES256)
	private, _ := json.Marshal(jose.JSONWebKey{Key: ec.Private, KeyID: ec.KID})
	web := func(extra md) md {
		out := md{"redirect_uris": []string{rpCallback}}
		maps.Copy(out, extra)
		return out
	}
	cc := func(extra md) md {
		out := md{"grant_types": []string{"client_credentials"}}
		maps.Copy(out, extra)
		return out
	}
	badURI, badMeta := "invalid_redirect_uri", "invalid_client_metadata"
	cases := []struct {
		name string
		body any
		err  string // empty: accepted
	}{
		// Redirect URIs.
		{"no redirect_uris for the code flow", md{}, badURI},
		{"empty redirect_uris", md{"redirect_uris": []string{}}, badURI},
		{"empty redirect URI", md{"redirect_uris": []string{""}}, badURI},
		{"relative redirect URI", md{"redirect_uris": []string{"/cb"}}, badURI},
		{"plain http on a public host", md{"redirect_uris": []string{"http://rp.example/cb"}}, badURI},
		{"userinfo", md{"redirect_uris": []string{"https://user@rp.example/cb"}}, badURI},
		{"one bad among good", md{"redirect_uris": []string{rpCallback, "https://rp.example/cb#x"}}, badURI},
		{"too many", md{"redirect_uris": manyURIs(maxRegisteredURIs + 1)}, badURI},
		{"too long", md{"redirect_uris": []string{"https://rp.example/" + strings.Repeat("a", maxURILength)}}, badURI},
		{"loopback http", md{"redirect_uris": []string{"http://127.0.0.1:8080/cb", "http://localhost/cb", "http://[::1]/cb"}}, ""},
		{"private-use scheme", md{"redirect_uris": []string{"com.example.app:/cb"}}, ""},
		{"redirect_uris as a string", md{"redirect_uris": rpCallback}, badMeta},
		{"names are case-sensitive", md{"Redirect_URIs": []string{rpCallback}}, badURI},
		{"post-logout fragment", web(md{"post_logout_redirect_uris": []string{"https://rp.example/bye#x"}}), badMeta},
		{"post-logout script", web(md{"post_logout_redirect_uris": []string{"JavaScript:alert(1)"}}), badMeta},
		{"post-logout URI", web(md{"post_logout_redirect_uris": []string{"https://rp.example/bye"}}), ""},
		// Grant and response types.
		{"implicit", web(md{"grant_types": []string{"implicit"}}), badMeta},
		{"password", web(md{"grant_types": []string{"authorization_code", "password"}}), badMeta},
		{"device code", web(md{"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"}}), badMeta},
		{"response type token", web(md{"response_types": []string{"token"}}), badMeta},
		{"response type id_token", web(md{"response_types": []string{"code id_token"}}), badMeta},
		{"code without authorization_code", cc(md{"response_types": []string{"code"}}), badMeta},
		{"authorization_code without code", web(md{"response_types": []string{}}), badMeta},
		{"refresh tokens", web(md{"grant_types": []string{"authorization_code", "refresh_token"}}), ""},
		{"client credentials without redirect URIs", cc(nil), ""},
		// Client authentication and keys.
		{"client_secret_jwt", web(md{"token_endpoint_auth_method": "client_secret_jwt"}), badMeta},
		{"tls_client_auth", web(md{"token_endpoint_auth_method": "tls_client_auth"}), badMeta},
		{"public client", web(md{"token_endpoint_auth_method": "none"}), ""},
		{"public client with client_credentials", cc(md{"token_endpoint_auth_method": "none"}), badMeta},
		{"client_secret_post", web(md{"token_endpoint_auth_method": "client_secret_post"}), ""},
		{"private_key_jwt without keys", cc(md{"token_endpoint_auth_method": "private_key_jwt"}), badMeta},
		{"private_key_jwt with jwks", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwksOf(ec)}), ""},
		{"private_key_jwt with jwks_uri", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://rp.example/jwks"}), ""},
		{"jwks and jwks_uri", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwksOf(ec), "jwks_uri": "https://rp.example/jwks"}), badMeta},
		{"jwks_uri over http", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://rp.example/jwks"}), badMeta},
		{"jwks with a private key", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks": json.RawMessage(`{"keys":[` + string(private) + `]}`)}), badMeta},
		{"jwks with a symmetric key", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks": md{"keys": []md{{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}}}}), badMeta},
		{"jwks not a set", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks": []string{"x"}}), badMeta},
		{"empty jwks", cc(md{"token_endpoint_auth_method": "private_key_jwt", "jwks": md{"keys": []md{}}}), badMeta},
		{"assertion alg none", cc(md{"token_endpoint_auth_signing_alg": "none"}), badMeta},
		{"assertion alg HS256", cc(md{"token_endpoint_auth_signing_alg": "HS256"}), badMeta},
		{"assertion alg ES256", cc(md{"token_endpoint_auth_signing_alg": "ES256"}), ""},
		// Signing algorithms (CONFORMANCE oidcc-idtoken-unsigned: none is refused).
		{"ID token alg none", web(md{"id_token_signed_response_alg": "none"}), badMeta},
		{"ID token alg HS256", web(md{"id_token_signed_response_alg": "HS256"}), badMeta},
		{"ID token alg ES256", web(md{"id_token_signed_response_alg": "ES256"}), ""},
		{"ID token alg PS256 and EdDSA userinfo", web(md{"id_token_signed_response_alg": "PS256", "userinfo_signed_response_alg": "EdDSA"}), ""},
		{"userinfo alg none", web(md{"userinfo_signed_response_alg": "none"}), badMeta},
		{"request object alg none", web(md{"request_object_signing_alg": "none"}), badMeta},
		{"request object alg RS256", web(md{"request_object_signing_alg": "RS256"}), ""},
		{"encrypted ID tokens", web(md{"id_token_encrypted_response_alg": "RSA-OAEP"}), badMeta},
		{"encrypted userinfo", web(md{"userinfo_encrypted_response_enc": "A128GCM"}), badMeta},
		// What the login page shows.
		{"logo over http", web(md{"logo_uri": "http://rp.example/logo.png"}), badMeta},
		{"policy as script", web(md{"policy_uri": "javascript:alert(1)"}), badMeta},
		{"terms as data", web(md{"tos_uri": "data:text/html,hi"}), badMeta},
		{"client_uri with userinfo", web(md{"client_uri": "https://a@rp.example/"}), badMeta},
		{"client name with a control character", web(md{"client_name": "RP\x00"}), badMeta},
		{"client name too long", web(md{"client_name": strings.Repeat("n", maxNameLength+1)}), badMeta},
		{"contacts as a number", web(md{"contacts": 5}), badMeta},
		{"empty contact", web(md{"contacts": []string{""}}), badMeta},
		{"display metadata", web(md{"client_name": "Relying Party", "logo_uri": "https://rp.example/logo.png", "contacts": []string{"ops@rp.example"}}), ""},
		// Scopes and subjects.
		{"unknown scope", web(md{"scope": "openid admin"}), badMeta},
		{"all standard scopes", web(md{"scope": "openid profile email address phone offline_access"}), ""},
		{"unknown subject type", web(md{"subject_type": "anonymous"}), badMeta},
		{"pairwise on one host", web(md{"subject_type": "pairwise"}), ""},
		{"pairwise on two hosts without a sector", md{"subject_type": "pairwise", "redirect_uris": []string{rpCallback, "https://rp2.example/cb"}}, badMeta},
		{"sector over http", web(md{"sector_identifier_uri": "http://rp.example/sector"}), badMeta},
		// Unknown metadata is ignored (RFC 7591 §2).
		{"unknown members", web(md{"software_id": "x", "application_type": "web", "x-custom": md{"a": 1}, "client_name#de": "RP"}), ""},
		// Bodies.
		{"not JSON", "redirect_uris=https://rp.example/cb", badMeta},
		{"a JSON array", `[{"redirect_uris":["https://rp.example/cb"]}]`, badMeta},
		{"JSON null", "null", badMeta},
		{"trailing garbage", `{"redirect_uris":["https://rp.example/cb"]} x`, badMeta},
		{"oversized", web(md{"client_name": strings.Repeat("n", maxRegistrationBytes)}), "invalid_request"},
	}
	for _, c := range cases {
		code, body := tp.register(t, "", c.body)
		switch {
		case c.err == "" && code != 201:
			t.Errorf("%s: %d %v, want 201", c.name, code, body)
		case c.err != "" && (code != 400 || body["error"] != c.err):
			t.Errorf("%s: %d %v, want 400 %s", c.name, code, body, c.err)
		}
	}
	// A body that is not application/json.
	req, _ := http.NewRequest("POST", tp.registrationURL(), strings.NewReader(`{"redirect_uris":["https://rp.example/cb"]}`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := tp.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("form body: %d", resp.StatusCode)
	}
}

func manyURIs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://rp.example/cb%d", i)
	}
	return out
}

// TestOIDCCRedirectURIRegfrag: a redirect URI with a fragment is refused at
// registration (RFC 6749 §3.1.2), also an empty fragment.
func TestOIDCCRedirectURIRegfrag(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.expectRedirectURIsRefused(t, "https://rp.example/cb#frag", "https://rp.example/cb#", "https://rp.example/cb?x=1#y")
}

// expectRedirectURIsRefused registers each URI alone and expects invalid_redirect_uri.
func (tp *testProvider) expectRedirectURIsRefused(t *testing.T, uris ...string) {
	t.Helper()
	tp.setRegistrationPolicy(t, RegistrationOpen)
	for _, u := range uris {
		if code, body := tp.register(t, "", md{"redirect_uris": []string{u}}); code != 400 || body["error"] != "invalid_redirect_uri" {
			t.Errorf("%s: %d %v", u, code, body)
		}
	}
}

// TestScriptAndDataRedirectURIsRefused (CONFORMANCE §4.3): javascript: and data:
// redirect targets are refused at registration in any case.
func TestScriptAndDataRedirectURIsRefused(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.expectRedirectURIsRefused(t,
		"javascript:alert(1)", "JavaScript:alert(1)", "JAVASCRIPT://rp.example/%0aalert(1)",
		"data:text/html,<script>alert(1)</script>", "DaTa:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)")
}

// TestOIDCCRegistrationLogoPolicyTOSURI: logo_uri, policy_uri, tos_uri and client_uri
// are stored and returned (the login page shows them).
func TestOIDCCRegistrationLogoPolicyTOSURI(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	uris := md{"logo_uri": "https://rp.example/logo.png", "policy_uri": "https://rp.example/privacy", "tos_uri": "https://rp.example/terms", "client_uri": "https://rp.example/"}
	body := tp.mustRegister(t, md{"redirect_uris": []string{rpCallback}, "client_name": "Relying Party", "contacts": []string{"ops@rp.example"}, "logo_uri": uris["logo_uri"],
		"policy_uri": uris["policy_uri"], "tos_uri": uris["tos_uri"], "client_uri": uris["client_uri"]})
	for k, v := range uris {
		if body[k] != v {
			t.Errorf("%s = %v", k, body[k])
		}
	}
	c, err := tp.st.GetClient(context.Background(), "demo", body["client_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogoURI != uris["logo_uri"] || c.PolicyURI != uris["policy_uri"] || c.TOSURI != uris["tos_uri"] || c.ClientURI != uris["client_uri"] ||
		c.Name != "Relying Party" || !slices.Equal(c.Contacts, []string{"ops@rp.example"}) {
		t.Errorf("stored %+v", c)
	}
}

// pairwiseRedirects are on two hosts, so pairwise subjects need a sector identifier.
var pairwiseRedirects = []string{rpCallback, "https://rp2.example/cb"}

// registerPairwise registers a pairwise client on pairwiseRedirects with sector.
func (tp *testProvider) registerPairwise(t *testing.T, sector string) (int, map[string]any) {
	t.Helper()
	tp.setRegistrationPolicy(t, RegistrationOpen)
	return tp.register(t, "", md{"redirect_uris": pairwiseRedirects, "subject_type": "pairwise", "sector_identifier_uri": sector})
}

// TestOIDCCRegistrationSectorURI: a pairwise client whose sector identifier document
// lists all its redirect URIs registers; the document is fetched through the outbound
// client.
func TestOIDCCRegistrationSectorURI(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	sector := ds.publish("/sector", append([]string{"https://rp3.example/cb"}, pairwiseRedirects...))
	code, body := tp.registerPairwise(t, sector)
	if code != 201 || body["subject_type"] != "pairwise" || body["sector_identifier_uri"] != sector || ds.fetches("/sector") != 1 {
		t.Fatalf("%v, %d fetches", body, ds.fetches("/sector"))
	}
	c, _ := tp.st.GetClient(context.Background(), "demo", body["client_id"].(string))
	if c.SubjectType != "pairwise" || c.SectorIdentifierURI != sector {
		t.Errorf("stored %+v", c)
	}
}

// TestOIDCCRegistrationSectorBad: a sector identifier document that misses a redirect
// URI, cannot be fetched, is not a JSON array, or sits on a loopback address the
// outbound policy refuses, fails the registration.
func TestOIDCCRegistrationSectorBad(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	for name, sector := range map[string]string{
		"misses a redirect URI": ds.publish("/partial", []string{rpCallback, "https://rp3.example/cb"}),
		"not found":             ds.URL + "/nothing",
		"an object":             ds.publish("/object", md{"redirect_uris": pairwiseRedirects}),
	} {
		code, body := tp.registerPairwise(t, sector)
		if code != 400 || body["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
	// With the default outbound policy, the loopback document is never fetched.
	good := ds.publish("/good", pairwiseRedirects)
	code, body := newTestProvider(t).registerPairwise(t, good)
	if code != 400 || body["error"] != "invalid_client_metadata" || ds.fetches("/good") != 0 {
		t.Errorf("loopback sector URI: %d %v, %d fetches", code, body, ds.fetches("/good"))
	}
}

// TestOIDCCRegistrationJWKSURI: a client registers with a jwks_uri and private_key_jwt,
// then authenticates at the token endpoint with an assertion verified against the keys
// fetched from there (golang.org/x/oauth2 as the client).
func TestOIDCCRegistrationJWKSURI(t *testing.T) {
	t.Parallel()
	tp, ds := newRPTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	k := generateKey(t, keys.RS256)
	uri := ds.publish("/jwks", jwksOf(k))
	body := tp.mustRegister(t, md{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"token_endpoint_auth_signing_alg": "RS256", "jwks_uri": uri})
	if _, ok := body["client_secret"]; ok {
		t.Errorf("a private_key_jwt client got a secret: %v", body)
	}
	id := body["client_id"].(string)
	cfg := tp.assertionConfig(id, signClaims(t, k, tp.assertionClaims(id, time.Now())))
	tok, err := cfg.Token(tp.httpCtx())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || ds.fetches("/jwks") != 1 {
		t.Fatalf("token %+v, %d fetches", tok, ds.fetches("/jwks"))
	}
}

// TestRegistrationManagement: RFC 7592 read, update and delete with the registration
// access token, which each read and update replaces; the registered client works at the
// token endpoint throughout.
func TestRegistrationManagement(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	reg := tp.mustRegister(t, md{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post", "client_name": "svc"})
	id, secret, token := reg["client_id"].(string), reg["client_secret"].(string), reg["registration_access_token"].(string)
	uri := reg["registration_client_uri"].(string)
	tokenWorks := func(secret string, style oauth2.AuthStyle) bool {
		cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tp.tokenURL(), AuthStyle: style}
		_, err := cfg.Token(tp.httpCtx())
		return err == nil
	}
	if !tokenWorks(secret, oauth2.AuthStyleInParams) {
		t.Fatal("registered client cannot get a token")
	}

	// Read: the metadata, no secret, and a new registration access token.
	code, _, got := tp.sendJSON(t, "GET", uri, token, nil)
	if code != 200 || got["client_id"] != id || got["client_name"] != "svc" || got["client_secret"] != nil || got["registration_client_uri"] != uri {
		t.Fatalf("read: %d %v", code, got)
	}
	old, token := token, got["registration_access_token"].(string)
	if token == "" || token == old {
		t.Fatalf("read did not issue a new registration access token: %v", got)
	}
	if code, _, _ := tp.sendJSON(t, "GET", uri, old, nil); code != 401 {
		t.Fatalf("replaced token still reads: %d", code)
	}

	// Update: the body replaces the metadata; client_id must match, a client_secret must
	// be the current one.
	update := md{"client_id": id, "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic", "client_name": "svc 2"}
	for name, body := range map[string]md{
		"no client_id":          withMD(update, md{"client_id": nil}),
		"other client_id":       withMD(update, md{"client_id": "other"}),
		"wrong client_secret":   withMD(update, md{"client_secret": secret + "x"}),
		"client chooses secret": withMD(update, md{"client_secret": "my own secret"}),
	} {
		if code, _, got := tp.sendJSON(t, "PUT", uri, token, body); code != 400 {
			t.Errorf("update with %s: %d %v", name, code, got)
		}
	}
	if code, _, got := tp.sendJSON(t, "PUT", uri, token, withMD(update, md{"grant_types": []string{"implicit"}})); code != 400 || got["error"] != "invalid_client_metadata" {
		t.Errorf("update with a bad grant type: %d %v", code, got)
	}
	code, _, got = tp.sendJSON(t, "PUT", uri, token, withMD(update, md{"client_secret": secret, "registration_access_token": "ignored"}))
	if code != 200 || got["client_name"] != "svc 2" || got["token_endpoint_auth_method"] != "client_secret_basic" || got["client_secret"] != nil {
		t.Fatalf("update: %d %v", code, got)
	}
	token = got["registration_access_token"].(string)
	if !tokenWorks(secret, oauth2.AuthStyleInHeader) || tokenWorks(secret, oauth2.AuthStyleInParams) {
		t.Fatal("after the update the secret must work with client_secret_basic only")
	}

	// Switching to private_key_jwt drops the secret; switching back issues a new one.
	k := generateKey(t, keys.ES256)
	code, _, got = tp.sendJSON(t, "PUT", uri, token, withMD(update, md{"token_endpoint_auth_method": "private_key_jwt", "jwks": jwksOf(k)}))
	if code != 200 || got["client_secret"] != nil || got["client_secret_expires_at"] != nil {
		t.Fatalf("update to private_key_jwt: %d %v", code, got)
	}
	token = got["registration_access_token"].(string)
	if c, _ := tp.st.GetClient(context.Background(), "demo", id); c.SecretHash != nil {
		t.Fatal("secret kept for a private_key_jwt client")
	}
	if code, body := tp.assert(t, signClaims(t, k, tp.assertionClaims(id, time.Now())), nil); code != 200 {
		t.Fatalf("assertion after the update: %d %v", code, body)
	}
	code, _, got = tp.sendJSON(t, "PUT", uri, token, update)
	newSecret, _ := got["client_secret"].(string)
	if code != 200 || len(newSecret) < 43 || newSecret == secret || got["client_secret_expires_at"] != float64(0) {
		t.Fatalf("update back to client_secret_basic: %d %v", code, got)
	}
	token = got["registration_access_token"].(string)
	if !tokenWorks(newSecret, oauth2.AuthStyleInHeader) || tokenWorks(secret, oauth2.AuthStyleInHeader) {
		t.Fatal("new secret refused or old secret accepted")
	}

	// Management goes on when registration is switched off.
	tp.setRegistrationPolicy(t, RegistrationOff)
	code, _, got = tp.sendJSON(t, "GET", uri, token, nil)
	if code != 200 {
		t.Fatalf("read with registration off: %d %v", code, got)
	}
	token = got["registration_access_token"].(string)

	// Delete: 204, then the client is gone everywhere.
	if code, _, _ := tp.sendJSON(t, "DELETE", uri, old, nil); code != 401 {
		t.Fatalf("delete with a replaced token: %d", code)
	}
	if code, h, _ := tp.sendJSON(t, "DELETE", uri, token, nil); code != 204 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ := tp.sendJSON(t, "GET", uri, token, nil); code != 401 {
		t.Fatalf("read after delete: %d", code)
	}
	if tokenWorks(newSecret, oauth2.AuthStyleInHeader) {
		t.Fatal("deleted client still gets tokens")
	}
}

func withMD(base, changes md) md { return withChanges(base, changes) }

// TestRegistrationManagementRefusals: every failed authentication at the client
// configuration endpoint is the same 401 invalid_token with a Bearer challenge, so it
// does not tell whether the client exists.
func TestRegistrationManagementRefusals(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	a := tp.mustRegister(t, md{"redirect_uris": []string{rpCallback}})
	b := tp.mustRegister(t, md{"redirect_uris": []string{rpCallback}})
	tp.addClient(t, store.Client{ID: "admin-made", RedirectURIs: []string{rpCallback}})
	base := tp.registrationURL() + "/"
	aURI, aToken, bToken := a["registration_client_uri"].(string), a["registration_access_token"].(string), b["registration_access_token"].(string)
	_, err := tp.st.UpdateClient(context.Background(), "demo", b["client_id"].(string), func(c store.Client) (store.Client, error) {
		c.Enabled = false
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, uri, token string }{
		{"no token", aURI, ""},
		{"wrong token", aURI, aToken + "x"},
		{"truncated token", aURI, aToken[:len(aToken)-1]},
		{"another client's token", aURI, bToken},
		{"unknown client", base + "nosuch", aToken},
		{"client not registered dynamically", base + "admin-made", aToken},
		{"disabled client", b["registration_client_uri"].(string), bToken},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			code, h, body := tp.sendJSON(t, method, c.uri, c.token, md{"client_id": "x"})
			if code != 401 || body["error"] != "invalid_token" || h.Get("WWW-Authenticate") != `Bearer error="invalid_token"` ||
				body["error_description"] != "the registration access token is not valid for this client" {
				t.Errorf("%s %s: %d %v", method, c.name, code, body)
			}
		}
	}
	// Nothing was changed by all that.
	if code, _, _ := tp.sendJSON(t, "GET", aURI, aToken, nil); code != 200 {
		t.Errorf("client a no longer readable: %d", code)
	}
}

// TestRegistrationTokenRotationIsAtomic: of concurrent reads with one registration
// access token exactly one gets the successor; the others are refused.
func TestRegistrationTokenRotationIsAtomic(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	tp.setRegistrationPolicy(t, RegistrationOpen)
	reg := tp.mustRegister(t, md{"redirect_uris": []string{rpCallback}})
	uri, token := reg["registration_client_uri"].(string), reg["registration_access_token"].(string)
	exactlyOneSucceeds(t, 20, func() int {
		code, _, _ := tp.sendJSON(t, "GET", uri, token, nil)
		return code
	})
}

// Client registration accepts the CIBA metadata (CIBA Core §4): a confidential client
// with the CIBA grant polls by default; user codes, a public CIBA client and backchannel
// metadata without the grant are refused; ping and push need an https endpoint.
func TestRegistrationCIBA(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	// Open registration gives no CIBA: a CIBA client may ask any user for an approval.
	tp.setRegistrationPolicy(t, RegistrationOpen)
	if code, body := tp.register(t, "", md{"grant_types": []string{GrantCIBA}}); code != 400 || body["error"] != "invalid_client_metadata" {
		t.Fatalf("CIBA under open registration: %d %v", code, body)
	}
	tp.setRegistrationPolicy(t, RegistrationToken)
	token, err := tp.GenerateInitialAccessToken(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	register := func(m md) map[string]any {
		t.Helper()
		code, body := tp.register(t, token, m)
		if code != 201 {
			t.Fatalf("registration: %d %v", code, body)
		}
		return body
	}
	body := register(md{"grant_types": []string{GrantCIBA}, "token_endpoint_auth_method": "client_secret_basic",
		"backchannel_token_delivery_mode": "poll"})
	if body["backchannel_token_delivery_mode"] != "poll" {
		t.Errorf("registered %v", body)
	}
	c, err := tp.st.GetClient(context.Background(), "demo", body["client_id"].(string))
	if err != nil || c.BackchannelTokenDeliveryMode != "poll" || !slices.Contains(c.GrantTypes, GrantCIBA) {
		t.Fatalf("stored %+v, %v", c, err)
	}
	if body := register(md{"grant_types": []string{GrantCIBA}, "token_endpoint_auth_method": "client_secret_post"}); body["backchannel_token_delivery_mode"] != "poll" {
		t.Errorf("the default mode: %v", body["backchannel_token_delivery_mode"])
	}
	for _, mode := range []string{"ping", "push"} {
		body := register(md{"grant_types": []string{GrantCIBA}, "backchannel_token_delivery_mode": mode,
			"backchannel_client_notification_endpoint": "https://rp.example/ciba"})
		if body["backchannel_token_delivery_mode"] != mode || body["backchannel_client_notification_endpoint"] != "https://rp.example/ciba" {
			t.Errorf("%s: registered %v", mode, body)
		}
	}
	for name, m := range map[string]md{
		"ping without endpoint": {"grant_types": []string{GrantCIBA}, "backchannel_token_delivery_mode": "ping"},
		"push over http":        {"grant_types": []string{GrantCIBA}, "backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "http://rp.example/cb"},
		"poll with endpoint":    {"grant_types": []string{GrantCIBA}, "backchannel_client_notification_endpoint": "https://rp.example/cb"},
		"user code":             {"grant_types": []string{GrantCIBA}, "backchannel_user_code_parameter": true},
		"public":                {"grant_types": []string{GrantCIBA}, "token_endpoint_auth_method": "none"},
		"without grant":         {"redirect_uris": []string{rpCallback}, "backchannel_token_delivery_mode": "poll"},
		"unknown mode":          {"grant_types": []string{GrantCIBA}, "backchannel_token_delivery_mode": "carrier-pigeon"},
	} {
		if code, body := tp.register(t, token, m); code != 400 || body["error"] != "invalid_client_metadata" {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
}
