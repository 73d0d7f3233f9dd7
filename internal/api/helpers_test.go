package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/callers"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/receipt"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/sigma"
)

// env is the API on one HTTPS server (asking for, not requiring, client certificates)
// and the OpenID provider that issues the realm's tokens on another, over a real SQLite
// store, real keys, an in-process ephemeral store and a real authn service.
type env struct {
	api      *API
	provider *oidc.Provider
	ring     *keys.Keyring
	keys     *keys.Manager
	st       store.Store
	eph      ephemeral.Store
	requests *authn.Service
	public   *httptest.Server
	srv      *httptest.Server
	// client validates every exchange against the OpenAPI document.
	client *http.Client
	doc    *openapi3.T
	router routers.Router
	events *eventRecorder
	// token is an access token of backendClient with every scope.
	token string
}

// Names the tests use.
const (
	realmName     = "acme"
	backendClient = "backend"
)

// testPepper keys activation codes in the tests.
var testPepper = []byte("0123456789abcdef0123456789abcdef")

// eventRecorder keeps the authn events, as the outbox would get them.
type eventRecorder struct {
	mu     sync.Mutex
	events []authn.Event
}

func (r *eventRecorder) list() []authn.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]authn.Event(nil), r.events...)
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	ctx := context.Background()
	st := testdb.Open(t, "sqlite")
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	km, err := keys.NewManager(st, ring, keys.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	eph := memory.New()
	t.Cleanup(func() { eph.Close() })
	rec := &eventRecorder{}
	requests, err := authn.New(ctx, authn.Config{Store: eph, Events: authn.SinkFunc(func(ctx context.Context, e authn.Event) error {
		rec.mu.Lock()
		rec.events = append(rec.events, e)
		rec.mu.Unlock()
		_, err := st.AppendEvents(ctx, []store.Event{e.Record()})
		return err
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { requests.Close() })

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	publicMux, apiMux := http.NewServeMux(), http.NewServeMux()
	public, srv := httptest.NewUnstartedServer(publicMux), httptest.NewUnstartedServer(apiMux)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	public.StartTLS()
	srv.StartTLS()
	t.Cleanup(public.Close)
	t.Cleanup(srv.Close)
	provider := oidc.New(public.URL, "", st, eph, km, ring, log)
	provider.Routes(publicMux)
	issuer := func(realm string) string { return public.URL + "/realms/" + realm }
	a, err := New(Config{
		PublicURL: srv.URL, Store: st, Ephemeral: eph, Requests: requests, Keyring: ring, Issuer: issuer, Log: log,
		Receipts: receipt.Issuer{Store: st, Keys: km, IssuerURL: issuer},
		Verify:   verifier(provider, st),
		Enrollment: &rest.Enrollment{PublicURL: "https://device.example.com:8888", Pepper: testPepper,
			Fingerprint: func() ([32]byte, error) { return [32]byte{1, 2, 3}, nil }},
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	a.Routes(apiMux)

	e := &env{api: a, provider: provider, ring: ring, keys: km, st: st, eph: eph, requests: requests, public: public, srv: srv, events: rec}
	e.loadDocument(t)
	e.client = e.clientWith(t, nil)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: realmName, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	all := make([]string, 0, len(Scopes))
	for s := range Scopes {
		all = append(all, s)
	}
	secret := e.addClient(t, backendClient, all...)
	e.token = e.clientToken(t, backendClient, secret, all...)
	return e
}

// verifier checks tokens as the server does: the provider verifies, and the client
// must still exist and be enabled.
func verifier(provider *oidc.Provider, st store.Store) callers.Verify {
	return func(ctx context.Context, realm, token string) (callers.Caller, error) {
		b, err := provider.VerifyBearer(ctx, realm, token)
		if errors.Is(err, oidc.ErrInvalidBearer) {
			return callers.Caller{}, callers.ErrInvalidToken
		}
		if err != nil {
			return callers.Caller{}, err
		}
		c, err := st.GetClient(ctx, realm, b.ClientID)
		if errors.Is(err, store.ErrNotFound) || err == nil && !c.Enabled {
			return callers.Caller{}, callers.ErrInvalidToken
		}
		if err != nil {
			return callers.Caller{}, err
		}
		return callers.Caller{Realm: realm, ClientID: b.ClientID, Scopes: b.Scopes}, nil
	}
}

// addClient registers a confidential client_credentials client of the realm that may
// ask for scopes, and returns its secret.
func (e *env) addClient(t *testing.T, id string, scopes ...string) string {
	t.Helper()
	ctx := context.Background()
	hasher, err := e.provider.SecretHasher(ctx, realmName)
	if err != nil {
		t.Fatal(err)
	}
	secret := oidc.NewSecret()
	if _, err = e.st.CreateClient(ctx, store.Client{
		Realm: realmName, ID: id, Enabled: true, AuthMethod: oidc.AuthClientSecretBasic, SecretHash: hasher.Hash(secret),
		GrantTypes: []string{"client_credentials"}, Scopes: scopes,
	}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// clientToken gets an access token with client credentials from the PUBLIC side.
func (e *env) clientToken(t *testing.T, id, secret string, scopes ...string) string {
	t.Helper()
	cc := clientcredentials.Config{
		ClientID: id, ClientSecret: secret, Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader,
		TokenURL: e.public.URL + "/realms/" + realmName + "/protocol/openid-connect/token",
	}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, e.public.Client()))
	if err != nil {
		t.Fatalf("client credentials for %s: %v", id, err)
	}
	return tok.AccessToken
}

// token registers a client with scopes and returns a token of it.
func (e *env) tokenWith(t *testing.T, id string, scopes ...string) string {
	t.Helper()
	return e.clientToken(t, id, e.addClient(t, id, scopes...), scopes...)
}

// loadDocument reads the served document, as a client would, for the validator.
func (e *env) loadDocument(t *testing.T) {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + BasePath + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	e.doc, e.router = doc, router
}

// clientWith is an HTTPS client of the API presenting cert (nil: none) whose every
// exchange is validated against the document.
func (e *env) clientWith(t *testing.T, cert *tls.Certificate) *http.Client {
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &validating{t: t, e: e, next: tr}}
}

type breaksKey struct{}

// validating checks each request and answer against the OpenAPI document; a request
// marked as breaking it must be refused by the document.
type validating struct {
	t    *testing.T
	e    *env
	next http.RoundTripper
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err != nil {
		return resp, err
	}
	ctx := context.Background()
	check := req.Clone(ctx)
	check.Body = io.NopCloser(bytes.NewReader(body))
	route, params, rerr := v.e.router.FindRoute(check)
	what := req.Method + " " + req.URL.Path
	if rerr != nil {
		// No operation here: the answer must be a 404 or 405 problem.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			v.t.Errorf("%s: no documented operation, yet answered %d", what, resp.StatusCode)
		}
		v.problem(what, resp, respBody)
		return resp, nil
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	breaks, _ := req.Context().Value(breaksKey{}).(bool)
	switch {
	case reqErr != nil && !breaks:
		v.t.Errorf("%s: the request breaks the document: %v", what, reqErr)
	case reqErr == nil && breaks:
		v.t.Errorf("%s: the document accepts a request that should break it: %.80s", what, body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		v.t.Errorf("%s: answer %d breaks the document: %v\n%s", what, resp.StatusCode, err, respBody)
	}
	if resp.StatusCode >= 400 {
		v.problem(what, resp, respBody)
	}
	return resp, nil
}

// problem checks that an answer is a problem document valid against the Problem schema.
func (v *validating) problem(what string, resp *http.Response, body []byte) {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		v.t.Errorf("%s: answer %d has Content-Type %q, want application/problem+json", what, resp.StatusCode, ct)
		return
	}
	var p any
	if err := json.Unmarshal(body, &p); err != nil {
		v.t.Errorf("%s: problem is not JSON: %v", what, err)
		return
	}
	if err := v.e.doc.Components.Schemas["Problem"].Value.VisitJSON(p, openapi3.EnableJSONSchema2020()); err != nil {
		v.t.Errorf("%s: problem breaks the Problem schema: %v", what, err)
	}
	if m, _ := p.(map[string]any); m["status"] != float64(resp.StatusCode) || m["title"] != http.StatusText(resp.StatusCode) || m["detail"] == "" {
		v.t.Errorf("%s: problem %v for status %d", what, p, resp.StatusCode)
	}
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	testutil.DecodeJSON(t, r.status, r.body, v)
}

// request is one call: a body of any JSON value, or raw bytes or text as they are.
type request struct {
	method, path string
	body         any
	// token is sent as the bearer token; empty: the env's; "-": none.
	token  string
	header map[string]string
	client *http.Client
	// breaks marks a request the document must refuse.
	breaks bool
}

// do sends r to the API below BasePath.
func (e *env) do(t *testing.T, r request) response {
	t.Helper()
	body := testutil.JSONBody(t, r.body)
	ctx := context.WithValue(context.Background(), breaksKey{}, r.breaks)
	req, err := http.NewRequestWithContext(ctx, r.method, e.srv.URL+BasePath+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch r.token {
	case "":
		req.Header.Set("Authorization", "Bearer "+e.token)
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	client := r.client
	if client == nil {
		client = e.client
	}
	status, header, data := testutil.Exchange(t, client, req)
	return response{status: status, header: header, body: data}
}

// call sends r and fails the test unless the status is want.
func (e *env) call(t *testing.T, want int, r request) response {
	t.Helper()
	resp := e.do(t, r)
	testutil.WantStatus(t, r.method+" "+r.path, resp.status, want, resp.body)
	return resp
}

// problem sends r and returns the problem's detail; the status must be want.
func (e *env) problem(t *testing.T, want int, r request) string {
	t.Helper()
	resp := e.call(t, want, r)
	var p rest.ProblemBody
	resp.json(t, &p)
	return p.Detail
}

// newUser creates a user through the API.
func (e *env) newUser(t *testing.T, name string) rest.User {
	t.Helper()
	var u rest.User
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": name}}).json(t, &u)
	return u
}

// phone is an enrolled device and its key.
type phone struct {
	id   string
	user string
	key  *ecdsa.PrivateKey
}

// enroll makes an activation code for the user through the API and redeems it as a
// phone would, with a fresh P-256 key.
func (e *env) enroll(t *testing.T, userID string) *phone {
	t.Helper()
	var act rest.Activation
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users/" + userID + "/activations"}).json(t, &act)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := key.PublicKey.Bytes()
	m := hmac.New(sha256.New, testPepper)
	m.Write([]byte(act.Code))
	id := hex.EncodeToString(pub[1:17])
	if _, err := e.st.EnrollDevice(context.Background(), realmName, m.Sum(nil), time.Now(), 0,
		store.Device{ID: id, PublicKey: pub, DisplayName: "phone"}, store.Audit{Actor: "device:" + id, Action: "enrolled"}); err != nil {
		t.Fatal(err)
	}
	return &phone{id: id, user: userID, key: key}
}

// answer has the phone sign a decision on request id through the authn service.
func (e *env) answer(t *testing.T, p *phone, id string, d sigma.Decision) authn.Request {
	t.Helper()
	ctx := context.Background()
	q, err := e.requests.Get(ctx, realmName, id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := sigma.SignApproval(p.key, sigma.Approval{RequestID: q.ID, Realm: q.Realm, ClientID: q.ClientID, Text: q.Text,
		AuthorizationDetails: q.AuthorizationDetails, Decision: d, Time: now.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := p.key.PublicKey.Bytes()
	out, err := e.requests.Answer(ctx, realmName, id, authn.Reply{DeviceID: p.id, UserID: p.user, DeviceKey: pub,
		Decision: d, SignedAt: now.Unix(), Signature: sig})
	if err != nil {
		t.Fatalf("the phone's answer: %v", err)
	}
	return out
}

// certificate makes a self-signed client certificate and its SHA-256 fingerprint.
func certificate(t *testing.T, name string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, hex.EncodeToString(sum[:])
}

// TLS names for the package-level certificate test.
type tlsCertificate = tls.Certificate

var tlsRequestClientCert = tls.Config{ClientAuth: tls.RequestClientCert}
