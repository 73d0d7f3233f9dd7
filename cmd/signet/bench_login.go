package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/password"
)

// The full authorization-code flow, login page through token, as `signet bench login`
// measures it: each flow is a new browser (no SSO session) that loads the authorization
// endpoint, follows it to the login page, posts the username and the password, takes
// the code from the redirect and redeems it with PKCE at the token endpoint.

// loginLoadOpts configures one load process.
type loginLoadOpts struct {
	public, caFile     string
	clientID, secret   string
	username, password string
	concurrency        int
	duration           time.Duration
	redirect           string
}

// loginResult is what the load process reports.
type loginResult struct {
	FPS          float64 `json:"fps"`
	OK           int64   `json:"ok"`
	Errors       int64   `json:"errors"`
	P50ms, P99ms float64
	FirstError   string `json:"first_error,omitempty"`
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// loginFlow runs one flow and returns the ID token.
func loginFlow(ctx context.Context, transport http.RoundTripper, o loginLoadOpts) (string, error) {
	jar, _ := cookiejar.New(nil)
	pub, err := url.Parse(o.public)
	if err != nil {
		return "", err
	}
	c := &http.Client{Transport: transport, Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != pub.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	verifier := randomURLSafe(32)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {o.clientID}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {o.redirect},
		"state": {randomURLSafe(12)}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	issuer := o.public + "/realms/demo"
	page, where, err := fetch(ctx, c, http.MethodGet, issuer+"/protocol/openid-connect/auth?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	for _, step := range []url.Values{{"step": {"username"}, "username": {o.username}}, {"step": {"password"}, "password": {o.password}}} {
		m := csrfFieldRE.FindStringSubmatch(page)
		if m == nil {
			return "", fmt.Errorf("no form at %s", where)
		}
		step.Set("csrf_token", html.UnescapeString(m[1]))
		if page, where, err = fetch(ctx, c, http.MethodPost, where.String(), step); err != nil {
			return "", err
		}
	}
	if where.Host == pub.Host {
		return "", fmt.Errorf("login did not redirect to the client (still at %s)", where.Path)
	}
	code := where.Query().Get("code")
	if code == "" {
		return "", fmt.Errorf("no code in the redirect: %s", where.Query().Get("error"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.redirect}, "code_verifier": {verifier}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(o.clientID), url.QueryEscape(o.secret))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.IDToken == "" {
		return "", fmt.Errorf("token endpoint: status %d", resp.StatusCode)
	}
	return tok.IDToken, nil
}

// fetch sends a request (a form when form is not nil) and returns the page and where the
// browser ended up: the last URL it loaded, or the Location it did not follow.
func fetch(ctx context.Context, c *http.Client, method, u string, form url.Values) (string, *url.URL, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode/100 == 3 {
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		return string(b), loc, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("%s %s: status %d", method, resp.Request.URL.Path, resp.StatusCode)
	}
	return string(b), resp.Request.URL, nil
}

func randomURLSafe(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// benchLoginLoad runs flows from o.concurrency workers for o.duration and prints a
// loginResult as JSON.
func benchLoginLoad(e *env, o loginLoadOpts) error {
	if o.redirect == "" {
		// The demo client's loopback redirect URI, on a port nothing listens on: the
		// browser never follows it, the code is read from the Location.
		o.redirect = "http://127.0.0.1:9/callback"
	}
	pem, err := os.ReadFile(o.caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in " + o.caFile)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: o.concurrency,
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+time.Minute)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int64
		firstErr  string
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(o.duration)
	for range o.concurrency {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				_, err := loginFlow(ctx, transport, o)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					failures++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					latencies = append(latencies, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	sortDurations(latencies)
	res := loginResult{OK: int64(len(latencies)), Errors: failures, FirstError: firstErr, FPS: float64(len(latencies)) / elapsed.Seconds()}
	if n := len(latencies); n > 0 {
		res.P50ms = float64(latencies[n/2].Microseconds()) / 1e3
		res.P99ms = float64(latencies[n*99/100].Microseconds()) / 1e3
	}
	return json.NewEncoder(e.stdout).Encode(res)
}

// benchArgon2 prints how many password verifications per second of wall-clock and of CPU
// time this process does with the default Argon2id parameters: the ceiling of a password
// login on one core.
func benchArgon2(e *env, d time.Duration) error {
	h, err := password.New(password.DefaultParams(), password.WithConcurrency(1))
	if err != nil {
		return err
	}
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		return err
	}
	n := 0
	start, cpuStart := time.Now(), cpuTime()
	for time.Since(start) < d {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", hash); err != nil || !ok {
			return fmt.Errorf("verify: %v %v", ok, err)
		}
		n++
	}
	wall, cpu := time.Since(start), cpuTime()-cpuStart
	_, err = fmt.Fprintf(e.stdout, "%.2f %.2f\n", float64(n)/wall.Seconds(), float64(n)/cpu.Seconds())
	return err
}

// loginBenchOpts configures `signet bench login`.
type loginBenchOpts struct {
	loginLoadOpts
	serverCPU, clientCPU int
}

func addLoginBench(parent *cobra.Command, e *env) {
	var o loginBenchOpts
	login := &cobra.Command{
		Use:   "login",
		Short: "full authorization-code flows/s (login page through token) against a dev server pinned to one core, and the ratio to Argon2id verifications/s on that core",
		Long: "Starts `signet serve --dev` (SQLite) pinned to one core with GOMAXPROCS=1. A load process on\n" +
			"another core runs complete sign-ins as new browsers: the authorization endpoint, the login\n" +
			"page, username, password, the redirect with the code, and the code exchange with PKCE at the\n" +
			"token endpoint (an RS256 ID token and an ES256 access token). Every flow verifies one\n" +
			"Argon2id password, so the ceiling is Argon2id verifications/s on the server's core (default\n" +
			"parameters), measured before and after the load.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchLogin(c.Context(), e, o) },
	}
	login.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "how long to load the server")
	login.Flags().IntVar(&o.concurrency, "concurrency", 4, "concurrent browsers")
	login.Flags().IntVar(&o.serverCPU, "server-cpu", 0, "core the server (and the Argon2id ceiling) runs on")
	login.Flags().IntVar(&o.clientCPU, "client-cpu", 1, "core the browsers run on")
	var lo loginLoadOpts
	load := &cobra.Command{Use: "login-load", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchLoginLoad(e, lo) }}
	load.Flags().DurationVar(&lo.duration, "duration", 10*time.Second, "")
	load.Flags().IntVar(&lo.concurrency, "concurrency", 4, "")
	load.Flags().StringVar(&lo.public, "url", "", "")
	load.Flags().StringVar(&lo.caFile, "ca", "", "")
	load.Flags().StringVar(&lo.clientID, "client", "demo-app", "")
	load.Flags().StringVar(&lo.secret, "secret", "", "")
	load.Flags().StringVar(&lo.username, "user", "", "")
	load.Flags().StringVar(&lo.password, "password", "", "")
	var d time.Duration
	argon := &cobra.Command{Use: "argon2", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchArgon2(e, d) }}
	argon.Flags().DurationVar(&d, "duration", 3*time.Second, "")
	parent.AddCommand(login, load, argon)
}

func benchLogin(ctx context.Context, e *env, o loginBenchOpts) error {
	fail := func(err error) error { return &exitError{code: exitFailure, err: err} }
	if runtime.NumCPU() < 2 {
		return fail(errors.New("bench login needs two cores: one for the server, one for the browsers"))
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	srv, err := startBenchServer(ctx, e, self, o.serverCPU)
	if err != nil {
		return fail(err)
	}
	defer srv.close()
	b := srv.banner
	before, err := measureCeiling(ctx, e, self, o.serverCPU, "argon2")
	if err != nil {
		return fail(err)
	}
	cpuBefore, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	load := exec.CommandContext(ctx, self, "bench", "login-load", "--duration", o.duration.String(),
		"--concurrency", fmt.Sprint(o.concurrency), "--url", b.public, "--ca", b.ca,
		"--secret", b.secret, "--user", b.user, "--password", b.password)
	load.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out strings.Builder
	load.Stdout, load.Stderr = &out, e.stderr
	loadStart := time.Now()
	if err := startPinned(load, o.clientCPU); err != nil {
		return fail(err)
	}
	if err := load.Wait(); err != nil {
		return fail(fmt.Errorf("load: %w", err))
	}
	loadTime := time.Since(loadStart)
	cpuAfter, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return fail(err)
	}
	var lr loginResult
	if err := json.Unmarshal([]byte(out.String()), &lr); err != nil {
		return fail(fmt.Errorf("load result: %w", err))
	}
	if err := srv.stop(); err != nil {
		return fail(fmt.Errorf("server: %w", err))
	}
	after, err := measureCeiling(ctx, e, self, o.serverCPU, "argon2")
	if err != nil {
		return fail(err)
	}
	ceiling := (before.wall + after.wall) / 2
	flows := lr.OK + lr.Errors
	cpuPerFlow := time.Duration(0)
	if flows > 0 {
		cpuPerFlow = (cpuAfter - cpuBefore) / time.Duration(flows)
	}
	cpuPerHash := time.Duration(2 / (before.cpu + after.cpu) * float64(time.Second))
	fmt.Fprintf(e.stdout, "authorization code flow, login page through token: %.1f flows/s (%d ok, %d errors, p50 %.1f ms, p99 %.1f ms, %d concurrent browsers, %s)\n",
		lr.FPS, lr.OK, lr.Errors, lr.P50ms, lr.P99ms, o.concurrency, o.duration)
	fmt.Fprintf(e.stdout, "Argon2id verifications on core %d: %.1f /s (%.1f before the load, %.1f after)\n", o.serverCPU, ceiling, before.wall, after.wall)
	fmt.Fprintf(e.stdout, "ratio: %.3f flows per Argon2id verification (each flow verifies one password)\n", lr.FPS/ceiling)
	fmt.Fprintf(e.stdout, "CPU time: %.2f ms per flow, %.2f ms per Argon2id verification\n",
		float64(cpuPerFlow.Microseconds())/1e3, float64(cpuPerHash.Microseconds())/1e3)
	fmt.Fprintf(e.stdout, "busy during the load: server core %.0f %%\n", 100*float64(cpuAfter-cpuBefore)/float64(loadTime))
	if lr.Errors > 0 {
		return fail(fmt.Errorf("%d flows failed; the first: %s", lr.Errors, lr.FirstError))
	}
	return nil
}
