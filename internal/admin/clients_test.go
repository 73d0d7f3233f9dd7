package admin

import (
	"context"
	"encoding/base64"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/rest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// TestClients: a confidential client's secret is returned once and works at the token
// endpoint; regeneration replaces it; public clients have none; registration rules for
// redirect URIs and grants hold.
func TestClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	ctx := context.Background()

	resp := e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "billing", "name": "Billing", "grant_types": []string{"client_credentials"},
		"scopes": []string{"invoices.read"}, "access_token_ttl": 120,
	}})
	var created ClientWithSecret
	resp.json(t, &created)
	if created.ClientSecret == "" || !created.HasSecret || created.Public || created.TokenEndpointAuthMethod != "client_secret_basic" ||
		created.AccessTokenTTL != 120 || !created.Enabled || len(created.ResponseTypes) != 0 {
		t.Fatalf("created %+v", created)
	}
	if resp.header.Get("ETag") != `"1"` || resp.header.Get("Location") != "/admin/api/realms/acme/clients/billing" {
		t.Fatalf("headers %v", resp.header)
	}
	// The secret works at the token endpoint: it was hashed under the realm's pepper.
	e.clientToken(t, "acme", "billing", created.ClientSecret, "invoices.read")

	got := e.call(t, 200, request{method: "GET", path: "/realms/acme/clients/billing"})
	if strings.Contains(string(got.body), created.ClientSecret) || strings.Contains(string(got.body), "client_secret\"") {
		t.Fatalf("GET shows the secret: %s", got.body)
	}
	noSecrets(t, e, got, "acme", "billing")

	var rotated ClientWithSecret
	e.call(t, 200, request{method: "POST", path: "/realms/acme/clients/billing/secret"}).json(t, &rotated)
	if rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
		t.Fatalf("rotated %+v", rotated)
	}
	if _, err := e.tokenErr("acme", "billing", created.ClientSecret); err == nil {
		t.Fatal("the old secret still works")
	}
	e.clientToken(t, "acme", "billing", rotated.ClientSecret)

	// A public native app with a loopback redirect: no secret, PKCE.
	var cli ClientWithSecret
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "cli", "public": true, "redirect_uris": []string{"http://127.0.0.1/callback", "com.example.app:/cb"},
		"scopes": []string{"openid", "offline_access"},
	}}).json(t, &cli)
	if cli.ClientSecret != "" || cli.HasSecret || cli.TokenEndpointAuthMethod != "none" ||
		strings.Join(cli.GrantTypes, " ") != "authorization_code refresh_token" || strings.Join(cli.ResponseTypes, " ") != "code" {
		t.Fatalf("public client %+v", cli)
	}
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/clients/cli/secret"})

	for name, body := range map[string]map[string]any{
		"javascript redirect":    {"redirect_uris": []string{"JavaScript:alert(1)"}},
		"plain http redirect":    {"redirect_uris": []string{"http://app.example.com/cb"}},
		"fragment":               {"redirect_uris": []string{"https://app.example.com/cb#x"}},
		"userinfo":               {"redirect_uris": []string{"https://user@app.example.com/cb"}},
		"code without redirect":  {"grant_types": []string{"authorization_code"}},
		"unknown grant":          {"grant_types": []string{"password"}},
		"implicit":               {"redirect_uris": []string{"https://a.example/cb"}, "response_types": []string{"token"}},
		"public machine":         {"public": true, "grant_types": []string{"client_credentials"}},
		"public with a secret":   {"public": true, "token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"client_credentials"}},
		"unknown auth method":    {"token_endpoint_auth_method": "tls_client_auth", "grant_types": []string{"client_credentials"}},
		"private_key_jwt no key": {"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}},
		"bad scope":              {"grant_types": []string{"client_credentials"}, "scopes": []string{`a"b`}},
		"negative ttl":           {"grant_types": []string{"client_credentials"}, "access_token_ttl": -1},
		"private jwk":            {"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks": map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"}}}},
		"http jwks_uri":          {"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks_uri": "http://keys.example/jwks"},
		"bad alg":                {"grant_types": []string{"client_credentials"}, "id_token_signed_response_alg": "none"},
		"bad subject type":       {"grant_types": []string{"client_credentials"}, "subject_type": "secret"},
		"bad logo":               {"grant_types": []string{"client_credentials"}, "logo_uri": "data:image/png;base64,AAAA"},
	} {
		body["client_id"] = "bad-" + strings.ReplaceAll(name, " ", "-")
		p := e.problem(t, 400, request{method: "POST", path: "/realms/acme/clients", body: body})
		if _, err := e.st.GetClient(ctx, "acme", body["client_id"].(string)); err == nil {
			t.Errorf("%s: stored although refused (%v)", name, p)
		}
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{"client_id": "", "grant_types": []string{"client_credentials"}}})
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{"client_id": "billing", "grant_types": []string{"client_credentials"}}})
	e.problem(t, 404, request{method: "POST", path: "/realms/nope/clients", body: map[string]any{"client_id": "x", "grant_types": []string{"client_credentials"}}})

	// private_key_jwt with a public key set is accepted and shown.
	var signed Client
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "signed", "token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"},
		"jwks": map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}},
	}}).json(t, &signed)
	if signed.HasSecret || len(signed.JWKS) == 0 {
		t.Fatalf("private_key_jwt client %+v", signed)
	}

	// Listing pages through client ids in order.
	var p rest.Page[Client]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/clients?limit=2"}).json(t, &p)
	if len(p.Items) != 2 || p.Items[0].ClientID != "billing" || p.Items[1].ClientID != "cli" || p.Next == "" {
		t.Fatalf("page %+v", p)
	}

	// Turning a confidential client public drops its secret; back again issues a new one.
	var public ClientWithSecret
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{
		"public": true, "grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://billing.example/cb"},
	}}).json(t, &public)
	if public.HasSecret || public.ClientSecret != "" || public.TokenEndpointAuthMethod != "none" {
		t.Fatalf("made public %+v", public)
	}
	var again ClientWithSecret
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{
		"token_endpoint_auth_method": "client_secret_post", "grant_types": []string{"client_credentials"},
	}}).json(t, &again)
	if again.Public || !again.HasSecret || again.ClientSecret == "" {
		t.Fatalf("made confidential %+v", again)
	}
	e.problem(t, 400, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{"redirect_uris": []string{"http://evil.example/cb"}, "grant_types": []string{"authorization_code"}}})
	e.problem(t, 412, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{"enabled": false}, header: map[string]string{"If-Match": `"1"`}})
	var disabled Client
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{"enabled": false}}).json(t, &disabled)
	if disabled.Enabled {
		t.Fatal("not disabled")
	}
	if _, err := e.tokenErr("acme", "billing", again.ClientSecret); err == nil {
		t.Fatal("a disabled client got a token")
	}

	// A client_id with a slash is addressed percent-encoded.
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{"client_id": "team/app", "grant_types": []string{"client_credentials"}}})
	e.call(t, 200, request{method: "GET", path: "/realms/acme/clients/" + url.PathEscape("team/app")})

	e.call(t, 204, request{method: "DELETE", path: "/realms/acme/clients/billing"})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/clients/billing"})
	e.problem(t, 404, request{method: "DELETE", path: "/realms/acme/clients/billing"})
	e.problem(t, 404, request{method: "POST", path: "/realms/acme/clients/billing/secret"})
}

// noSecrets fails the test if an answer holds the stored secret hash of a client in any
// encoding JSON would give it.
func noSecrets(t *testing.T, e *env, resp response, realm, id string) {
	t.Helper()
	c, err := e.st.GetClient(context.Background(), realm, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{c.SecretHash, c.RegistrationTokenHash} {
		if len(b) == 0 {
			continue
		}
		for _, enc := range []string{base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
			if strings.Contains(string(resp.body), enc) {
				t.Fatalf("answer holds a stored hash of client %s: %s", id, resp.body)
			}
		}
	}
}

// TestNoSecretsInAnyListing: every listing after a busy setup is free of password
// hashes, sealed TOTP secrets, client secret hashes, peppers and sealed keys.
func TestNoSecretsInAnyListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	ctx := context.Background()
	u := e.newUser(t, "acme", map[string]any{"username": "gina", "password": "gina's long password"})
	if _, err := e.st.UpdateUser(ctx, "acme", u.ID, func(u store.User) (store.User, error) {
		u.TOTPSecret = []byte("sealed-totp-secret-bytes")
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}}})
	e.call(t, 200, request{method: "POST", path: "/realms/acme/keys/rotate"})

	var secrets []string
	stored, _ := e.st.GetUser(ctx, "acme", u.ID)
	secrets = append(secrets, stored.PasswordHash, base64.StdEncoding.EncodeToString(stored.TOTPSecret), "sealed-totp")
	for _, realm := range []string{"acme", MasterRealm} {
		r, _ := e.st.GetRealm(ctx, realm)
		for _, v := range r.Attributes {
			secrets = append(secrets, v)
		}
		ks, _ := e.st.ListSigningKeys(ctx, realm)
		for _, k := range ks {
			secrets = append(secrets, base64.StdEncoding.EncodeToString(k.Sealed)[:40])
		}
	}
	for _, path := range []string{"/realms", "/realms/acme", "/realms/master", "/realms/acme/users", "/realms/acme/users/" + u.ID,
		"/realms/acme/clients", "/realms/acme/clients/svc", "/realms/acme/keys", "/realms/master/clients"} {
		resp := e.call(t, 200, request{method: "GET", path: path})
		for _, s := range secrets {
			if s != "" && strings.Contains(string(resp.body), s) {
				t.Errorf("GET %s shows a secret (%.12s…)", path, s)
			}
		}
		noSecrets(t, e, resp, "acme", "svc")
		noSecrets(t, e, resp, MasterRealm, adminClient)
	}
}

// TestClientPhoneSettings: a client's CIBA delivery and its phone-request settings (life,
// factor lists) are set, shown, changed and cleared through the API, kept where the
// login pages and authn read them, and refused out of range.
func TestClientPhoneSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	var c Client
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "bank", "grant_types": []string{"urn:openid:params:grant-type:ciba"}, "scopes": []string{"openid"},
		"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "https://bank.example/ciba",
		"request_ttl": 30, "login_first_factors": []string{"phone"}, "login_second_factors": []string{"phone", "totp"},
	}}).json(t, &c)
	if c.BackchannelTokenDeliveryMode != "ping" || c.BackchannelClientNotificationEndpoint != "https://bank.example/ciba" || c.RequestTTL != 30 ||
		!slices.Equal(c.LoginFirstFactors, []string{"phone"}) || !slices.Equal(c.LoginSecondFactors, []string{"phone", "totp"}) {
		t.Fatalf("created %+v", c)
	}
	stored, err := e.st.GetClient(context.Background(), "acme", "bank")
	if err != nil {
		t.Fatal(err)
	}
	if authn.ClientTTL(stored.Attributes) != 30*time.Second || stored.Attributes[login.AttrFirstFactors] != "phone" || len(c.Attributes) != 0 {
		t.Fatalf("stored %+v; shown attributes %v", stored.Attributes, c.Attributes)
	}
	c = Client{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/bank", body: map[string]any{
		"request_ttl": 0, "login_first_factors": []string{}, "backchannel_token_delivery_mode": "poll", "backchannel_client_notification_endpoint": "",
	}}).json(t, &c)
	if c.RequestTTL != 0 || c.LoginFirstFactors != nil || c.BackchannelTokenDeliveryMode != "poll" || !slices.Equal(c.LoginSecondFactors, []string{"phone", "totp"}) {
		t.Fatalf("after clearing %+v", c)
	}
	for name, body := range map[string]map[string]any{
		"ttl too short":     {"request_ttl": 5},
		"ttl too long":      {"request_ttl": 601},
		"unknown factor":    {"login_first_factors": []string{"sms"}},
		"totp first":        {"login_first_factors": []string{"totp"}},
		"ping without url":  {"backchannel_token_delivery_mode": "ping"},
		"push over http":    {"backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "http://bank.example/ciba"},
		"unknown mode":      {"backchannel_token_delivery_mode": "fax"},
		"endpoint for poll": {"backchannel_client_notification_endpoint": "https://bank.example/ciba"},
	} {
		t.Run(name, func(t *testing.T) {
			e.problem(t, 400, request{method: "PATCH", path: "/realms/acme/clients/bank", body: body})
		})
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "web", "redirect_uris": []string{"https://web.example/cb"}, "backchannel_token_delivery_mode": "push",
		"backchannel_client_notification_endpoint": "https://web.example/ciba",
	}})
}
