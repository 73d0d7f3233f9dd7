package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestShutdownDrainsAndStopsInReverse: a request in flight when shutdown begins completes;
// new connections are refused; components stop in the reverse of their start order.
func TestShutdownDrainsAndStopsInReverse(t *testing.T) {
	p := newTestPKI(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var events []string
	s, err := New(p.testConfig(t, "none"), testLogger(t),
		WithRoutes(func(ep config.Endpoint, mux *http.ServeMux) {
			if ep == config.Public {
				mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
					close(entered)
					<-release
					_, _ = io.WriteString(w, "finished")
				})
			}
		}),
		WithLifecycleHook(func(event, name string) {
			mu.Lock()
			events = append(events, event+" "+name)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := client(pool(p.serverCA), 0, nil)
	publicURL := s.URL(config.Public)
	addrs := map[config.Endpoint]string{}
	for _, ep := range config.Endpoints {
		addrs[ep] = s.Addr(ep)
	}

	type result struct {
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := c.Get(publicURL + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{string(b), err}
	}()
	<-entered

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- s.Shutdown(ctx)
	}()
	// Every listener stops accepting at once, while PUBLIC still drains its request.
	for ep, addr := range addrs {
		testutil.Eventually(t, 10*time.Second, func() bool {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return true
			}
			conn.Close()
			return false
		}, "%s still accepts connections during shutdown", ep)
	}
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)
	if r := <-inflight; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	var starts, stops []string
	for _, e := range events {
		if name, ok := strings.CutPrefix(e, "start "); ok {
			starts = append(starts, name)
		} else {
			stops = append(stops, strings.TrimPrefix(e, "stop "))
		}
	}
	if !slices.Equal(starts, []string{"store", "ephemeral", "store cache", "webhooks", "authentication requests", "messaging", "ciba notifications", "listeners", "admin console plots"}) {
		t.Fatalf("start order %v", starts)
	}
	slices.Reverse(starts)
	if !slices.Equal(starts, stops) {
		t.Fatalf("stop order %v is not the reverse of start order", stops)
	}
}

// TestReadyzFollowsDependencies: /readyz answers 503 while PostgreSQL or Redis is
// unreachable and 200 again when it returns.
func TestReadyzFollowsDependencies(t *testing.T) {
	pgURL, redisURL := testutil.PostgresURL(t), testutil.RedisURL(t)
	pgProxy := testutil.NewProxy(t, hostOf(t, pgURL))
	redisProxy := testutil.NewProxy(t, hostOf(t, redisURL))

	schema := "signet_readyz_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	conn, err := pgx.Connect(context.Background(), pgURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})

	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Database.URL = withHost(t, pgURL, pgProxy.Addr(), url.Values{"search_path": {schema}, "connect_timeout": {"2"}})
	cfg.Redis.URL = withHost(t, redisURL, redisProxy.Addr(), nil)
	cfg.Redis.KeyPrefix = schema + ":"
	s := startServer(t, cfg)
	c := client(pool(p.serverCA), 0, nil)
	readyz := func() int {
		resp, err := get(c, s.URL(config.Ops)+"/readyz")
		if err != nil {
			t.Fatalf("readyz: %v", err)
		}
		return resp.StatusCode
	}
	for _, dep := range []struct {
		name  string
		proxy *testutil.Proxy
	}{{"PostgreSQL", pgProxy}, {"Redis", redisProxy}} {
		if code := readyz(); code != http.StatusOK {
			t.Fatalf("readyz %d before cutting %s", code, dep.name)
		}
		dep.proxy.Cut()
		testutil.Eventually(t, 15*time.Second, func() bool { return readyz() == http.StatusServiceUnavailable },
			"readyz stayed 200 with %s unreachable", dep.name)
		if resp, _ := get(c, s.URL(config.Ops)+"/livez"); resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("livez failed while %s is unreachable", dep.name)
		}
		dep.proxy.Restore()
		testutil.Eventually(t, 15*time.Second, func() bool { return readyz() == http.StatusOK },
			"readyz did not return to 200 after %s came back", dep.name)
	}
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHost(t *testing.T, raw, host string, extra url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	q := u.Query()
	for k, v := range extra {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// TestOpsEndpoints: liveness, readiness, metrics per listener and route, request ids, and
// the health report as JSON and HTML.
func TestOpsEndpoints(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	s := startServer(t, cfg)
	c := client(pool(p.serverCA), 0, nil)
	ops0 := s.URL(config.Ops)

	resp, err := get(c, ops0+"/livez")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("livez: %v %v", resp, err)
	}
	if id := resp.Header.Get(ops.RequestIDHeader); len(id) < 16 {
		t.Errorf("no generated request id: %q", id)
	}
	req, _ := http.NewRequest("GET", ops0+"/readyz", nil)
	req.Header.Set(ops.RequestIDHeader, "trace-abc.123")
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	if id := resp.Header.Get(ops.RequestIDHeader); id != "trace-abc.123" {
		t.Errorf("incoming request id not echoed: %q", id)
	}
	req.Header.Set(ops.RequestIDHeader, "bad id <script>")
	resp, _ = c.Do(req)
	resp.Body.Close()
	if id := resp.Header.Get(ops.RequestIDHeader); id == "bad id <script>" || id == "" {
		t.Errorf("malformed request id echoed: %q", id)
	}
	if _, err := get(c, s.URL(config.API)+"/nothing"); err != nil {
		t.Fatal(err)
	}

	metrics := body(t, c, ops0+"/metrics", "")
	for _, want := range []string{
		`signet_http_requests_total{code="200",listener="ops",method="GET",route="GET /livez"} 1`,
		`signet_http_requests_total{code="404",listener="api",method="GET",route="/"}`,
		`signet_http_request_duration_seconds_bucket{code="200",listener="ops",method="GET",route="GET /readyz"`,
		"go_goroutines", "process_resident_memory_bytes", "signet_build_info",
		// What alerts read: readiness and each component, and when each listener's
		// certificate expires.
		"signet_ready 1", "signet_device_connections 0", `signet_devices_enrolled{state="active"} 0`, `signet_devices_enrolled{state="locked"} 0`, `signet_component_up{component="database"} 1`, `signet_component_up{component="listener PUBLIC"} 1`,
		fmt.Sprintf(`signet_tls_certificate_expiry_timestamp_seconds{listener="public"} %s`,
			strconv.FormatFloat(float64(s.listeners[config.Public].tls.Certificate().NotAfter.Unix()), 'g', -1, 64)),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	var rep ops.Report
	if err := json.Unmarshal([]byte(body(t, c, ops0+"/health", "application/json")), &rep); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, comp := range rep.Components {
		names[comp.Name] = comp.Status
	}
	if rep.Status != "up" || !rep.Ready || !rep.Dev || rep.Version == "" || rep.UptimeSeconds <= 0 ||
		names["database"] != "up" || names["ephemeral store"] != "up" || names["listener PUBLIC"] != "up" {
		t.Errorf("health report: %+v", rep)
	}

	page := body(t, c, ops0+"/health", "text/html")
	if !strings.Contains(page, "Signet health") || !strings.Contains(page, "development mode") {
		t.Errorf("health page lacks title or dev-mode notice:\n%s", page)
	}
	landing := body(t, c, s.URL(config.Public)+"/", "")
	if !strings.Contains(landing, "development mode") {
		t.Errorf("landing page lacks dev-mode notice")
	}
}

func body(t *testing.T, c *http.Client, u, accept string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if h := resp.Header.Get("Content-Type"); strings.HasPrefix(h, "text/html") && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("%s: HTML without a strict CSP", u)
	}
	return string(b)
}

// TestPlainHTTPListener: tls off serves plain HTTP (for a TLS-terminating proxy), and the
// GRPC listener then speaks HTTP/2 without TLS (h2c) as gRPC needs.
func TestPlainHTTPListener(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	for _, ep := range []config.Endpoint{config.Ops, config.GRPC} {
		l := cfg.Listener(ep)
		l.TLS, l.TLSCertificateFile, l.TLSKeyFile = "off", "", ""
	}
	s := startServer(t, cfg)
	if !strings.HasPrefix(s.URL(config.Ops), "http://") {
		t.Fatalf("OPS URL %s", s.URL(config.Ops))
	}
	resp, err := http.Get(s.URL(config.Ops) + "/livez")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain livez: %v %v", resp, err)
	}
	resp.Body.Close()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	resp, err = h2c.Get(s.URL(config.GRPC) + "/")
	if err != nil {
		t.Fatalf("h2c: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("GRPC listener answered HTTP/%d over cleartext, want h2c", resp.ProtoMajor)
	}
}

// TestRolesSelectListeners: a node runs only the listeners of its roles, and the settings
// of the others are not required.
func TestRolesSelectListeners(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Roles = []string{config.RoleOps, config.RoleIdP}
	cfg.Listeners.API = config.Listener{Addr: "not an address", TLS: "on", TLSClientAuth: "verify"}
	s := startServer(t, cfg)
	for _, ep := range config.Endpoints {
		running := s.Addr(ep) != ""
		if want := ep == config.Ops || ep == config.Public; running != want {
			t.Errorf("%s running=%v, want %v", ep, running, want)
		}
	}
	if _, err := get(client(pool(p.serverCA), 0, nil), s.URL(config.Public)+"/"); err != nil {
		t.Fatal(err)
	}
}

// TestListenerThatStopsEndsTheNode: a listener that stops serving on its own is not left
// unnoticed: Run shuts the node down and returns the error (the process exits non-zero).
func TestListenerThatStopsEndsTheNode(t *testing.T) {
	p := newTestPKI(t)
	s, err := New(p.testConfig(t, "none"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	printed := make(chan struct{})
	var once sync.Once
	go func() { ran <- s.Run(ctx, writerFunc(func() { once.Do(func() { close(printed) }) }), nil) }()
	<-printed
	_ = s.listeners[config.API].ln.Close() // the socket goes away under the server
	select {
	case err := <-ran:
		if err == nil || !strings.Contains(err.Error(), "listener API") {
			t.Fatalf("Run returned %v, want the API listener's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not notice the stopped listener")
	}
}

// writerFunc calls fn on every write (Run prints the URLs once it has started).
type writerFunc func()

func (f writerFunc) Write(b []byte) (int, error) {
	if f != nil {
		f()
	}
	return len(b), nil
}

// TestHandlerPanicIsA500: a panicking handler answers 500 with the request id, is counted
// and logged, and the listener keeps serving.
func TestHandlerPanicIsA500(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p.testConfig(t, "none"), WithRoutes(func(ep config.Endpoint, mux *http.ServeMux) {
		if ep == config.Public {
			mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
		}
	}))
	c := client(pool(p.serverCA), 0, nil)
	resp, err := get(c, s.URL(config.Public)+"/boom")
	if err != nil || resp.StatusCode != http.StatusInternalServerError || resp.Header.Get(ops.RequestIDHeader) == "" {
		t.Fatalf("panic answered %v, %v", resp, err)
	}
	if resp, err := get(c, s.URL(config.Public)+"/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("listener broken after a panic: %v %v", resp, err)
	}
	if m := body(t, c, s.URL(config.Ops)+"/metrics", ""); !strings.Contains(m, `signet_http_requests_total{code="500",listener="public",method="GET",route="GET /boom"} 1`) {
		t.Error("the panicking request was not counted as a 500")
	}
}
