package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/outbound/outboundtest"
	"github.com/signet-auth/signet/internal/version"
)

// target is a loopback test server that counts what reaches it.
type target struct {
	*httptest.Server
	hits  atomic.Int32 // requests handled
	conns atomic.Int32 // connections accepted
}

// newTarget starts a server on 127.0.0.1; with tlsConf non-nil it serves https with that
// configuration (httptest's certificate covers 127.0.0.1, ::1 and example.com).
func newTarget(t *testing.T, tlsConf *tls.Config, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		h(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tg.conns.Add(1)
		}
	}
	if tlsConf != nil {
		srv.TLS = tlsConf
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	tg.Server = srv
	return tg
}

// untouched fails the test if anything connected to tg.
func (tg *target) untouched(t *testing.T) {
	t.Helper()
	if n, c := tg.hits.Load(), tg.conns.Load(); n != 0 || c != 0 {
		t.Errorf("%s saw %d requests on %d connections, want none", tg.URL, n, c)
	}
}

func (tg *target) port() string {
	u, _ := url.Parse(tg.URL)
	return u.Port()
}

func (tg *target) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(tg.Certificate())
	return pool
}

func ok(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// names resolves test names to loopback without any real DNS traffic.
func names() Option {
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	return WithResolver(outboundtest.Resolver(map[string][]netip.Addr{
		"rebind.example.com": lo,
		"other.example.com":  lo,
		"example.com":        lo,
	}))
}

// noDNS fails the test on any DNS query; /etc/hosts names (localhost) still resolve.
func noDNS(t *testing.T) Option {
	return WithResolver(&net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		t.Error("unexpected DNS query")
		return nil, errors.New("no DNS in this test")
	}})
}

func newClient(t *testing.T, p Policy, opts ...Option) *Client {
	c := New(p, opts...)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(t *testing.T, c *Client, u string) (*Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(t.Context(), req)
}

func withPrivate(p Policy) Policy {
	p.AllowPrivate = true
	return p
}

func TestForbiddenTargetsAreNeverContacted(t *testing.T) {
	t.Parallel()
	plain := newTarget(t, nil, ok)
	secure := newTarget(t, &tls.Config{}, ok)
	c := newClient(t, DefaultPolicy(), names(), WithRootCAs(secure.pool()))

	p, s := plain.port(), secure.port()
	for _, u := range []string{
		plain.URL, // literal 127.0.0.1, refused before dialling
		"https://127.0.0.1:" + s + "/",
		"https://[::1]:" + s + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://0.0.0.0:" + p + "/",
		"https://[::]:" + s + "/",
		"https:///jwks", // no host at all
		"https://[64:ff9b::7f00:1]:" + s + "/",
		"https://127.1:" + s + "/",      // non-canonical literals, refused before any lookup
		"https://2130706433:" + s + "/", //
		"https://0x7f.0.0.1:" + s + "/", //
		"https://localhost:" + s + "/",  // name resolving to 127.0.0.1: refused at dial time
		"https://rebind.example.com:" + s + "/",
		"https://Rebind.Example.com.:" + s + "/",
	} {
		_, err := get(t, c, u)
		if !errors.Is(err, ErrForbiddenTarget) {
			t.Errorf("GET %s: err = %v, want ErrForbiddenTarget", u, err)
		}
	}
	plain.untouched(t)
	secure.untouched(t)

	// The dial-time refusal reads as clearly as the literal one, not as a dial error.
	_, err := get(t, c, "https://localhost:"+s+"/jwks")
	want := "outbound GET https://localhost:" + s + "/jwks: forbidden target: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "(loopback address)") {
		t.Errorf("error = %v, want %q... (loopback address)", err, want)
	}
}

func TestAllowedTargets(t *testing.T) {
	t.Parallel()
	plain := newTarget(t, nil, ok)
	secure := newTarget(t, &tls.Config{}, ok)
	p, s := plain.port(), secure.port()
	loopback, err := ParseCIDRs([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tenNet, err := ParseCIDRs([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	withCIDRs := func(c []netip.Prefix) Policy { p := DefaultPolicy(); p.AllowedCIDRs = c; return p }
	withHosts := func(h ...string) Policy { p := DefaultPolicy(); p.AllowedHosts = h; return p }

	tests := []struct {
		name   string
		policy Policy
		url    string
		want   error
	}{
		{"AllowPrivate literal", withPrivate(DefaultPolicy()), plain.URL, nil},
		{"AllowPrivate localhost", withPrivate(DefaultPolicy()), "http://localhost:" + p + "/", nil},
		{"AllowPrivate https", withPrivate(DefaultPolicy()), secure.URL, nil},
		{"CIDR literal", withCIDRs(loopback), plain.URL, nil},
		{"CIDR resolved name", withCIDRs(loopback), "http://rebind.example.com:" + p + "/", nil},
		{"CIDR https", withCIDRs(loopback), "https://example.com:" + s + "/", nil},
		{"other CIDR", withCIDRs(tenNet), plain.URL, ErrForbiddenTarget},
		{"other CIDR, name", withCIDRs(tenNet), "http://rebind.example.com:" + p + "/", ErrForbiddenTarget},
		{"allowed host", withHosts("rebind.example.com"), "http://rebind.example.com:" + p + "/", nil},
		{"allowed host, any case", withHosts("Rebind.Example.COM."), "http://REBIND.example.com:" + p + "/", nil},
		{"allowed host https", withHosts("example.com"), "https://example.com:" + s + "/", nil},
		{"allowed host localhost", withHosts("localhost"), "http://localhost:" + p + "/", nil},
		{"same address, other name", withHosts("rebind.example.com"), "https://other.example.com:" + s + "/", ErrForbiddenTarget},
		{"same address, literal", withHosts("rebind.example.com"), plain.URL, ErrForbiddenTarget},
		{"plain http, nothing allowed", DefaultPolicy(), "http://rebind.example.com:" + p + "/", ErrForbiddenScheme},
	}
	for _, tt := range tests {
		c := newClient(t, tt.policy, names(), WithRootCAs(secure.pool()))
		resp, err := get(t, c, tt.url)
		switch {
		case tt.want != nil:
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: GET %s: err = %v, want %v", tt.name, tt.url, err, tt.want)
			}
		case err != nil:
			t.Errorf("%s: GET %s: %v", tt.name, tt.url, err)
		case resp.Status != http.StatusOK || string(resp.Body) != `{"ok":true}`:
			t.Errorf("%s: GET %s = %d %q", tt.name, tt.url, resp.Status, resp.Body)
		}
	}
}

func TestPlainHTTPToPublicNameRefusedWithoutLookup(t *testing.T) {
	t.Parallel()
	c := newClient(t, DefaultPolicy(), noDNS(t))
	for _, u := range []string{"http://rp.example.com/jwks", "http://8.8.8.8/jwks", "http://[2001:4860:4860::8888]/"} {
		_, err := get(t, c, u)
		if !errors.Is(err, ErrForbiddenScheme) {
			t.Errorf("GET %s: err = %v, want ErrForbiddenScheme", u, err)
		}
	}
}

func TestSchemesRefused(t *testing.T) {
	t.Parallel()
	c := newClient(t, withPrivate(DefaultPolicy()), noDNS(t))
	for _, u := range []string{
		"ftp://example.com/jwks.json",
		"file:///etc/passwd",
		"javascript:alert(1)",
		"JavaScript:alert(1)",
		"data:application/json,{}",
		"gopher://example.com/",
		"ws://example.com/",
		"//example.com/jwks",
	} {
		var v any
		err := c.GetJSON(t.Context(), u, &v)
		if !errors.Is(err, ErrForbiddenScheme) {
			t.Errorf("GetJSON(%q): err = %v, want ErrForbiddenScheme", u, err)
		}
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	second := newTarget(t, nil, ok)
	for _, code := range []int{300, 301, 302, 303, 307, 308} {
		first := newTarget(t, nil, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, second.URL+"/next?token=secret", code)
		})
		c := newClient(t, withPrivate(DefaultPolicy()))
		resp, err := get(t, c, first.URL)
		var re *RedirectError
		if !errors.Is(err, ErrRedirect) || !errors.As(err, &re) {
			t.Errorf("%d: resp %v, err = %v, want ErrRedirect", code, resp, err)
			continue
		}
		if re.Status != code || re.Location != second.URL+"/next" {
			t.Errorf("%d: RedirectError = %+v, want status %d to %s/next", code, re, code, second.URL)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%d: error %q shows the query", code, err)
		}
	}
	second.untouched(t)

	// 304 is not a redirect: there is nothing to follow.
	notModified := newTarget(t, nil, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotModified) })
	resp, err := get(t, newClient(t, withPrivate(DefaultPolicy())), notModified.URL)
	if err != nil || resp.Status != http.StatusNotModified {
		t.Errorf("304: resp %v, err %v", resp, err)
	}
}

func TestBodyCap(t *testing.T) {
	t.Parallel()
	const limit = 1024
	p := withPrivate(DefaultPolicy())
	p.MaxBodyBytes = limit
	c := newClient(t, p)

	chunked := newTarget(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, limit))
		w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
		_, _ = w.Write([]byte{'x'})
	})
	declared := newTarget(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "4096")
		_, _ = w.Write(make([]byte, 4096))
	})
	exact := newTarget(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, limit))
	})

	for _, tg := range []*target{chunked, declared} {
		if _, err := get(t, c, tg.URL); !errors.Is(err, ErrTooLarge) {
			t.Errorf("GET %s: err = %v, want ErrTooLarge", tg.URL, err)
		}
	}
	resp, err := get(t, c, exact.URL)
	if err != nil || len(resp.Body) != limit {
		t.Errorf("body of exactly the cap: err %v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	const limit = 200 * time.Millisecond
	p := withPrivate(DefaultPolicy())
	p.Timeout = limit
	c := newClient(t, p)

	release := make(chan struct{})
	noHeaders := newTarget(t, nil, func(http.ResponseWriter, *http.Request) { <-release })
	slowBody := newTarget(t, nil, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"partial":`)
		w.(http.Flusher).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) }) // runs before the servers' Close, which waits for handlers

	for _, tg := range []*target{noHeaders, slowBody} {
		start := time.Now()
		_, err := get(t, c, tg.URL)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no complete response within 200ms") {
			t.Errorf("GET %s: err = %v, want the policy deadline", tg.URL, err)
		}
		if took < limit || took > limit+5*time.Second {
			t.Errorf("GET %s returned after %s, want about %s", tg.URL, took, limit)
		}
	}

	// The caller's own cancellation is reported as such.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, _ := http.NewRequest(http.MethodGet, noHeaders.URL, nil)
	if _, err := c.Do(ctx, req); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: err = %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	secure := newTarget(t, &tls.Config{}, ok)
	tls12 := newTarget(t, &tls.Config{MaxVersion: tls.VersionTLS12}, ok)

	c := newClient(t, withPrivate(DefaultPolicy()), WithRootCAs(secure.pool()))
	var v struct{ OK bool }
	if err := c.GetJSON(t.Context(), secure.URL, &v); err != nil || !v.OK {
		t.Errorf("GetJSON over TLS: %v, %+v", err, v)
	}
	// Relying parties' servers may still speak only TLS 1.2.
	if err := newClient(t, withPrivate(DefaultPolicy()), WithRootCAs(tls12.pool())).GetJSON(t.Context(), tls12.URL, &v); err != nil {
		t.Errorf("TLS 1.2 server with the default policy: %v", err)
	}
	strict := withPrivate(DefaultPolicy())
	strict.MinTLSVersion = tls.VersionTLS13
	before := tls12.hits.Load()
	if err := newClient(t, strict, WithRootCAs(tls12.pool())).GetJSON(t.Context(), tls12.URL, &v); err == nil {
		t.Error("TLS 1.2 server accepted with MinTLSVersion 1.3")
	}
	// A certificate that does not chain to the roots is refused before any request.
	other := newTarget(t, &tls.Config{}, ok)
	if err := newClient(t, withPrivate(DefaultPolicy())).GetJSON(t.Context(), other.URL, &v); err == nil {
		t.Error("untrusted certificate accepted")
	}
	if tls12.hits.Load() != before || other.hits.Load() != 0 {
		t.Error("a request got through a failed handshake")
	}

	weak := withPrivate(DefaultPolicy())
	weak.MinTLSVersion = tls.VersionTLS10
	if got := New(weak).secure.TLSClientConfig.MinVersion; got != tls.VersionTLS12 {
		t.Errorf("MinTLSVersion 1.0 became %x, want TLS 1.2", got)
	}
}

func TestGetJSON(t *testing.T) {
	t.Parallel()
	var accept atomic.Value
	serve := func(status int, contentType, body string) *target {
		return newTarget(t, nil, func(w http.ResponseWriter, r *http.Request) {
			accept.Store(r.Header.Get("Accept"))
			if contentType == "" {
				w.Header()["Content-Type"] = nil // no sniffing
			} else {
				w.Header().Set("Content-Type", contentType)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		})
	}
	c := newClient(t, withPrivate(DefaultPolicy()))
	type keySet struct {
		Keys []struct{ Kid string } `json:"keys"`
	}

	for _, ct := range []string{"application/json", "application/jwk-set+json; charset=utf-8", "Application/JSON"} {
		var v keySet
		if err := c.GetJSON(t.Context(), serve(200, ct, `{"keys":[{"kid":"k1"}]}`).URL, &v); err != nil || len(v.Keys) != 1 || v.Keys[0].Kid != "k1" {
			t.Errorf("%s: %v, %+v", ct, err, v)
		}
	}
	if a, _ := accept.Load().(string); a != "application/json" {
		t.Errorf("Accept = %q", a)
	}

	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        error
		message     string
	}{
		{"html", 200, "text/html; charset=utf-8", "<html>", ErrNotJSON, `response is not JSON: Content-Type "text/html; charset=utf-8"`},
		{"no content type", 200, "", `{}`, ErrNotJSON, "response is not JSON: no Content-Type"},
		{"not found", 404, "application/json", `{}`, ErrUnexpectedStatus, "unexpected status 404"},
		{"broken JSON", 200, "application/json", `{"keys":`, nil, "decode JSON: "},
		{"trailing data", 200, "application/json", `{} {}`, nil, "decode JSON: "},
	}
	for _, tt := range tests {
		var v keySet
		tg := serve(tt.status, tt.contentType, tt.body)
		err := c.GetJSON(t.Context(), tg.URL+"/jwks?client=x", &v)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
			continue
		}
		if want := "outbound GET " + tg.URL + "/jwks: " + tt.message; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %q, want prefix %q", tt.name, err, want)
		}
	}

	if err := c.GetJSON(t.Context(), "http://[::1", new(any)); err == nil || !strings.HasPrefix(err.Error(), "outbound GET: invalid URL: ") {
		t.Errorf("invalid URL: %v", err)
	}
}

func TestPost(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, contentType, agent, signature, body string
	}
	got := make(chan seen, 1)
	tg := newTarget(t, nil, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), r.Header.Get("X-Signet-Signature"), string(b)}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "queued")
	})
	c := newClient(t, withPrivate(DefaultPolicy()))
	agent := "Signet/" + version.Version

	hdr := http.Header{"X-Signet-Signature": {"sig"}, "User-Agent": {"spoofed"}}
	resp, err := c.PostJSON(t.Context(), tg.URL, map[string]string{"auth_req_id": "abc"}, hdr)
	if err != nil || resp.Status != http.StatusAccepted || string(resp.Body) != "queued" {
		t.Fatalf("PostJSON: %v, %+v", err, resp)
	}
	if s := <-got; s != (seen{"POST", "application/json", agent, "sig", `{"auth_req_id":"abc"}`}) {
		t.Errorf("PostJSON sent %+v", s)
	}

	hdr = http.Header{"content-type": {"application/cloudevents+json"}}
	if _, err := c.PostJSON(t.Context(), tg.URL, []int{1}, hdr); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.contentType != "application/cloudevents+json" || s.body != "[1]" {
		t.Errorf("PostJSON with Content-Type sent %+v", s)
	}

	if _, err := c.PostForm(t.Context(), tg.URL, url.Values{"logout_token": {"a.b.c"}}, nil); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != (seen{"POST", "application/x-www-form-urlencoded", agent, "", "logout_token=a.b.c"}) {
		t.Errorf("PostForm sent %+v", s)
	}

	if _, err := c.PostJSON(t.Context(), tg.URL, func() {}, nil); err == nil || !strings.Contains(err.Error(), "encode JSON body") {
		t.Errorf("unencodable body: %v", err)
	}
}

func TestRequestHygiene(t *testing.T) {
	t.Parallel()
	var cookies atomic.Int32
	tg := newTarget(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if len(r.Cookies()) > 0 {
			cookies.Add(1)
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "x", Path: "/"})
		ok(w, r)
	})
	c := newClient(t, withPrivate(DefaultPolicy()))

	req, _ := http.NewRequest(http.MethodGet, tg.URL, nil)
	req.Header.Set("X-Trace", "1")
	for range 2 {
		if _, err := c.Do(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	if cookies.Load() != 0 {
		t.Error("a cookie was sent back")
	}
	if req.Header.Get("User-Agent") != "" || len(req.Header) != 1 {
		t.Errorf("caller's request modified: %v", req.Header)
	}

	// No proxy from the environment. (net/http reads HTTP_PROXY once per process, so
	// setting it here could not prove anything; the transports must not consult it.)
	if c.plain.Proxy != nil || c.secure.Proxy != nil {
		t.Error("transport consults a proxy")
	}

	// A refused request's body is closed, as http.Client.Do would.
	body := &closeRecorder{Reader: strings.NewReader("x")}
	req, _ = http.NewRequest(http.MethodPost, "ftp://example.com/", body)
	if _, err := c.Do(t.Context(), req); !errors.Is(err, ErrForbiddenScheme) || !body.closed {
		t.Errorf("err %v, body closed %v", err, body.closed)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	c := newClient(t, DefaultPolicy(), noDNS(t))
	_, err := get(t, c, "https://user:hunter2@127.0.0.1:8443/cb?code=s3cret#frag")
	want := "outbound GET https://127.0.0.1:8443/cb: forbidden target: 127.0.0.1 (loopback address)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}
