package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/store/sqlite"
	"github.com/signet-auth/signet/internal/testutil"
)

// env is the admin API on one HTTPS server and the OpenID provider (the PUBLIC side,
// which issues the master realm's tokens) on another, over one real SQLite store,
// real keys and the invalidating cache, as the server wires them.
type env struct {
	api      *API
	provider *oidc.Provider
	ring     *keys.Keyring
	st       store.Store
	public   *httptest.Server
	admin    *httptest.Server
	// logs is everything the admin API logged, at every level.
	logs *testutil.SyncBuffer
	// token is a master-realm access token with the signet.admin scope.
	token string
}

// envOption adds an API option made from the environment's store and keyring.
type envOption func(st store.Store, ring *keys.Keyring) Option

// Clients of the master realm that tests get tokens for.
const (
	adminClient   = "admin-svc"
	noScopeClient = "no-scope-svc"
)

// testPepper keys activation codes in the tests.
var testPepper = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	raw, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if _, err := raw.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	km, err := keys.NewManager(raw, ring, keys.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	eph := memory.New()
	t.Cleanup(func() { eph.Close() })
	cache, err := cached.New(raw, eph)
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Stop)
	var st store.Store = cache

	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	publicMux, adminMux := http.NewServeMux(), http.NewServeMux()
	public, admin := httptest.NewUnstartedServer(publicMux), httptest.NewUnstartedServer(adminMux)
	public.StartTLS()
	admin.StartTLS()
	t.Cleanup(public.Close)
	t.Cleanup(admin.Close)
	provider := oidc.New(public.URL, "", st, eph, km, ring, log)
	provider.Routes(publicMux)
	// Cheap Argon2id parameters: the tests check the wiring, not the cost.
	pw, err := password.New(password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	apiOpts := []Option{WithKeyring(ring), WithDevices(Devices{
		PublicURL: "https://device.example.com:8888", Pepper: testPepper,
		Fingerprint: func() ([32]byte, error) { return [32]byte{1, 2, 3}, nil },
	})}
	for _, o := range opts {
		apiOpts = append(apiOpts, o(st, ring))
	}
	api, err := New(admin.URL, "", st, provider, km, pw, log, apiOpts...)
	if err != nil {
		t.Fatal(err)
	}
	api.Routes(adminMux)

	e := &env{api: api, provider: provider, ring: ring, st: st, public: public, admin: admin, logs: logs}
	if _, err := st.CreateRealm(ctx, store.Realm{Name: MasterRealm, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	secret := e.addMasterClient(t, adminClient, Scope, "profile")
	e.token = e.clientToken(t, MasterRealm, adminClient, secret, Scope)
	return e
}

// addMasterClient registers a confidential client_credentials client in the master
// realm that may ask for scopes, and returns its secret.
func (e *env) addMasterClient(t *testing.T, id string, scopes ...string) string {
	t.Helper()
	return e.addClient(t, MasterRealm, id, scopes...)
}

func (e *env) addClient(t *testing.T, realm, id string, scopes ...string) string {
	t.Helper()
	ctx := context.Background()
	hasher, err := e.provider.SecretHasher(ctx, realm)
	if err != nil {
		t.Fatal(err)
	}
	secret := oidc.NewSecret()
	_, err = e.st.CreateClient(ctx, store.Client{
		Realm: realm, ID: id, Enabled: true, AuthMethod: oidc.AuthClientSecretBasic, SecretHash: hasher.Hash(secret),
		GrantTypes: []string{"client_credentials"}, Scopes: scopes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// clientToken gets an access token with client credentials from the PUBLIC side.
func (e *env) clientToken(t *testing.T, realm, id, secret string, scopes ...string) string {
	t.Helper()
	tok, err := e.tokenErr(realm, id, secret, scopes...)
	if err != nil {
		t.Fatalf("client credentials for %s/%s: %v", realm, id, err)
	}
	return tok
}

func (e *env) tokenErr(realm, id, secret string, scopes ...string) (string, error) {
	cc := clientcredentials.Config{
		ClientID: id, ClientSecret: secret, Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader,
		TokenURL: e.public.URL + "/realms/" + realm + "/protocol/openid-connect/token",
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.public.Client())
	tok, err := cc.Token(ctx)
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// response is an answer of the admin API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test if it is not JSON.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	testutil.DecodeJSON(t, r.status, r.body, v)
}

// object decodes the body as a JSON object.
func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// request is one call: a body of any JSON value, or raw bytes as they are.
type request struct {
	method, path string
	body         any
	token        string
	header       map[string]string
}

// do sends a request to the admin API with the admin token unless r.token is set
// ("-" sends none).
func (e *env) do(t *testing.T, r request) response {
	t.Helper()
	body := testutil.JSONBody(t, r.body)
	req, err := http.NewRequest(r.method, e.admin.URL+BasePath+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch tok := r.token; tok {
	case "":
		req.Header.Set("Authorization", "Bearer "+e.token)
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	status, header, data := testutil.Exchange(t, e.admin.Client(), req)
	return response{status: status, header: header, body: data}
}

// call sends r and fails the test unless the status is want; it returns the answer.
func (e *env) call(t *testing.T, want int, r request) response {
	t.Helper()
	resp := e.do(t, r)
	testutil.WantStatus(t, r.method+" "+r.path, resp.status, want, resp.body)
	return resp
}

// problem sends r and checks that the answer is an RFC 9457 problem with status want.
func (e *env) problem(t *testing.T, want int, r request) map[string]any {
	t.Helper()
	resp := e.call(t, want, r)
	if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s: Content-Type %q, want application/problem+json", r.method, r.path, ct)
	}
	p := resp.object(t)
	if p["status"] != float64(want) || p["title"] != http.StatusText(want) || p["detail"] == "" || p["type"] != "about:blank" {
		t.Fatalf("%s %s: problem %v", r.method, r.path, p)
	}
	return p
}
