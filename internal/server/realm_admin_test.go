package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
)

// adminCall sends one admin API request with token and a JSON body (nil: none) and
// returns the status and the decoded answer (nil when there is none).
func adminCall(t *testing.T, c *http.Client, method, u, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, u, err, raw)
		}
	}
	return resp.StatusCode, out
}

// mustAdmin is adminCall that fails the test unless the status is want.
func mustAdmin(t *testing.T, c *http.Client, want int, method, u, token string, body any) map[string]any {
	t.Helper()
	code, out := adminCall(t, c, method, u, token, body)
	if code != want {
		t.Fatalf("%s %s: %d, want %d: %v", method, u, code, want, out)
	}
	return out
}

// devAdmin starts a dev server and returns it, its test PKI, a client that trusts it, a
// platform administrator's token (the bootstrap client's) and the admin API's URL.
func devAdmin(t *testing.T) (*Server, *testPKI, *http.Client, string, string) {
	t.Helper()
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	s := startServer(t, cfg)
	httpc := client(pool(p.serverCA), 0, nil)
	platform, err := bootstrapToken(readBootstrap(t, cfg), httpc)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, httpc, platform, s.URL(config.Admin) + "/admin/api"
}

// consoleToken signs username in to realm through the admin console's built-in client
// with the login pages, the way the console does (authorization code with PKCE), and
// returns the access token.
func consoleToken(t *testing.T, s *Server, httpc *http.Client, realm, username, password string) string {
	t.Helper()
	adminURL, _ := url.Parse(s.URL(config.Admin))
	issuer := s.URL(config.Public) + "/realms/" + realm
	conf := oauth2.Config{
		ClientID:    admin.ConsoleClientID,
		RedirectURL: s.URL(config.Admin) + "/admin/" + realm + "/console/callback",
		Scopes:      []string{"openid", admin.Scope},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/protocol/openid-connect/auth",
			TokenURL: issuer + "/protocol/openid-connect/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	publicURL, _ := url.Parse(s.URL(config.Public))
	b := testutil.NewBrowser(t, httpc.Transport, publicURL.Host)
	p := b.Login(b.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))), username, password)
	loc, err := url.Parse(p.Header.Get("Location"))
	if err != nil || loc.Host != adminURL.Host || loc.Query().Get("code") == "" {
		t.Fatalf("sign-in of %s in %s ended at %d %q:\n%s", username, realm, p.Status, p.Header.Get("Location"), p.Body)
	}
	tok, err := conf.Exchange(context.WithValue(context.Background(), oauth2.HTTPClient, httpc), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestRealmAdminRoleSeparation: a realm administrator manages its own realm through the
// admin API and nothing else. For every operation of the admin API (read from its
// OpenAPI document, which TestOpenAPIDocument holds equal to the mounted routes) aimed
// at another realm, the answer is 403 and nothing changes; creating and deleting realms
// is for platform administrators only; a user who is not (or no longer) named an
// administrator of the realm is refused, and so is a client's own token of the realm.
func TestRealmAdminRoleSeparation(t *testing.T) {
	t.Parallel()
	s, _, httpc, platform, api := devAdmin(t)

	// Two realms, each with an administrator and a user; realms created through the API
	// get the console's built-in client at once.
	ids := map[string]string{}
	for _, realm := range []string{"alpha", "beta"} {
		mustAdmin(t, httpc, 201, "POST", api+"/realms", platform, map[string]any{"name": realm})
		for _, u := range []string{"boss", "worker"} {
			out := mustAdmin(t, httpc, 201, "POST", api+"/realms/"+realm+"/users", platform,
				map[string]any{"username": u, "password": "correct horse " + realm + " " + u})
			ids[realm+"/"+u] = out["id"].(string)
		}
		mustAdmin(t, httpc, 204, "PUT", api+"/realms/"+realm+"/admins/"+ids[realm+"/boss"], platform, nil)
		// Adding twice changes nothing.
		mustAdmin(t, httpc, 204, "PUT", api+"/realms/"+realm+"/admins/"+ids[realm+"/boss"], platform, nil)
	}
	list := mustAdmin(t, httpc, 200, "GET", api+"/realms/alpha/admins", platform, nil)
	if got := itemNames(list, "username"); !slices.Equal(got, []string{"boss"}) {
		t.Fatalf("alpha's administrators: %v", got)
	}
	mustAdmin(t, httpc, 409, "PUT", api+"/realms/master/admins/"+ids["alpha/boss"], platform, nil)
	mustAdmin(t, httpc, 404, "PUT", api+"/realms/alpha/admins/"+ids["beta/boss"], platform, nil)

	betaBoss := consoleToken(t, s, httpc, "beta", "boss", "correct horse beta boss")
	betaWorker := consoleToken(t, s, httpc, "beta", "worker", "correct horse beta worker")

	// In its own realm the administrator works; the realm listing shows only its realm.
	mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/users", betaBoss, nil)
	mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/users", betaBoss, map[string]any{"username": "hired"})
	if got := itemNames(mustAdmin(t, httpc, 200, "GET", api+"/realms", betaBoss, nil), "name"); !slices.Equal(got, []string{"beta"}) {
		t.Fatalf("a realm administrator lists realms %v", got)
	}
	mustAdmin(t, httpc, 403, "POST", api+"/realms", betaBoss, map[string]any{"name": "gamma"})
	mustAdmin(t, httpc, 403, "DELETE", api+"/realms/beta", betaBoss, nil)
	mustAdmin(t, httpc, 403, "GET", api+"/realms/beta/users", betaWorker, nil)
	mustAdmin(t, httpc, 409, "DELETE", api+"/realms/beta/clients/"+admin.ConsoleClientID, betaBoss, nil)

	// Every operation on the other realm is refused, before its body is even read.
	code, doc := adminCall(t, httpc, "GET", api+"/openapi.json", "", nil)
	if code != 200 {
		t.Fatalf("OpenAPI document: %d", code)
	}
	values := map[string]string{
		"realm": "alpha", "user": ids["alpha/worker"], "client": admin.ConsoleClientID, "session": "s1",
		"device": "d1", "activation": "a1", "receipt": "r1", "provider": "fcm", "webhook": "w1", "delivery": "1",
	}
	param := regexp.MustCompile(`\{([a-z]+)\}`)
	paths := doc["paths"].(map[string]any)
	tried := 0
	for path, item := range paths {
		for method := range item.(map[string]any) {
			m := strings.ToUpper(method)
			if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, m) {
				continue
			}
			if !strings.Contains(path, "{realm}") && path != "/realms" {
				continue // the document itself
			}
			u := api + param.ReplaceAllStringFunc(path, func(p string) string { return values[strings.Trim(p, "{}")] })
			var body any
			if m != "GET" && m != "DELETE" {
				body = map[string]any{}
			}
			code, out := adminCall(t, httpc, m, u, betaBoss, body)
			want := 403
			if path == "/realms" && m == "GET" {
				want = 200 // its own realm only, as checked above
			}
			if code != want {
				t.Errorf("%s %s as beta's administrator: %d, want %d: %v", m, path, code, want, out)
			}
			tried++
		}
	}
	if tried < 50 {
		t.Fatalf("only %d operations tried", tried)
	}
	// Nothing of alpha changed.
	mustAdmin(t, httpc, 200, "GET", api+"/realms/alpha/users/"+ids["alpha/worker"], platform, nil)
	mustAdmin(t, httpc, 200, "GET", api+"/realms/alpha", platform, nil)
	if got := itemNames(mustAdmin(t, httpc, 200, "GET", api+"/realms/alpha/admins", platform, nil), "username"); !slices.Equal(got, []string{"boss"}) {
		t.Fatalf("alpha's administrators after the attempts: %v", got)
	}

	// A client's own token of the realm, even with the admin scope, is no administrator.
	created := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/clients", betaBoss, map[string]any{
		"client_id": "svc", "grant_types": []string{"client_credentials"}, "scopes": []string{admin.Scope},
	})
	svcTok, err := bootstrapToken(AdminBootstrap{ClientID: "svc", ClientSecret: created["client_secret"].(string),
		TokenURL: s.URL(config.Public) + "/realms/beta/protocol/openid-connect/token"}, httpc)
	if err != nil {
		t.Fatal(err)
	}
	mustAdmin(t, httpc, 403, "GET", api+"/realms/beta/users", svcTok, nil)

	// Named no more, the administrator is refused at once, with the same token.
	mustAdmin(t, httpc, 204, "DELETE", api+"/realms/beta/admins/"+ids["beta/boss"], platform, nil)
	mustAdmin(t, httpc, 403, "GET", api+"/realms/beta/users", betaBoss, nil)
}
