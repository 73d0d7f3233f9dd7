package messaging

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/push/apns/apnstest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
)

const waitFor = 10 * time.Second

// world is a realm with an APNs credential against a fake APNs, a user with one device
// registered for APNs, and the nodes' shared stores.
type world struct {
	t      testing.TB
	st     store.Store
	eph    ephemeral.Store
	reqs   *authn.Service
	creds  Credentials
	fake   *apnstest.Server
	device store.Device
	online sync.Map // device id → true: what the nodes' Online seam answers
}

func newWorld(t testing.TB) *world {
	t.Helper()
	eph := memory.New()
	t.Cleanup(func() { eph.Close() })
	return newWorldOn(t, eph)
}

// newWorldOn is newWorld over the ephemeral store eph.
func newWorldOn(t testing.TB, eph ephemeral.Store) *world {
	t.Helper()
	ctx := context.Background()
	st := testdb.Open(t, "sqlite")
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "demo", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, store.User{Realm: "demo", ID: "u1", Username: "alice", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	kekText, _ := keys.GenerateKEK()
	kek, _ := keys.ParseKEK(kekText)
	ring, _ := keys.NewKeyring(kek)
	outbox := events.NewOutbox(st)
	reqs, err := authn.New(ctx, authn.Config{Store: eph, MaxCreated: 1 << 20, // benchmarks ask many times
		Events: authn.SinkFunc(func(_ context.Context, e authn.Event) error { return outbox.Post(e.Record()) })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reqs.Close(); _ = outbox.Close(context.Background()) })
	w := &world{t: t, st: st, eph: eph, reqs: reqs, creds: Credentials{Store: st, Ring: ring}}
	w.fake = apnstest.NewServer(t, apnstest.Config{TeamID: "TEAM123456", KeyID: "KEY1234567", Topic: "com.example.signet"})
	if _, err := w.creds.PutAPNs(ctx, "demo", APNs{Key: w.fake.KeyPEM, KeyID: w.fake.KeyID, TeamID: w.fake.TeamID,
		Topic: w.fake.Topic, Environment: "sandbox"}); err != nil {
		t.Fatal(err)
	}
	w.device = w.enroll("d1", "apns", strings.Repeat("ab", 32))
	return w
}

// enroll registers a device of u1 with a push registration, the way the store makes
// devices (an activation code redeemed).
func (w *world) enroll(id, provider, token string) store.Device {
	w.t.Helper()
	ctx := context.Background()
	hash := sha256.Sum256([]byte("code " + id))
	if _, err := w.st.CreateActivationCode(ctx, store.ActivationCode{Realm: "demo", ID: "code-" + id, CodeHash: hash[:], UserID: "u1",
		CreatedBy: "test", ExpiresAt: time.Now().Add(time.Hour)}, store.Audit{Actor: "test", Action: "activation_created"}); err != nil {
		w.t.Fatal(err)
	}
	point := make([]byte, 65)
	point[0] = 4
	copy(point[1:], id)
	d, err := w.st.EnrollDevice(ctx, "demo", hash[:], time.Now(), 0, store.Device{ID: id, PublicKey: point, DisplayName: id,
		PushProvider: provider, PushToken: token}, store.Audit{Actor: "test", Action: "enrolled"})
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// node starts one node's delivery (and its senders) over the shared stores.
func (w *world) node(reg prometheus.Registerer, tune func(*Config)) (*Deliverer, *Metrics) {
	return w.nodeOn(w.eph, reg, tune)
}

// nodeOn is node over eph: another connection to the shared ephemeral store, as another
// node has.
func (w *world) nodeOn(eph ephemeral.Store, reg prometheus.Registerer, tune func(*Config)) (*Deliverer, *Metrics) {
	w.t.Helper()
	m := NewMetrics(reg)
	senders := NewSenders(w.creds, SenderOptions{Endpoints: Endpoints{APNs: w.fake.URL}, RootCAs: w.fake.CertPool(), Timeout: 5 * time.Second}, m)
	cfg := Config{Store: w.st, Ephemeral: eph, Requests: w.reqs, Senders: senders, Metrics: m, ReminderAfter: -1,
		Online: func(_ context.Context, id string) (bool, error) { _, on := w.online.Load(id); return on, nil }}
	if tune != nil {
		tune(&cfg)
	}
	d, err := NewDeliverer(context.Background(), cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { d.Close(); senders.Close() })
	return d, m
}

func (w *world) ask() authn.Request {
	w.t.Helper()
	r, err := device.Ask(context.Background(), w.st, w.reqs, time.Now(), authn.NewRequest{Realm: "demo", Kind: authn.KindPushLogin,
		ClientID: "bank-app", UserID: "u1", Text: "Sign in to Bank", Binding: []byte("test")})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) status(r authn.Request, dev string) Status {
	w.t.Helper()
	var st Status
	testutil.Eventually(w.t, waitFor, func() bool {
		var err error
		st, err = DeliveryStatus(context.Background(), w.eph, "demo", r.ID, dev)
		return err == nil
	}, "a delivery status for request %s", r.ID)
	return st
}

// Two nodes receive every new request; the device, not connected, gets exactly one
// wake-up, which names the request and nothing of it, and the sends are counted.
func TestOnePushAcrossNodes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, _ := w.node(regA, nil)
	b, _ := w.node(regB, nil)
	var ids []string
	for range 5 {
		r := w.ask()
		ids = append(ids, r.ID)
		if st := w.status(r, "d1"); st.Route != RoutePush || st.Provider != "apns" || st.Attempts != 1 {
			t.Errorf("status %+v, want one push through apns", st)
		}
		if _, err := w.reqs.Cancel(context.Background(), "demo", r.ID, []byte("test")); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close() // both have finished every send
	got := w.fake.Notifications()
	if len(got) != len(ids) {
		t.Fatalf("APNs got %d wake-ups for %d requests", len(got), len(ids))
	}
	for i, n := range got {
		if n.Token != w.device.PushToken || !strings.Contains(string(n.Payload), ids[i]) ||
			strings.Contains(string(n.Payload), "Bank") || strings.Contains(string(n.Payload), "alice") {
			t.Errorf("wake-up %d: token %s, payload %s; want the device's token and only the request id", i, n.Token, n.Payload)
		}
		if n.Header.Get("apns-collapse-id") != ids[i] || n.Header.Get("apns-expiration") == "0" {
			t.Errorf("wake-up %d headers %v: want the request as collapse id and an expiration", i, n.Header)
		}
	}
	// Which node wins each claim is the scheduler's choice; together they sent each once.
	sent := map[string]string{"provider": "apns", "outcome": OutcomeSent}
	if va, vb := counter(t, regA, "signet_push_sends_total", sent), counter(t, regB, "signet_push_sends_total", sent); va+vb != float64(len(ids)) {
		t.Errorf("signet_push_sends_total{apns,sent} = %v and %v on the two nodes, want %d in all", va, vb, len(ids))
	}
}

// A connected device gets no push: its node delivers in band.
func TestConnectedDeviceGetsNoPush(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.online.Store("d1", true)
	d, _ := w.node(prometheus.NewRegistry(), nil)
	r := w.ask()
	if st := w.status(r, "d1"); st.Route != RouteInBand {
		t.Errorf("status %+v, want in band", st)
	}
	d.Close()
	if n := len(w.fake.Notifications()); n != 0 {
		t.Errorf("APNs got %d wake-ups for a connected device", n)
	}
}

// A device that does not connect after its wake-up gets one reminder, and only one.
func TestReminderOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d, _ := w.node(prometheus.NewRegistry(), func(c *Config) { c.ReminderAfter = 100 * time.Millisecond })
	r := w.ask()
	testutil.Eventually(t, waitFor, func() bool {
		st, err := DeliveryStatus(context.Background(), w.eph, "demo", r.ID, "d1")
		return err == nil && st.Reminded
	}, "the reminder")
	d.Close()
	if n := len(w.fake.Notifications()); n != 2 {
		t.Errorf("APNs got %d wake-ups, want the push and one reminder", n)
	}
	// A device that connects meanwhile is not reminded.
	w2 := newWorld(t)
	d2, _ := w2.node(prometheus.NewRegistry(), func(c *Config) { c.ReminderAfter = 100 * time.Millisecond })
	r2 := w2.ask()
	w2.status(r2, "d1")
	w2.online.Store("d1", true)
	testutil.Eventually(t, waitFor, func() bool {
		d2.mu.Lock()
		defer d2.mu.Unlock()
		return len(d2.timers) == 0
	}, "the reminder's time")
	d2.Close()
	if n := len(w2.fake.Notifications()); n != 1 {
		t.Errorf("APNs got %d wake-ups for a device that connected after the first, want 1", n)
	}
}

// A token APNs no longer knows is cleared from the device, and counted.
func TestInvalidTokenCleared(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.fake.Unregister(w.device.PushToken, time.Now())
	reg := prometheus.NewRegistry()
	w.node(reg, nil)
	r := w.ask()
	if st := w.status(r, "d1"); st.Route != RouteFailed || !strings.Contains(st.Error, "no longer knows") {
		t.Errorf("status %+v, want failed: token unknown", st)
	}
	testutil.Eventually(t, waitFor, func() bool {
		d, err := w.st.GetDevice(context.Background(), "demo", "d1")
		return err == nil && d.PushToken == "" && d.PushProvider == "apns"
	}, "the device's push token to be cleared")
	if v := counter(t, reg, "signet_push_token_invalidations_total", map[string]string{"provider": "apns"}); v != 1 {
		t.Errorf("signet_push_token_invalidations_total{apns} = %v, want 1", v)
	}
	if v := counter(t, reg, "signet_push_sends_total", map[string]string{"provider": "apns", "outcome": OutcomeInvalidToken}); v != 1 {
		t.Errorf("signet_push_sends_total{apns,invalid_token} = %v, want 1", v)
	}
}

// A temporary failure is retried after the provider's Retry-After.
func TestRetryAfterTemporaryFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.fake.FailNext(1, apnstest.Failure{Status: http.StatusServiceUnavailable, Reason: "ServiceUnavailable", RetryAfter: "0"})
	w.node(prometheus.NewRegistry(), nil)
	r := w.ask()
	if st := w.status(r, "d1"); st.Route != RoutePush || st.Attempts != 2 {
		t.Errorf("status %+v, want a push on the second attempt", st)
	}
}

// A device without a push registration, or a realm without a credential for its
// provider, is told apart in the status; nothing is sent.
func TestNothingToSendWith(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	if err := w.st.DeleteDevice(ctx, "demo", "d1", store.Audit{Actor: "test", Action: "device_removed"}); err != nil {
		t.Fatal(err)
	}
	w.enroll("d2", "", "")
	w.node(prometheus.NewRegistry(), nil)
	r := w.ask()
	if st := w.status(r, "d2"); st.Route != RouteNoRegistration {
		t.Errorf("status %+v, want no registration", st)
	}
	if _, err := w.reqs.Cancel(ctx, "demo", r.ID, []byte("test")); err != nil {
		t.Fatal(err)
	}
	w.enroll("d3", "fcm", "fcm-token")
	r = w.ask()
	if st := w.status(r, "d3"); st.Route != RouteNoCredential || st.Provider != "fcm" {
		t.Errorf("status %+v, want no credential for fcm", st)
	}
	if n := len(w.fake.Notifications()); n != 0 {
		t.Errorf("APNs got %d wake-ups", n)
	}
}

// TestPush wakes a device on demand and reports a refusal.
func TestTestPush(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d, _ := w.node(prometheus.NewRegistry(), nil)
	st, err := d.TestPush(context.Background(), "demo", "d1")
	if err != nil || st.Route != RoutePush {
		t.Fatalf("TestPush = %+v, %v", st, err)
	}
	if n := w.fake.Notifications(); len(n) != 1 || !strings.Contains(string(n[0].Payload), `"test-`) {
		t.Errorf("APNs got %v", n)
	}
	if _, err := d.TestPush(context.Background(), "demo", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TestPush of an unknown device: %v", err)
	}
	w.fake.FailNext(1, apnstest.Failure{Status: http.StatusBadRequest, Reason: "BadTopic"})
	if st, err := d.TestPush(context.Background(), "demo", "d1"); err != nil || st.Route != RouteFailed || !strings.Contains(st.Error, "BadTopic") {
		t.Errorf("TestPush refused by APNs = %+v, %v", st, err)
	}
}

// The credentials keep the secret sealed: the stored row does not hold it, and the
// shown form does not either.
func TestCredentialsSealed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	pc, err := w.st.GetPushCredential(ctx, "demo", "apns")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pc.Sealed), "PRIVATE KEY") || strings.Contains(string(pc.Settings), "PRIVATE KEY") {
		t.Error("the stored credential holds the key in the clear")
	}
	c, err := w.creds.Get(ctx, "demo", "apns")
	if err != nil || !strings.Contains(string(c.Settings), `"key_id":"KEY1234567"`) || strings.Contains(fmt.Sprint(c), "PRIVATE") {
		t.Errorf("shown credential %+v, %v", c, err)
	}
	if _, err := w.creds.PutAPNs(ctx, "demo", APNs{Key: []byte("not a key"), KeyID: "K", TeamID: "T", Topic: "x", Environment: "mars"}); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("bad APNs credential: %v", err)
	}
}

// counter reads the value of the counter name with exactly these labels.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := len(m.GetLabel()) == len(labels)
			for _, l := range m.GetLabel() {
				match = match && labels[l.GetName()] == l.GetValue()
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A push recorded after the app has confirmed the message does not undo the
// confirmation; what the push did is kept beside it.
func TestAcknowledgedStays(t *testing.T) {
	t.Parallel()
	eph := memory.New()
	defer eph.Close()
	ctx := context.Background()
	if err := recordStatus(ctx, eph, "demo", "m1", "d1", Status{Route: RouteAcknowledged}, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	if err := recordStatus(ctx, eph, "demo", "m1", "d1", Status{Route: RoutePush, Provider: "apns", Attempts: 1}, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	st, err := DeliveryStatus(ctx, eph, "demo", "m1", "d1")
	if err != nil || st.Route != RouteAcknowledged || st.Provider != "apns" || st.Attempts != 1 {
		t.Errorf("status %+v, %v; want acknowledged, through apns once", st, err)
	}
}

// Two nodes with their own connections to Redis, both hearing every new request: the
// device gets exactly one wake-up per request.
func TestOnePushAcrossNodesOnRedis(t *testing.T) {
	t.Parallel()
	url := testutil.RedisURL(t)
	prefix := "signet-test:messaging:" + rand.Text()[:10] + ":"
	open := func() ephemeral.Store {
		s, err := redis.Open(t.Context(), url, redis.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	w := newWorldOn(t, open())
	a, _ := w.nodeOn(open(), prometheus.NewRegistry(), nil)
	b, _ := w.nodeOn(open(), prometheus.NewRegistry(), nil)
	const n = 5
	for range n {
		r := w.ask()
		w.status(r, "d1")
		if _, err := w.reqs.Cancel(context.Background(), "demo", r.ID, []byte("test")); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	if got := len(w.fake.Notifications()); got != n {
		t.Errorf("APNs got %d wake-ups for %d requests on two nodes", got, n)
	}
}

// A sign-in request's delivery is kept for its status but announced to no stream (no
// client may see it); a message's is announced.
func TestOnlyMessagesAnnounced(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	sub, err := w.eph.Subscribe(t.Context(), DeliveriesChannel)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	w.node(prometheus.NewRegistry(), nil)
	r := w.ask()
	w.status(r, "d1") // recorded, and, were it announced, published first
	if err := recordStatus(t.Context(), w.eph, "demo", "m1", "d1", Status{Route: RouteQueued}, time.Minute, true); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-sub.C():
		if !strings.Contains(string(b), `"id":"m1"`) {
			t.Errorf("first announced delivery %s, want the message's, not the sign-in request's", b)
		}
	case <-time.After(waitFor):
		t.Fatal("the message's delivery was not announced")
	}
}

// A stored credential that no longer makes a sender answers a test push with a failed
// status naming why, not an error.
func TestTestPushUnusableCredential(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	pc, err := w.st.GetPushCredential(ctx, "demo", "apns")
	if err != nil {
		t.Fatal(err)
	}
	pc.Settings = []byte(`{"key_id":"KEY1234567","team_id":"TEAM123456","topic":"com.example.signet","environment":"mars"}`)
	if _, err := w.st.PutPushCredential(ctx, pc); err != nil {
		t.Fatal(err)
	}
	d, _ := w.nodeOn(w.eph, prometheus.NewRegistry(), nil)
	st, err := d.TestPush(ctx, "demo", "d1")
	if err != nil || st.Route != RouteFailed || !strings.Contains(st.Error, "cannot be used") {
		t.Errorf("TestPush = %+v, %v; want failed: the credential cannot be used", st, err)
	}
}
