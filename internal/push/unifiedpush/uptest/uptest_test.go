package uptest_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/push/unifiedpush"
	"github.com/signet-auth/signet/internal/push/unifiedpush/uptest"
)

var b64 = base64.RawURLEncoding

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8291 §5 and Appendix A (see unifiedpush's encrypt_test.go for the source).
const (
	rfcUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

func TestDecryptRFC8291AppendixA(t *testing.T) {
	t.Parallel()
	ua, err := ecdh.P256().NewPrivateKey(mustB64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	auth, body := mustB64(t, rfcAuth), mustB64(t, rfcBody)
	got, err := uptest.Decrypt(body, ua, auth)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(got) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("plaintext = %q", got)
	}

	flip := func(i int) []byte { b := bytes.Clone(body); b[i] ^= 1; return b }
	otherAuth := bytes.Clone(auth)
	otherAuth[0] ^= 1
	idlen := bytes.Clone(body)
	idlen[20] = 64
	bigRS := bytes.Clone(body)
	copy(bigRS[16:20], []byte{0, 0, 0, 40}) // record larger than rs
	tests := []struct {
		name string
		body []byte
		auth []byte
		want string
	}{
		{"salt", flip(0), auth, "authentication failed"},
		{"ciphertext", flip(90), auth, "authentication failed"},
		{"tag", flip(len(body) - 1), auth, "authentication failed"},
		{"keyid", flip(60), auth, "decrypt"},
		{"wrong auth secret", body, otherAuth, "authentication failed"},
		{"idlen not 65", idlen, auth, "keyid is 64 octets"},
		{"second record", bigRS, auth, "exceed one record"},
		{"truncated", body[:40], auth, "shorter than its keyid"},
		{"no record", body[:86], auth, "shorter than tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := uptest.Decrypt(tt.body, ua, tt.auth)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decrypt = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// request is a push message request the tests can spoil one part at a time.
type request struct {
	method  string
	url     string
	headers http.Header
	claims  map[string]any
	jwtHead string
	key     *ecdsa.PrivateKey
	kParam  string // overrides k= when set
	sig     func([]byte) []byte
	auth    *string // overrides the whole Authorization header when set
	body    []byte
}

func validRequest(t *testing.T, sub *uptest.Subscription, key *ecdsa.PrivateKey) *request {
	t.Helper()
	body, err := unifiedpush.Encrypt([]byte(`{"id":"abc"}`), sub.PrivateKey.PublicKey(), sub.Auth, mustECDH(t), salt(t))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(sub.Endpoint)
	h := http.Header{}
	h.Set("TTL", "60")
	h.Set("Urgency", "high")
	h.Set("Topic", "login")
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("Content-Type", "application/octet-stream")
	return &request{
		method:  http.MethodPost,
		url:     sub.Endpoint,
		headers: h,
		claims:  map[string]any{"aud": "https://" + u.Host, "exp": time.Now().Add(12 * time.Hour).Unix(), "sub": "mailto:ops@example.com"},
		jwtHead: `{"typ":"JWT","alg":"ES256"}`,
		key:     key,
		body:    body,
	}
}

func mustECDH(t *testing.T) *ecdh.PrivateKey {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func salt(t *testing.T) []byte {
	s := make([]byte, 16)
	_, _ = rand.Read(s)
	return s
}

func (r *request) do(t *testing.T, srv *uptest.Server) (*http.Response, map[string]any) {
	t.Helper()
	claims, _ := json.Marshal(r.claims)
	input := b64.EncodeToString([]byte(r.jwtHead)) + "." + b64.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	rr, ss, err := ecdsa.Sign(rand.Reader, r.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	if r.sig != nil {
		sig = r.sig(sig)
	}
	pub, _ := r.key.PublicKey.Bytes()
	k := b64.EncodeToString(pub)
	if r.kParam != "" {
		k = r.kParam
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.headers.Clone()
	req.Header.Set("Authorization", "vapid t="+input+"."+b64.EncodeToString(sig)+", k="+k)
	if r.auth != nil {
		req.Header.Set("Authorization", *r.auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp, body
}

func TestReceiverAcceptsValidPush(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := key.PublicKey.Bytes()
	sub := srv.Subscribe(uptest.RestrictedTo(b64.EncodeToString(pub)))
	resp, _ := validRequest(t, sub, key).do(t, srv)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") == "" {
		t.Fatalf("status %d, Location %q; want 201 with a Location", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	d := srv.Delivered()
	if len(d) != 1 || string(d[0].Plaintext) != `{"id":"abc"}` || d[0].Subscription != sub.ID {
		t.Fatalf("delivered %+v", d)
	}
	if d[0].Claims.Sub != "mailto:ops@example.com" || d[0].TTL != "60" || d[0].Topic != "login" {
		t.Errorf("recorded %+v", d[0])
	}
	// The token is the W3C PushSubscription JSON of the subscription's keys.
	var tok struct {
		Endpoint string
		Keys     struct{ P256DH, Auth string }
	}
	if err := json.Unmarshal([]byte(sub.Token), &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Endpoint != sub.Endpoint || tok.Keys.P256DH != b64.EncodeToString(sub.PrivateKey.PublicKey().Bytes()) ||
		tok.Keys.Auth != b64.EncodeToString(sub.Auth) || len(sub.Auth) != 16 {
		t.Errorf("token %s does not match the subscription", sub.Token)
	}
}

func TestReceiverRefusesInvalidPush(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherPub, _ := other.PublicKey.Bytes()
	str := func(s string) *string { return &s }

	tests := []struct {
		name       string
		restricted bool
		spoil      func(r *request)
		status     int
		errno      float64 // 0: none
	}{
		{"unknown subscription", false, func(r *request) { r.url += "x" }, 404, 102},
		{"GET", false, func(r *request) { r.method = http.MethodGet }, 405, 0},
		{"no Authorization", false, func(r *request) { r.auth = str("") }, 401, 109},
		{"Bearer scheme", false, func(r *request) { r.auth = str("Bearer abc") }, 401, 109},
		{"no k", false, func(r *request) { r.auth = str("vapid t=a.b.c") }, 403, 109},
		{"k not a point", false, func(r *request) { r.kParam = b64.EncodeToString(make([]byte, 65)) }, 403, 109},
		{"k of another key", false, func(r *request) { r.kParam = b64.EncodeToString(otherPub) }, 403, 109},
		{"bad signature", false, func(r *request) { r.sig = func(s []byte) []byte { s[5] ^= 1; return s } }, 403, 109},
		{"DER signature length", false, func(r *request) { r.sig = func(s []byte) []byte { return append(s, 0) } }, 403, 109},
		{"alg HS256", false, func(r *request) { r.jwtHead = `{"typ":"JWT","alg":"HS256"}` }, 403, 109},
		{"aud is the endpoint", false, func(r *request) { r.claims["aud"] = r.url }, 403, 109},
		{"aud another origin", false, func(r *request) { r.claims["aud"] = "https://push.example.net" }, 403, 109},
		{"expired", false, func(r *request) { r.claims["exp"] = time.Now().Add(-time.Minute).Unix() }, 403, 109},
		{"exp over 24 h", false, func(r *request) { r.claims["exp"] = time.Now().Add(25 * time.Hour).Unix() }, 403, 109},
		{"no exp", false, func(r *request) { delete(r.claims, "exp") }, 403, 109},
		{"no sub", false, func(r *request) { delete(r.claims, "sub") }, 403, 109},
		{"sub not a contact", false, func(r *request) { r.claims["sub"] = "ops@example.com" }, 403, 109},
		{"restricted to another key", true, func(r *request) { r.key = other }, 403, 109},
		{"no TTL", false, func(r *request) { r.headers.Del("TTL") }, 400, 111},
		{"TTL not seconds", false, func(r *request) { r.headers.Set("TTL", "1.5") }, 400, 112},
		{"TTL negative", false, func(r *request) { r.headers.Set("TTL", "-1") }, 400, 112},
		{"Urgency unknown", false, func(r *request) { r.headers.Set("Urgency", "urgent") }, 400, 0},
		{"Topic too long", false, func(r *request) { r.headers.Set("Topic", strings.Repeat("a", 33)) }, 400, 113},
		{"Topic with colon", false, func(r *request) { r.headers.Set("Topic", "a:b") }, 400, 113},
		{"no Content-Encoding", false, func(r *request) { r.headers.Del("Content-Encoding") }, 400, 110},
		{"aesgcm", false, func(r *request) { r.headers.Set("Content-Encoding", "aesgcm") }, 400, 110},
		{"two codings", false, func(r *request) { r.headers["Content-Encoding"] = []string{"aes128gcm", "aes128gcm"} }, 400, 110},
		{"body over 4096", false, func(r *request) { r.body = append(r.body, make([]byte, 4097-len(r.body))...) }, 413, 104},
		{"tampered body", false, func(r *request) { r.body[100] ^= 1 }, 400, 110},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []uptest.SubscribeOption
			if tt.restricted {
				pub, _ := key.PublicKey.Bytes()
				opts = append(opts, uptest.RestrictedTo(b64.EncodeToString(pub)))
			}
			sub := srv.Subscribe(opts...)
			r := validRequest(t, sub, key)
			tt.spoil(r)
			resp, body := r.do(t, srv)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, body["message"], tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed {
				return
			}
			if body["code"] != float64(tt.status) || body["error"] != http.StatusText(tt.status) {
				t.Errorf("error body %v does not follow autopush's format", body)
			}
			if got, _ := body["errno"].(float64); got != tt.errno {
				t.Errorf("errno %v, want %v", body["errno"], tt.errno)
			}
		})
	}
	if d := srv.Delivered(); len(d) != 0 {
		t.Fatalf("receiver accepted %d invalid pushes", len(d))
	}
}

func TestReceiverUnsubscribeAndFailNext(t *testing.T) {
	t.Parallel()
	srv := uptest.New(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sub := srv.Subscribe()

	srv.FailNext(2, uptest.Failure{Status: http.StatusServiceUnavailable, RetryAfter: "7"})
	for i := range 2 {
		resp, body := validRequest(t, sub, key).do(t, srv)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" || body["errno"] != float64(201) {
			t.Fatalf("request %d: status %d, Retry-After %q, body %v; want the injected 503", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp, _ := validRequest(t, sub, key).do(t, srv); resp.StatusCode != http.StatusCreated {
		t.Fatalf("third request: status %d, want 201 once the failures are used up", resp.StatusCode)
	}

	srv.Unsubscribe(sub.ID)
	if resp, body := validRequest(t, sub, key).do(t, srv); resp.StatusCode != http.StatusGone || body["errno"] != float64(106) {
		t.Fatalf("after Unsubscribe: status %d, body %v; want 410 errno 106", resp.StatusCode, body)
	}
	if n := len(srv.Received()); n != 4 {
		t.Fatalf("recorded %d requests, want 4", n)
	}
}
