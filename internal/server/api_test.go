package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/api"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/receipt"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// restClient calls the REST API of one server as one API client.
type restClient struct {
	t     *testing.T
	http  *http.Client
	base  string
	token string
}

// call sends body (nil for none) as JSON and decodes the answer into out (nil to drop
// it); the status must be want.
func (c *restClient) call(method, path string, body, out any, want int) http.Header {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.Header
}

// newAPIClient registers a confidential client of the demo realm with the REST API's
// scopes and returns a caller holding its client-credentials token.
func newAPIClient(t *testing.T, s *Server, httpc *http.Client, id string, scopes ...string) *restClient {
	t.Helper()
	ctx := context.Background()
	c := store.Client{Realm: "demo", ID: id, Name: id, Enabled: true, AuthMethod: "client_secret_basic", Scopes: scopes,
		GrantTypes: []string{"client_credentials"}, SecretHash: mustHashSecret(t, s, "secret-"+id)}
	if _, err := s.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	cc := clientcredentials.Config{ClientID: id, ClientSecret: "secret-" + id, Scopes: scopes,
		TokenURL: s.URL(config.Public) + "/realms/demo/protocol/openid-connect/token"}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, httpc))
	if err != nil {
		t.Fatalf("client credentials for %s: %v", id, err)
	}
	return &restClient{t: t, http: httpc, base: s.URL(config.API) + api.BasePath + "/realms/demo", token: tok.AccessToken}
}

// webhookReceiver is a business application's callback endpoint on loopback: it keeps
// what it is sent.
type webhookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []receivedWebhook
	fail int // answer 503 to this many calls first
}

type receivedWebhook struct {
	header http.Header
	body   []byte
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	w := &webhookReceiver{}
	w.Server = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.fail > 0 {
			w.fail--
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.got = append(w.got, receivedWebhook{header: r.Header.Clone(), body: body})
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookReceiver) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(w.Certificate())
	return p
}

// find returns the first delivery whose event has type typ and names request id.
func (w *webhookReceiver) find(typ, id string) (receivedWebhook, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.got {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				RequestID string `json:"request_id"`
			} `json:"data"`
		}
		if json.Unmarshal(d.body, &ev) == nil && ev.Type == typ && ev.Data.RequestID == id {
			return d, true
		}
	}
	return receivedWebhook{}, false
}

// verifyStandardWebhook checks a delivery as the Standard Webhooks specification says a
// receiver must, written from the specification rather than with Signet's own code:
// the signed content is "{webhook-id}.{webhook-timestamp}.{body}", HMAC-SHA256 with the
// secret's base64 bytes after "whsec_", sent base64 as "v1,<sig>", several signatures
// separated by spaces; the timestamp must be within five minutes.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside the tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(sig); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// realmKeys reads the realm's published signing keys, as a business application that
// verifies receipts does.
func realmKeys(t *testing.T, s *Server, httpc *http.Client) jose.JSONWebKeySet {
	t.Helper()
	resp, err := httpc.Get(s.URL(config.Public) + "/realms/demo/protocol/openid-connect/certs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

type apiRequest struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	DeviceID string `json:"device_id"`
	Receipt  string `json:"receipt"`
}

// TestRESTOnboarding: a business application onboards a user through the REST API only
// (create the user, hand out an activation code the SDK enrolls from, ask for a sign-in
// approval, hear the outcome on its callback URL signed as Standard Webhooks says, then a
// transaction with a receipt it verifies against the realm's published keys).
func TestRESTOnboarding(t *testing.T) {
	t.Parallel()
	recv := newWebhookReceiver(t)
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	cfg.Outbound.AllowPrivate = true // the receiver is on loopback
	s := startServer(t, cfg, WithRootCAs(recv.roots()))
	httpc := client(pool(p.serverCA), 0, nil)
	c := newAPIClient(t, s, httpc, "bank-backend", api.ScopeUsersWrite, api.ScopeActivationsWrite, api.ScopeDevicesRead,
		api.ScopeAuthenticationsCreate, api.ScopeTransactionsCreate, api.ScopeEventsRead, api.ScopeWebhooksManage)
	// Callbacks are signed with the realm's callback secret, which the application
	// creates once and keeps.
	var cb struct {
		Secret string `json:"secret"`
	}
	c.call("POST", "/callback-secret", map[string]any{}, &cb, http.StatusOK)

	var user struct {
		ID string `json:"id"`
	}
	c.call("POST", "/users", map[string]any{"username": "carol", "email": "carol@example.com"}, &user, http.StatusCreated)
	var act struct {
		URL   string `json:"url"`
		QRPNG []byte `json:"qr_png"`
	}
	c.call("POST", "/users/"+user.ID+"/activations", map[string]any{}, &act, http.StatusCreated)
	if !bytes.HasPrefix(act.QRPNG, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("the activation's QR code is not a PNG")
	}
	app := authenticator.New(authenticator.NewMemoryKeyStore())
	if err := app.TrustPEM(p.serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	phone, err := app.Enroll(act.URL, &authenticator.Enrollment{DisplayName: "Carol's phone"})
	if err != nil {
		t.Fatalf("enroll from the API's activation URL: %v", err)
	}
	defer phone.Close()
	var devices struct {
		Items []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"items"`
	}
	c.call("GET", "/users/"+user.ID+"/devices", nil, &devices, http.StatusOK)
	if len(devices.Items) != 1 || devices.Items[0].ID != phone.Identity().DeviceID || devices.Items[0].State != "active" {
		t.Fatalf("the user's devices %+v, want the enrolled phone", devices.Items)
	}

	// Provoke a login: the phone approves, the callback hears it, signed.
	var auth apiRequest
	c.call("POST", "/authentications", map[string]any{"user_id": user.ID, "binding_message": "Sign in to Example Bank",
		"callback_url": recv.URL + "/signet", "callback_headers": map[string]string{"Authorization": "Bearer receiver-token"}},
		&auth, http.StatusCreated)
	r, err := phone.Fetch(auth.ID)
	if err != nil || r.Text != "Sign in to Example Bank" {
		t.Fatalf("the phone shows %+v, %v", r, err)
	}
	mustAnswer(t, "approved")(phone.Approve(r, ""))
	c.call("GET", "/authentications/"+auth.ID, nil, &auth, http.StatusOK)
	if auth.State != "approved" || auth.DeviceID != phone.Identity().DeviceID {
		t.Errorf("authentication %+v, want approved by the phone", auth)
	}
	// The outcome was made only once its event was committed, in the transaction that
	// claimed it: by the time the phone heard its answer was taken, the event is there.
	if page, err := s.store.ListEvents(context.Background(), "demo", store.EventFilter{Subject: auth.ID, Type: "authn.approved"}, store.ListOptions{}); err != nil || len(page.Items) != 1 {
		t.Errorf("the approval's event in the log: %+v, %v; want it once", page.Items, err)
	}
	var hook receivedWebhook
	testutil.Eventually(t, 20*time.Second, func() bool {
		var ok bool
		hook, ok = recv.find("authn.approved", auth.ID)
		return ok
	}, "the callback to hear of the approval")
	if got := hook.header.Get("Authorization"); got != "Bearer receiver-token" {
		t.Errorf("the callback came with Authorization %q, want the request's callback header", got)
	}
	if err := verifyStandardWebhook(cb.Secret, hook.header, hook.body, time.Now()); err != nil {
		t.Errorf("the callback's signature: %v", err)
	}

	// A transaction: the phone shows what is paid, and the receipt verifies with the
	// realm's published keys.
	details := `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"99.90"},"creditorName":"Example Shop"}]`
	var tx apiRequest
	c.call("POST", "/transactions", map[string]any{"user_id": user.ID, "text": "Pay 99.90 EUR to Example Shop",
		"authorization_details": json.RawMessage(details)}, &tx, http.StatusCreated)
	r, err = phone.Fetch(tx.ID)
	if err != nil || r.Kind != "transaction" || r.AuthorizationDetails != details {
		t.Fatalf("the phone shows %+v, %v", r, err)
	}
	mustAnswer(t, "approved")(phone.Approve(r, ""))
	// The answer's durable record (with its receipt) and its event were written in one
	// transaction before the phone heard back: both are there, the event once.
	kept, err := s.store.GetAuthnRequest(context.Background(), "demo", tx.ID)
	if err != nil || kept.Receipt == "" {
		t.Fatalf("the transaction's record: %+v, %v", kept, err)
	}
	var txEvents struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	c.call("GET", "/events?subject="+tx.ID, nil, &txEvents, http.StatusOK)
	approvals := 0
	for _, e := range txEvents.Items {
		if e.Type == "authn.approved" {
			approvals++
		}
	}
	if approvals != 1 {
		t.Errorf("the transaction's events %+v: want authn.approved exactly once", txEvents.Items)
	}
	c.call("GET", "/transactions/"+tx.ID, nil, &tx, http.StatusOK)
	claims, err := receipt.Verify(tx.Receipt, realmKeys(t, s, httpc))
	if err != nil || claims.ID != tx.ID || claims.Outcome != "approved" || string(claims.AuthorizationDetails) != details {
		t.Fatalf("receipt %+v, %v", claims, err)
	}

	// The event log shows both outcomes.
	var events struct {
		Items []struct {
			Type    string `json:"type"`
			Subject string `json:"subject"`
		} `json:"items"`
	}
	c.call("GET", "/events?type=authn.approved", nil, &events, http.StatusOK)
	seen := map[string]bool{}
	for _, e := range events.Items {
		seen[e.Subject] = true
	}
	if !seen[auth.ID] || !seen[tx.ID] {
		t.Errorf("events %+v, want the approvals of %s and %s", events.Items, auth.ID, tx.ID)
	}

	// The dashboards' count of outcomes has both approvals.
	families, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]float64{}
	connected := -1.0
	for _, f := range families {
		if f.GetName() == "signet_device_connections" {
			connected = f.GetMetric()[0].GetGauge().GetValue()
		}
		if f.GetName() != "signet_authn_outcomes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var key []string
			for _, l := range m.GetLabel() {
				key = append(key, l.GetName()+"="+l.GetValue())
			}
			outcomes[strings.Join(key, ",")] = m.GetCounter().GetValue()
		}
	}
	if outcomes["kind=push_login,outcome=approved"] != 1 || outcomes["kind=transaction,outcome=approved"] != 1 {
		t.Errorf("signet_authn_outcomes_total %v, want one approved push login and one approved transaction", outcomes)
	}
	// The phone that approved is still connected.
	if connected < 1 {
		t.Errorf("signet_device_connections %v, want at least the phone's connection", connected)
	}
}

// TestRESTAPIMTLS: on an API listener in verify mode, a certificate registered for a
// client calls with that client's scopes, a valid certificate registered for no client
// gets 403, and no certificate is refused at the handshake.
func TestRESTAPIMTLS(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	caFile := filepath.Join(t.TempDir(), "client-ca.pem")
	if err := os.WriteFile(caFile, p.clientCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Listeners.API.TLSClientAuth, cfg.Listeners.API.TLSClientCAFile = "verify", caFile
	s := startServer(t, cfg)
	cert := p.clients["right CA"]
	base := s.URL(config.API) + api.BasePath + "/realms/demo/users"
	get := func(certs ...tls.Certificate) (int, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool(p.serverCA), Certificates: certs, MinVersion: tls.VersionTLS13}}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(base)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK && ct != "application/problem+json" {
			t.Errorf("%d answered as %q, want problem JSON", resp.StatusCode, ct)
		}
		return resp.StatusCode, nil
	}
	if status, err := get(*cert); err != nil || status != http.StatusForbidden {
		t.Errorf("an unregistered certificate: %d, %v; want 403", status, err)
	}
	if _, err := get(); err == nil {
		t.Errorf("no certificate in verify mode was served, want the handshake refused")
	}
	sum := sha256.Sum256(cert.Certificate[0])
	if _, err := s.store.CreateClient(context.Background(), store.Client{Realm: "demo", ID: "backend", Name: "backend", Enabled: true,
		Scopes: []string{api.ScopeUsersRead}, TLSClientCertificates: []string{hex.EncodeToString(sum[:])},
		GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		status, err := get(*cert)
		return err == nil && status == http.StatusOK
	}, "the registered certificate to be let in")
	// Its scopes are what it was registered with: reading users, not creating them.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool(p.serverCA), Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS13}}}
	resp, err := c.Post(base, "application/json", strings.NewReader(`{"username":"mallory"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("creating a user with a read-only certificate: %d, want 403", resp.StatusCode)
	}

	// By subject (RFC 8705 tls_client_auth_subject_dn): every certificate the client CA
	// issues with the registered subject calls as the client, a renewed one included;
	// another subject from the same CA does not.
	bySubject := func(cn string) tls.Certificate {
		now := time.Now()
		leaf, err := p.clientCA.Issue(pki.LeafRequest{Subject: &pkix.Name{CommonName: cn, Organization: []string{"Example Bank"}, Country: []string{"DE"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), Client: true})
		if err != nil {
			t.Fatal(err)
		}
		return leaf.TLSCertificate
	}
	billing, renewed, other := bySubject("billing"), bySubject("billing"), bySubject("payroll")
	if _, err := s.store.CreateClient(context.Background(), store.Client{Realm: "demo", ID: "billing", Name: "billing", Enabled: true,
		Scopes: []string{api.ScopeUsersRead}, TLSClientAuthSubjectDN: "CN=billing,O=Example Bank,C=DE",
		GrantTypes: []string{"client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		status, err := get(billing)
		return err == nil && status == http.StatusOK
	}, "a certificate with the registered subject to be let in")
	if status, err := get(renewed); err != nil || status != http.StatusOK {
		t.Errorf("a renewed certificate with the registered subject: %d, %v; want 200", status, err)
	}
	if status, err := get(other); err != nil || status != http.StatusForbidden {
		t.Errorf("another subject of the client CA: %d, %v; want 403", status, err)
	}
}

// TestAPIRoleAlone: a node running only the api role (with ops) serves the REST API:
// tokens issued by an idp node verify, and activation codes name the device server.
func TestAPIRoleAlone(t *testing.T) {
	p := newTestPKI(t)
	idpCfg := p.testConfig(t, "none")
	idpCfg.Dev = true
	idp := startServer(t, idpCfg)
	httpc := client(pool(p.serverCA), 0, nil)
	c := newAPIClient(t, idp, httpc, "backend", api.ScopeUsersRead, api.ScopeActivationsWrite)

	apiCfg := idpCfg
	apiCfg.Listeners.Public.PublicURL = idp.URL(config.Public)
	apiCfg.Listeners.Device.PublicURL = idp.URL(config.Device)
	apiCfg.Roles = []string{config.RoleOps, config.RoleAPI}
	node := startServer(t, apiCfg)
	if node.URL(config.Public) != "" || node.URL(config.Device) != "" {
		t.Fatal("the api node runs PUBLIC or DEVICE")
	}
	c.base = node.URL(config.API) + api.BasePath + "/realms/demo"
	var act struct {
		URL string `json:"url"`
	}
	demo, err := idp.store.GetUserByUsername(context.Background(), "demo", idp.demoUser.Username)
	if err != nil {
		t.Fatal(err)
	}
	c.call("POST", "/users/"+demo.ID+"/activations", map[string]any{}, &act, http.StatusCreated)
	if !strings.HasPrefix(act.URL, idp.URL(config.Device)+"/") {
		t.Errorf("activation URL %q, want one on the device server %s", act.URL, idp.URL(config.Device))
	}
}

// TestRESTRefusesUserTokens: an access token a user was issued through a client (here
// by CIBA) does not call the REST API, even with the API's scope; the same client's
// own token does.
func TestRESTRefusesUserTokens(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	s := startServer(t, cfg)
	phone := enrollPhone(t, s, p)
	httpc := client(pool(p.serverCA), 0, nil)
	ctx := context.Background()
	if _, err := s.store.CreateClient(ctx, store.Client{Realm: "demo", ID: "bank", Name: "bank", Enabled: true, AuthMethod: "client_secret_basic",
		SecretHash: mustHashSecret(t, s, "secret-bank"), GrantTypes: []string{oidc.GrantCIBA, "client_credentials"},
		Scopes: []string{"openid", api.ScopeUsersRead}}); err != nil {
		t.Fatal(err)
	}
	ciba := &cibaClient{t: t, s: s, http: httpc, id: "bank", secret: "secret-bank"}
	_, out := ciba.start(url.Values{"scope": {"openid " + api.ScopeUsersRead}, "login_hint": {s.demoUser.Username}, "binding_message": {"Read my profile"}})
	id, _ := out["auth_req_id"].(string)
	r, err := phone.Fetch(id)
	if err != nil {
		t.Fatal(err)
	}
	mustAnswer(t, "approved")(phone.Approve(r, ""))
	user, _ := ciba.tokens(t, id)["access_token"].(string)
	c := &restClient{t: t, http: httpc, base: s.URL(config.API) + api.BasePath + "/realms/demo", token: user}
	c.call("GET", "/users", nil, nil, http.StatusUnauthorized)

	cc := clientcredentials.Config{ClientID: "bank", ClientSecret: "secret-bank", Scopes: []string{api.ScopeUsersRead},
		TokenURL: s.URL(config.Public) + "/realms/demo/protocol/openid-connect/token"}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, httpc))
	if err != nil {
		t.Fatal(err)
	}
	c.token = tok.AccessToken
	c.call("GET", "/users", nil, nil, http.StatusOK)
}
