package fcmtest_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/push/fcm/fcmtest"
	"github.com/signet-auth/signet/internal/testutil"
)

func privateKey(t *testing.T, k fcmtest.ServiceAccountKey) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode([]byte(k.PrivateKey))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PrivateKey)
}

// header and claims are a service account's JWT assertion.
type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid,omitempty"`
}

type claims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// assertion signs a claim set with RS256 (RFC 7515 compact form) as a service account
// would, after edit changes what a case needs changed.
func assertion(t *testing.T, k fcmtest.ServiceAccountKey, key *rsa.PrivateKey, edit func(*header, *claims)) string {
	t.Helper()
	now := time.Now()
	h := &header{Alg: "RS256", Typ: "JWT", Kid: k.PrivateKeyID}
	c := &claims{Iss: k.ClientEmail, Scope: fcmtest.Scope, Aud: k.TokenURI, Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()}
	if edit != nil {
		edit(h, c)
	}
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := seg(h) + "." + seg(c)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	if resp.ProtoMajor != 2 {
		t.Errorf("answer over %s, want HTTP/2", resp.Proto)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

func tokenRequest(t *testing.T, s *fcmtest.Server, form url.Values) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, s.Client(), req)
}

func grant(a string) url.Values {
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {a}}
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := fcmtest.New(t, fcmtest.WithTokenLifetime(30*time.Minute))
	k := s.ServiceAccountKey(t)
	key := privateKey(t, k)
	other := privateKey(t, fcmtest.NewServiceAccountKey(t, s.ProjectID, s.TokenURL))

	refused := []struct {
		name      string
		form      url.Values
		status    int
		errorCode string
	}{
		{"wrong grant type", url.Values{"grant_type": {"client_credentials"}}, 400, "unsupported_grant_type"},
		{"no assertion", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}}, 400, "invalid_request"},
		{"not a JWT", grant("not.a-jwt"), 400, "invalid_grant"},
		{"signed with another key", grant(assertion(t, k, other, nil)), 400, "invalid_grant"},
		{"another key id", grant(assertion(t, k, key, func(h *header, _ *claims) { h.Kid = "0123" })), 400, "invalid_grant"},
		{"HS256", grant(assertion(t, k, key, func(h *header, _ *claims) { h.Alg = "HS256" })), 400, "invalid_grant"},
		{"unknown issuer", grant(assertion(t, k, key, func(_ *header, c *claims) { c.Iss = "x@y.iam.gserviceaccount.com" })), 400, "invalid_grant"},
		{"wrong audience", grant(assertion(t, k, key, func(_ *header, c *claims) { c.Aud = "https://oauth2.googleapis.com/token" })), 400, "invalid_grant"},
		{"lives longer than an hour", grant(assertion(t, k, key, func(_ *header, c *claims) { c.Exp = c.Iat + 3601 })), 400, "invalid_grant"},
		{"expired", grant(assertion(t, k, key, func(_ *header, c *claims) {
			c.Iat, c.Exp = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		})), 400, "invalid_grant"},
		{"issued in the future", grant(assertion(t, k, key, func(_ *header, c *claims) {
			c.Iat, c.Exp = time.Now().Add(10*time.Minute).Unix(), time.Now().Add(20*time.Minute).Unix()
		})), 400, "invalid_grant"},
		{"no scope", grant(assertion(t, k, key, func(_ *header, c *claims) { c.Scope = "" })), 400, "invalid_scope"},
	}
	for _, tt := range refused {
		a := tokenRequest(t, s, tt.form)
		if a.status != tt.status || a.body["error"] != tt.errorCode {
			t.Errorf("%s: %d %v, want %d %s", tt.name, a.status, a.body, tt.status, tt.errorCode)
		}
	}
	if n := s.TokensIssued(); n != 0 {
		t.Fatalf("issued %d tokens for refused requests", n)
	}

	a := tokenRequest(t, s, grant(assertion(t, k, key, nil)))
	if a.status != 200 || a.body["token_type"] != "Bearer" || a.body["expires_in"] != float64(1800) ||
		!strings.HasPrefix(a.body["access_token"].(string), "ya29.") || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("grant: %d %v %v", a.status, a.header, a.body)
	}
	if n := s.TokensIssued(); n != 1 {
		t.Errorf("TokensIssued = %d, want 1", n)
	}

	s.FailNextTokens(1, 503, "temporarily_unavailable", "9")
	if a := tokenRequest(t, s, grant(assertion(t, k, key, nil))); a.status != 503 || a.header.Get("Retry-After") != "9" {
		t.Errorf("scripted failure: %d %v", a.status, a.header)
	}
}

// sender gets access tokens straight from the token endpoint.
type sender struct {
	t   *testing.T
	s   *fcmtest.Server
	k   fcmtest.ServiceAccountKey
	key *rsa.PrivateKey
}

func (c sender) token(scope string) string {
	a := tokenRequest(c.t, c.s, grant(assertion(c.t, c.k, c.key, func(_ *header, cs *claims) { cs.Scope = scope })))
	if a.status != 200 {
		c.t.Fatalf("token: %d %v", a.status, a.body)
	}
	return a.body["access_token"].(string)
}

func (c sender) send(path, access, body string) answer {
	req, _ := http.NewRequest(http.MethodPost, c.s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	return do(c.t, c.s.Client(), req)
}

// rpc reads a google.rpc.Status answer: status, FcmError code, first field violation.
func rpc(a answer) (status, fcmCode, field string) {
	e, _ := a.body["error"].(map[string]any)
	status, _ = e["status"].(string)
	details, _ := e["details"].([]any)
	for _, d := range details {
		d := d.(map[string]any)
		switch d["@type"] {
		case "type.googleapis.com/google.firebase.fcm.v1.FcmError":
			fcmCode, _ = d["errorCode"].(string)
		case "type.googleapis.com/google.rpc.BadRequest":
			v := d["fieldViolations"].([]any)[0].(map[string]any)
			field, _ = v["field"].(string)
		}
	}
	return status, fcmCode, field
}

func TestSendEndpoint(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	s := fcmtest.New(t, fcmtest.WithClock(clock.Now))
	k := s.ServiceAccountKey(t)
	c := sender{t, s, k, privateKey(t, k)}
	access := c.token(fcmtest.Scope)
	path := "/v1/projects/" + s.ProjectID + "/messages:send"
	const ok = `{"message":{"token":"abc:APA91b-x_y","data":{"signet_id":"r1"},"android":{"priority":"HIGH","ttl":"60s","collapse_key":"k"}}}`

	tests := []struct {
		name           string
		path, access   string
		body           string
		status         int
		rpcStatus      string
		fcmCode, field string
	}{
		{"no credentials", path, "", ok, 401, "UNAUTHENTICATED", "", ""},
		{"unknown access token", path, "ya29.nope", ok, 401, "UNAUTHENTICATED", "", ""},
		{"token without the messaging scope", path, c.token("https://www.googleapis.com/auth/userinfo.email"), ok, 403, "PERMISSION_DENIED", "", ""},
		{"another project", "/v1/projects/other-project/messages:send", access, ok, 403, "PERMISSION_DENIED", "", ""},
		{"unknown path", "/v1/projects/" + s.ProjectID + "/messages:sendAll", access, ok, 404, "NOT_FOUND", "", ""},
		{"not JSON", path, access, `message=1`, 400, "INVALID_ARGUMENT", "", ""},
		{"unknown field", path, access, `{"message":{"token":"a","priority":"high"}}`, 400, "INVALID_ARGUMENT", "", "message"},
		{"no target", path, access, `{"message":{"data":{"a":"b"}}}`, 400, "INVALID_ARGUMENT", "", "message"},
		{"two targets", path, access, `{"message":{"token":"a","topic":"news"}}`, 400, "INVALID_ARGUMENT", "", "message"},
		{"number in data", path, access, `{"message":{"token":"a","data":{"a":"b","n":12}}}`, 400, "INVALID_ARGUMENT", "", "message.data[1].value"},
		{"reserved data key", path, access, `{"message":{"token":"a","data":{"google.x":"b"}}}`, 400, "INVALID_ARGUMENT", "", "message.data"},
		{"too big", path, access, `{"message":{"token":"a","data":{"a":"` + strings.Repeat("x", 4096) + `"}}}`, 400, "INVALID_ARGUMENT", "", "message"},
		{"bad priority", path, access, `{"message":{"token":"a","android":{"priority":"URGENT"}}}`, 400, "INVALID_ARGUMENT", "", "message.android.priority"},
		{"ttl without unit", path, access, `{"message":{"token":"a","android":{"ttl":"60"}}}`, 400, "INVALID_ARGUMENT", "", "message.android.ttl"},
		{"ttl over four weeks", path, access, `{"message":{"token":"a","android":{"ttl":"2419201s"}}}`, 400, "INVALID_ARGUMENT", "", "message.android.ttl"},
		{"malformed registration token", path, access, `{"message":{"token":"no spaces allowed"}}`, 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", ""},
		{"valid", path, access, ok, 200, "", "", ""},
		{"validate only", path, access, `{"validate_only":true,"message":{"token":"a","android":{"priority":1,"ttl":"1.5s"}}}`, 200, "", "", ""},
	}
	for _, tt := range tests {
		a := c.send(tt.path, tt.access, tt.body)
		status, code, field := rpc(a)
		if a.status != tt.status || status != tt.rpcStatus || code != tt.fcmCode || field != tt.field {
			t.Errorf("%s: %d %s %q %q, want %d %s %q %q (%v)", tt.name, a.status, status, code, field,
				tt.status, tt.rpcStatus, tt.fcmCode, tt.field, a.body)
		}
		if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without a Bearer challenge", tt.name)
		}
		if a.status == 200 && !strings.HasPrefix(a.body["name"].(string), "projects/"+s.ProjectID+"/messages/") {
			t.Errorf("%s: name %v", tt.name, a.body["name"])
		}
	}
	if d := s.Delivered(); len(d) != 1 || d[0].Token != "abc:APA91b-x_y" || d[0].Data["signet_id"] != "r1" ||
		d[0].Android == nil || d[0].Android.Priority != "HIGH" || d[0].Android.TTL != "60s" || d[0].Android.CollapseKey != "k" {
		t.Errorf("Delivered = %+v", d)
	}

	// Scripted answers, then registered-unregistered tokens.
	s.FailNext(1, fcmtest.Failure{Code: "QUOTA_EXCEEDED", RetryAfter: "5"})
	a := c.send(path, access, ok)
	if status, code, _ := rpc(a); a.status != 429 || status != "RESOURCE_EXHAUSTED" || code != "QUOTA_EXCEEDED" || a.header.Get("Retry-After") != "5" {
		t.Errorf("QUOTA_EXCEEDED: %d %v %v", a.status, a.header, a.body)
	}
	s.Unregister("abc:APA91b-x_y")
	a = c.send(path, access, ok)
	if status, code, _ := rpc(a); a.status != 404 || status != "NOT_FOUND" || code != "UNREGISTERED" {
		t.Errorf("UNREGISTERED: %d %v", a.status, a.body)
	}

	// Access tokens expire by the fake's clock.
	clock.Advance(time.Hour)
	if a := c.send(path, access, ok); a.status != 401 {
		t.Errorf("expired access token: %d, want 401", a.status)
	}
	if n := s.Sends(); n != len(tests)+3 || len(s.Requests()) != n {
		t.Errorf("Sends = %d, Requests = %d, want %d", n, len(s.Requests()), len(tests)+3)
	}
}
