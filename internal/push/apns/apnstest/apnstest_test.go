package apnstest_test

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
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/apns"
	"github.com/signet-auth/signet/internal/push/apns/apnstest"
)

const device = "6f1c1a6bd0f7d6de7e1bd4d6c5c8e0f04e9b5a3b2cf3c1c9a7a2b3d4e5f60718"

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// jwtSpec describes a provider token for the fake; zero fields take valid values.
type jwtSpec struct {
	alg, kid, iss string
	iat           time.Time
	key           *ecdsa.PrivateKey // nil: the fake's key
	hmacKey       []byte            // with alg HS256
	tamper        bool              // change the claims after signing
}

func mint(t *testing.T, fake *apnstest.Server, spec jwtSpec) string {
	t.Helper()
	if spec.alg == "" {
		spec.alg = "ES256"
	}
	if spec.kid == "" {
		spec.kid = fake.KeyID
	}
	if spec.iss == "" {
		spec.iss = fake.TeamID
	}
	if spec.iat.IsZero() {
		spec.iat = epoch
	}
	if spec.key == nil {
		spec.key = fakeKey(t, fake)
	}
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": spec.alg, "kid": spec.kid})
	claims, _ := json.Marshal(map[string]any{"iss": spec.iss, "iat": spec.iat.Unix()})
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	var sig []byte
	switch spec.alg {
	case "HS256":
		mac := hmac.New(sha256.New, spec.hmacKey)
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case "none":
	default:
		digest := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, spec.key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	}
	if spec.tamper {
		other, _ := json.Marshal(map[string]any{"iss": spec.iss, "iat": spec.iat.Unix() + 1})
		input = enc.EncodeToString(header) + "." + enc.EncodeToString(other)
	}
	return input + "." + enc.EncodeToString(sig)
}

func fakeKey(t *testing.T, fake *apnstest.Server) *ecdsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(fake.KeyPEM)
	if block == nil {
		t.Fatal("fake.KeyPEM is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*ecdsa.PrivateKey)
}

func h2Client(fake *apnstest.Server) *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: fake.CertPool()},
		Protocols:       &p,
	}}
}

// request is a notification request that the fake accepts until a test changes it.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

func validRequest(t *testing.T, fake *apnstest.Server) *request {
	return &request{
		method: http.MethodPost,
		path:   "/3/device/" + device,
		header: http.Header{
			"Authorization":   {"bearer " + mint(t, fake, jwtSpec{})},
			"Apns-Topic":      {fake.Topic},
			"Apns-Push-Type":  {"alert"},
			"Apns-Priority":   {"10"},
			"Apns-Expiration": {"0"},
		},
		body: []byte(`{"aps":{"alert":{"title":"Sign-in request"}},"signet":{"id":"1"}}`),
	}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, client *http.Client, fake *apnstest.Server, r *request) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), r.method, fake.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("body %q is not JSON: %v", raw, err)
		}
	}
	return a
}

func TestFakeChecks(t *testing.T) {
	t.Parallel()
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	type change func(t *testing.T, fake *apnstest.Server, r *request)
	setHeader := func(name, value string) change {
		return func(_ *testing.T, _ *apnstest.Server, r *request) { r.header.Set(name, value) }
	}
	withToken := func(spec jwtSpec) change {
		return func(t *testing.T, fake *apnstest.Server, r *request) {
			r.header.Set("authorization", "bearer "+mint(t, fake, spec))
		}
	}
	withBody := func(body string) change {
		return func(_ *testing.T, _ *apnstest.Server, r *request) { r.body = []byte(body) }
	}
	background := func(_ *testing.T, _ *apnstest.Server, r *request) {
		r.header.Set("apns-push-type", "background")
		r.header.Set("apns-priority", "5")
		r.body = []byte(`{"aps":{"content-available":1}}`)
	}
	padded := func(n int) string { // an alert payload of exactly n bytes
		base := `{"aps":{"alert":{"title":"x"}},"p":""}`
		return base[:len(base)-2] + strings.Repeat("a", n-len(base)) + `"}`
	}
	tests := []struct {
		name       string
		change     change
		wantStatus int
		wantReason string
	}{
		{"valid alert", func(*testing.T, *apnstest.Server, *request) {}, 200, ""},
		{"valid background", background, 200, ""},
		{"priority absent means 10", func(_ *testing.T, _ *apnstest.Server, r *request) { r.header.Del("apns-priority") }, 200, ""},
		{"token 59 minutes old", withToken(jwtSpec{iat: epoch.Add(-59 * time.Minute)}), 200, ""},
		{"payload of 4096 bytes", withBody(padded(4096)), 200, ""},
		{"valid apns-id", setHeader("apns-id", "123e4567-e89b-12d3-a456-426655440000"), 200, ""},
		{"GET", func(_ *testing.T, _ *apnstest.Server, r *request) { r.method = http.MethodGet }, 405, "MethodNotAllowed"},
		{"bad path", func(_ *testing.T, _ *apnstest.Server, r *request) { r.path = "/3/devices/" + device }, 404, "BadPath"},
		{"no device token", func(_ *testing.T, _ *apnstest.Server, r *request) { r.path = "/3/device/" }, 400, "MissingDeviceToken"},
		{"non-hex device token", func(_ *testing.T, _ *apnstest.Server, r *request) { r.path = "/3/device/xyz" }, 400, "BadDeviceToken"},
		{"no authorization", func(_ *testing.T, _ *apnstest.Server, r *request) { r.header.Del("authorization") }, 403, "MissingProviderToken"},
		{"basic authorization", setHeader("authorization", "Basic dXNlcjpwYXNz"), 403, "InvalidProviderToken"},
		{"not a JWT", setHeader("authorization", "bearer abc"), 403, "InvalidProviderToken"},
		{"wrong kid", withToken(jwtSpec{kid: "OTHERKEY01"}), 403, "InvalidProviderToken"},
		{"wrong iss", withToken(jwtSpec{iss: "OTHERTEAM1"}), 403, "InvalidProviderToken"},
		{"alg HS256", withToken(jwtSpec{alg: "HS256", hmacKey: []byte("secret")}), 403, "InvalidProviderToken"},
		{"alg none", withToken(jwtSpec{alg: "none"}), 403, "InvalidProviderToken"},
		{"signed by another key", withToken(jwtSpec{key: otherKey}), 403, "InvalidProviderToken"},
		{"claims changed after signing", withToken(jwtSpec{tamper: true}), 403, "InvalidProviderToken"},
		{"iat in the future", withToken(jwtSpec{iat: epoch.Add(5 * time.Minute)}), 403, "InvalidProviderToken"},
		{"token 61 minutes old", withToken(jwtSpec{iat: epoch.Add(-61 * time.Minute)}), 403, "ExpiredProviderToken"},
		{"no topic", func(_ *testing.T, _ *apnstest.Server, r *request) { r.header.Del("apns-topic") }, 400, "MissingTopic"},
		{"other topic", setHeader("apns-topic", "com.example.other"), 400, "BadTopic"},
		{"no push type", func(_ *testing.T, _ *apnstest.Server, r *request) { r.header.Del("apns-push-type") }, 400, "InvalidPushType"},
		{"unknown push type", setHeader("apns-push-type", "loud"), 400, "InvalidPushType"},
		{"priority 7", setHeader("apns-priority", "7"), 400, "BadPriority"},
		{"background with priority 10", func(t *testing.T, f *apnstest.Server, r *request) {
			background(t, f, r)
			r.header.Set("apns-priority", "10")
		}, 400, "BadPriority"},
		{"bad expiration", setHeader("apns-expiration", "soon"), 400, "BadExpirationDate"},
		{"collapse id of 65 bytes", setHeader("apns-collapse-id", strings.Repeat("c", 65)), 400, "BadCollapseId"},
		{"bad apns-id", setHeader("apns-id", "not-a-uuid"), 400, "BadMessageId"},
		{"duplicate topic", func(_ *testing.T, f *apnstest.Server, r *request) { r.header.Add("apns-topic", f.Topic) }, 400, "DuplicateHeaders"},
		{"empty payload", withBody(""), 400, "PayloadEmpty"},
		{"payload of 4097 bytes", withBody(padded(4097)), 413, "PayloadTooLarge"},
		{"payload not JSON", withBody(`{"aps":`), 400, "BadPayload"},
		{"payload without aps", withBody(`{"signet":{"id":"1"}}`), 400, "BadPayload"},
		{"alert push without alert", withBody(`{"aps":{"content-available":1}}`), 400, "BadPayload"},
		{"background push with alert", func(t *testing.T, f *apnstest.Server, r *request) {
			background(t, f, r)
			r.body = []byte(`{"aps":{"content-available":1,"alert":{"title":"x"}}}`)
		}, 400, "BadPayload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := apnstest.NewServer(t, apnstest.Config{Clock: func() time.Time { return epoch }})
			r := validRequest(t, fake)
			tt.change(t, fake, r)
			got := do(t, h2Client(fake), fake, r)
			if got.status != tt.wantStatus {
				t.Fatalf("status = %d %v, want %d %s", got.status, got.body, tt.wantStatus, tt.wantReason)
			}
			if id := got.header.Get("apns-id"); len(id) != 36 || strings.Count(id, "-") != 4 {
				t.Errorf("apns-id = %q, want a UUID", id)
			} else if want := r.header.Get("apns-id"); tt.wantReason != "BadMessageId" && want != "" && id != want {
				t.Errorf("apns-id = %q, want the request's %q", id, want)
			}
			accepted := len(fake.Notifications())
			if tt.wantStatus == http.StatusOK {
				if got.body != nil || accepted != 1 {
					t.Fatalf("body = %v, %d notifications recorded; want no body and 1", got.body, accepted)
				}
				return
			}
			if len(got.body) != 1 || got.body["reason"] != tt.wantReason {
				t.Fatalf("body = %v, want {\"reason\": %q}", got.body, tt.wantReason)
			}
			if accepted != 0 {
				t.Fatalf("%d notifications recorded for a refused request", accepted)
			}
			if reqs := fake.Requests(); len(reqs) != 1 || reqs[0].Status != tt.wantStatus || reqs[0].Reason != tt.wantReason {
				t.Fatalf("Requests() = %+v, want the refusal recorded", reqs)
			}
		})
	}
}

func TestFakeUnregistered(t *testing.T) {
	t.Parallel()
	fake := apnstest.NewServer(t, apnstest.Config{Clock: func() time.Time { return epoch }})
	at := epoch.Add(-48 * time.Hour)
	fake.Unregister(strings.ToUpper(device), at)
	got := do(t, h2Client(fake), fake, validRequest(t, fake))
	if got.status != http.StatusGone || got.body["reason"] != "Unregistered" {
		t.Fatalf("answer = %d %v, want 410 Unregistered", got.status, got.body)
	}
	// JSON numbers decode as float64; milliseconds since the epoch fit exactly.
	if ts, ok := got.body["timestamp"].(float64); !ok || int64(ts) != at.UnixMilli() {
		t.Fatalf("timestamp = %v, want %d", got.body["timestamp"], at.UnixMilli())
	}
}

func TestFakeFailNext(t *testing.T) {
	t.Parallel()
	fake := apnstest.NewServer(t, apnstest.Config{Clock: func() time.Time { return epoch }})
	fake.FailNext(2, apnstest.Failure{Status: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: "7"})
	client := h2Client(fake)
	for i := range 2 {
		got := do(t, client, fake, validRequest(t, fake))
		if got.status != http.StatusTooManyRequests || got.body["reason"] != "TooManyRequests" || got.header.Get("Retry-After") != "7" {
			t.Fatalf("request %d: answer = %d %v Retry-After %q, want 429 TooManyRequests Retry-After 7",
				i, got.status, got.body, got.header.Get("Retry-After"))
		}
	}
	if got := do(t, client, fake, validRequest(t, fake)); got.status != http.StatusOK {
		t.Fatalf("third request: status %d, want 200", got.status)
	}
	// A request refused before the knob (bad token) does not use up a failure.
	fake.FailNext(1, apnstest.Failure{Status: http.StatusServiceUnavailable, Reason: "Shutdown"})
	bad := validRequest(t, fake)
	bad.header.Del("authorization")
	if got := do(t, client, fake, bad); got.status != http.StatusForbidden {
		t.Fatalf("unauthenticated request: status %d, want 403", got.status)
	}
	if got := do(t, client, fake, validRequest(t, fake)); got.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want the queued 503", got.status)
	}

	// A reset stream: no answer, the connection survives, nothing is recorded.
	before := len(fake.Requests())
	fake.FailNext(1, apnstest.Failure{Reset: true})
	r := validRequest(t, fake)
	req, err := http.NewRequest(r.method, fake.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("reset stream: answer %s, want a stream error", resp.Status)
	}
	if got := do(t, client, fake, validRequest(t, fake)); got.status != http.StatusOK {
		t.Fatalf("after the reset: status %d, want 200", got.status)
	}
	if got := len(fake.Requests()); got != before+1 {
		t.Fatalf("%d requests recorded after the reset, want %d", got, before+1)
	}
	if got := fake.Connections(); got != 1 {
		t.Fatalf("fake saw %d connections, want 1: a reset ends the stream, not the connection", got)
	}
}

func TestFakeCountsProviderTokensAndConnections(t *testing.T) {
	t.Parallel()
	fake := apnstest.NewServer(t, apnstest.Config{Clock: func() time.Time { return epoch }})
	client := h2Client(fake)
	first := validRequest(t, fake)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			r := *first
			r.header = first.header.Clone()
			if got := do(t, client, fake, &r); got.status != http.StatusOK {
				t.Errorf("status %d", got.status)
			}
		})
	}
	wg.Wait()
	second := validRequest(t, fake) // a fresh signature: another token
	if got := do(t, client, fake, second); got.status != http.StatusOK {
		t.Fatalf("status %d", got.status)
	}
	if got := fake.ProviderTokens(); got != 2 {
		t.Fatalf("ProviderTokens() = %d, want 2", got)
	}
	if got := fake.Connections(); got < 1 {
		t.Fatalf("Connections() = %d, want at least 1", got)
	}
	if got := len(fake.Notifications()); got != 11 {
		t.Fatalf("%d notifications recorded, want 11", got)
	}
}

// Like APNs, the fake speaks HTTP/2 only.
func TestFakeRefusesHTTP1(t *testing.T) {
	t.Parallel()
	fake := apnstest.NewServer(t, apnstest.Config{Clock: func() time.Time { return epoch }})
	for _, alpn := range [][]string{{"http/1.1"}, nil} {
		t.Run(strings.Join(append([]string{"ALPN"}, alpn...), " "), func(t *testing.T) {
			t.Parallel()
			var p http.Protocols
			p.SetHTTP1(true)
			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: fake.CertPool(), NextProtos: alpn},
				Protocols:       &p,
			}}
			req := validRequest(t, fake)
			httpReq, err := http.NewRequest(req.method, fake.URL+req.path, bytes.NewReader(req.body))
			if err != nil {
				t.Fatal(err)
			}
			httpReq.Header = req.header
			resp, err := client.Do(httpReq)
			if err != nil {
				t.Fatalf("HTTP/1.1 request: %v", err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 1 || resp.StatusCode != http.StatusHTTPVersionNotSupported {
				t.Fatalf("answer %s %s, want HTTP/1.1 505", resp.Proto, resp.Status)
			}
		})
	}
	t.Run("ALPN h3 only", func(t *testing.T) {
		t.Parallel()
		var p http.Protocols
		p.SetHTTP1(true)
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: fake.CertPool(), NextProtos: []string{"h3"}},
			Protocols:       &p,
		}}
		resp, err := client.Post(fake.URL+"/3/device/"+device, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("answer %s, want the handshake refused", resp.Status)
		}
	})
	t.Cleanup(func() {
		if n := len(fake.Requests()); n != 0 {
			t.Errorf("fake recorded %d requests over HTTP/1.1", n)
		}
	})
}

func TestFakeWithRegisteredPublicKey(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := apnstest.NewServer(t, apnstest.Config{
		TeamID: "TEAM000001", KeyID: "KEY0000001", Topic: "org.example.app",
		PublicKey: &key.PublicKey, Clock: func() time.Time { return epoch },
	})
	if fake.KeyPEM != nil {
		t.Fatal("KeyPEM set although the test registered its own key")
	}
	r := validRequest2(t, fake, key)
	if got := do(t, h2Client(fake), fake, r); got.status != http.StatusOK {
		t.Fatalf("status %d %v, want 200", got.status, got.body)
	}
	if n := fake.Notifications(); len(n) != 1 || n[0].Token != device || n[0].Header.Get("apns-topic") != "org.example.app" {
		t.Fatalf("Notifications() = %+v", n)
	}
}

func validRequest2(t *testing.T, fake *apnstest.Server, key *ecdsa.PrivateKey) *request {
	return &request{
		method: http.MethodPost,
		path:   "/3/device/" + device,
		header: http.Header{
			"Authorization":  {"bearer " + mint(t, fake, jwtSpec{key: key})},
			"Apns-Topic":     {fake.Topic},
			"Apns-Push-Type": {"background"},
			"Apns-Priority":  {strconv.Itoa(5)},
		},
		body: []byte(`{"aps":{"content-available":1}}`),
	}
}

// A server started for load keeps no request, only counts them.
func TestFakeCountOnly(t *testing.T) {
	t.Parallel()
	s, err := apnstest.Start(apnstest.Config{CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sender, err := apns.New(apns.Config{Key: s.KeyPEM, KeyID: s.KeyID, TeamID: s.TeamID, Topic: s.Topic, BaseURL: s.URL}, apns.WithRootCAs(s.CertPool()))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	for range 3 {
		if err := sender.Send(t.Context(), "abcd", push.Message{ID: "x", Title: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Answered() != 3 || len(s.Requests()) != 0 {
		t.Errorf("answered %d, kept %d; want 3 answered and none kept", s.Answered(), len(s.Requests()))
	}
}
