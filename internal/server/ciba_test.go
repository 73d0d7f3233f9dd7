package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/receipt"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// cibaClient is a CIBA client of the dev server's demo realm, talking to its endpoints
// with an http client that trusts the test CA.
type cibaClient struct {
	t      *testing.T
	s      *Server
	http   *http.Client
	id     string
	secret string
}

// post sends form to endpoint as the client and decodes the JSON answer.
func (c *cibaClient) post(endpoint string, form url.Values) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.s.URL(config.Public)+"/realms/demo/protocol/openid-connect/"+endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := c.http.Do(req)
	if err != nil {
		// Errorf, not Fatal: subtests call this with the test's client (FailNow belongs to
		// the goroutine of the test that owns it).
		c.t.Errorf("%s: %v", endpoint, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Errorf("%s: %d, not JSON: %v", endpoint, resp.StatusCode, err)
		return resp.StatusCode, nil
	}
	return resp.StatusCode, out
}

func (c *cibaClient) start(form url.Values) (int, map[string]any) {
	c.t.Helper()
	return c.post("ext/ciba/auth", form)
}

// tokens polls until the answered request's tokens come (after slow_down, if need be).
func (c *cibaClient) tokens(t *testing.T, id string) map[string]any {
	t.Helper()
	var tok map[string]any
	testutil.Eventually(t, 20*time.Second, func() bool {
		status, out := c.token(id)
		tok = out
		return status == http.StatusOK
	}, "no tokens after the approval: %v", &tok)
	return tok
}

func (c *cibaClient) token(id string) (int, map[string]any) {
	c.t.Helper()
	return c.post("token", url.Values{"grant_type": {oidc.GrantCIBA}, "auth_req_id": {id}})
}

// TestCIBAPoll, the CIBA checks of CONFORMANCE §1 in poll mode with the SDK as the phone:
// discovery advertises CIBA; the happy path issues tokens whose ID token go-oidc accepts
// with the phone's amr; an early poll answers authorization_pending, a poll sooner than
// the interval slow_down; a denial access_denied; requested_expiry is honoured and
// expiry answers expired_token; a bad binding message, several hints, an unknown user
// and a request object are refused; another client's auth_req_id is invalid_grant; a
// locked user is refused at the start and at the token request (regression 12).
func TestCIBAPoll(t *testing.T) {
	t.Parallel()
	s, p, _, httpClient := devWithRP(t)
	phone := enrollPhone(t, s, p)
	ctx := context.Background()
	for _, id := range []string{s.demo.ClientID, "other-app"} {
		if id != s.demo.ClientID {
			if _, err := s.store.CreateClient(ctx, store.Client{Realm: "demo", ID: id, Name: "Other", Enabled: true, AuthMethod: "client_secret_basic",
				SecretHash: mustHashSecret(t, s, "other-secret"), GrantTypes: []string{oidc.GrantCIBA}, Scopes: []string{"openid", "profile"}}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := s.store.UpdateClient(ctx, "demo", id, func(c store.Client) (store.Client, error) {
			c.GrantTypes = append(c.GrantTypes, oidc.GrantCIBA)
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	c := &cibaClient{t: t, s: s, http: httpClient, id: s.demo.ClientID, secret: s.demo.Secret}
	other := &cibaClient{t: t, s: s, http: httpClient, id: "other-app", secret: "other-secret"}
	issuer := s.URL(config.Public) + "/realms/demo"
	provider, err := gooidc.NewProvider(gooidc.ClientContext(ctx, httpClient), issuer)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Endpoint string   `json:"backchannel_authentication_endpoint"`
		Modes    []string `json:"backchannel_token_delivery_modes_supported"`
		Grants   []string `json:"grant_types_supported"`
	}
	if err := provider.Claims(&meta); err != nil || meta.Endpoint != issuer+"/protocol/openid-connect/ext/ciba/auth" ||
		!slices.Equal(meta.Modes, []string{"poll", "ping", "push"}) || !slices.Contains(meta.Grants, oidc.GrantCIBA) {
		t.Fatalf("discovery: %+v, %v", meta, err)
	}
	start := url.Values{"scope": {"openid profile"}, "login_hint": {s.demoUser.Username}, "binding_message": {"Pay 12 EUR - W4X"}}
	// answered starts a request and has the phone approve or deny it.
	answered := func(t *testing.T, approve bool) string {
		t.Helper()
		_, out := c.start(start)
		id, _ := out["auth_req_id"].(string)
		r, err := phone.Fetch(id)
		if err != nil {
			t.Fatal(err)
		}
		if approve {
			mustAnswer(t, "approved")(phone.Approve(r, ""))
		} else {
			mustAnswer(t, "denied")(phone.Deny(r))
		}
		return id
	}

	t.Run("happy path", func(t *testing.T) {
		status, out := c.start(start)
		id, _ := out["auth_req_id"].(string)
		if status != http.StatusOK || id == "" || out["interval"] != float64(5) || out["expires_in"] != float64(120) {
			t.Fatalf("start: %d %v", status, out)
		}
		if status, out := c.token(id); status != http.StatusBadRequest || out["error"] != "authorization_pending" {
			t.Fatalf("early poll: %d %v", status, out)
		}
		if status, out := c.token(id); status != http.StatusBadRequest || out["error"] != "slow_down" {
			t.Fatalf("fast poll: %d %v", status, out)
		}
		// Another client cannot redeem it.
		if status, out := other.token(id); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
			t.Fatalf("another client's poll: %d %v", status, out)
		}
		r, err := phone.Fetch(id)
		if err != nil || r.Text != "Pay 12 EUR - W4X" || r.NumberChoiceCount() != 0 || r.Kind != "ciba" {
			t.Fatalf("the phone shows %+v, %v", r, err)
		}
		mustAnswer(t, "approved")(phone.Approve(r, ""))
		tok := c.tokens(t, id)
		raw, _ := tok["id_token"].(string)
		idt, err := provider.Verifier(&gooidc.Config{ClientID: c.id}).Verify(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			AMR []string `json:"amr"`
		}
		_ = idt.Claims(&claims)
		if idt.Subject == "" || !slices.Contains(claims.AMR, "hwk") || tok["access_token"] == "" {
			t.Fatalf("tokens %v, amr %v", tok, claims.AMR)
		}
		testutil.Eventually(t, 20*time.Second, func() bool {
			status, out := c.token(id)
			return status == http.StatusBadRequest && out["error"] == "invalid_grant"
		}, "a redeemed auth_req_id was not refused")
	})

	t.Run("one redemption under concurrent token requests", func(t *testing.T) {
		id := answered(t, true)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 8 {
			wg.Go(func() {
				if status, _ := c.token(id); status == http.StatusOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d of 8 concurrent token requests got tokens; want exactly one", ok)
		}
	})

	t.Run("transaction with its receipt", func(t *testing.T) {
		details := `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"250.00"},"creditorName":"ACME & Sons"}]`
		form := url.Values{"scope": {"openid"}, "login_hint": {s.demoUser.Username}, "binding_message": {"Pay 250 EUR - K7Q"},
			"authorization_details": {details}}
		_, out := c.start(form)
		id, _ := out["auth_req_id"].(string)
		r, err := phone.Fetch(id)
		if err != nil || r.Kind != "transaction" || r.AuthorizationDetails != details {
			t.Fatalf("the phone shows %+v, %v", r, err)
		}
		mustAnswer(t, "approved")(phone.Approve(r, ""))
		tok := c.tokens(t, id)
		jws, _ := tok["receipt"].(string)
		set, err := s.keys.PublicKeys(ctx, "demo")
		if err != nil {
			t.Fatal(err)
		}
		claims, err := receipt.Verify(jws, set)
		if err != nil || claims.ID != id || string(claims.AuthorizationDetails) != details || claims.Outcome != "approved" {
			t.Fatalf("receipt %+v, %v", claims, err)
		}
	})

	t.Run("denied", func(t *testing.T) {
		id := answered(t, false)
		testutil.Eventually(t, 20*time.Second, func() bool {
			status, out := c.token(id)
			return status == http.StatusBadRequest && out["error"] == "access_denied"
		}, "a denial did not answer access_denied (400, RFC 6749 §5.2)")
	})

	t.Run("requested expiry", func(t *testing.T) {
		form := url.Values{"scope": {"openid"}, "login_hint": {s.demoUser.Username}, "requested_expiry": {"10"}}
		status, out := c.start(form)
		id, _ := out["auth_req_id"].(string)
		if status != http.StatusOK || out["expires_in"] != float64(10) {
			t.Fatalf("start: %d %v", status, out)
		}
		testutil.Eventually(t, 30*time.Second, func() bool {
			status, out := c.token(id)
			return status == http.StatusBadRequest && out["error"] == "expired_token"
		}, "no expired_token after the requested expiry")
	})

	t.Run("refusals", func(t *testing.T) {
		for name, tc := range map[string]struct {
			form url.Values
			code string
		}{
			"binding message too long": {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "binding_message": {strings.Repeat("x", 121)}}, "invalid_binding_message"},
			"binding message control":  {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "binding_message": {"pay\x1b[2J"}}, "invalid_binding_message"},
			"two hints":                {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "id_token_hint": {"x.y.z"}}, "invalid_request"},
			"no hint":                  {url.Values{"scope": {"openid"}}, "invalid_request"},
			"unknown user":             {url.Values{"scope": {"openid"}, "login_hint": {"nobody-here"}}, "unknown_user_id"},
			"no openid":                {url.Values{"scope": {"profile"}, "login_hint": {"demo"}}, "invalid_scope"},
			"request object":           {url.Values{"request": {"eyJhbGciOiJub25lIn0.e30."}}, "request_not_supported"},
			"bad expiry":               {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "requested_expiry": {"-5"}}, "invalid_request"},
			"login_hint_token":         {url.Values{"scope": {"openid"}, "login_hint_token": {"x"}}, "invalid_request"},
			"expiry overflowing":       {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "requested_expiry": {"18446744084"}}, "invalid_request"},
			"expiry with a sign":       {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "requested_expiry": {"+30"}}, "invalid_request"},
			"two factors asked":        {url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "acr_values": {"2"}}, "invalid_request"},
		} {
			if status, out := c.start(tc.form); status < 400 || out["error"] != tc.code {
				t.Errorf("%s: %d %v, want %s", name, status, out, tc.code)
			}
		}
	})

	t.Run("a realm without the phone", func(t *testing.T) {
		setRealmAttr(t, s, login.AttrFirstFactors, login.FactorPassword)
		defer setRealmAttr(t, s, login.AttrFirstFactors, "")
		if status, out := c.start(start); status != http.StatusForbidden || out["error"] != "access_denied" {
			t.Fatalf("CIBA where the phone is no first factor: %d %v", status, out)
		}
	})

	t.Run("locked user", func(t *testing.T) {
		id := answered(t, true)
		lock := func(until time.Time) {
			if _, err := s.store.UpdateUser(ctx, "demo", r2u(t, s), func(u store.User) (store.User, error) { u.LockedUntil = until; return u, nil }); err != nil {
				t.Fatal(err)
			}
		}
		lock(time.Now().Add(time.Hour))
		defer lock(time.Time{})
		testutil.Eventually(t, 20*time.Second, func() bool {
			status, out := c.token(id)
			return status == http.StatusBadRequest && out["error"] == "invalid_grant"
		}, "a locked user got tokens")
		if status, out := c.start(start); status != http.StatusForbidden || out["error"] != "access_denied" {
			t.Fatalf("start for a locked user: %d %v", status, out)
		}
	})
}

// r2u is the demo user's id.
func r2u(t *testing.T, s *Server) string {
	u, err := s.store.GetUserByUsername(context.Background(), "demo", s.demoUser.Username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// mustHashSecret is a client secret's hash as the realm's clients are stored.
func mustHashSecret(t *testing.T, s *Server, secret string) []byte {
	h, err := s.provider.SecretHasher(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	return h.Hash(secret)
}

// notified is one call of a client notification endpoint.
type notified struct {
	auth string
	body map[string]any
}

// notificationEndpoint is a client's CIBA notification endpoint on loopback: it records
// each call and answers with the next status of answers (200 once they run out).
func notificationEndpoint(t *testing.T, answers ...int) (string, chan notified) {
	calls := make(chan notified, 16)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		calls <- notified{auth: r.Header.Get("Authorization"), body: body}
		mu.Lock()
		status := http.StatusNoContent
		if len(answers) > 0 {
			status, answers = answers[0], answers[1:]
		}
		mu.Unlock()
		if status == http.StatusMovedPermanently {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ignored":"body"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ciba", calls
}

func next(t *testing.T, calls chan notified) notified {
	t.Helper()
	select {
	case n := <-calls:
		return n
	case <-time.After(30 * time.Second):
		t.Fatal("the notification endpoint was not called")
		return notified{}
	}
}

// TestCIBAPingPush: ping mode calls the client's endpoint with its bearer token and the
// auth_req_id, and the client redeems it; an endpoint that answers 401 (not retried), a
// redirect (not followed) or a body does not break the flow. Push mode delivers the tokens
// themselves, the ID token naming the request with at_hash and rt_hash, and a denial as an
// error; its token endpoint is closed. Targets on loopback need outbound.allow_private.
func TestCIBAPingPush(t *testing.T) {
	t.Parallel()
	s, p, _, httpClient := devWithRPConfig(t, func(c *config.Config) { c.Outbound.AllowPrivate = true })
	phone := enrollPhone(t, s, p)
	ctx := context.Background()
	pingURL, pings := notificationEndpoint(t, http.StatusUnauthorized, http.StatusMovedPermanently)
	pushURL, pushes := notificationEndpoint(t)
	for _, cl := range []store.Client{
		{ID: "ping-app", BackchannelTokenDeliveryMode: "ping", BackchannelClientNotificationEndpoint: pingURL},
		{ID: "push-app", BackchannelTokenDeliveryMode: "push", BackchannelClientNotificationEndpoint: pushURL},
	} {
		cl.Realm, cl.Name, cl.Enabled, cl.AuthMethod = "demo", cl.ID, true, "client_secret_basic"
		cl.SecretHash, cl.Scopes = mustHashSecret(t, s, cl.ID+"-secret"), []string{"openid", "profile"}
		cl.GrantTypes = []string{oidc.GrantCIBA, "refresh_token"}
		if _, err := s.store.CreateClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	ping := &cibaClient{t: t, s: s, http: httpClient, id: "ping-app", secret: "ping-app-secret"}
	push := &cibaClient{t: t, s: s, http: httpClient, id: "push-app", secret: "push-app-secret"}
	approve := func(id string, yes bool) {
		t.Helper()
		r, err := phone.Fetch(id)
		if err != nil {
			t.Fatal(err)
		}
		if yes {
			mustAnswer(t, "approved")(phone.Approve(r, ""))
		} else {
			mustAnswer(t, "denied")(phone.Deny(r))
		}
	}
	form := func(token string) url.Values {
		v := url.Values{"scope": {"openid profile"}, "login_hint": {s.demoUser.Username}}
		if token != "" {
			v.Set("client_notification_token", token)
		}
		return v
	}

	if status, out := ping.start(form("")); status != http.StatusBadRequest || out["error"] != "invalid_request" {
		t.Fatalf("ping without client_notification_token: %d %v", status, out)
	}
	// Ping: three requests; the endpoint answers 401, then a redirect, then 204.
	for round, token := range []string{"tok-401", "tok-301", "tok-ok"} {
		status, out := ping.start(form(token))
		id, _ := out["auth_req_id"].(string)
		if status != http.StatusOK || id == "" {
			t.Fatalf("ping start: %d %v", status, out)
		}
		approve(id, true)
		n := next(t, pings)
		if n.auth != "Bearer "+token || n.body["auth_req_id"] != id || len(n.body) != 1 {
			t.Fatalf("round %d: ping %+v", round, n)
		}
		status, tok := ping.token(id)
		if status != http.StatusOK || tok["id_token"] == nil {
			t.Fatalf("round %d: token after the ping: %d %v", round, status, tok)
		}
	}
	select {
	case n := <-pings:
		t.Fatalf("an extra call (a retry after 401, or a followed redirect): %+v", n)
	default:
	}

	// Push: the tokens come to the endpoint.
	status, out := push.start(form("push-token"))
	id, _ := out["auth_req_id"].(string)
	if status != http.StatusOK || id == "" || out["interval"] != nil {
		t.Fatalf("push start: %d %v", status, out)
	}
	approve(id, true)
	n := next(t, pushes)
	if n.auth != "Bearer push-token" || n.body["auth_req_id"] != id || n.body["access_token"] == nil || n.body["refresh_token"] == nil {
		t.Fatalf("push %+v", n)
	}
	raw, _ := n.body["id_token"].(string)
	provider, err := gooidc.NewProvider(gooidc.ClientContext(ctx, httpClient), s.URL(config.Public)+"/realms/demo")
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&gooidc.Config{ClientID: "push-app"}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = idt.Claims(&claims)
	if claims["urn:openid:params:jwt:claim:auth_req_id"] != id || claims["at_hash"] == nil || claims["urn:openid:params:jwt:claim:rt_hash"] == nil {
		t.Fatalf("push ID token claims %v", claims)
	}
	if err := idt.VerifyAccessToken(n.body["access_token"].(string)); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if status, out := push.token(id); status != http.StatusBadRequest || out["error"] != "unauthorized_client" {
		t.Fatalf("the token endpoint in push mode: %d %v", status, out)
	}
	_, out = push.start(form("push-token-2"))
	id, _ = out["auth_req_id"].(string)
	approve(id, false)
	if n := next(t, pushes); n.body["error"] != "access_denied" || n.body["auth_req_id"] != id {
		t.Fatalf("push of a denial %+v", n)
	}
}
