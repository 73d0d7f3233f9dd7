package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/keys"
)

func newBenchCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "bench", Short: "Measure Signet on this machine (loopback only)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErr(errors.New("bench needs a subcommand: token, login, device, approve, push or webhooks"))
		}}
	var o benchOpts
	token := &cobra.Command{
		Use:   "token",
		Short: "client_credentials requests/s against a dev server pinned to one core, and the ratio to ES256 signatures/s on that core",
		Long: "Starts `signet serve --dev` (SQLite) pinned to one core with GOMAXPROCS=1, drives the token\n" +
			"endpoint with client_credentials from a load process pinned to another core, then measures\n" +
			"raw ES256 signatures/s on the server's core. Prints both figures and their ratio; the ratio\n" +
			"is the figure to compare, since absolute rates drift on a shared machine.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchToken(c.Context(), e, o) },
	}
	token.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "how long to load the server")
	token.Flags().DurationVar(&o.warmup, "warmup", 3*time.Second, "how long to load the server before measuring")
	token.Flags().IntVar(&o.connections, "connections", 16, "concurrent client connections")
	token.Flags().IntVar(&o.serverCPU, "server-cpu", 0, "core the server (and the ES256 ceiling) runs on")
	token.Flags().IntVar(&o.clientCPU, "client-cpu", 1, "core the load generator runs on")
	token.Flags().BoolVar(&o.http2, "http2", false, "multiplex the requests over HTTP/2 instead of HTTP/1.1 keep-alive connections")
	token.Flags().BoolVar(&o.goClient, "go-client", false, "load with Go's net/http client, which sleeps in the runtime's poller between responses, instead of the busy-polling HTTP/1.1 client")
	token.Flags().StringVar(&o.profileDir, "profile", "", "write the server's CPU profile (cpu.pprof) and allocation profile (allocs.pprof) to this directory")
	// The two helpers run as child processes so each can be pinned to its core.
	load := &cobra.Command{Use: "load", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchLoad(e, o) }}
	load.Flags().DurationVar(&o.duration, "duration", 10*time.Second, "")
	load.Flags().DurationVar(&o.warmup, "warmup", 0, "")
	load.Flags().IntVar(&o.connections, "connections", 16, "")
	load.Flags().StringVar(&o.tokenURL, "url", "", "")
	load.Flags().StringVar(&o.caFile, "ca", "", "")
	load.Flags().StringVar(&o.secret, "secret", "", "")
	load.Flags().BoolVar(&o.http2, "http2", false, "")
	load.Flags().BoolVar(&o.goClient, "go-client", false, "")
	es := &cobra.Command{Use: "es256", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchES256(e, o) }}
	es.Flags().DurationVar(&o.duration, "duration", 3*time.Second, "")
	c.AddCommand(token, load, es)
	addLoginBench(c, e)
	addDeviceBench(c, e)
	addApproveBench(c, e)
	addPushBench(c, e)
	addWebhooksBench(c, e)
	return c
}

type benchOpts struct {
	duration, warmup     time.Duration
	connections          int
	serverCPU, clientCPU int
	tokenURL, caFile     string
	secret               string
	http2, goClient      bool
	profileDir           string
}

// startPinned starts cmd with every thread confined to cpu: the affinity is set on this
// (locked) thread before fork, and the child inherits it.
func startPinned(cmd *exec.Cmd, cpu int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to core %d: %w", cpu, err)
	}
	defer func() { _ = unix.SchedSetaffinity(0, &old) }()
	return cmd.Start()
}

// startBenchHelper starts the hidden `bench` subcommand args in a child process pinned
// to cpu with GOMAXPROCS=1, reads the JSON line it prints first into banner, and returns
// the process and a stop that ends its standard input (where such helpers stop) and
// waits for it to exit.
func startBenchHelper(ctx context.Context, e *env, self string, cpu int, banner any, args ...string) (*exec.Cmd, func(), error) {
	c := exec.CommandContext(ctx, self, append([]string{"bench"}, args...)...)
	c.Env = append(os.Environ(), "GOMAXPROCS=1")
	c.Stderr = e.stderr
	in, err := c.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := startPinned(c, cpu); err != nil {
		return nil, nil, err
	}
	stop := func() { in.Close(); _ = c.Wait() }
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	if !sc.Scan() {
		stop()
		return nil, nil, fmt.Errorf("%s did not start: %v", args[0], sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), banner); err != nil {
		stop()
		return nil, nil, fmt.Errorf("%s banner: %w", args[0], err)
	}
	return c, stop, nil
}

// runBenchHelper runs the hidden `bench` subcommand args in a child process pinned to
// cpu with GOMAXPROCS=1 and decodes the JSON it prints into result.
func runBenchHelper(ctx context.Context, e *env, self string, cpu int, result any, args ...string) error {
	c := exec.CommandContext(ctx, self, append([]string{"bench"}, args...)...)
	c.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out strings.Builder
	c.Stdout, c.Stderr = &out, e.stderr
	if err := startPinned(c, cpu); err != nil {
		return err
	}
	if err := c.Wait(); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if err := json.Unmarshal([]byte(out.String()), result); err != nil {
		return fmt.Errorf("%s result %q: %w", args[0], out.String(), err)
	}
	return nil
}

func benchToken(ctx context.Context, e *env, o benchOpts) error {
	if runtime.NumCPU() < 2 {
		return &exitError{code: exitFailure, err: errors.New("bench token needs two cores: one for the server, one for the load")}
	}
	self, err := os.Executable()
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	var extra []string
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		extra = append(extra, "--cpuprofile", filepath.Join(o.profileDir, "cpu.pprof"),
			"--allocprofile", filepath.Join(o.profileDir, "allocs.pprof"))
	}
	srv, err := startBenchServer(ctx, e, self, o.serverCPU, extra...)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	defer srv.close()
	server, stopServer, public, secret, ca := srv.cmd, srv.stop, srv.banner.public, srv.banner.secret, srv.banner.ca

	before, err := measureES256(ctx, e, self, o.serverCPU)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	load := exec.CommandContext(ctx, self, "bench", "load", "--duration", o.duration.String(), "--warmup", o.warmup.String(),
		"--connections", fmt.Sprint(o.connections), "--url", public+"/realms/demo/protocol/openid-connect/token",
		"--ca", ca, "--secret", secret, "--http2="+fmt.Sprint(o.http2), "--go-client="+fmt.Sprint(o.goClient))
	load.Env = append(os.Environ(), "GOMAXPROCS=1")
	loadOut, err := load.StdoutPipe()
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	load.Stderr = e.stderr
	if err := startPinned(load, o.clientCPU); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	// The server's CPU time counts from the end of the load's warm-up.
	lines := bufio.NewScanner(loadOut)
	var cpuBefore, cpuAfter time.Duration
	var loadStart time.Time
	var result string
	for lines.Scan() {
		if lines.Text() == loadMeasuring {
			loadStart = time.Now()
			if cpuBefore, err = processCPU(server.Process.Pid); err != nil {
				// Nothing is measured now: stop the load rather than leave it running.
				_ = load.Process.Kill()
				_ = load.Wait()
				return &exitError{code: exitFailure, err: err}
			}
			continue
		}
		result = lines.Text()
	}
	if err := load.Wait(); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("load: %w", err)}
	}
	if loadStart.IsZero() {
		return &exitError{code: exitFailure, err: errors.New("load: no measured time")}
	}
	loadTime := time.Since(loadStart)
	if cpuAfter, err = processCPU(server.Process.Pid); err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	var lr loadResult
	if err := json.Unmarshal([]byte(result), &lr); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("load result: %w", err)}
	}
	// Free the core for the ceiling; the server writes its profiles as it exits.
	if err := stopServer(); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("server: %w", err)}
	}
	after, err := measureES256(ctx, e, self, o.serverCPU)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	// The ceiling is measured before and after the load and averaged, so a change in the
	// machine's speed during the run moves both figures alike.
	sigs := (before.wall + after.wall) / 2
	// The same comparison in CPU time: what the server spent per request against what one
	// signature costs. Other work on the machine lowers both rates above, but hardly this.
	cpuPerReq := float64(cpuAfter-cpuBefore) / float64(lr.OK+lr.Errors)
	cpuPerSig := 2 / (before.cpu + after.cpu) * float64(time.Second)
	proto := "HTTP/1.1, busy-polling client"
	switch {
	case o.http2:
		proto = "HTTP/2, Go's client"
	case o.goClient:
		proto = "HTTP/1.1, Go's client"
	}
	fmt.Fprintf(e.stdout, "client_credentials: %.0f requests/s (%d ok, %d errors, p50 %.2f ms, p99 %.2f ms, %d concurrent, %s, %s)\n",
		lr.RPS, lr.OK, lr.Errors, lr.P50ms, lr.P99ms, o.connections, proto, o.duration)
	fmt.Fprintf(e.stdout, "ES256 signatures on core %d: %.0f /s (%.0f before the load, %.0f after)\n", o.serverCPU, sigs, before.wall, after.wall)
	fmt.Fprintf(e.stdout, "ratio: %.3f token requests per ES256 signature (target >= 0.5)\n", lr.RPS/sigs)
	fmt.Fprintf(e.stdout, "CPU time: %.1f µs per request, %.1f µs per ES256 signature, ratio %.3f\n",
		cpuPerReq/1e3, cpuPerSig/1e3, cpuPerSig/cpuPerReq)
	// Below about 95 % the server was not the bottleneck (the load process, or other
	// work on the machine, held it back), and the figures above understate it.
	fmt.Fprintf(e.stdout, "busy during the load: server core %.0f %%, load core %.0f %%\n",
		100*float64(cpuAfter-cpuBefore)/float64(loadTime), 100*lr.Busy)
	if lr.Errors > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d requests failed", lr.Errors)}
	}
	return nil
}

// esRate is the ES256 ceiling: signatures per second of wall-clock time and per second
// of the process's CPU time.
type esRate struct{ wall, cpu float64 }

// measureES256 runs the ES256 ceiling in a child process pinned to cpu.
func measureES256(ctx context.Context, e *env, self string, cpu int) (esRate, error) {
	return measureCeiling(ctx, e, self, cpu, "es256")
}

// measureCeiling runs the hidden `bench <name>` ceiling in a child process pinned to cpu;
// it prints operations per second of wall-clock time and of its CPU time.
func measureCeiling(ctx context.Context, e *env, self string, cpu int, name string) (esRate, error) {
	c := exec.CommandContext(ctx, self, "bench", name)
	c.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out strings.Builder
	c.Stdout, c.Stderr = &out, e.stderr
	if err := startPinned(c, cpu); err != nil {
		return esRate{}, err
	}
	if err := c.Wait(); err != nil {
		return esRate{}, fmt.Errorf("%s: %w", name, err)
	}
	var r esRate
	if _, err := fmt.Sscan(out.String(), &r.wall, &r.cpu); err != nil {
		return esRate{}, fmt.Errorf("%s result: %w", name, err)
	}
	return r, nil
}

// processCPU returns the user and system CPU time a running process has used so far
// (utime and stime of /proc/PID/stat, in clock ticks of 10 ms).
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces; the fields after it do not.
	_, rest, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &utime, &stime); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// cpuTime returns the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// devBanner is what `serve --dev` prints that the benches need.
type devBanner struct {
	public, secret, ca string
	// device and ops are the DEVICE and OPS listeners' URLs.
	device, ops string
	// user and password are the demo user's.
	user, password string
}

// readDevBanner reads what `serve --dev` prints: the PUBLIC URL, the CA, the demo client's
// secret and the demo user's password (the last line it needs).
func readDevBanner(sc *bufio.Scanner) (devBanner, error) {
	var b devBanner
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if f := strings.Fields(line); len(f) == 2 {
			switch f[0] {
			case "PUBLIC":
				b.public = f[1]
			case "DEVICE":
				b.device = f[1]
			case "OPS":
				b.ops = f[1]
			}
		}
		if v, ok := strings.CutPrefix(line, "CA certificate: "); ok {
			b.ca = v
		}
		if v, ok := strings.CutPrefix(line, "client demo-app, secret "); ok {
			b.secret = v
		}
		if v, ok := strings.CutPrefix(line, "user "); ok {
			if user, pw, ok := strings.Cut(v, ", password "); ok {
				b.user, b.password = user, pw
				return b, nil
			}
		}
	}
	return devBanner{}, errors.New("the dev server exited before printing its URLs")
}

// benchServer is a `serve --dev` child pinned to one core with GOMAXPROCS=1.
type benchServer struct {
	cmd    *exec.Cmd
	banner devBanner
	// stop ends the server (SIGTERM, drain) once; close also removes its data.
	stop  func() error
	close func()
}

func startBenchServer(ctx context.Context, e *env, self string, cpu int, extraArgs ...string) (*benchServer, error) {
	return startBenchServerWith(ctx, e, self, cpu, benchServerEnv{}, extraArgs...)
}

// benchServerEnv adjusts a bench server: a data directory to reuse (kept when the server
// stops; empty: a new one, removed) and extra environment variables.
type benchServerEnv struct {
	dataDir string
	env     []string
	// command replaces "serve" (with --dev always following).
	command []string
	// control, when set, gets the server's standard input and what it prints after its
	// URLs, which are then not discarded.
	control func(stdin io.WriteCloser, stdout *bufio.Scanner)
}

func startBenchServerWith(ctx context.Context, e *env, self string, cpu int, be benchServerEnv, extraArgs ...string) (*benchServer, error) {
	dir, dataDir := "", be.dataDir
	if dataDir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "signet-bench-"); err != nil {
			return nil, err
		}
		dataDir = filepath.Join(dir, "data")
	}
	command := be.command
	if command == nil {
		command = []string{"serve"}
	}
	server := exec.CommandContext(ctx, self, append(append(command, "--dev"), extraArgs...)...)
	server.Env = append(os.Environ(), "GOMAXPROCS=1", "SIGNET_DATA_DIR="+dataDir, "SIGNET_LOG_LEVEL=warn")
	server.Env = append(server.Env, be.env...)
	for _, ep := range config.Endpoints {
		server.Env = append(server.Env, "SIGNET_"+string(ep)+"_ADDR=127.0.0.1:0")
	}
	removeDir := func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	stdout, err := server.StdoutPipe()
	if err != nil {
		removeDir()
		return nil, err
	}
	var stdin io.WriteCloser
	if be.control != nil {
		if stdin, err = server.StdinPipe(); err != nil {
			removeDir()
			return nil, err
		}
	}
	server.Stderr = e.stderr
	if err := startPinned(server, cpu); err != nil {
		removeDir()
		return nil, err
	}
	out := bufio.NewScanner(stdout)
	drained := make(chan struct{})
	stop := sync.OnceValue(func() error {
		if stdin != nil {
			stdin.Close() // a controlled server stops at the end of its input
		} else {
			_ = server.Process.Signal(syscall.SIGTERM)
		}
		<-drained // Wait must not run before the pipe is read to the end
		return server.Wait()
	})
	s := &benchServer{cmd: server, stop: stop, close: func() { _ = stop(); removeDir() }}
	if s.banner, err = readDevBanner(out); err != nil {
		close(drained)
		s.close()
		return nil, err
	}
	if be.control != nil {
		be.control(stdin, out)
		// What the controller has not read is drained when the server stops.
		stop = sync.OnceValue(func() error {
			stdin.Close()
			for out.Scan() {
			}
			close(drained)
			return server.Wait()
		})
		s.stop, s.close = stop, func() { _ = stop(); removeDir() }
		return s, nil
	}
	go func() {
		for out.Scan() {
		}
		close(drained)
	}()
	return s, nil
}

type loadResult struct {
	RPS    float64 `json:"rps"`
	OK     int64   `json:"ok"`
	Errors int64   `json:"errors"`
	// Busy is the load process's CPU time over the measured time: near 1, the load
	// generator and not the server may have set the pace.
	Busy         float64 `json:"busy"`
	P50ms, P99ms float64
}

func benchLoad(e *env, o benchOpts) error {
	pem, err := os.ReadFile(o.caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	// Each connection has its own do: the HTTP/1.1 client is one connection; with Go's
	// client every worker shares one http.Client, which pools (HTTP/1.1) or multiplexes
	// (HTTP/2) the connections.
	newDo := func() (func() error, error) {
		c, err := newH1Client(o.tokenURL, tlsConfig, "demo-app", o.secret, body)
		return c.do, err
	}
	if o.http2 || o.goClient {
		tr := &http.Transport{TLSClientConfig: tlsConfig, MaxIdleConnsPerHost: o.connections, MaxConnsPerHost: o.connections, ForceAttemptHTTP2: o.http2}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		do := func() error {
			req, _ := http.NewRequest("POST", o.tokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("demo-app", o.secret)
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		newDo = func() (func() error, error) { return do, nil }
	}
	workers := make([]func() error, o.connections)
	for i := range workers {
		if workers[i], err = newDo(); err != nil {
			return err
		}
		// Connect, and a first request: keys, caches.
		if err := workers[i](); err != nil {
			return fmt.Errorf("warm-up request: %w", err)
		}
	}
	// Load first for the warm-up, unmeasured: what a fresh server does once (the
	// runtime returning start-up memory to the system, caches filling) is not what a
	// request costs. Then the measured time, which this process announces on its own
	// line so the caller can read the server's CPU time at that moment.
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	measureFrom := time.Now().Add(o.warmup)
	deadline := measureFrom.Add(o.duration)
	var wg sync.WaitGroup
	for _, do := range workers {
		wg.Go(func() {
			var mine []time.Duration
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := do()
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
				ok.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	time.Sleep(time.Until(measureFrom))
	start, cpuStart := time.Now(), cpuTime()
	if _, err := fmt.Fprintln(e.stdout, loadMeasuring); err != nil {
		return err
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	res := loadResult{RPS: float64(ok.Load()) / elapsed.Seconds(), OK: ok.Load(), Errors: failed.Load(),
		Busy: float64(cpu) / float64(elapsed)}
	if len(lat) > 0 {
		sortDurations(lat)
		res.P50ms = float64(lat[len(lat)/2]) / 1e6
		res.P99ms = float64(lat[len(lat)*99/100]) / 1e6
	}
	return json.NewEncoder(e.stdout).Encode(res)
}

// loadMeasuring is the line the load process prints when the warm-up ends and the
// measured time begins.
const loadMeasuring = "measuring"

// benchES256 prints raw ES256 signatures per second on this core: ECDSA P-256 over the
// SHA-256 of a typical access token's signing input, nothing else (SignASN1, the
// cheapest public signing call, so no encoding is counted). This is the ceiling the
// token endpoint is compared with.
func benchES256(e *env, o benchOpts) error {
	k, err := keys.Generate(keys.ES256)
	if err != nil {
		return err
	}
	priv := k.Private.(*ecdsa.PrivateKey)
	input := []byte("eyJhbGciOiJFUzI1NiIsImtpZCI6IngiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwczovLzEyNy4wLjAuMTo4NDQzL3JlYWxtcy9kZW1vIiwic3ViIjoiZGVtby1hcHAiLCJhdWQiOlsiaHR0cHM6Ly8xMjcuMC4wLjE6ODQ0My9yZWFsbXMvZGVtbyJdLCJjbGllbnRfaWQiOiJkZW1vLWFwcCIsImV4cCI6MTc5MDAwMDAwMCwiaWF0IjoxNzg5OTk5NzAwLCJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIn0")
	n := 0
	start, cpuStart := time.Now(), cpuTime()
	for time.Since(start) < o.duration {
		digest := sha256.Sum256(input)
		if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
			return err
		}
		n++
	}
	wall, cpu := time.Since(start), cpuTime()-cpuStart
	_, err = fmt.Fprintf(e.stdout, "%.1f %.1f\n", float64(n)/wall.Seconds(), float64(n)/cpu.Seconds())
	return err
}

func sortDurations(d []time.Duration) {
	slices.Sort(d)
}
