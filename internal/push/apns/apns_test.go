package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/apns"
	"github.com/signet-auth/signet/internal/push/apns/apnstest"
)

const device = "6f1c1a6bd0f7d6de7e1bd4d6c5c8e0f04e9b5a3b2cf3c1c9a7a2b3d4e5f60718"

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock shared by a test, its sender and its fake.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a fake APNs and a sender pointed at it.
type fixture struct {
	fake        *apnstest.Server
	sender      *apns.Sender
	senderClock *clock
	fakeClock   *clock
}

// newFixture starts a fake and a sender. Sender and fake get their own clocks, so a
// test can age tokens on one side only.
func newFixture(t testing.TB, opts ...apns.Option) *fixture {
	t.Helper()
	f := &fixture{senderClock: newClock(), fakeClock: newClock()}
	f.fake = apnstest.NewServer(t, apnstest.Config{Clock: f.fakeClock.Now})
	opts = append([]apns.Option{apns.WithRootCAs(f.fake.CertPool()), apns.WithClock(f.senderClock.Now)}, opts...)
	s, err := apns.New(f.config(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	f.sender = s
	return f
}

func (f *fixture) config() apns.Config {
	return apns.Config{
		Key:     f.fake.KeyPEM,
		KeyID:   f.fake.KeyID,
		TeamID:  f.fake.TeamID,
		Topic:   f.fake.Topic,
		BaseURL: f.fake.URL,
	}
}

func (f *fixture) advance(d time.Duration) {
	f.senderClock.Advance(d)
	f.fakeClock.Advance(d)
}

func wake(id string) push.Message { return push.Message{ID: id, Title: "Sign-in request"} }

func TestSendHeadersAndPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		msg         push.Message
		wantHeaders map[string]string // "" means absent
		wantPayload string
	}{
		{
			name: "alert",
			msg:  push.Message{ID: "req-1", Title: "Sign-in request", CollapseID: "login-42", TTL: 90 * time.Second},
			wantHeaders: map[string]string{
				"apns-topic":       apnstest.DefaultTopic,
				"apns-push-type":   "alert",
				"apns-priority":    "10",
				"apns-expiration":  strconv.FormatInt(epoch.Add(90*time.Second).Unix(), 10),
				"apns-collapse-id": "login-42",
				"content-type":     "application/json",
				"apns-id":          "",
			},
			wantPayload: `{"aps":{"alert":{"title":"Sign-in request"},"mutable-content":1},"signet":{"id":"req-1"}}`,
		},
		{
			name: "background",
			msg:  push.Message{ID: "req-2"},
			wantHeaders: map[string]string{
				"apns-topic":       apnstest.DefaultTopic,
				"apns-push-type":   "background",
				"apns-priority":    "5",
				"apns-expiration":  "0",
				"apns-collapse-id": "",
				"content-type":     "application/json",
				"apns-id":          "",
			},
			wantPayload: `{"aps":{"content-available":1},"signet":{"id":"req-2"}}`,
		},
		{
			name:        "title with markup is not escaped",
			msg:         push.Message{ID: "a<b>&c", Title: "Sign-in <request> & more"},
			wantPayload: `{"aps":{"alert":{"title":"Sign-in <request> & more"},"mutable-content":1},"signet":{"id":"a<b>&c"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if err := f.sender.Send(context.Background(), device, tt.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := f.fake.Notifications()
			if len(got) != 1 {
				t.Fatalf("fake accepted %d notifications, want 1", len(got))
			}
			n := got[0]
			if n.Token != device {
				t.Errorf("token = %q, want %q", n.Token, device)
			}
			for name, want := range tt.wantHeaders {
				if _, present := n.Header[http.CanonicalHeaderKey(name)]; want == "" && present {
					t.Errorf("header %s = %q, want it absent", name, n.Header.Get(name))
				} else if got := n.Header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			if auth := n.Header.Get("authorization"); !strings.HasPrefix(auth, "bearer ") || strings.Count(auth, ".") != 2 {
				t.Errorf("authorization = %q, want bearer <jwt>", auth)
			}
			if string(n.Payload) != tt.wantPayload {
				t.Errorf("payload = %s\nwant      %s", n.Payload, tt.wantPayload)
			}
		})
	}
}

func TestProviderTokenReusedThenRefreshedAfter50Minutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	send := func(n int) {
		t.Helper()
		for i := range n {
			if err := f.sender.Send(context.Background(), device, wake(strconv.Itoa(i))); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
	}
	send(20)
	if got := f.fake.ProviderTokens(); got != 1 {
		t.Fatalf("after 20 sends the fake saw %d provider tokens, want 1", got)
	}
	f.advance(apns.TokenLifetime - time.Second)
	send(5)
	if got := f.fake.ProviderTokens(); got != 1 {
		t.Fatalf("just before %v the fake saw %d provider tokens, want 1", apns.TokenLifetime, got)
	}
	f.advance(time.Second)
	send(5)
	if got := f.fake.ProviderTokens(); got != 2 {
		t.Fatalf("at %v the fake saw %d provider tokens, want 2", apns.TokenLifetime, got)
	}
	if got := len(f.fake.Notifications()); got != 30 {
		t.Fatalf("fake accepted %d notifications, want 30", got)
	}
}

func TestExpiredProviderTokenRefreshedAndRetriedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.fake.FailNext(1, apnstest.Failure{Status: http.StatusForbidden, Reason: "ExpiredProviderToken"})
	if err := f.sender.Send(context.Background(), device, wake("1")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := f.fake.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusForbidden || reqs[1].Status != http.StatusOK {
		t.Fatalf("fake answered %v, want 403 then 200", statuses(reqs))
	}
	if reqs[0].Header.Get("authorization") == reqs[1].Header.Get("authorization") {
		t.Fatal("the retry reused the expired provider token")
	}
	// The fresh token is kept for later sends.
	if err := f.sender.Send(context.Background(), device, wake("2")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := f.fake.ProviderTokens(); got != 2 {
		t.Fatalf("fake saw %d provider tokens, want 2", got)
	}
}

func TestExpiredProviderTokenTwiceIsPermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(f *fixture)
	}{
		{"fake says so twice", func(f *fixture) {
			f.fake.FailNext(2, apnstest.Failure{Status: http.StatusForbidden, Reason: "ExpiredProviderToken"})
		}},
		// The fake's clock runs an hour ahead: every token the sender mints is stale.
		{"clock skew", func(f *fixture) { f.fakeClock.Advance(61 * time.Minute) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.setup(f)
			err := f.sender.Send(context.Background(), device, wake("1"))
			var apnsErr *apns.Error
			if !errors.As(err, &apnsErr) || apnsErr.Status != http.StatusForbidden || apnsErr.Reason != "ExpiredProviderToken" {
				t.Fatalf("Send = %v, want a 403 ExpiredProviderToken *apns.Error", err)
			}
			assertPermanent(t, err)
			if got := len(f.fake.Requests()); got != 2 {
				t.Fatalf("fake got %d requests, want 2 (one retry only)", got)
			}
			if got := f.fake.ProviderTokens(); got != 2 {
				t.Fatalf("fake saw %d provider tokens, want 2", got)
			}
		})
	}
}

// Concurrent sends told at once that the token expired mint one new token between them.
func TestConcurrentSendsShareOneRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.sender.Send(context.Background(), device, wake("warm-up")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// The sender's token is 30 minutes old to it (reused) but 61 to the fake (expired);
	// a token minted now is fresh to both.
	f.senderClock.Advance(30 * time.Minute)
	f.fakeClock.Advance(61 * time.Minute)
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- f.sender.Send(context.Background(), device, wake(strconv.Itoa(i))) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if got := f.fake.ProviderTokens(); got != 2 {
		t.Fatalf("fake saw %d provider tokens, want 2 (one refresh shared by all)", got)
	}
	if got := len(f.fake.Notifications()); got != n+1 {
		t.Fatalf("fake accepted %d notifications, want %d", got, n+1)
	}
}

func TestResponseMapping(t *testing.T) {
	t.Parallel()
	type kind int
	const (
		invalid kind = iota
		retry
		permanent
	)
	tests := []struct {
		name       string
		status     int
		reason     string
		retryAfter string
		want       kind
		wantAfter  time.Duration
	}{
		{"410 Unregistered", http.StatusGone, "Unregistered", "", invalid, 0},
		{"400 BadDeviceToken", http.StatusBadRequest, "BadDeviceToken", "", invalid, 0},
		{"400 DeviceTokenNotForTopic (a wrong topic: configuration)", http.StatusBadRequest, "DeviceTokenNotForTopic", "", permanent, 0},
		{"429 TooManyRequests with Retry-After", http.StatusTooManyRequests, "TooManyRequests", "7", retry, 7 * time.Second},
		{"429 TooManyProviderTokenUpdates", http.StatusTooManyRequests, "TooManyProviderTokenUpdates", "", retry, apns.DefaultBackoff},
		{"429 Retry-After as HTTP date", http.StatusTooManyRequests, "TooManyRequests", epoch.Add(42 * time.Second).Format(http.TimeFormat), retry, 42 * time.Second},
		{"500 InternalServerError", http.StatusInternalServerError, "InternalServerError", "", retry, apns.DefaultBackoff},
		{"503 ServiceUnavailable", http.StatusServiceUnavailable, "ServiceUnavailable", "", retry, apns.DefaultBackoff},
		{"503 Shutdown with Retry-After", http.StatusServiceUnavailable, "Shutdown", "2", retry, 2 * time.Second},
		{"503 Retry-After capped", http.StatusServiceUnavailable, "ServiceUnavailable", "86400", retry, push.MaxRetryAfter},
		{"400 BadTopic", http.StatusBadRequest, "BadTopic", "", permanent, 0},
		{"400 MissingTopic", http.StatusBadRequest, "MissingTopic", "", permanent, 0},
		{"403 InvalidProviderToken", http.StatusForbidden, "InvalidProviderToken", "", permanent, 0},
		{"413 PayloadTooLarge", http.StatusRequestEntityTooLarge, "PayloadTooLarge", "", permanent, 0},
		{"405 MethodNotAllowed", http.StatusMethodNotAllowed, "MethodNotAllowed", "", permanent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.fake.FailNext(1, apnstest.Failure{Status: tt.status, Reason: tt.reason, RetryAfter: tt.retryAfter})
			err := f.sender.Send(context.Background(), device, wake("1"))
			if err == nil {
				t.Fatal("Send = nil, want an error")
			}
			var apnsErr *apns.Error
			if !errors.As(err, &apnsErr) || apnsErr.Status != tt.status || apnsErr.Reason != tt.reason || apnsErr.ID == "" {
				t.Fatalf("Send = %v, want an *apns.Error with %d %s and the apns-id", err, tt.status, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not name the reason %s", err, tt.reason)
			}
			var retryErr *push.RetryError
			switch tt.want {
			case invalid:
				if !errors.Is(err, push.ErrInvalidToken) || errors.As(err, &retryErr) {
					t.Fatalf("Send = %v, want push.ErrInvalidToken", err)
				}
			case retry:
				if !errors.As(err, &retryErr) || errors.Is(err, push.ErrInvalidToken) {
					t.Fatalf("Send = %v, want a *push.RetryError", err)
				}
				if retryErr.After != tt.wantAfter {
					t.Fatalf("After = %v, want %v", retryErr.After, tt.wantAfter)
				}
			case permanent:
				assertPermanent(t, err)
			}
			if got := len(f.fake.Requests()); got != 1 {
				t.Fatalf("fake got %d requests, want 1 (no retry inside Send)", got)
			}
		})
	}
}

// Answers the fake reaches by its own checks rather than by FailNext.
func TestResponsesFromFakeChecks(t *testing.T) {
	t.Parallel()
	t.Run("unregistered token", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.fake.Unregister(device, epoch.Add(-time.Hour))
		err := f.sender.Send(context.Background(), device, wake("1"))
		if !errors.Is(err, push.ErrInvalidToken) {
			t.Fatalf("Send = %v, want push.ErrInvalidToken", err)
		}
	})
	t.Run("wrong topic", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		cfg := f.config()
		cfg.Topic = "com.example.other"
		s, err := apns.New(cfg, apns.WithRootCAs(f.fake.CertPool()), apns.WithClock(f.senderClock.Now))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Send(context.Background(), device, wake("1"))
		var apnsErr *apns.Error
		if !errors.As(err, &apnsErr) || apnsErr.Reason != "BadTopic" {
			t.Fatalf("Send = %v, want BadTopic", err)
		}
		assertPermanent(t, err)
	})
	t.Run("key the fake does not know", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		cfg := f.config()
		cfg.Key = newKeyPEM(t, elliptic.P256())
		s, err := apns.New(cfg, apns.WithRootCAs(f.fake.CertPool()), apns.WithClock(f.senderClock.Now))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		err = s.Send(context.Background(), device, wake("1"))
		var apnsErr *apns.Error
		if !errors.As(err, &apnsErr) || apnsErr.Reason != "InvalidProviderToken" {
			t.Fatalf("Send = %v, want InvalidProviderToken", err)
		}
		assertPermanent(t, err)
	})
}

func TestMalformedDeviceTokenRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, token := range []string{"", "xyz", device[:63], device + "zz", "../../3/device/" + device, strings.Repeat("ab", 101)} {
		err := f.sender.Send(context.Background(), token, wake("1"))
		if !errors.Is(err, push.ErrInvalidToken) {
			t.Errorf("Send(%q) = %v, want push.ErrInvalidToken", token, err)
		}
	}
	if got := len(f.fake.Requests()); got != 0 {
		t.Fatalf("fake got %d requests, want 0", got)
	}
}

func TestMessageRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := map[string]push.Message{
		"collapse id over 64 bytes":  {ID: "1", CollapseID: strings.Repeat("c", 65)},
		"collapse id with a newline": {ID: "1", CollapseID: "login\nx"},
		"collapse id with a NUL":     {ID: "1", CollapseID: "login\x00"},
		"negative TTL":               {ID: "1", TTL: -time.Second},
		"no id":                      {Title: "Sign-in request"},
		"payload over 4096 bytes":    {ID: "1", Title: strings.Repeat("t", 4096)},
	}
	for name, m := range tests {
		err := f.sender.Send(context.Background(), device, m)
		if err == nil {
			t.Errorf("%s: Send = nil, want an error", name)
			continue
		}
		assertPermanent(t, err)
	}
	if got := len(f.fake.Requests()); got != 0 {
		t.Fatalf("fake got %d requests, want 0", got)
	}
	// The limits themselves pass.
	if err := f.sender.Send(context.Background(), device, push.Message{ID: "1", CollapseID: strings.Repeat("c", 64)}); err != nil {
		t.Fatalf("Send with a 64-byte collapse id: %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  apns.Environment
		port int
		base string
		want string
	}{
		{apns.Production, 0, "", "https://api.push.apple.com"},
		{apns.Production, 443, "", "https://api.push.apple.com"},
		{apns.Production, 2197, "", "https://api.push.apple.com:2197"},
		{apns.Sandbox, 0, "", "https://api.sandbox.push.apple.com"},
		{apns.Sandbox, 2197, "", "https://api.sandbox.push.apple.com:2197"},
		{"", 0, "https://127.0.0.1:8443/", "https://127.0.0.1:8443"},
		{apns.Sandbox, 0, "https://proxy.example.com/apns", "https://proxy.example.com/apns"},
	}
	for _, tt := range tests {
		cfg := apns.Config{Environment: tt.env, Port: tt.port, BaseURL: tt.base}
		if got := cfg.Endpoint(); got != tt.want {
			t.Errorf("Endpoint(%s, %d, %q) = %q, want %q", tt.env, tt.port, tt.base, got, tt.want)
		}
	}
}

// The sender connects to Apple's host and port: a dialer that records the address and
// routes every connection to the fake shows it, with TLS still checked.
func TestSendDialsApple(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env      apns.Environment
		port     int
		wantAddr string
	}{
		{apns.Production, 0, "api.push.apple.com:443"},
		{apns.Sandbox, 0, "api.sandbox.push.apple.com:443"},
		{apns.Production, apns.AlternativePort, "api.push.apple.com:2197"},
		{apns.Sandbox, apns.AlternativePort, "api.sandbox.push.apple.com:2197"},
	}
	for _, tt := range tests {
		t.Run(tt.wantAddr, func(t *testing.T) {
			t.Parallel()
			fake := apnstest.NewServer(t, apnstest.Config{})
			var mu sync.Mutex
			var dialed []string
			var protocols http.Protocols
			protocols.SetHTTP2(true)
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					mu.Lock()
					dialed = append(dialed, addr)
					mu.Unlock()
					var d net.Dialer
					return d.DialContext(ctx, network, strings.TrimPrefix(fake.URL, "https://"))
				},
				// The fake's certificate names example.com, not Apple.
				TLSClientConfig: &tls.Config{RootCAs: fake.CertPool(), ServerName: "example.com"},
				Protocols:       &protocols,
			}
			s, err := apns.New(apns.Config{
				Key: fake.KeyPEM, KeyID: fake.KeyID, TeamID: fake.TeamID, Topic: fake.Topic,
				Environment: tt.env, Port: tt.port,
			}, apns.WithTransport(tr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Send(context.Background(), device, wake("1")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(dialed) != 1 || dialed[0] != tt.wantAddr {
				t.Fatalf("dialed %v, want [%s]", dialed, tt.wantAddr)
			}
		})
	}
}

func TestSenderRefusesHTTP1Server(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("an HTTP/%d.%d request reached the HTTP/1.1-only server", r.ProtoMajor, r.ProtoMinor)
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := apns.Config{Key: newKeyPEM(t, elliptic.P256()), KeyID: "ABCDE12345", TeamID: "TEAM123456", Topic: "com.example.app", BaseURL: srv.URL}
	s, err := apns.New(cfg, apns.WithRootCAs(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(context.Background(), device, wake("1"))
	var retryErr *push.RetryError
	if !errors.As(err, &retryErr) {
		t.Fatalf("Send = %v, want a *push.RetryError (no HTTP/2)", err)
	}
}

func TestSlowAPNsBoundedByTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	f := newFixture(t, apns.WithTimeout(timeout))
	release := f.fake.Stall()
	defer release()
	start := time.Now()
	err := f.sender.Send(context.Background(), device, wake("1"))
	elapsed := time.Since(start)
	var retryErr *push.RetryError
	if !errors.As(err, &retryErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want a *push.RetryError wrapping context.DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+5*time.Second {
		t.Fatalf("Send returned after %v, want about %v", elapsed, timeout)
	}
	if strings.Contains(err.Error(), device) {
		t.Fatalf("error %q quotes the device token", err)
	}
}

func TestNetworkErrorIsRetryAndQuotesNoSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if err := f.sender.Send(context.Background(), device, wake("1")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	jwt := strings.TrimPrefix(f.fake.Notifications()[0].Header.Get("authorization"), "bearer ")
	f.fake.Close()
	err := f.sender.Send(context.Background(), device, wake("2"))
	var retryErr *push.RetryError
	if !errors.As(err, &retryErr) || retryErr.After != apns.DefaultBackoff {
		t.Fatalf("Send = %v, want a *push.RetryError after %v", err, apns.DefaultBackoff)
	}
	for _, secret := range []string{device, jwt} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q quotes a device token or provider token", err)
		}
	}
}

// A stream reset by APNs on a live connection: the send is made once more on a new
// connection and goes through, and later sends use the new connection.
func TestStreamResetRetriedOnNewConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.fake.FailNext(1, apnstest.Failure{Reset: true})
	for i := range 3 {
		if err := f.sender.Send(ctx, device, wake(strconv.Itoa(i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if got := len(f.fake.Notifications()); got != 3 {
		t.Fatalf("fake accepted %d notifications, want 3", got)
	}
	if got := f.fake.Connections(); got != 2 {
		t.Fatalf("fake saw %d connections, want 2 (the reset one and its replacement)", got)
	}
}

// The timeout bounds the whole Send: the retry after ExpiredProviderToken gets what is
// left of it, not a fresh timeout.
func TestTimeoutCoversTokenRefreshRetry(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	var requests atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			// A slow refusal, which uses up most of the timeout.
			select {
			case <-time.After(timeout * 7 / 10):
			case <-r.Context().Done():
				return
			}
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"reason":"ExpiredProviderToken"}`))
			return
		}
		<-r.Context().Done() // the retry hangs until the sender gives up
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := apns.Config{Key: newKeyPEM(t, elliptic.P256()), KeyID: "ABCDE12345", TeamID: "TEAM123456", Topic: "com.example.app", BaseURL: srv.URL}
	s, err := apns.New(cfg, apns.WithRootCAs(pool), apns.WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	err = s.Send(context.Background(), device, wake("1"))
	elapsed := time.Since(start)
	var retryErr *push.RetryError
	if !errors.As(err, &retryErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want a *push.RetryError wrapping context.DeadlineExceeded", err)
	}
	if requests.Load() != 2 {
		t.Fatalf("server got %d requests, want 2 (the refused one and the retry)", requests.Load())
	}
	// A fresh timeout for the retry would make this about 1.7 s.
	if elapsed > timeout*135/100 {
		t.Fatalf("Send returned after %v with a %v timeout", elapsed, timeout)
	}
}

// After APNs drops the connection the next send reconnects and goes through.
func TestReconnectAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 3 {
		if err := f.sender.Send(context.Background(), device, wake(strconv.Itoa(i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		f.fake.DropConnections()
	}
	if got := len(f.fake.Notifications()); got != 3 {
		t.Fatalf("fake accepted %d notifications, want 3", got)
	}
	if got := f.fake.Connections(); got != 3 {
		t.Fatalf("fake saw %d connections, want 3", got)
	}
}

// Concurrent sends multiplex over one HTTP/2 connection.
func TestConcurrentSendsUseOneConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const workers, each = 32, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- f.sender.Send(context.Background(), device, wake(strconv.Itoa(w*each+i)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if got := len(f.fake.Notifications()); got != workers*each {
		t.Fatalf("fake accepted %d notifications, want %d", got, workers*each)
	}
	if got := f.fake.Connections(); got != 1 {
		t.Fatalf("fake saw %d connections, want 1", got)
	}
	if got := f.fake.ProviderTokens(); got != 1 {
		t.Fatalf("fake saw %d provider tokens, want 1", got)
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := apns.New(f.config(), apns.WithTimeout(0)); err == nil {
		t.Error("New with a zero timeout succeeded")
	}
	if _, err := apns.New(f.config(), apns.WithClock(nil)); err == nil {
		t.Error("New with a nil clock succeeded")
	}
	// Without WithRootCAs the system roots do not trust the fake.
	s, err := apns.New(f.config())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var retryErr *push.RetryError
	if err := s.Send(context.Background(), device, wake("1")); !errors.As(err, &retryErr) {
		t.Fatalf("Send to an untrusted server = %v, want a *push.RetryError", err)
	}
}

func assertPermanent(t *testing.T, err error) {
	t.Helper()
	var retryErr *push.RetryError
	if errors.As(err, &retryErr) || errors.Is(err, push.ErrInvalidToken) {
		t.Fatalf("error %v is a retry or invalid-token error, want a permanent one", err)
	}
}

func statuses(reqs []apnstest.Request) []int {
	var out []int
	for _, r := range reqs {
		out = append(out, r.Status)
	}
	return out
}

func newKeyPEM(t testing.TB, curve elliptic.Curve) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func BenchmarkSend(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	if err := f.sender.Send(ctx, device, wake("warm-up")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8) // 8 sends per CPU in flight on the one connection
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f.sender.Send(ctx, device, push.Message{ID: "req"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
	if got := f.fake.Connections(); got != 1 {
		b.Fatalf("fake saw %d connections, want 1", got)
	}
}
