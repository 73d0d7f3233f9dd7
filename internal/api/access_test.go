package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/callers"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// TestWhoMayCall: no credentials and a token that is not valid are 401 with a Bearer
// challenge; a token without the scope is 403; a client certificate registered for a
// client calls with that client's scopes; a valid certificate registered for none, or
// for a disabled client, is 403; a disabled client's token stops working at once.
func TestWhoMayCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	users := "/realms/acme/users"
	resp := e.call(t, 401, request{method: "GET", path: users, token: "-"})
	if h := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
		t.Errorf("WWW-Authenticate %q", h)
	}
	resp = e.call(t, 401, request{method: "GET", path: users, token: "not-a-token"})
	if h := resp.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q", h)
	}
	reader := e.tokenWith(t, "reader", ScopeUsersRead)
	e.call(t, 200, request{method: "GET", path: users, token: reader})
	resp = e.call(t, 403, request{method: "POST", path: users, token: reader, body: map[string]any{"username": "x"}})
	if h := resp.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, ScopeUsersWrite) {
		t.Errorf("WWW-Authenticate %q", h)
	}
	e.problem(t, 403, request{method: "GET", path: "/realms/acme/events", token: reader})

	// Certificates: one registered for a client with the users' scopes, one for none.
	cert, fp := certificate(t, "registered")
	stranger, _ := certificate(t, "stranger")
	if _, err := e.st.CreateClient(ctx, store.Client{Realm: realmName, ID: "mtls", Enabled: true, AuthMethod: "tls_client_auth",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{ScopeUsersRead, ScopeUsersWrite}, TLSClientCertificates: []string{fp}}); err != nil {
		t.Fatal(err)
	}
	withCert, withStranger := e.clientWith(t, &cert), e.clientWith(t, &stranger)
	e.call(t, 201, request{method: "POST", path: users, token: "-", client: withCert, body: map[string]any{"username": "made-by-cert"}})
	e.problem(t, 403, request{method: "GET", path: "/realms/acme/events", token: "-", client: withCert})
	e.problem(t, 403, request{method: "GET", path: users, token: "-", client: withStranger})
	// The certificate decides, not a token sent beside it.
	e.problem(t, 403, request{method: "GET", path: users, client: withStranger})
	if _, err := e.st.UpdateClient(ctx, realmName, "mtls", func(c store.Client) (store.Client, error) {
		c.Enabled = false
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.problem(t, 403, request{method: "GET", path: users, token: "-", client: withCert})
	if _, err := e.st.UpdateClient(ctx, realmName, "reader", func(c store.Client) (store.Client, error) {
		c.Enabled = false
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.problem(t, 401, request{method: "GET", path: users, token: reader})
}

// TestCertificateMapping: at package level, an Identifier over a TLS server that asks
// for client certificates maps a registered one to its client and scopes and refuses an
// unregistered one, whatever token comes with it.
func TestCertificateMapping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert, fp := certificate(t, "mapped")
	other, _ := certificate(t, "unmapped")
	if _, err := e.st.CreateClient(context.Background(), store.Client{Realm: realmName, ID: "mapped", Enabled: true, AuthMethod: "tls_client_auth",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{ScopeEventsRead}, TLSClientCertificates: []string{fp}}); err != nil {
		t.Fatal(err)
	}
	ids := callers.New(e.st, func(context.Context, string, string) (callers.Caller, error) {
		return callers.Caller{ClientID: "token-client", Scopes: []string{ScopeUsersRead}}, nil
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ids.Authorize(r.Context(), realmName, r.TLS, r.Header, ScopeEventsRead)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(c.ClientID + " " + strconv.FormatBool(c.Certificate)))
	}))
	srv.TLS = &tlsRequestClientCert
	srv.StartTLS()
	t.Cleanup(srv.Close)
	get := func(client *http.Client) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Authorization", "Bearer anything")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, strings.TrimSpace(b.String())
	}
	client := func(c *tlsCertificate) *http.Client {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		if c != nil {
			tr.TLSClientConfig.Certificates = []tlsCertificate{*c}
		}
		return &http.Client{Transport: tr}
	}
	if status, body := get(client(&cert)); status != 200 || body != "mapped true" {
		t.Errorf("a registered certificate: %d %q", status, body)
	}
	if status, body := get(client(&other)); status != 403 || !strings.Contains(body, "not registered") {
		t.Errorf("an unregistered certificate: %d %q", status, body)
	}
	// No certificate: the token decides; it lacks the scope.
	if status, body := get(client(nil)); status != 403 || !strings.Contains(body, "lacks the scope") {
		t.Errorf("a token without the scope: %d %q", status, body)
	}
}

// TestRateLimit: a client over its limit gets 429 with Retry-After; another client is
// not held back.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, WithRateLimit(3, time.Hour))
	for range 3 {
		e.call(t, 200, request{method: "GET", path: "/realms/acme/users"})
	}
	resp := e.call(t, 429, request{method: "GET", path: "/realms/acme/users"})
	secs, err := strconv.Atoi(resp.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 3600 {
		t.Errorf("Retry-After %q", resp.header.Get("Retry-After"))
	}
	other := e.tokenWith(t, "other", ScopeUsersRead)
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users", token: other})
}

// TestIdempotency: a POST repeated with its Idempotency-Key makes one user and answers
// the same; the key with another body is 422; while the first call runs, a repeat is
// 409; a refused call keeps nothing, so its key may be used again.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := map[string]string{"Idempotency-Key": "create-alice"}
	first := e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "alice"}, header: key})
	again := e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "alice"}, header: key})
	if !bytes.Equal(first.body, again.body) || again.header.Get("Location") != first.header.Get("Location") ||
		again.header.Get("ETag") != first.header.Get("ETag") || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay %s %v\nfirst %s %v", again.body, again.header, first.body, first.header)
	}
	var page rest.Page[rest.User]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users"}).json(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("%d users after two calls with one key", len(page.Items))
	}
	e.problem(t, 422, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "bob"}, header: key})
	// Another client's key is its own.
	other := e.tokenWith(t, "other", ScopeUsersWrite)
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "bob"}, header: key, token: other})

	// A refused call keeps nothing.
	retry := map[string]string{"Idempotency-Key": "retry"}
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "alice"}, header: retry})
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "carol"}, header: retry})

	// A call still running: the same key is 409 until it is done, then replayed.
	started, release := make(chan struct{}), make(chan struct{})
	body := `{"username":"dora"}`
	req := httptest.NewRequestWithContext(context.WithValue(context.Background(), callerKey{},
		callers.Caller{Realm: realmName, ClientID: backendClient}), "POST", BasePath+"/realms/acme/users", strings.NewReader(body))
	req.Header.Set("Idempotency-Key", "slow")
	req.SetPathValue("realm", realmName)
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		_ = e.api.idempotent(rec, req, func(w http.ResponseWriter, r *http.Request) error {
			close(started)
			<-release
			return e.api.users.Create(w, r)
		})
		done <- rec
	}()
	<-started
	slow := map[string]string{"Idempotency-Key": "slow"}
	resp := e.call(t, 409, request{method: "POST", path: "/realms/acme/users", body: body, header: slow})
	if resp.header.Get("Retry-After") == "" {
		t.Error("409 without Retry-After")
	}
	close(release)
	rec := <-done
	if rec.Code != http.StatusCreated {
		t.Fatalf("the slow call answered %d %s", rec.Code, rec.Body)
	}
	replay := e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: body, header: slow})
	if !bytes.Equal(replay.body, rec.Body.Bytes()) {
		t.Errorf("replay %s, first answer %s", replay.body, rec.Body)
	}
}
