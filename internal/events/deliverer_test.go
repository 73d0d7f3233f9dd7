package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	signettest "github.com/signet-auth/signet/internal/testutil"
)

// waitTimeout bounds every wait on a condition; nothing in these tests sleeps.
const waitTimeout = 20 * time.Second

// verifyStandardWebhook checks a request as the Standard Webhooks specification
// describes, independently of signature.go: the secret is the base64 after "whsec_",
// the signed content "<webhook-id>.<webhook-timestamp>.<body>", each signature
// "v1,<base64 of HMAC-SHA256>", several separated by spaces.
func verifyStandardWebhook(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return errors.New("webhook-id or webhook-timestamp missing")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Split(h.Get("webhook-signature"), " ") {
		if version, value, _ := strings.Cut(sig, ","); version == "v1" && hmac.Equal([]byte(value), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

// received is one request a receiver got.
type received struct {
	path   string
	header http.Header
	body   []byte
}

// receiver is a TLS (HTTP/2) server on loopback that records what it gets and answers
// with status(n) for its n-th request (1-based), or as handle says when set.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int
	handle func(w http.ResponseWriter, r *http.Request, n int) bool // true: answered
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{status: func(int) int { return http.StatusNoContent }}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.srv.EnableHTTP2 = true
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, received{path: r.URL.Path, header: r.Header.Clone(), body: body})
	n := len(rc.got)
	status, handle := rc.status, rc.handle
	rc.mu.Unlock()
	if handle != nil && handle(w, r, n) {
		return
	}
	w.WriteHeader(status(n))
}

func (rc *receiver) url(path string) string { return rc.srv.URL + path }

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func (rc *receiver) count() int { return len(rc.requests()) }

// ids lists the webhook-id of every request, in order.
func (rc *receiver) ids() []string {
	var out []string
	for _, r := range rc.requests() {
		out = append(out, r.header.Get("webhook-id"))
	}
	return out
}

// harness is a store on a fresh database, a keyring and a fake clock that both the
// store and the Deliverers use.
type harness struct {
	t     *testing.T
	open  testdb.Opener
	st    store.Store
	ring  *keys.Keyring
	clock *signettest.Clock
	roots *x509.CertPool
}

func newHarness(t *testing.T, backend string) *harness {
	t.Helper()
	kek, err := keys.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParseKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, open: testdb.Fresh(t, backend), ring: ring, clock: signettest.NewClock(time.Now()), roots: x509.NewCertPool()}
	h.reopen()
	if _, err := h.st.CreateRealm(t.Context(), store.Realm{Name: "r", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	return h
}

// reopen opens the database again, as a restarted node does.
func (h *harness) reopen() { h.st = h.open(h.t, store.WithClock(h.clock.Now)) }

// client is an outbound client that trusts the receivers' certificate, under policy.
func (h *harness) client(policy outbound.Policy, receivers ...*receiver) *outbound.Client {
	for _, rc := range receivers {
		h.roots.AddCert(rc.srv.Certificate())
	}
	c := outbound.New(policy, outbound.WithRootCAs(h.roots))
	h.t.Cleanup(c.CloseIdleConnections)
	return c
}

// loopback is a policy that lets tests reach their receivers on 127.0.0.1.
func loopback() outbound.Policy {
	p := outbound.DefaultPolicy()
	p.AllowPrivate = true
	return p
}

// deliverer starts a Deliverer on the harness's store and clock: pauses are the largest
// the backoff allows, the first a second, and it polls often.
func (h *harness) deliverer(client *outbound.Client, opts ...DeliverOption) *Deliverer {
	h.t.Helper()
	opts = append([]DeliverOption{
		WithClock(h.clock.Now),
		WithJitter(func(max time.Duration) time.Duration { return max }),
		WithBackoff(time.Second, time.Hour),
		WithPollInterval(20 * time.Millisecond),
	}, opts...)
	d, err := NewDeliverer(h.st, h.ring, client, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	d.Start()
	h.t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

// subscribe creates a subscription of realm r to types at u and returns it with its
// secret.
func (h *harness) subscribe(u string, types ...string) (store.WebhookSubscription, string) {
	h.t.Helper()
	w, secret, err := Subscriptions{Store: h.st, Ring: h.ring, Now: h.clock.Now}.Create(h.t.Context(),
		store.WebhookSubscription{Realm: "r", URL: u, EventTypes: types, Enabled: true})
	if err != nil {
		h.t.Fatal(err)
	}
	return w, secret
}

// append writes one event of realm r and returns it with its Seq.
func (h *harness) append(typ, subject string, cb *store.EventCallback) store.Event {
	h.t.Helper()
	e := store.Event{Realm: "r", Type: typ, Subject: subject, UserID: "u1", At: h.clock.Now(),
		Data: []byte(fmt.Sprintf(`{"type":%q,"realm":"r","request_id":%q}`, typ, subject)), Callback: cb}
	out, err := h.st.AppendEvents(h.t.Context(), []store.Event{e})
	if err != nil {
		h.t.Fatal(err)
	}
	return out[0]
}

// deliveries lists the realm's deliveries, oldest first.
func (h *harness) deliveries() []store.WebhookDelivery {
	h.t.Helper()
	page, err := h.st.ListWebhookDeliveries(h.t.Context(), "r", store.WebhookDeliveryFilter{}, store.ListOptions{Limit: store.MaxPageSize})
	if err != nil {
		h.t.Fatal(err)
	}
	slices.Reverse(page.Items)
	return page.Items
}

// waitFor waits until the delivery satisfies cond, and returns it.
func (h *harness) waitFor(id int64, what string, cond func(store.WebhookDelivery) bool) store.WebhookDelivery {
	h.t.Helper()
	var d store.WebhookDelivery
	signettest.Eventually(h.t, waitTimeout, func() bool {
		var err error
		d, err = h.st.GetWebhookDelivery(h.t.Context(), "r", id)
		return err == nil && cond(d)
	}, "delivery %d: %s; last seen %+v", id, what, &d)
	return d
}

// attempted is the condition that a delivery's n-th attempt is recorded.
func attempted(n int) func(store.WebhookDelivery) bool {
	return func(d store.WebhookDelivery) bool { return d.Attempts == n && d.LeaseUntil.IsZero() }
}

func delivered(d store.WebhookDelivery) bool { return d.State == store.WebhookDelivered }

// checkRequest checks one request's Standard Webhooks headers and body for event e.
func checkRequest(t *testing.T, r received, secret string, e store.Event, id int64) {
	t.Helper()
	if got := r.header.Get("webhook-id"); got != WebhookID(id) {
		t.Errorf("webhook-id %q, want %q", got, WebhookID(id))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if _, err := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64); err != nil {
		t.Errorf("webhook-timestamp %q: %v", r.header.Get("webhook-timestamp"), err)
	}
	if secret != "" {
		if err := verifyStandardWebhook(secret, r.header, r.body); err != nil {
			t.Errorf("signature of %s: %v", r.header.Get("webhook-signature"), err)
		}
	}
	var body struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if body.Type != e.Type || !body.Timestamp.Equal(store.Timestamp(e.At)) || string(body.Data) != string(e.Data) {
		t.Errorf("body %s, want type %s, timestamp %v, data %s", r.body, e.Type, e.At, e.Data)
	}
}

// A receiver that fails four times, then succeeds, gets the event exactly once more,
// signed, under one webhook-id; a later event follows under another.
func TestDelivererRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			rc.status = func(n int) int {
				if n <= 4 {
					return []int{500, 503, 404, 429}[n-1]
				}
				return http.StatusOK
			}
			_, secret := h.subscribe(rc.url("/hooks"))
			reg := prometheus.NewRegistry()
			d := h.deliverer(h.client(loopback(), rc), WithMetrics(NewMetrics(reg)))
			e := h.append("authn.approved", "q1", nil)
			d.Nudge()
			id := h.deliveries()[0].ID
			var stamps []int64
			for i := 1; i <= 4; i++ {
				dv := h.waitFor(id, fmt.Sprintf("attempt %d recorded", i), attempted(i))
				if dv.State != store.WebhookPending || dv.LastStatus != rc.status(i) || dv.LastError != fmt.Sprintf("HTTP status %d", rc.status(i)) {
					t.Errorf("after attempt %d: %+v", i, dv)
				}
				stamps = append(stamps, h.clock.Now().Unix())
				h.clock.Advance(time.Hour)
				d.Nudge()
			}
			dv := h.waitFor(id, "delivered", delivered)
			if dv.Attempts != 5 || dv.LastStatus != 200 || dv.LastError != "" {
				t.Errorf("delivered: %+v", dv)
			}
			stamps = append(stamps, h.clock.Now().Unix())
			// A later event is the barrier: once it arrives, the first is not sent again.
			later := h.append("authn.denied", "q2", nil)
			d.Nudge()
			signettest.Eventually(t, waitTimeout, func() bool { return rc.count() >= 6 }, "the later event")
			h.waitFor(h.deliveries()[1].ID, "the later event recorded", delivered)
			got := rc.requests()
			if len(got) != 6 {
				t.Fatalf("%d requests, want 6: %q", len(got), rc.ids())
			}
			for i, r := range got[:5] {
				checkRequest(t, r, secret, e, id)
				if ts := r.header.Get("webhook-timestamp"); ts != strconv.FormatInt(stamps[i], 10) {
					t.Errorf("attempt %d: webhook-timestamp %s, want the attempt's time %d", i+1, ts, stamps[i])
				}
			}
			checkRequest(t, got[5], secret, later, h.deliveries()[1].ID)
			if got, want := attemptCounts(t, reg), map[string]float64{"delivered": 2, "rejected": 4, "refused": 0, "failed": 0}; !maps.Equal(got, want) {
				t.Errorf("attempts counted %v, want %v", got, want)
			}
		})
	}
}

// A subscription's deliveries arrive in order; when one fails, the ones after it wait
// for its retry instead of being posted.
func TestDelivererOrderPerSubscription(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			rc.status = func(n int) int {
				if n == 3 {
					return http.StatusServiceUnavailable
				}
				return http.StatusNoContent
			}
			h.subscribe(rc.url("/ordered"), "authn.*")
			const n = 20
			events := make([]store.Event, n)
			for i := range events {
				events[i] = store.Event{Realm: "r", Type: "authn.created", Subject: fmt.Sprintf("q%d", i), At: h.clock.Now(), Data: []byte(`{}`)}
			}
			if _, err := h.st.AppendEvents(t.Context(), events); err != nil {
				t.Fatal(err)
			}
			all := h.deliveries()
			d := h.deliverer(h.client(loopback(), rc))
			h.waitFor(all[2].ID, "the failed attempt recorded", attempted(1))
			for _, dv := range all[3:] {
				if got := h.waitFor(dv.ID, "released", func(d store.WebhookDelivery) bool { return d.LeaseUntil.IsZero() }); got.Attempts != 0 {
					t.Errorf("delivery %d after an earlier one failed: %+v; want it unattempted", dv.ID, got)
				}
			}
			h.clock.Advance(time.Hour)
			d.Nudge()
			h.waitFor(all[n-1].ID, "delivered", delivered)
			var want []string
			for i, dv := range all {
				want = append(want, WebhookID(dv.ID))
				if i == 2 {
					want = append(want, WebhookID(dv.ID))
				}
			}
			if got := rc.ids(); !slices.Equal(got, want) {
				t.Errorf("received %q, want %q", got, want)
			}
		})
	}
}

// Once a delivery fails, its subscription's later deliveries wait for its retry, also
// those that later claims hand to the Deliverer: a failing receiver gets one request.
func TestDelivererFailingSubscriptionWaits(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			rc.status = func(n int) int {
				if n == 1 {
					return http.StatusServiceUnavailable
				}
				return http.StatusNoContent
			}
			h.subscribe(rc.url("/hooks"))
			const n = 10
			events := make([]store.Event, n)
			for i := range events {
				events[i] = store.Event{Realm: "r", Type: "authn.created", Subject: fmt.Sprintf("q%d", i), At: h.clock.Now(), Data: []byte(`{}`)}
			}
			if _, err := h.st.AppendEvents(t.Context(), events); err != nil {
				t.Fatal(err)
			}
			all := h.deliveries()
			d := h.deliverer(h.client(loopback(), rc), WithBatch(4))
			head := h.waitFor(all[0].ID, "the failed attempt recorded", attempted(1))
			for _, dv := range all[1:] {
				h.waitFor(dv.ID, "waiting for the retry", func(d store.WebhookDelivery) bool {
					return d.Attempts == 0 && d.LeaseUntil.IsZero() && d.NextAttemptAt.Equal(head.NextAttemptAt)
				})
			}
			if got := rc.count(); got != 1 {
				t.Errorf("%d requests to the failing receiver, want 1", got)
			}
			h.clock.Advance(time.Hour)
			d.Nudge()
			h.waitFor(all[n-1].ID, "delivered", delivered)
			want := []string{WebhookID(all[0].ID)}
			for _, dv := range all {
				want = append(want, WebhookID(dv.ID))
			}
			if got := rc.ids(); !slices.Equal(got, want) {
				t.Errorf("received %q, want %q", got, want)
			}
		})
	}
}

// A redirect is not followed: its target never hears of the delivery, which is retried.
func TestDelivererRefusesRedirects(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			target := newReceiver(t)
			redirector := newReceiver(t)
			redirector.handle = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				http.Redirect(w, r, target.url("/elsewhere"), http.StatusTemporaryRedirect)
				return true
			}
			h.subscribe(redirector.url("/hooks"))
			d := h.deliverer(h.client(loopback(), target, redirector))
			h.append("authn.approved", "q1", nil)
			d.Nudge()
			id := h.deliveries()[0].ID
			dv := h.waitFor(id, "attempted", attempted(1))
			if dv.State != store.WebhookPending || dv.LastError != "redirect (status 307) not followed" || dv.NextAttemptAt.IsZero() {
				t.Errorf("after the redirect: %+v", dv)
			}
			h.clock.Advance(time.Hour)
			d.Nudge()
			h.waitFor(id, "attempted again", attempted(2))
			if n := target.count(); n != 0 {
				t.Errorf("the redirect target got %d requests", n)
			}
			if n := redirector.count(); n != 2 {
				t.Errorf("the redirecting receiver got %d requests, want 2", n)
			}
		})
	}
}

// Under the default policy, private and loopback targets, by address or by name, are
// refused without being contacted; the refusal is recorded and retried.
func TestDelivererRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			u, err := url.Parse(rc.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			h.subscribe(rc.url("/by-address"))
			h.subscribe("https://localhost:" + u.Port() + "/by-name")
			h.subscribe("http://127.0.0.1:" + u.Port() + "/plain")
			d := h.deliverer(h.client(outbound.DefaultPolicy(), rc))
			h.append("authn.approved", "q1", &store.EventCallback{URL: rc.url("/callback")})
			d.Nudge()
			all := h.deliveries()
			if len(all) != 4 {
				t.Fatalf("%d deliveries, want 4", len(all))
			}
			for _, dv := range all {
				got := h.waitFor(dv.ID, "refused", attempted(1))
				if got.State != store.WebhookPending || !strings.HasPrefix(got.LastError, "refused by the outbound policy") || got.LastStatus != 0 {
					t.Errorf("delivery to a private target: %+v", got)
				}
			}
			h.clock.Advance(time.Hour)
			d.Nudge()
			for _, dv := range all {
				h.waitFor(dv.ID, "refused again", attempted(2))
			}
			if n := rc.count(); n != 0 {
				t.Errorf("the private target was contacted %d times", n)
			}
		})
	}
}

// A callback gets its own sealed headers, none that Signet sets itself, and no
// signature; a subscription whose secret was rotated is signed with both secrets
// during the grace period and with the new one after it.
func TestDelivererCallbackHeadersAndRotation(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			sub, oldSecret := h.subscribe(rc.url("/hooks"), "authn.approved")
			subs := Subscriptions{Store: h.st, Ring: h.ring, Now: h.clock.Now}
			_, newSecret, err := subs.RotateSecret(t.Context(), "r", sub.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if current, err := subs.Secrets(t.Context(), "r", sub.ID); err != nil || len(current) != 2 || current[0].Secret != newSecret {
				t.Fatalf("secrets after the rotation: %+v, %v", current, err)
			}
			cb, err := authn.SealCallback(h.ring, "r", authn.Callback{URL: rc.url("/callback"),
				Headers: map[string]string{"Authorization": "Bearer s3cret", "X-Tenant": "acme"}})
			if err != nil {
				t.Fatal(err)
			}
			d := h.deliverer(h.client(loopback(), rc))
			e := h.append("authn.approved", "q1", cb)
			d.Nudge()
			for _, dv := range h.deliveries() {
				h.waitFor(dv.ID, "delivered", delivered)
			}
			var callback, hook *received
			for _, r := range rc.requests() {
				switch r.path {
				case "/callback":
					callback = &r
				case "/hooks":
					hook = &r
				}
			}
			if callback == nil || hook == nil {
				t.Fatalf("requests %+v: want one callback and one webhook", rc.requests())
			}
			if callback.header.Get("Authorization") != "Bearer s3cret" || callback.header.Get("X-Tenant") != "acme" ||
				callback.header.Get("webhook-signature") != "" {
				t.Errorf("callback headers %v", callback.header)
			}
			checkRequest(t, *callback, "", e, h.deliveries()[0].ID)
			if sigs := strings.Fields(hook.header.Get("webhook-signature")); len(sigs) != 2 {
				t.Errorf("signatures during the grace period: %q, want two", sigs)
			}
			for _, secret := range []string{oldSecret, newSecret} {
				if err := verifyStandardWebhook(secret, hook.header, hook.body); err != nil {
					t.Errorf("during the grace period: %v", err)
				}
			}
			h.clock.Advance(DefaultSecretGrace + time.Second)
			h.append("authn.approved", "q2", nil)
			d.Nudge()
			signettest.Eventually(t, waitTimeout, func() bool { return rc.count() >= 3 }, "the second webhook")
			if n := rc.count(); n != 3 {
				t.Fatalf("%d requests, want 3", n)
			}
			last := rc.requests()[2]
			if err := verifyStandardWebhook(newSecret, last.header, last.body); err != nil {
				t.Errorf("after the grace period, with the new secret: %v", err)
			}
			if err := verifyStandardWebhook(oldSecret, last.header, last.body); err == nil {
				t.Error("after the grace period the old secret still verifies")
			}
		})
	}
}

// With callback keys, a callback is signed with its realm's keys; a realm without
// secrets gets its callbacks unsigned; keys that cannot be read fail the attempt.
func TestDelivererSignsCallbacks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite")
	if _, err := h.st.CreateRealm(t.Context(), store.Realm{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.CreateRealm(t.Context(), store.Realm{Name: "broken"}); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	secret := NewWebhookSecret()
	key, err := ParseWebhookSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	d := h.deliverer(h.client(loopback(), rc), WithCallbackKeys(func(_ context.Context, realm string, _ time.Time) ([][]byte, error) {
		switch realm {
		case "r":
			return [][]byte{key}, nil
		case "plain":
			return nil, fmt.Errorf("realm %s: %w", realm, ErrNoSecret)
		}
		return nil, errors.New("database down")
	}))
	for _, realm := range []string{"r", "plain", "broken"} {
		e := store.Event{Realm: realm, Type: "authn.approved", Subject: "q1", At: h.clock.Now(), Data: []byte(`{}`),
			Callback: &store.EventCallback{URL: rc.url("/" + realm)}}
		if _, err := h.st.AppendEvents(t.Context(), []store.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	d.Nudge()
	signettest.Eventually(t, waitTimeout, func() bool { return rc.count() >= 2 }, "the callbacks of r and plain")
	if n := rc.count(); n != 2 {
		t.Fatalf("%d callbacks, want 2", n)
	}
	byPath := map[string]received{}
	for _, r := range rc.requests() {
		byPath[r.path] = r
	}
	if err := verifyStandardWebhook(secret, byPath["/r"].header, byPath["/r"].body); err != nil {
		t.Errorf("the callback of r: %v", err)
	}
	if sig := byPath["/plain"].header.Get("webhook-signature"); sig != "" || byPath["/plain"].header.Get("webhook-id") == "" {
		t.Errorf("the callback of a realm without secrets: headers %v", byPath["/plain"].header)
	}
	page, err := h.st.ListWebhookDeliveries(t.Context(), "broken", store.WebhookDeliveryFilter{}, store.ListOptions{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("deliveries of broken: %+v, %v", page.Items, err)
	}
	signettest.Eventually(t, waitTimeout, func() bool {
		dv, err := h.st.GetWebhookDelivery(t.Context(), "broken", page.Items[0].ID)
		return err == nil && dv.Attempts == 1 && dv.LastError == "the realm's callback signing secrets cannot be read"
	}, "the attempt with unreadable keys recorded")
	if _, ok := byPath["/broken"]; ok {
		t.Error("a callback whose keys could not be read was posted")
	}
}

// Closing the Deliverer and the store while a delivery is failing, and again while a
// request hangs, loses nothing: a new Deliverer on the reopened database delivers it,
// under the same webhook-id.
func TestDelivererSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			hang := make(chan struct{})
			t.Cleanup(func() { close(hang) }) // before the receiver closes
			var healthy sync.Mutex
			up := false
			rc.handle = func(w http.ResponseWriter, r *http.Request, n int) bool {
				healthy.Lock()
				ok := up
				healthy.Unlock()
				switch {
				case ok:
					w.WriteHeader(http.StatusOK)
				case n == 1:
					w.WriteHeader(http.StatusBadGateway)
				default:
					select { // hangs until the client gives up or the test ends
					case <-r.Context().Done():
					case <-hang:
					}
				}
				return true
			}
			_, secret := h.subscribe(rc.url("/hooks"))
			client := h.client(loopback(), rc)
			first := h.deliverer(client)
			e := h.append("authn.approved", "q1", nil)
			first.Nudge()
			id := h.deliveries()[0].ID
			h.waitFor(id, "the first attempt failed", attempted(1))
			if err := first.Close(t.Context()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := h.st.Close(); err != nil {
				t.Fatalf("close the store: %v", err)
			}

			h.reopen()
			h.clock.Advance(time.Hour)
			second := h.deliverer(client)
			signettest.Eventually(t, waitTimeout, func() bool { return rc.count() >= 2 }, "the second attempt under way")
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			err := second.Close(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close during a hanging request = %v, want the deadline's error", err)
			}
			if err := h.st.Close(); err != nil {
				t.Fatalf("close the store: %v", err)
			}

			healthy.Lock()
			up = true
			healthy.Unlock()
			h.reopen()
			h.clock.Advance(DefaultLease) // whether or not the aborted claim was released
			third := h.deliverer(client)
			third.Nudge()
			dv := h.waitFor(id, "delivered after the restarts", delivered)
			if dv.Attempts != 2 {
				t.Errorf("delivered after %d attempts, want 2 (the aborted one does not count)", dv.Attempts)
			}
			got := rc.requests()
			if len(got) != 3 {
				t.Fatalf("%d requests, want 3", len(got))
			}
			for _, r := range got {
				checkRequest(t, r, secret, e, id)
			}
		})
	}
}

// A delivery failing for three days is given up and shows as failed; a redelivery
// sends it again under the same webhook-id.
func TestDelivererGivesUpAndRedelivers(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, backend)
			rc := newReceiver(t)
			var mu sync.Mutex
			status := http.StatusInternalServerError
			rc.status = func(int) int {
				mu.Lock()
				defer mu.Unlock()
				return status
			}
			_, secret := h.subscribe(rc.url("/hooks"))
			d := h.deliverer(h.client(loopback(), rc), WithBackoff(time.Hour, 24*time.Hour))
			e := h.append("authn.approved", "q1", nil)
			d.Nudge()
			id := h.deliveries()[0].ID
			// Attempts every 24 hours (the pauses grow with the delivery's age to 24 hours):
			// the fourth, 72 hours in, is the last, as a fifth would come after the window.
			var failed store.WebhookDelivery
			for i := 1; ; i++ {
				failed = h.waitFor(id, fmt.Sprintf("attempt %d", i), attempted(i))
				if failed.State != store.WebhookPending || i > 10 {
					break
				}
				h.clock.Advance(24 * time.Hour)
				d.Nudge()
			}
			if failed.State != store.WebhookFailed || failed.Attempts != 4 || failed.LastStatus != 500 {
				t.Errorf("given up: %+v", failed)
			}
			listed, err := h.st.ListWebhookDeliveries(t.Context(), "r", store.WebhookDeliveryFilter{State: store.WebhookFailed}, store.ListOptions{})
			if err != nil || len(listed.Items) != 1 || listed.Items[0].ID != id {
				t.Errorf("failed deliveries listed: %+v, %v", listed.Items, err)
			}
			mu.Lock()
			status = http.StatusOK
			mu.Unlock()
			if _, err := h.st.RedeliverWebhook(t.Context(), "r", id); err != nil {
				t.Fatal(err)
			}
			d.Nudge()
			if dv := h.waitFor(id, "redelivered", delivered); dv.Attempts != 1 {
				t.Errorf("redelivered: %+v", dv)
			}
			got := rc.requests()
			if len(got) != 5 {
				t.Fatalf("%d requests, want 5", len(got))
			}
			for _, r := range got {
				checkRequest(t, r, secret, e, id)
			}
		})
	}
}

// Close ends every goroutine of a Deliverer, also when called before Start or twice.
// Not parallel, so that no other test's Deliverer runs meanwhile.
func TestDelivererCloseLeavesNothingRunning(t *testing.T) {
	h := newHarness(t, "sqlite")
	rc := newReceiver(t)
	h.subscribe(rc.url("/hooks"))
	d := h.deliverer(h.client(loopback(), rc), WithWorkers(4))
	h.append("authn.approved", "q1", nil)
	d.Nudge()
	h.waitFor(h.deliveries()[0].ID, "delivered", delivered)
	if err := d.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	d.Start() // after Close: nothing
	d.Nudge()
	idle, err := NewDeliverer(h.st, h.ring, h.client(loopback()), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Close(t.Context()); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	signettest.Eventually(t, waitTimeout, func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*Deliverer)")
	}, "goroutines of the Deliverer still run")
}

func TestNewDelivererRefusesBadSettings(t *testing.T) {
	t.Parallel()
	ring := testRing(t)
	client := outbound.New(outbound.DefaultPolicy())
	log := slog.New(slog.DiscardHandler)
	var st DeliveryStore = nopDeliveries{}
	for name, opts := range map[string][]DeliverOption{
		"no workers":            {WithWorkers(0)},
		"a huge batch":          {WithBatch(store.MaxWebhookClaim + 1)},
		"a lease too short":     {WithLease(time.Second), WithAttemptTimeout(2 * time.Second)},
		"no poll interval":      {WithPollInterval(0)},
		"a backoff upside down": {WithBackoff(time.Hour, time.Minute)},
		"no clock":              {WithClock(nil)},
	} {
		if _, err := NewDeliverer(st, ring, client, log, opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewDeliverer(nil, ring, client, log); err == nil {
		t.Error("no store: accepted")
	}
}

// attemptCounts reads signet_webhook_attempts_total by result.
func attemptCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "signet_webhook_attempts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

type nopDeliveries struct{ DeliveryStore }

func testRing(t *testing.T) *keys.Keyring {
	t.Helper()
	kek, err := keys.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParseKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	d := &Deliverer{cfg: deliverConfig{backoff: 5 * time.Second, maxPause: time.Hour, maxAge: 72 * time.Hour,
		jitter: func(max time.Duration) time.Duration { return max }}}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for attempts, want := range map[int]time.Duration{0: 5 * time.Second, 1: 10 * time.Second, 4: 80 * time.Second, 10: time.Hour, 63: time.Hour, 1000: time.Hour} {
		if got := d.retryAt(store.WebhookDelivery{Attempts: attempts, ScheduledAt: start}, start).Sub(start); got != want {
			t.Errorf("after %d attempts: pause %s, want %s", attempts+1, got, want)
		}
	}
	d.cfg.jitter = func(time.Duration) time.Duration { return 0 }
	if got := d.retryAt(store.WebhookDelivery{ScheduledAt: start}, start).Sub(start); got != minPause {
		t.Errorf("a jitter of zero: pause %s, want the floor %s", got, minPause)
	}
	d.cfg.jitter = func(max time.Duration) time.Duration { return max }
	if got := d.retryAt(store.WebhookDelivery{ScheduledAt: start}, start.Add(30*time.Minute)).Sub(start.Add(30 * time.Minute)); got != 30*time.Minute {
		t.Errorf("a first attempt half an hour after creation: pause %s, want as long as its age", got)
	}
	if got := d.retryAt(store.WebhookDelivery{ScheduledAt: start}, start.Add(72*time.Hour)); !got.IsZero() {
		t.Errorf("at the end of the window: retry at %v, want given up", got)
	}
}

func TestReservedHeaders(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Webhook-Id": true, "Webhook-Signature": true, "Content-Type": true, "Host": true, "Proxy-Authorization": true,
		"Authorization": false, "X-Api-Key": false,
	} {
		if got := reservedHeader(name); got != want {
			t.Errorf("reservedHeader(%s) = %t", name, got)
		}
	}
}

// Settled deliveries older than the retention are deleted; a newer one, and a pending
// one, are kept.
func TestDelivererPurgesSettled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testdb.Backends[0])
	rc := newReceiver(t)
	h.subscribe(rc.url("/hooks"))
	client := h.client(loopback(), rc)
	d := h.deliverer(client)
	h.append("authn.approved", "old", nil)
	d.Nudge()
	old := h.waitFor(h.deliveries()[0].ID, "delivered", delivered)
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(31 * 24 * time.Hour)
	h.append("authn.approved", "new", nil)
	fresh := h.deliverer(client, WithRetention(30*24*time.Hour))
	fresh.Nudge()
	signettest.Eventually(t, waitTimeout, func() bool {
		_, err := h.st.GetWebhookDelivery(t.Context(), "r", old.ID)
		return errors.Is(err, store.ErrNotFound)
	}, "the month-old delivery to be purged")
	if got := h.deliveries(); len(got) != 1 || got[0].ID == old.ID {
		t.Errorf("deliveries after the purge: %+v, want only the new one", got)
	}
}

// Outcome claims older than OutcomeRetention are deleted (a claim of the same request is
// then kept again); a newer one is kept.
func TestDelivererPurgesOutcomeClaims(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testdb.Backends[0])
	claim := func(id string, created time.Time) store.OutboxResult {
		t.Helper()
		res, err := h.st.WriteOutbox(t.Context(), []store.OutboxEntry{{Outcome: &store.AuthnOutcome{Realm: "r", ID: id, CreatedAt: created, State: store.AuthnApproved}}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	claim("old", h.clock.Now().Add(-OutcomeRetention-time.Hour))
	claim("new", h.clock.Now().Add(-time.Hour))
	rc := newReceiver(t)
	d := h.deliverer(h.client(loopback(), rc))
	defer d.Close(t.Context())
	signettest.Eventually(t, waitTimeout, func() bool {
		return claim("old", h.clock.Now().Add(-OutcomeRetention-time.Hour)).Kept
	}, "the day-old claim to be purged")
	if res := claim("new", h.clock.Now().Add(-time.Hour)); res.Kept {
		t.Errorf("the hour-old claim was purged")
	}
}
