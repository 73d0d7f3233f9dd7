package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/fcm"
	"github.com/signet-auth/signet/internal/push/fcm/fcmtest"
	"github.com/signet-auth/signet/internal/testutil"
)

// regToken looks like an FCM registration token: instance id, ':', APA91b payload.
const regToken = "cXk3Yzg5ZTQ:APA91bH-fake_registration-token_0123456789"

var epoch = time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)

type fixture struct {
	srv   *fcmtest.Server
	clock *testutil.Clock
	cfg   fcm.Config
	ob    *outbound.Client
}

// newFixture starts the fake FCM service on a test clock, with a trusted service
// account, and an outbound client that may reach it on loopback.
func newFixture(t testing.TB, opts ...fcmtest.Option) *fixture {
	t.Helper()
	clock := testutil.NewClock(epoch)
	srv := fcmtest.New(t, append([]fcmtest.Option{fcmtest.WithClock(clock.Now)}, opts...)...)
	ob := outbound.New(outbound.Policy{AllowPrivate: true}, outbound.WithRootCAs(srv.CertPool()))
	t.Cleanup(ob.CloseIdleConnections)
	return &fixture{
		srv:   srv,
		clock: clock,
		cfg:   fcm.Config{ServiceAccountJSON: srv.ServiceAccount(t), BaseURL: srv.URL},
		ob:    ob,
	}
}

func (f *fixture) sender(t testing.TB, opts ...fcm.Option) *fcm.Sender {
	t.Helper()
	s, err := fcm.New(f.cfg, append([]fcm.Option{fcm.WithOutbound(f.ob), fcm.WithClock(f.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("fcm.New: %v", err)
	}
	return s
}

func wake(id string) push.Message {
	return push.Message{ID: id, Title: "Sign-in request", TTL: 2 * time.Minute}
}

func TestSendDeliversHighPriorityDataMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.sender(t)

	tests := []struct {
		name    string
		msg     push.Message
		android map[string]any
	}{
		{"collapse and TTL", push.Message{ID: "req-1", Title: "Sign-in request", CollapseID: "login-alice", TTL: 90 * time.Second},
			map[string]any{"priority": "HIGH", "ttl": "90s", "collapse_key": "login-alice"}},
		{"now or never", push.Message{ID: "req-2"},
			map[string]any{"priority": "HIGH", "ttl": "0s"}},
		{"sub-second TTL rounds down as FCM does", push.Message{ID: "req-3", TTL: 1900 * time.Millisecond},
			map[string]any{"priority": "HIGH", "ttl": "1s"}},
		{"TTL capped at four weeks", push.Message{ID: "req-4", TTL: 60 * 24 * time.Hour},
			map[string]any{"priority": "HIGH", "ttl": "2419200s"}},
	}
	for i, tt := range tests {
		if err := s.Send(t.Context(), regToken, tt.msg); err != nil {
			t.Fatalf("%s: Send: %v", tt.name, err)
		}
		reqs := f.srv.Requests()
		if len(reqs) != i+1 {
			t.Fatalf("%s: fake received %d requests, want %d", tt.name, len(reqs), i+1)
		}
		r := reqs[i]
		if r.Status != http.StatusOK || r.Proto != "HTTP/2.0" || r.Method != http.MethodPost {
			t.Errorf("%s: status %d, proto %s, method %s; want 200 over HTTP/2.0 POST", tt.name, r.Status, r.Proto, r.Method)
		}
		if want := "/v1/projects/" + fcmtest.DefaultProjectID + "/messages:send"; r.Path != want {
			t.Errorf("%s: path %q, want %q", tt.name, r.Path, want)
		}
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "Bearer ya29.fake-") {
			t.Errorf("%s: Authorization %q, want a bearer access token from the token endpoint", tt.name, auth)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", tt.name, ct)
		}
		var got map[string]any
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatalf("%s: body: %v", tt.name, err)
		}
		want := map[string]any{"message": map[string]any{
			"token":   regToken,
			"data":    map[string]any{fcm.DataKey: tt.msg.ID},
			"android": tt.android,
		}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: body\n got %s\nwant %v", tt.name, r.Body, want)
		}
	}
	// The title never travels: no notification block, so the app's own code runs.
	for _, m := range f.srv.Delivered() {
		if m.Notification || m.APNs || m.WebPush || m.Android.Notification {
			t.Errorf("message %+v carries a notification or non-Android block", m)
		}
	}
}

func TestSendRefusesIncompleteMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.sender(t)
	tests := []struct {
		name  string
		token string
		msg   push.Message
	}{
		{"no token", "", wake("req")},
		{"no id", regToken, push.Message{}},
		{"negative TTL", regToken, push.Message{ID: "req", TTL: -time.Second}},
	}
	for _, tt := range tests {
		err := s.Send(t.Context(), tt.token, tt.msg)
		var re *push.RetryError
		if err == nil || errors.As(err, &re) || errors.Is(err, push.ErrInvalidToken) {
			t.Errorf("%s: Send = %v, want a permanent error", tt.name, err)
		}
	}
	if n := f.srv.Sends(); n != 0 {
		t.Errorf("fake received %d requests, want none", n)
	}
}

func TestAccessTokenCachedAcrossSendsOnOneConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.sender(t)
	if err := s.Send(t.Context(), regToken, wake("first")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			if err := s.Send(t.Context(), regToken, wake("req-"+string(rune('a'+i%26)))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.srv.TokensIssued(); n != 1 {
		t.Errorf("tokens issued = %d, want 1 for 41 sends", n)
	}
	if n := f.srv.Connections(); n != 1 {
		t.Errorf("FCM connections = %d, want 1 (one long-lived HTTP/2 connection)", n)
	}
	if n := len(f.srv.Delivered()); n != 41 {
		t.Errorf("delivered %d, want 41", n)
	}
}

func TestAccessTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // tokens live an hour; refreshed 5 minutes early
	s := f.sender(t)
	send := func(step string, wantIssued int) {
		t.Helper()
		if err := s.Send(t.Context(), regToken, wake(step)); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if n := f.srv.TokensIssued(); n != wantIssued {
			t.Fatalf("%s: tokens issued = %d, want %d", step, n, wantIssued)
		}
	}
	send("start", 1)
	f.clock.Advance(54 * time.Minute)
	send("54 min: outside the margin, reused", 1)
	f.clock.Advance(2 * time.Minute)
	send("56 min: inside the margin, refreshed while still valid", 2)
	f.clock.Advance(30 * time.Minute)
	send("86 min: the new token is reused", 2)
	for _, r := range f.srv.Requests() {
		if r.Status != http.StatusOK {
			t.Errorf("fake answered %d; a token was used after it expired", r.Status)
		}
	}
}

func TestShortLivedTokenRefreshedAfterHalfItsLife(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fcmtest.WithTokenLifetime(2*time.Minute)) // shorter than the margin
	s := f.sender(t)
	for _, step := range []struct {
		advance time.Duration
		issued  int
	}{{0, 1}, {50 * time.Second, 1}, {20 * time.Second, 2}, {10 * time.Second, 2}} {
		f.clock.Advance(step.advance)
		if err := s.Send(t.Context(), regToken, wake("x")); err != nil {
			t.Fatal(err)
		}
		if n := f.srv.TokensIssued(); n != step.issued {
			t.Fatalf("after %s: tokens issued = %d, want %d", step.advance, n, step.issued)
		}
	}
}

// A token expiring in the middle of a burst: the sends in flight with the old token get
// 401 from FCM and are retried with the new one; callers see no error, and the whole
// burst costs one refresh.
func TestTokenExpiringDuringBurst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.sender(t)
	const workers, each = 8, 25
	var sent atomic.Int32
	var advance sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				if err := s.Send(t.Context(), regToken, wake("burst")); err != nil {
					errs <- err
				}
				if sent.Add(1) >= workers*each/2 {
					advance.Do(func() { f.clock.Advance(61 * time.Minute) }) // past expiry
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a send failed during the burst: %v", err)
	}
	if n := f.srv.TokensIssued(); n != 2 {
		t.Errorf("tokens issued = %d, want 2 (the first and one refresh)", n)
	}
	if n := len(f.srv.Delivered()); n != workers*each {
		t.Errorf("delivered %d, want %d", n, workers*each)
	}
}

func TestRevokedAccessTokenReplacedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.sender(t)
	if err := s.Send(t.Context(), regToken, wake("a")); err != nil {
		t.Fatal(err)
	}
	f.srv.RevokeAccessTokens()
	if err := s.Send(t.Context(), regToken, wake("b")); err != nil {
		t.Fatalf("Send after revocation: %v", err)
	}
	var statuses []int
	for _, r := range f.srv.Requests() {
		statuses = append(statuses, r.Status)
	}
	if want := []int{200, 401, 200}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("fake answered %v, want %v", statuses, want)
	}
	if n := f.srv.TokensIssued(); n != 2 {
		t.Errorf("tokens issued = %d, want 2", n)
	}

	// A 401 that persists with a fresh token is reported, after exactly one retry.
	f.srv.FailNext(2, fcmtest.Failure{Status: http.StatusUnauthorized})
	err := s.Send(t.Context(), regToken, wake("c"))
	var re *push.RetryError
	if err == nil || errors.As(err, &re) || errors.Is(err, push.ErrInvalidToken) {
		t.Errorf("persistent 401: Send = %v, want a permanent error", err)
	}
	if n := f.srv.TokensIssued(); n != 3 {
		t.Errorf("tokens issued = %d, want 3", n)
	}
	if n := f.srv.Sends(); n != 5 {
		t.Errorf("fake received %d requests, want 5 (one retry, not more)", n)
	}
}

func TestInvalidTokenAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		script  func(*fcmtest.Server)
		invalid bool
	}{
		{"UNREGISTERED", regToken, func(s *fcmtest.Server) { s.Unregister(regToken) }, true},
		{"INVALID_ARGUMENT for a malformed token", "not a token!", nil, true},
		{"INVALID_ARGUMENT with a field violation on message.token", regToken, func(s *fcmtest.Server) {
			s.FailNext(1, fcmtest.Failure{Code: "INVALID_ARGUMENT", Field: "message.token"})
		}, true},
		{"SENDER_ID_MISMATCH", regToken, func(s *fcmtest.Server) {
			s.FailNext(1, fcmtest.Failure{Code: "SENDER_ID_MISMATCH"})
		}, true},
		{"INVALID_ARGUMENT about the payload", regToken, func(s *fcmtest.Server) {
			s.FailNext(1, fcmtest.Failure{Code: "INVALID_ARGUMENT", Field: "message.android.ttl", Message: "Invalid TTL"})
		}, false},
		{"INVALID_ARGUMENT naming a data value, no FcmError", regToken, func(s *fcmtest.Server) {
			s.FailNext(1, fcmtest.Failure{Status: 400, Field: "message.data[0].value"})
		}, false},
		{"THIRD_PARTY_AUTH_ERROR", regToken, func(s *fcmtest.Server) {
			s.FailNext(1, fcmtest.Failure{Code: "THIRD_PARTY_AUTH_ERROR"})
		}, false},
		{"403 without FCM code", regToken, func(s *fcmtest.Server) {
			s.FailNext(1, fcmtest.Failure{Status: http.StatusForbidden, Message: "The caller does not have permission"})
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tt.script != nil {
				tt.script(f.srv)
			}
			err := f.sender(t).Send(t.Context(), tt.token, wake("req"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, push.ErrInvalidToken); got != tt.invalid {
				t.Errorf("errors.Is(%v, ErrInvalidToken) = %v, want %v", err, got, tt.invalid)
			}
			var re *push.RetryError
			if errors.As(err, &re) {
				t.Errorf("%v is a RetryError; retrying cannot help", err)
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q names the registration token", err)
			}
			if n := f.srv.TokensIssued(); n != 1 {
				t.Errorf("tokens issued = %d, want 1 (no access-token retry)", n)
			}
		})
	}
}

func TestMisconfiguredProjectIsNotAnInvalidToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, cfg := range map[string]fcm.Config{
		"another project (403)":       {ServiceAccountJSON: f.cfg.ServiceAccountJSON, BaseURL: f.srv.URL, ProjectID: "someone-else"},
		"wrong base path (404)":       {ServiceAccountJSON: f.cfg.ServiceAccountJSON, BaseURL: f.srv.URL + "/proxy"},
		"no such endpoint (404)":      {ServiceAccountJSON: f.cfg.ServiceAccountJSON, BaseURL: f.srv.URL + "/v2"},
		"another service's URL (404)": {ServiceAccountJSON: f.cfg.ServiceAccountJSON, BaseURL: f.srv.TokenURL[:strings.LastIndex(f.srv.TokenURL, "/")]},
	} {
		s, err := fcm.New(cfg, fcm.WithOutbound(f.ob), fcm.WithClock(f.clock.Now))
		if err != nil {
			t.Fatalf("%s: New: %v", name, err)
		}
		err = s.Send(t.Context(), regToken, wake("req"))
		var re *push.RetryError
		if err == nil || errors.Is(err, push.ErrInvalidToken) || errors.As(err, &re) {
			t.Errorf("%s: Send = %v, want a permanent error that keeps the device's token", name, err)
		}
	}
}

func TestTemporaryFailuresAreRetryErrors(t *testing.T) {
	t.Parallel()
	httpDate := epoch.Add(30 * time.Second).Format(http.TimeFormat)
	tests := []struct {
		name     string
		failure  fcmtest.Failure
		min, max time.Duration
	}{
		{"QUOTA_EXCEEDED with Retry-After: 5", fcmtest.Failure{Code: "QUOTA_EXCEEDED", RetryAfter: "5"}, 5 * time.Second, 5 * time.Second},
		{"QUOTA_EXCEEDED without Retry-After: at least a minute", fcmtest.Failure{Code: "QUOTA_EXCEEDED"}, time.Minute, 75 * time.Second},
		{"UNAVAILABLE without Retry-After", fcmtest.Failure{Code: "UNAVAILABLE"}, time.Second, 1250 * time.Millisecond},
		{"UNAVAILABLE with an HTTP-date Retry-After", fcmtest.Failure{Code: "UNAVAILABLE", RetryAfter: httpDate}, 30 * time.Second, 30 * time.Second},
		{"INTERNAL", fcmtest.Failure{Code: "INTERNAL"}, time.Second, 1250 * time.Millisecond},
		{"Retry-After capped", fcmtest.Failure{Code: "UNAVAILABLE", RetryAfter: "86400"}, push.MaxRetryAfter, push.MaxRetryAfter},
		{"bare 503 from a front end", fcmtest.Failure{Status: http.StatusServiceUnavailable}, time.Second, 1250 * time.Millisecond},
		{"500 UNSPECIFIED_ERROR", fcmtest.Failure{Status: http.StatusInternalServerError, Code: "UNSPECIFIED_ERROR"}, time.Second, 1250 * time.Millisecond},
		{"429 with an unknown code and Retry-After: 9", fcmtest.Failure{Status: http.StatusTooManyRequests, Code: "SOMETHING_NEW", RetryAfter: "9"}, 9 * time.Second, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.srv.FailNext(1, tt.failure)
			s := f.sender(t)
			err := s.Send(t.Context(), regToken, wake("req"))
			var re *push.RetryError
			if !errors.As(err, &re) {
				t.Fatalf("Send = %v, want a *push.RetryError", err)
			}
			if re.After < tt.min || re.After > tt.max {
				t.Errorf("After = %s, want within [%s, %s]", re.After, tt.min, tt.max)
			}
			if errors.Is(err, push.ErrInvalidToken) {
				t.Errorf("%v is ErrInvalidToken", err)
			}
			if err := s.Send(t.Context(), regToken, wake("again")); err != nil {
				t.Errorf("the next send: %v", err)
			}
		})
	}
}

func TestBackoffGrowsAndResetsOnSuccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.sender(t)
	after := func() time.Duration {
		t.Helper()
		err := s.Send(t.Context(), regToken, wake("req"))
		var re *push.RetryError
		if !errors.As(err, &re) {
			t.Fatalf("Send = %v, want RetryError", err)
		}
		return re.After
	}
	f.srv.FailNext(3, fcmtest.Failure{Code: "UNAVAILABLE"})
	for i, lo := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if d := after(); d < lo || d > lo*5/4 {
			t.Errorf("failure %d: After = %s, want within [%s, %s]", i+1, d, lo, lo*5/4)
		}
	}
	if err := s.Send(t.Context(), regToken, wake("ok")); err != nil {
		t.Fatal(err)
	}
	f.srv.FailNext(1, fcmtest.Failure{Code: "UNAVAILABLE"})
	if d := after(); d < time.Second || d > 1250*time.Millisecond {
		t.Errorf("after a success: After = %s, want back at about 1s", d)
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	t.Parallel()
	t.Run("503 is temporary and honours Retry-After", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.srv.FailNextTokens(1, http.StatusServiceUnavailable, "temporarily_unavailable", "7")
		s := f.sender(t)
		err := s.Send(t.Context(), regToken, wake("req"))
		var re *push.RetryError
		if !errors.As(err, &re) || re.After != 7*time.Second {
			t.Fatalf("Send = %v, want RetryError after 7s", err)
		}
		if err := s.Send(t.Context(), regToken, wake("req")); err != nil {
			t.Errorf("once the token endpoint is back: %v", err)
		}
	})
	t.Run("invalid_grant is permanent", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.srv.FailNextTokens(1, http.StatusBadRequest, "invalid_grant", "")
		err := f.sender(t).Send(t.Context(), regToken, wake("req"))
		var re *push.RetryError
		if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("Send = %v, want a permanent invalid_grant error", err)
		}
		if n := f.srv.Sends(); n != 0 {
			t.Errorf("FCM received %d requests without an access token", n)
		}
	})
	t.Run("a key the token endpoint does not know", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		unknown := fcmtest.NewServiceAccountKey(t, f.srv.ProjectID, f.srv.TokenURL)
		f.cfg.ServiceAccountJSON = unknown.JSON()
		err := f.sender(t).Send(t.Context(), regToken, wake("req"))
		if err == nil || !strings.Contains(err.Error(), "account not found") {
			t.Fatalf("Send = %v, want invalid_grant account not found", err)
		}
	})
	t.Run("a known account signing with another key", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		trusted := f.srv.ServiceAccountKey(t)
		forged := fcmtest.NewServiceAccountKey(t, f.srv.ProjectID, f.srv.TokenURL)
		forged.ClientEmail, forged.PrivateKeyID = trusted.ClientEmail, trusted.PrivateKeyID
		f.cfg.ServiceAccountJSON = forged.JSON()
		err := f.sender(t).Send(t.Context(), regToken, wake("req"))
		if err == nil || !strings.Contains(err.Error(), "Invalid JWT Signature") {
			t.Fatalf("Send = %v, want invalid_grant Invalid JWT Signature", err)
		}
		if n := f.srv.TokensIssued(); n != 0 {
			t.Errorf("tokens issued = %d for a forged assertion", n)
		}
	})
}

func TestSendBoundedByTimeout(t *testing.T) {
	t.Parallel()
	for name, slow := range map[string]func(*fcmtest.Server){
		"slow FCM":            func(s *fcmtest.Server) { s.SetLatency(time.Minute) },
		"slow token endpoint": func(s *fcmtest.Server) { s.SetTokenLatency(time.Minute) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			slow(f.srv)
			s := f.sender(t, fcm.WithTimeout(300*time.Millisecond))
			start := time.Now()
			err := s.Send(t.Context(), regToken, wake("req"))
			elapsed := time.Since(start)
			var re *push.RetryError
			if !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v, want a RetryError for the deadline", err)
			}
			if elapsed > 5*time.Second {
				t.Errorf("Send took %s with a 300ms timeout", elapsed)
			}
		})
	}
}

func TestDefaultOutboundPolicyRefusesLoopback(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// No WithOutbound: the default policy allows public addresses only, and the fake
	// is on loopback, like a token_uri aimed at an internal service would be.
	s, err := fcm.New(f.cfg, fcm.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), regToken, wake("req"))
	var re *push.RetryError
	if !errors.Is(err, outbound.ErrForbiddenTarget) || errors.As(err, &re) {
		t.Fatalf("Send = %v, want a permanent outbound.ErrForbiddenTarget", err)
	}
	if n := f.srv.TokensIssued() + f.srv.Sends(); n != 0 {
		t.Errorf("the fake was reached %d times", n)
	}
}

func TestWithHTTPClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, err := fcm.New(f.cfg, fcm.WithHTTPClient(f.srv.Client()), fcm.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), regToken, wake("req")); err != nil {
		t.Fatal(err)
	}
	if r := f.srv.Requests(); len(r) != 1 || r[0].Proto != "HTTP/2.0" {
		t.Errorf("requests %+v, want one over HTTP/2", r)
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var key struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(f.cfg.ServiceAccountJSON, &key); err != nil {
		t.Fatal(err)
	}
	s := f.sender(t)
	var errs []error
	f.srv.FailNextTokens(1, http.StatusBadRequest, "invalid_grant", "")
	errs = append(errs, s.Send(t.Context(), regToken, wake("a")))
	for _, code := range []string{"UNREGISTERED", "INVALID_ARGUMENT", "QUOTA_EXCEEDED", "THIRD_PARTY_AUTH_ERROR"} {
		f.srv.FailNext(1, fcmtest.Failure{Code: code, Message: "token " + regToken + " refused"})
		errs = append(errs, s.Send(t.Context(), regToken, wake("b")))
	}
	f.srv.FailNext(2, fcmtest.Failure{Status: http.StatusUnauthorized})
	errs = append(errs, s.Send(t.Context(), regToken, wake("c")))

	secrets := []string{regToken, strings.Split(key.PrivateKey, "\n")[1], "ya29.", "eyJ"} // eyJ: a JWT
	for _, err := range errs {
		if err == nil {
			t.Fatal("a scripted failure did not fail")
		}
		for _, secret := range secrets {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
	}
	if s := f.cfg.String() + f.cfg.GoString(); strings.Contains(s, secrets[1]) {
		t.Errorf("Config prints its key: %s", s)
	}
}
