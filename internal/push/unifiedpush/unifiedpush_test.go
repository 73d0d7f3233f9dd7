package unifiedpush

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/outbound/outboundtest"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/unifiedpush/uptest"
	"github.com/signet-auth/signet/internal/testutil"
)

const subject = "mailto:ops@signet.example"

// newSenderWith returns a Sender with a fresh VAPID key posting through client.
func newSenderWith(t testing.TB, client *outbound.Client, opts ...Option) *Sender {
	t.Helper()
	priv, _, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{VAPIDPrivateKey: priv, Subject: subject}, client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)
	return s
}

// newSender returns a Sender that may reach the loopback receiver srv.
func newSender(t testing.TB, srv *uptest.Server, opts ...Option) *Sender {
	t.Helper()
	client := outbound.New(outbound.Policy{AllowPrivate: true}, outbound.WithRootCAs(srv.CertPool()))
	return newSenderWith(t, client, opts...)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSendRoundTrip(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	s := newSender(t, srv)
	sub := srv.Subscribe(uptest.RestrictedTo(s.ApplicationServerKey()))

	before := time.Now()
	m := push.Message{ID: "req-7f3a", Title: "Sign-in request", CollapseID: "req-7f3a", TTL: 90*time.Second + 900*time.Millisecond}
	if err := s.Send(ctx(t), sub.Token, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// A silent wake-up: no title, no collapse id, deliver now or never.
	if err := s.Send(ctx(t), sub.Token, push.Message{ID: "req-2"}); err != nil {
		t.Fatalf("Send silent: %v", err)
	}

	got := srv.Delivered()
	if len(got) != 2 {
		t.Fatalf("receiver accepted %d pushes, want 2: %+v", len(got), srv.Received())
	}
	p := got[0]
	var payload map[string]any
	if err := json.Unmarshal(p.Plaintext, &payload); err != nil {
		t.Fatalf("plaintext %q is not JSON: %v", p.Plaintext, err)
	}
	if want := map[string]any{"id": "req-7f3a", "title": "Sign-in request"}; fmt.Sprint(payload) != fmt.Sprint(want) {
		t.Errorf("plaintext = %s, want only id and title %v", p.Plaintext, want)
	}
	if string(got[1].Plaintext) != `{"id":"req-2"}` {
		t.Errorf("silent plaintext = %s, want {\"id\":\"req-2\"}", got[1].Plaintext)
	}

	checks := []struct{ name, got, want string }{
		{"protocol", p.Proto, "HTTP/2.0"},
		{"TTL", p.TTL, "90"},
		{"Urgency", p.Urgency, "high"},
		{"Topic", p.Topic, "req-7f3a"},
		{"Content-Encoding", p.ContentEncoding, "aes128gcm"},
		{"Content-Type", p.ContentType, "application/octet-stream"},
		{"VAPID k", p.VAPIDKey, s.ApplicationServerKey()},
		{"VAPID aud", p.Claims.Aud, srv.URL},
		{"VAPID sub", p.Claims.Sub, subject},
		{"silent TTL", got[1].TTL, "0"},
		{"silent Topic", got[1].Topic, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	exp := time.Unix(p.Claims.Exp, 0)
	if lo, hi := before.Add(12*time.Hour-time.Second), time.Now().Add(12*time.Hour); exp.Before(lo) || exp.After(hi) {
		t.Errorf("VAPID exp = %s, want 12 h ahead (%s..%s)", exp, lo, hi)
	}
	// RFC 8291 §3.1: a fresh salt and sender key for every message.
	if bytes.Equal(got[0].Body[:16], got[1].Body[:16]) || bytes.Equal(got[0].Body[21:86], got[1].Body[21:86]) {
		t.Error("two messages share a salt or an ephemeral key")
	}
	if bytes.Equal(got[0].Body[21:86], b64(t, s.ApplicationServerKey())) {
		t.Error("the message key is the VAPID key; RFC 8292 §3.2 requires different keys")
	}
}

func TestSendReusesVAPIDTokenPerOrigin(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now().Truncate(time.Second))
	srv := uptest.New(t, uptest.WithHosts("a.push.example", "b.push.example"), uptest.WithClock(clock.Now))
	loopback := []netip.Addr{srv.Addr().Addr()}
	client := outbound.New(outbound.Policy{AllowPrivate: true}, outbound.WithRootCAs(srv.CertPool()),
		outbound.WithResolver(outboundtest.Resolver(map[string][]netip.Addr{
			"a.push.example": loopback, "b.push.example": loopback,
		})))
	s := newSenderWith(t, client, WithClock(clock.Now))
	a1 := srv.Subscribe(uptest.OnHost("a.push.example"))
	a2 := srv.Subscribe(uptest.OnHost("a.push.example"))
	b := srv.Subscribe(uptest.OnHost("b.push.example"))

	send := func(sub *uptest.Subscription) uptest.Push {
		t.Helper()
		if err := s.Send(ctx(t), sub.Token, push.Message{ID: "x"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		d := srv.Delivered()
		return d[len(d)-1]
	}
	port := srv.Addr().Port()
	pa1, pa2, pb := send(a1), send(a2), send(b)
	if pa1.VAPIDToken != pa2.VAPIDToken {
		t.Error("two pushes to the same origin carry different VAPID tokens")
	}
	if pa1.VAPIDToken == pb.VAPIDToken {
		t.Error("pushes to different origins share a VAPID token")
	}
	if want := fmt.Sprintf("https://a.push.example:%d", port); pa1.Claims.Aud != want {
		t.Errorf("aud = %s, want %s", pa1.Claims.Aud, want)
	}
	if want := fmt.Sprintf("https://b.push.example:%d", port); pb.Claims.Aud != want {
		t.Errorf("aud = %s, want %s", pb.Claims.Aud, want)
	}

	// Reused until it is within an hour of its 12 h expiry, then renewed.
	clock.Advance(10*time.Hour + 59*time.Minute)
	if p := send(a1); p.VAPIDToken != pa1.VAPIDToken {
		t.Error("token renewed 61 minutes before expiry; want it reused")
	}
	clock.Advance(2 * time.Minute)
	p := send(a2)
	if p.VAPIDToken == pa1.VAPIDToken {
		t.Fatal("token reused 59 minutes before expiry; want a new one")
	}
	if want := clock.Now().Add(12 * time.Hour).Unix(); p.Claims.Exp != want {
		t.Errorf("renewed exp = %d, want %d", p.Claims.Exp, want)
	}
}

// permanent reports whether err is neither ErrInvalidToken nor a RetryError.
func permanent(err error) bool {
	var re *push.RetryError
	return err != nil && !errors.Is(err, push.ErrInvalidToken) && !errors.As(err, &re)
}

func TestSendMapsAnswers(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name  string
		fail  uptest.Failure
		check func(t *testing.T, err error)
	}{
		{"410 Gone", uptest.Failure{Status: 410}, invalidToken},
		{"404 Not Found", uptest.Failure{Status: 404}, invalidToken},
		{"429 Retry-After 3", uptest.Failure{Status: 429, RetryAfter: "3"}, retryAfter(3 * time.Second)},
		{"429 without Retry-After", uptest.Failure{Status: 429}, retryAfter(DefaultRetryAfter)},
		{"429 Retry-After too far", uptest.Failure{Status: 429, RetryAfter: "86400"}, retryAfter(push.MaxRetryAfter)},
		{"503 Retry-After date", uptest.Failure{Status: 503, RetryAfter: now.Add(2 * time.Minute).UTC().Format(http.TimeFormat)},
			retryAfter(2 * time.Minute)},
		{"500", uptest.Failure{Status: 500}, retryAfter(DefaultRetryAfter)},
		{"502", uptest.Failure{Status: 502}, retryAfter(DefaultRetryAfter)},
		{"413", uptest.Failure{Status: 413}, permanentWith("too large", "status 413 (errno 104)")},
		{"400", uptest.Failure{Status: 400}, permanentWith("status 400 (errno 110)")},
		{"401", uptest.Failure{Status: 401}, permanentWith("VAPID", "status 401")},
		{"403", uptest.Failure{Status: 403}, permanentWith("VAPID", "status 403")},
		{"405", uptest.Failure{Status: 405}, permanentWith("status 405")},
		{"200", uptest.Failure{Status: 200}, accepted},
		{"202", uptest.Failure{Status: 202}, accepted},
		{"204", uptest.Failure{Status: 204}, accepted},
		{"300", uptest.Failure{Status: 300}, permanentWith("redirect")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := uptest.New(t)
			s := newSender(t, srv, WithClock(func() time.Time { return now }))
			sub := srv.Subscribe()
			srv.FailNext(1, tt.fail)
			err := s.Send(ctx(t), sub.Token, push.Message{ID: "x", Title: "Sign-in request"})
			tt.check(t, err)
			noSecrets(t, err, sub)
			// The failure was for one request only: the next goes through.
			if err := s.Send(ctx(t), sub.Token, push.Message{ID: "y"}); err != nil {
				t.Fatalf("Send after the failure: %v", err)
			}
		})
	}
}

// accepted: any 2xx means the push service took the message.
func accepted(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
}

func invalidToken(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, push.ErrInvalidToken) {
		t.Fatalf("err = %v, want push.ErrInvalidToken", err)
	}
}

func retryAfter(want time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var re *push.RetryError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want a *push.RetryError", err)
		}
		if re.After != want {
			t.Fatalf("RetryError.After = %s, want %s", re.After, want)
		}
		if errors.Is(err, push.ErrInvalidToken) {
			t.Fatal("a temporary failure also matches ErrInvalidToken")
		}
	}
}

func permanentWith(parts ...string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !permanent(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("err = %q, want it to name %q", err, p)
			}
		}
	}
}

// noSecrets fails if err repeats the subscription's path, keys or a VAPID token.
func noSecrets(t *testing.T, err error, sub *uptest.Subscription) {
	t.Helper()
	if err == nil {
		return
	}
	var raw struct {
		Keys struct{ P256DH, Auth string }
	}
	_ = json.Unmarshal([]byte(sub.Token), &raw)
	for _, secret := range []string{sub.ID, raw.Keys.P256DH, raw.Keys.Auth, "vapid t=", "eyJ"} {
		if secret != "" && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func TestSendSubscriptionGone(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	s := newSender(t, srv)
	sub := srv.Subscribe()
	if err := s.Send(ctx(t), sub.Token, push.Message{ID: "x"}); err != nil {
		t.Fatalf("Send before unsubscribing: %v", err)
	}
	srv.Unsubscribe(sub.ID)
	err := s.Send(ctx(t), sub.Token, push.Message{ID: "x"})
	invalidToken(t, err)
	noSecrets(t, err, sub)
	if r := srv.Received(); r[len(r)-1].Status != http.StatusGone {
		t.Fatalf("receiver answered %d, want 410", r[len(r)-1].Status)
	}

	// An endpoint the push service never knew: 404, also ErrInvalidToken.
	unknown := strings.Replace(sub.Token, sub.ID, "unknown-subscription", 1)
	invalidToken(t, s.Send(ctx(t), unknown, push.Message{ID: "x"}))
}

func TestSendRestrictedToAnotherKey(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	s := newSender(t, srv)
	_, other, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	sub := srv.Subscribe(uptest.RestrictedTo(other))
	err = s.Send(ctx(t), sub.Token, push.Message{ID: "x"})
	permanentWith("VAPID", "status 403 (errno 109)")(t, err)
	if len(srv.Delivered()) != 0 {
		t.Fatal("receiver accepted a push signed with a key the subscription is not restricted to")
	}
}

func TestSendRefusedByDefaultPolicy(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t, uptest.WithHosts("push.example"))
	// The default policy, as for any device-chosen target; the receiver's certificate
	// is trusted so that only the address rule can refuse.
	client := outbound.New(outbound.DefaultPolicy(), outbound.WithRootCAs(srv.CertPool()),
		outbound.WithResolver(outboundtest.Resolver(map[string][]netip.Addr{
			"push.example": {srv.Addr().Addr()},
		})))
	s := newSenderWith(t, client)

	plainHTTP := `{"endpoint":"http://push.example.net/wpush/x","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`
	tests := []struct {
		name, token string
		want        error
	}{
		{"literal loopback", srv.Subscribe().Token, outbound.ErrForbiddenTarget},
		{"name resolving to loopback", srv.Subscribe(uptest.OnHost("push.example")).Token, outbound.ErrForbiddenTarget},
		{"plain http to a public host", plainHTTP, outbound.ErrForbiddenScheme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.Send(ctx(t), tt.token, push.Message{ID: "x"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !permanent(err) {
				t.Fatalf("err = %v, want a permanent error (no retry, registration kept)", err)
			}
			if strings.Contains(err.Error(), "/wpush/") {
				t.Errorf("error %q names the endpoint's path", err)
			}
		})
	}
	if n := len(srv.Received()); n != 0 {
		t.Fatalf("receiver got %d requests through a refusing policy", n)
	}
}

func TestSendRefusesMalformedTokenWithoutRequest(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	s := newSender(t, srv)
	sub := srv.Subscribe()
	var raw map[string]any
	if err := json.Unmarshal([]byte(sub.Token), &raw); err != nil {
		t.Fatal(err)
	}
	raw["keys"].(map[string]any)["auth"] = "AAAA" // 3 bytes
	bad, _ := json.Marshal(raw)
	for _, token := range []string{string(bad), `{"endpoint":"` + sub.Endpoint + `"}`, "", "not json"} {
		invalidToken(t, s.Send(ctx(t), token, push.Message{ID: "x"}))
	}
	if err := s.Send(ctx(t), sub.Token, push.Message{}); !permanent(err) {
		t.Fatalf("message without ID: err = %v, want a permanent error", err)
	}
	if n := len(srv.Received()); n != 0 {
		t.Fatalf("receiver got %d requests for malformed tokens", n)
	}
}

func TestSendNetworkErrorIsRetry(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more: connection refused
	token := `{"endpoint":"https://` + addr + `/wpush/v2/secret-path","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`
	s := newSenderWith(t, outbound.New(outbound.Policy{AllowPrivate: true}))
	err = s.Send(ctx(t), token, push.Message{ID: "x"})
	retryAfter(DefaultRetryAfter)(t, err)
	if strings.Contains(err.Error(), "secret-path") {
		t.Errorf("error %q names the endpoint's path", err)
	}
	if !strings.Contains(err.Error(), "https://"+addr) {
		t.Errorf("error %q does not name the origin", err)
	}
}

func TestSendTimeoutIsRetry(t *testing.T) {
	t.Parallel()
	hang := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; ends when the client gives up
	}))
	hang.EnableHTTP2 = true
	hang.StartTLS()
	t.Cleanup(hang.Close)
	pool := x509.NewCertPool()
	pool.AddCert(hang.Certificate())
	s := newSenderWith(t, outbound.New(outbound.Policy{AllowPrivate: true}, outbound.WithRootCAs(pool)),
		WithTimeout(200*time.Millisecond))
	token := `{"endpoint":"` + hang.URL + `/wpush/v2/x","keys":{"p256dh":"` + rfcUAPublic + `","auth":"` + rfcAuth + `"}}`

	start := time.Now()
	err := s.Send(context.Background(), token, push.Message{ID: "x"})
	retryAfter(DefaultRetryAfter)(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %s with a 200ms timeout", d)
	}
}

// TestReceiverRefusesTamperedCiphertext posts by hand what Send would, with one bit of
// the body flipped: the receiver's real decryption must refuse it.
func TestReceiverRefusesTamperedCiphertext(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	s := newSender(t, srv)
	sub := srv.Subscribe()
	parsed, err := ParseSubscription(sub.Token)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := s.authorization(Origin(parsed.Endpoint))
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte) uptest.Push {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, sub.Endpoint, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("TTL", "60")
		req.Header.Set("Content-Encoding", "aes128gcm")
		req.Header.Set("Authorization", auth)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := srv.Received()
		if p := r[len(r)-1]; p.Status != resp.StatusCode {
			t.Fatalf("recorded status %d, answered %d", p.Status, resp.StatusCode)
		}
		return r[len(r)-1]
	}
	body, err := encryptFor(parsed, []byte(`{"id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := post(body); p.Status != http.StatusCreated || string(p.Plaintext) != `{"id":"x"}` {
		t.Fatalf("untampered body: status %d, plaintext %q (%s)", p.Status, p.Plaintext, p.Reason)
	}
	for _, at := range []struct {
		name string
		i    int
	}{{"salt", 3}, {"ciphertext", 90}, {"tag", len(body) - 1}} {
		tampered := bytes.Clone(body)
		tampered[at.i] ^= 0x01
		p := post(tampered)
		if p.Status != http.StatusBadRequest || p.Plaintext != nil || !strings.Contains(p.Reason, "decrypt") {
			t.Errorf("%s tampered: status %d, plaintext %q, reason %q; want 400 from decryption", at.name, p.Status, p.Plaintext, p.Reason)
		}
	}
}

func TestSendConcurrent(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	s := newSender(t, srv)
	subs := []*uptest.Subscription{srv.Subscribe(), srv.Subscribe(), srv.Subscribe()}
	// One push first: requests racing the very first dial each open a connection of
	// their own before HTTP/2 is negotiated.
	if err := s.Send(ctx(t), subs[0].Token, push.Message{ID: "warm-up"}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Send(ctx(t), subs[(w+i)%len(subs)].Token, push.Message{ID: id}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := srv.Delivered()[1:]
	if len(got) != workers*each {
		t.Fatalf("delivered %d, want %d", len(got), workers*each)
	}
	ids := map[string]bool{}
	for _, p := range got {
		ids[string(p.Plaintext)] = true
		if p.VAPIDToken != got[0].VAPIDToken {
			t.Fatal("concurrent pushes to one origin signed more than one VAPID token")
		}
	}
	if len(ids) != workers*each {
		t.Fatalf("%d distinct payloads, want %d", len(ids), workers*each)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("sender opened %d connections, want 1 (HTTP/2 multiplexing)", n)
	}
}

func BenchmarkSend(b *testing.B) {
	srv := uptest.New(b)
	s := newSender(b, srv)
	sub := srv.Subscribe(uptest.RestrictedTo(s.ApplicationServerKey()))
	m := push.Message{ID: "0c4f8a2e-9d1b-4a57-8e36-1f2b3c4d5e6f", Title: "Sign-in request", CollapseID: "login", TTL: time.Minute}
	c := ctx(b)
	if err := s.Send(c, sub.Token, m); err != nil { // connection and token set up before timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Send(c, sub.Token, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
	b.StopTimer()
	if n := srv.Connections(); n != 1 {
		b.Errorf("%d connections, want 1", n)
	}
}
