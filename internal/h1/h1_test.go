package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/internal/tlsconf"
)

// seen is what the test handler saw of one request.
type seen struct {
	fast                       bool
	method, path, query, host  string
	requestURI, remote, body   string
	proto                      string
	contentLength              int64
	tls                        bool
	auth, contentType, unknown string
	hasServer                  bool
}

type harness struct {
	t      *testing.T
	addr   string
	srv    *Server
	pool   *x509.CertPool
	mu     sync.Mutex
	seen   []seen
	served chan error
	logs   *testutil.SyncBuffer
}

// simple is the route set the tests use: /fast/... for GET and POST.
func simple(method, path string) bool { return strings.HasPrefix(path, "/fast/") }

// start runs a Server on loopback with TLS (or plain HTTP) and a handler that records
// what it saw and echoes the body.
func start(t *testing.T, withTLS bool, tune func(*http.Server)) *harness {
	t.Helper()
	h := &harness{t: t, served: make(chan error, 1), logs: &testutil.SyncBuffer{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		_, fast := w.(*response)
		h.mu.Lock()
		h.seen = append(h.seen, seen{
			fast: fast, method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, host: r.Host,
			requestURI: r.RequestURI, remote: r.RemoteAddr, body: string(body), proto: r.Proto,
			contentLength: r.ContentLength, tls: r.TLS != nil, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), unknown: r.Header.Get("X-Unknown"),
			hasServer: r.Context().Value(http.ServerContextKey) != nil,
		})
		h.mu.Unlock()
		switch r.URL.Path {
		case "/fast/panic":
			panic("handler failed")
		case "/fast/close":
			w.Header().Set("Connection", "close")
		case "/fast/nocontent":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/fast/split":
			w.Header().Set("X-Split", "a\r\nInjected: yes")
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: log.New(h.logs, "", 0)}
	if tune != nil {
		tune(hs)
	}
	cfg := Config{HTTP: hs, Simple: simple}
	if withTLS {
		leaf, err := pki.SelfSigned(pki.LeafRequest{CommonName: "localhost", DNSNames: []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), Server: true})
		if err != nil {
			t.Fatal(err)
		}
		src, err := tlsconf.New(tlsconf.Options{CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM})
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = src.Config()
		h.pool = x509.NewCertPool()
		h.pool.AppendCertsFromPEM(leaf.CertPEM)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.srv = New(cfg)
	go func() { h.served <- h.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = h.srv.Close()
		if err := <-h.served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return h
}

// dial opens a raw connection (TLS with ALPN http/1.1 when the server has TLS).
func (h *harness) dial(alpn ...string) net.Conn {
	h.t.Helper()
	if h.pool == nil {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(func() { _ = c.Close() })
		return c
	}
	if alpn == nil {
		alpn = []string{"http/1.1"}
	}
	c, err := tls.Dial("tcp", h.addr, &tls.Config{RootCAs: h.pool, ServerName: "localhost", NextProtos: alpn, MinVersion: tls.VersionTLS13})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (h *harness) client(http2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: h.pool, ServerName: "localhost"}, ForceAttemptHTTP2: http2}
	if !http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (h *harness) last() seen {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		h.t.Fatal("the handler saw no request")
	}
	return h.seen[len(h.seen)-1]
}

func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, raw string) *http.Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

func bodyOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFastRequestSeesWhatNetHTTPWouldGive(t *testing.T) {
	t.Parallel()
	for _, withTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			t.Parallel()
			h := start(t, withTLS, nil)
			c := h.dial()
			br := bufio.NewReader(c)
			resp := roundTrip(t, c, br, "POST /fast/token?x=1&y=%20 HTTP/1.1\r\nHost: localhost:8443\r\n"+
				"authorization: Basic YTpi\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Unknown:  spaced \t\r\n"+
				"Content-Length: 18\r\n\r\ngrant_type=client_")
			if resp.StatusCode != http.StatusCreated || bodyOf(t, resp) != "POST /fast/token grant_type=client_" {
				t.Fatalf("got %d", resp.StatusCode)
			}
			if resp.Header.Get("Date") == "" || resp.ContentLength != 35 || resp.Header.Get("Content-Type") != "text/plain" || resp.Close {
				t.Fatalf("headers %v, length %d, close %v", resp.Header, resp.ContentLength, resp.Close)
			}
			got := h.last()
			want := seen{fast: true, method: "POST", path: "/fast/token", query: "x=1&y=%20", host: "localhost:8443",
				requestURI: "/fast/token?x=1&y=%20", remote: c.LocalAddr().String(), body: "grant_type=client_", proto: "HTTP/1.1",
				contentLength: 18, tls: withTLS, auth: "Basic YTpi", contentType: "application/x-www-form-urlencoded",
				unknown: "spaced", hasServer: true}
			if got != want {
				t.Fatalf("handler saw\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	c := h.dial()
	br := bufio.NewReader(c)
	for i := range 3 {
		resp := roundTrip(t, c, br, fmt.Sprintf("GET /fast/%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if got := bodyOf(t, resp); got != fmt.Sprintf("GET /fast/%d ", i) {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	// Two requests in one write are answered in order.
	if _, err := io.WriteString(c, "GET /fast/a HTTP/1.1\r\nHost: a\r\n\r\nPOST /fast/b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GET /fast/a ", "POST /fast/b hi"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := bodyOf(t, resp); got != want {
			t.Fatalf("pipelined: got %q, want %q", got, want)
		}
	}
	if n := h.count(); n != 5 {
		t.Fatalf("handler ran %d times", n)
	}
}

func TestConnectionClose(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	for _, tc := range []struct{ name, raw string }{
		{"asked by the client", "GET /fast/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"},
		{"chosen by the handler", "GET /fast/close HTTP/1.1\r\nHost: a\r\n\r\n"},
	} {
		c := h.dial()
		br := bufio.NewReader(c)
		resp := roundTrip(t, c, br, tc.raw)
		if !resp.Close || resp.Header.Get("Connection") != "" {
			t.Fatalf("%s: response does not close (Close=%v)", tc.name, resp.Close)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("%s: connection still open: %v", tc.name, err)
		}
	}
}

// Requests the fast path does not take reach net/http with every byte, and the
// connection stays with net/http.
func TestNotSimpleGoesToNetHTTP(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	cases := []struct {
		name, raw string
		status    int
	}{
		{"other route", "GET /other HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusCreated},
		{"HTTP/1.0", "GET /fast/x HTTP/1.0\r\nHost: a\r\n\r\n", http.StatusCreated},
		{"HEAD", "HEAD /fast/x HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusCreated},
		{"chunked", "POST /fast/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", http.StatusCreated},
		{"expect", "POST /fast/x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", http.StatusContinue},
		{"escaped path", "GET /fast/%78 HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusCreated},
		{"dot segment", "GET /fast/../fast/x HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusTemporaryRedirect},
		{"bare LF", "GET /fast/x HTTP/1.1\nHost: a\n\n", http.StatusCreated},
		{"bad header name", "GET /fast/x HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", http.StatusBadRequest},
		{"missing host", "GET /fast/x HTTP/1.1\r\n\r\n", http.StatusBadRequest},
		{"two hosts", "GET /fast/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", http.StatusBadRequest},
		{"two lengths", "POST /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi", http.StatusBadRequest},
		{"bad length", "POST /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: -2\r\n\r\nhi", http.StatusBadRequest},
		{"body on GET", "GET /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", http.StatusCreated},
		{"large body", "POST /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n" + strings.Repeat("a", 70000), http.StatusCreated},
		{"large head", "GET /fast/x HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\n\r\n", http.StatusCreated},
		{"upgrade", "GET /fast/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", http.StatusCreated},
		{"obs-fold", "GET /fast/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", http.StatusCreated},
	}
	for _, tc := range cases {
		c := h.dial()
		br := bufio.NewReader(c)
		before := h.count()
		resp := roundTrip(t, c, br, tc.raw)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
			continue
		}
		if h.count() > before && h.last().fast {
			t.Errorf("%s: served on the fast path", tc.name)
		}
		if resp.StatusCode == http.StatusCreated && h.count() > before && !h.last().tls {
			t.Errorf("%s: r.TLS is nil after the handover", tc.name)
		}
	}
}

func TestHandoverMidConnection(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	c := h.dial()
	br := bufio.NewReader(c)
	var fast []bool
	for _, raw := range []string{
		"GET /fast/1 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /other HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /fast/3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	} {
		if resp := roundTrip(t, c, br, raw); resp.StatusCode != http.StatusCreated {
			t.Fatalf("%q: status %d", raw, resp.StatusCode)
		}
		fast = append(fast, h.last().fast)
	}
	if fmt.Sprint(fast) != "[true false false]" {
		t.Fatalf("fast path per request: %v", fast)
	}
	if got := h.last(); got.body != "abc" || !got.tls {
		t.Fatalf("after the handover: %+v", got)
	}
}

func TestHTTP2GoesToNetHTTP(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	resp, err := h.client(true).Get("https://" + h.addr + "/fast/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || bodyOf(t, resp) != "GET /fast/x " {
		t.Fatalf("proto %s", resp.Proto)
	}
	if got := h.last(); got.fast || got.proto != "HTTP/2.0" || !got.tls {
		t.Fatalf("handler saw %+v", got)
	}
}

func TestGoClientOverHTTP1(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	cl := h.client(false)
	for i := range 20 {
		resp, err := cl.Post("https://"+h.addr+"/fast/token", "application/x-www-form-urlencoded", strings.NewReader(fmt.Sprint("n=", i)))
		if err != nil {
			t.Fatal(err)
		}
		if got := bodyOf(t, resp); got != fmt.Sprintf("POST /fast/token n=%d", i) {
			t.Fatalf("got %q", got)
		}
		resp.Body.Close()
		if !h.last().fast {
			t.Fatal("Go's HTTP/1.1 client did not take the fast path")
		}
	}
}

func TestResponseHeaders(t *testing.T) {
	t.Parallel()
	h := start(t, false, nil)
	c := h.dial()
	br := bufio.NewReader(c)
	resp := roundTrip(t, c, br, "GET /fast/split HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.Header.Get("Injected") != "" || resp.Header.Get("X-Split") != "a  Injected: yes" {
		t.Fatalf("a header value split the response: %v", resp.Header)
	}
	resp = roundTrip(t, c, br, "GET /fast/nocontent HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Content-Length") != "" || bodyOf(t, resp) != "" {
		t.Fatalf("204: %v", resp.Header)
	}
	// The connection is still in step after the 204.
	if resp := roundTrip(t, c, br, "GET /fast/x HTTP/1.1\r\nHost: a\r\n\r\n"); bodyOf(t, resp) != "GET /fast/x " {
		t.Fatal("connection out of step after a 204")
	}
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	c := h.dial()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /fast/panic HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadByte(); err != io.EOF {
		t.Fatalf("after a panic the connection gave %v, want EOF", err)
	}
	if !strings.Contains(h.logs.String(), "panic serving") {
		t.Fatalf("the panic was not logged: %q", h.logs.String())
	}
	c2 := h.dial()
	if resp := roundTrip(t, c2, bufio.NewReader(c2), "GET /fast/x HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d after another connection's panic", resp.StatusCode)
	}
}

func TestSlowRequestIsCut(t *testing.T) {
	t.Parallel()
	h := start(t, false, func(s *http.Server) { s.ReadHeaderTimeout = 200 * time.Millisecond })
	for name, partial := range map[string]string{
		"head":                 "GET /fast/x HTTP/1.1\r\nHost: a\r\n",
		"body":                 "POST /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
		"head after a request": "GET /fast/x HTTP/1.1\r\nHost: a\r\n\r\nGET /fast/y HTTP/1.1\r\n",
	} {
		c := h.dial()
		if _, err := io.WriteString(c, partial); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: an unfinished request kept the connection open", name)
		}
	}
}

func TestTLSHandshakeErrorsStayNetHTTPs(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	// Plain HTTP to a TLS listener gets net/http's 400.
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp := roundTrip(t, c, bufio.NewReader(c), "GET /fast/x HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to TLS: %d", resp.StatusCode)
	}
	// TLS 1.2 is refused.
	_, err = tls.Dial("tcp", h.addr, &tls.Config{RootCAs: h.pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err == nil {
		t.Fatal("TLS 1.2 handshake succeeded")
	}
}

func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	h := start(t, true, func(s *http.Server) {
		inner := s.Handler
		s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fast/slow" {
				once.Do(func() { close(entered) })
				<-release
			}
			inner.ServeHTTP(w, r)
		})
	})
	idle := h.dial()
	idleBR := bufio.NewReader(idle)
	roundTrip(t, idle, idleBR, "GET /fast/x HTTP/1.1\r\nHost: a\r\n\r\n")

	busy := h.dial()
	_ = busy.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(busy, "GET /fast/slow HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-entered
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(context.Background()) }()
	// The idle connection is closed.
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	// The busy one finishes its request, told to close.
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || !resp.Close {
		t.Fatalf("in-flight request: %d, close %v", resp.StatusCode, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", h.addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}
