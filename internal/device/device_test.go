package device

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/sigma"
)

// harness is a device server on loopback (plain WebSocket: the channel needs no TLS)
// over a real store, with a realm and a user.
type harness struct {
	t       testing.TB
	st      store.Store
	srv     *Server
	url     string // the DEVICE public URL
	user    store.User
	realm   string
	serveCh chan error
	// roots, when the listener has TLS, trusts its certificate (rawUpgrade).
	roots *x509.CertPool
	// reqs holds the authentication requests, over the same ephemeral store.
	reqs *authn.Service
	eph  ephemeral.Store
}

func newHarness(t testing.TB, backend string, tune func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	st := testdb.Open(t, backend)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "demo", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.User{Realm: "demo", ID: "u-alice", Username: "alice", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClient(ctx, store.Client{Realm: "demo", ID: "bank-app", Name: "Bank", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eph := memory.New()
	t.Cleanup(func() { eph.Close() })
	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	outbox := events.NewOutbox(st)
	// The creation limit and the cooldown are authn's to test; here they would only cut
	// the rounds of tests short. The pending limit stays.
	reqs, err := authn.New(ctx, authn.Config{Store: eph, MaxCreated: 1000, DenialsBeforeCooldown: 1000,
		Events: authn.SinkFunc(func(ctx context.Context, e authn.Event) error { return outbox.Append(ctx, e.Record()) })})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reqs.Close(); _ = outbox.Close(context.Background()) })
	cfg := Config{Store: st, Ephemeral: eph, Requests: reqs, Keys: []crypto.Signer{key}, Pepper: pepper}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	if cfg.TLS != nil {
		url = "https://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	}
	h := &harness{t: t, st: st, srv: srv, url: url, user: u, realm: "demo", serveCh: make(chan error, 1), reqs: reqs, eph: eph}
	go func() { h.serveCh <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-h.serveCh; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

func (h *harness) activation() Activation {
	h.t.Helper()
	a, err := h.srv.CreateActivation(context.Background(), h.url, ActivationRequest{Realm: h.realm, UserID: h.user.ID, Actor: "test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// ask makes a request of the user's devices, as a login page or a client would.
func (h *harness) ask(tune func(*authn.NewRequest)) authn.Request {
	h.t.Helper()
	n := authn.NewRequest{Realm: "demo", Kind: authn.KindPushLogin, ClientID: "bank-app", UserID: h.user.ID,
		Text: "Sign in to Bank", Binding: []byte("test")}
	if tune != nil {
		tune(&n)
	}
	r, err := Ask(context.Background(), h.st, h.reqs, time.Now(), n)
	if err != nil {
		h.t.Fatalf("Ask: %v", err)
	}
	return r
}

// stored reads a request as it is now.
func (h *harness) stored(id string) authn.Request {
	h.t.Helper()
	r, err := h.reqs.Get(context.Background(), "demo", id)
	if err != nil {
		h.t.Fatalf("Get: %v", err)
	}
	return r
}

// newRequestListener collects requests the server pushes.
type requestListener struct {
	reqs   chan *authenticator.Request
	closed chan string
}

func newRequestListener() *requestListener {
	return &requestListener{reqs: make(chan *authenticator.Request, 16), closed: make(chan string, 1)}
}
func (l *requestListener) OnRequest(r *authenticator.Request) { l.reqs <- r }
func (l *requestListener) OnClosed(err string)                { l.closed <- err }

// next waits (up to 10 s) for the next request pushed to the device.
func (l *requestListener) next(t *testing.T) *authenticator.Request {
	t.Helper()
	select {
	case r := <-l.reqs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the request was not delivered to the connected device")
		return nil
	}
}

func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	t.Parallel()
	for _, b := range testdb.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// The end-to-end path: an activation code, enrollment with the SDK, a
// connection, a request created afterwards delivered in-band, an approval, and the
// stored signature checked against the device key.
func TestEnrollConnectApprove(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, nil)
		act := h.activation()
		if !strings.HasPrefix(act.URL, h.url+"/enroll#") || len(act.Code) != 26 {
			t.Fatalf("activation %q, code %q", act.URL, act.Code)
		}
		keys := authenticator.NewMemoryKeyStore()
		app := authenticator.New(keys)
		s, err := app.Enroll(act.URL, &authenticator.Enrollment{DisplayName: "Alice's phone", Platform: "android", PushProvider: "fcm", PushToken: "tok-1"})
		if err != nil {
			t.Fatal(err)
		}
		id := s.Identity()
		s.Close()
		if id.UserID != h.user.ID || id.Realm != "demo" || id.Username != "alice" {
			t.Fatalf("identity %+v", id)
		}
		d, err := h.st.GetDevice(context.Background(), "demo", id.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		if d.DisplayName != "Alice's phone" || d.Platform != "android" || d.PushToken != "tok-1" || d.State != store.DeviceActive {
			t.Fatalf("stored device %+v", d)
		}

		// Connect again as the registered device and wait for a request.
		s, err = app.Connect(id, &authenticator.Enrollment{AppVersion: "1.2"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l := newRequestListener()
		s.SetListener(l)
		r := h.ask(func(n *authn.NewRequest) {
			n.Kind, n.Text = authn.KindTransaction, "Pay 120.00 EUR to ACME"
			n.AuthorizationDetails = []byte(`[ {"type": "payment", "payee": "Smith & Co <AG>", "amount": "120.00"} ]`)
			n.RequesterIP = "192.0.2.1"
		})
		got := l.next(t)
		if got.ID != r.ID || got.Text != "Pay 120.00 EUR to ACME" || got.ClientName != "Bank" || got.Origin("ip") != "192.0.2.1" ||
			got.AuthorizationDetails != `[{"type":"payment","payee":"Smith & Co <AG>","amount":"120.00"}]` {
			t.Fatalf("delivered %+v", got)
		}
		state, err := s.Approve(got, r.MatchNumber)
		if err != nil || state != "approved" {
			t.Fatalf("approve: %q, %v", state, err)
		}
		rc, err := ReceiptFor(h.stored(r.ID))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := parsePoint(rc.DeviceKey)
		if err != nil {
			t.Fatal(err)
		}
		point, _ := keys.PublicKey(id.KeyAlias)
		if string(point) != string(rc.DeviceKey) {
			t.Fatal("the receipt names another key than the device's")
		}
		if err := sigma.VerifyApproval(pub, rc.Statement, rc.Signature); err != nil {
			t.Fatalf("stored signature does not verify: %v", err)
		}
		// A second answer is refused.
		if _, err := s.Deny(got); !isServerError(err, "already_answered") {
			t.Fatalf("second answer: %v", err)
		}
	})
}

func isServerError(err error, code string) bool {
	var se *authenticator.ServerError
	return errors.As(err, &se) && se.Code == code
}

// A request created while the device is offline waits for it (store and forward).
func TestOfflineDeviceGetsPendingOnConnect(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, nil)
		app := authenticator.New(authenticator.NewMemoryKeyStore())
		s, err := app.Enroll(h.activation().URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := s.Identity()
		s.Close()
		r := h.ask(nil)
		s, err = app.Connect(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		list, err := s.Pending()
		if err != nil {
			t.Fatal(err)
		}
		if list.Len() != 1 || list.Get(0).ID != r.ID || list.Get(0).NumberChoiceCount() != 3 {
			t.Fatalf("pending: %d", list.Len())
		}
		full, err := s.Fetch(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for i := range full.NumberChoiceCount() {
			found = found || full.NumberChoice(i) == r.MatchNumber
		}
		if !found {
			t.Fatal("the matching number is not among the choices")
		}
		// A wrong number denies.
		wrong := "10"
		if r.MatchNumber == wrong {
			wrong = "11"
		}
		if _, err := s.Approve(full, wrong); !isServerError(err, "wrong_number") {
			t.Fatalf("wrong number: %v", err)
		}
		if stored := h.stored(r.ID); stored.State != authn.Denied || !stored.Answer.WrongNumber {
			t.Fatalf("after a wrong number the request is %s", stored.State)
		}
	})
}

// 100 concurrent redemptions of one activation code enroll exactly one device.
func TestConcurrentEnrollmentsOneCode(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		h := newHarness(t, backend, func(c *Config) { c.EnrollmentsPerIP = 1000; c.HandshakesPerIP = 1000 })
		act := h.activation()
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, used := 0, 0
		var other []error
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(act.URL, nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
					s.Close()
				case isServerError(err, "code_used"):
					used++
				default:
					other = append(other, err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 || used != 99 || len(other) > 0 {
			t.Fatalf("%d enrolled, %d refused as used, others: %v", ok, used, other)
		}
		page, err := h.st.ListDevices(context.Background(), "demo", store.DeviceFilter{UserID: h.user.ID}, store.ListOptions{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("%d devices, %v", len(page.Items), err)
		}
	})
}

// One request answered approve and deny at the same moment from two of the user's
// devices ends in exactly one outcome: one answer wins, the other is told so.
func TestTwoDevicesAnswerAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	var sessions []*authenticator.Session
	for range 2 {
		app, id := h.enrolled()
		s, err := app.Connect(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sessions = append(sessions, s)
	}
	for round := range 10 {
		r := h.ask(func(n *authn.NewRequest) { n.Text = "round " + string(rune('A'+round)) })
		var reqs []*authenticator.Request
		for _, s := range sessions {
			got, err := s.Fetch(r.ID)
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, got)
		}
		start := make(chan struct{})
		states := make([]string, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range sessions {
			wg.Go(func() {
				<-start
				if i == 0 {
					states[i], errs[i] = s.Approve(reqs[i], r.MatchNumber)
				} else {
					states[i], errs[i] = s.Deny(reqs[i])
				}
			})
		}
		close(start)
		wg.Wait()
		won, lost := 0, 0
		for i := range 2 {
			switch {
			case errs[i] == nil:
				won++
			case isServerError(errs[i], "already_answered"):
				lost++
			default:
				t.Fatalf("answer %d: %v", i, errs[i])
			}
		}
		stored := h.stored(r.ID)
		if won != 1 || lost != 1 || (stored.State != authn.Approved && stored.State != authn.Denied) {
			t.Fatalf("round %d: %d won, %d lost, stored %s; want exactly one outcome", round, won, lost, stored.State)
		}
		winner := 0
		if errs[0] != nil {
			winner = 1
		}
		if states[winner] != string(stored.State) {
			t.Fatalf("round %d: the winner was told %q, the request is %s", round, states[winner], stored.State)
		}
		if _, err := h.reqs.Consume(context.Background(), "demo", r.ID, []byte("test")); err != nil {
			t.Fatal(err)
		}
	}
}

// A device is noted online while it holds an authenticated connection, on any node's
// view of the ephemeral store, and no longer once it has closed; a second connection
// of the same device keeps the note when the first one closes.
func TestPresence(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app := authenticator.New(authenticator.NewMemoryKeyStore())
	s, err := app.Enroll(h.activation().URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := s.Identity()
	online := func() bool {
		on, err := Online(t.Context(), h.eph, id.DeviceID)
		if err != nil {
			t.Fatal(err)
		}
		return on
	}
	if !online() {
		t.Fatal("an enrolled, connected device is not noted online")
	}
	s.Close()
	testutil.Eventually(t, 5*time.Second, func() bool { return !online() }, "the note to go when the connection closed")

	first, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !online() {
		t.Fatal("a connected device is not noted online")
	}
	second, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	first.Close()
	// The first connection's close must not take the second's note; wait until the
	// server has handled the close (the hub no longer lists it) before checking.
	testutil.Eventually(t, 5*time.Second, func() bool { return len(h.srv.hub.connected("demo", h.user.ID)) == 1 },
		"the server to drop the first connection")
	if !online() {
		t.Error("closing the older of two connections took the device's note")
	}
}
