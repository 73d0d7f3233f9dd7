package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	redisstore "github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/server"
)

// `signet bench approve` measures push-approve round trips: a request made for a user on
// the server, delivered in band to the user's connected SDK device, approved (the
// device signs; the server verifies and records the answer once) and its outcome
// consumed by the requester, as the login page does. The ceiling is ECDSA P-256
// verifications per second on the server's core, measured in the same run.

// approveBenchOpts configures `signet bench approve`.
type approveBenchOpts struct {
	devices, inFlight    int
	duration, warmup     time.Duration
	serverCPU, clientCPU int
	tls                  bool
	profileDir           string
}

// approveRun is what the bench asks the server process to do, as one JSON line on its
// standard input.
type approveRun struct {
	Users    int           `json:"users"`
	InFlight int           `json:"in_flight"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
}

// approveResult is what the server process answers, as one JSON line.
type approveResult struct {
	Approvals  int64   `json:"approvals"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// approveDevicesResult is what a devices process reports when it ends.
type approveDevicesResult struct {
	Approved   int64   `json:"approved"`
	Errors     int64   `json:"errors"`
	Busy       float64 `json:"busy"`
	FirstError string  `json:"first_error,omitempty"`
}

func addApproveBench(parent *cobra.Command, e *env) {
	var o approveBenchOpts
	c := &cobra.Command{
		Use:   "approve",
		Short: "push-approve round trips/s and server-side latency, against ECDSA verifications/s on the server's core",
		Long: "Registers --devices users with one device each, starts a dev server (SQLite, in-process ephemeral\n" +
			"store) pinned to one core with GOMAXPROCS=1, and connects the devices with the authenticator SDK\n" +
			"from a process on another core. The server then keeps --in-flight requests going (one user each at\n" +
			"a time): each is made for a user (device.Ask), delivered in band, approved by the SDK device (which\n" +
			"signs the approval), verified and recorded by the server, and its outcome consumed as the login page\n" +
			"does. It reports completed round trips per second with p50/p99 latency measured in the server, and\n" +
			"the ceiling: ECDSA P-256 verifications per second on the server's core, before and after the load.\n" +
			"Requests carry no number to match (the SDK devices cannot see a page); the rest is the push login's path.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := benchApprove(c.Context(), e, o); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&o.devices, "devices", 64, "users, each with one connected SDK device")
	f.IntVar(&o.inFlight, "in-flight", 32, "requests the server keeps going at once (at most --devices)")
	f.DurationVar(&o.duration, "duration", 8*time.Second, "measured time")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured time")
	f.BoolVar(&o.tls, "tls", false, "TLS on the DEVICE listener (default: plain, as behind a TLS-terminating proxy; the channel is encrypted either way)")
	f.StringVar(&o.profileDir, "profile", "", "write the server's CPU and allocation profiles (cpu.pprof, allocs.pprof) to this directory")
	f.IntVar(&o.serverCPU, "server-cpu", 0, "core the server (and the ceiling) run on")
	f.IntVar(&o.clientCPU, "client-cpu", 1, "core the devices run on")

	var f2 configFlags
	var prof profileFlags
	srv := &cobra.Command{Use: "approve-server", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchApproveServer(c.Context(), e, f2, prof) }}
	f2.register(srv, true)
	prof.register(srv)

	var co deviceClientOpts
	devs := &cobra.Command{Use: "approve-devices", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchApproveDevices(e, co) }}
	df := devs.Flags()
	df.StringVar(&co.addr, "addr", "", "")
	df.StringVar(&co.caFile, "ca", "", "")
	df.StringVar(&co.fingerprint, "fingerprint", "", "")
	df.StringVar(&co.seed, "seed", "", "")
	df.IntVar(&co.first, "first", 0, "")
	df.IntVar(&co.count, "count", 0, "")
	df.StringVar(&co.localIP, "local-ip", "", "")

	var ceilingFor time.Duration
	ceiling := &cobra.Command{Use: "verify-ceiling", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchVerifyCeiling(e, ceilingFor) }}
	ceiling.Flags().DurationVar(&ceilingFor, "duration", 3*time.Second, "")
	parent.AddCommand(c, srv, devs, ceiling)
}

func benchApprove(ctx context.Context, e *env, o approveBenchOpts) error {
	if runtime.NumCPU() < 2 {
		return errors.New("bench approve needs two cores: one for the server, one for the devices")
	}
	if o.devices < 1 || o.inFlight < 1 || o.inFlight > o.devices {
		return errors.New("--devices must be positive and --in-flight between 1 and --devices")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "signet-bench-approve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &deviceBench{e: e, self: self, dataDir: filepath.Join(dir, "data"), seed: randomURLSafe(12), devices: o.devices,
		o: deviceBenchOpts{serverCPU: o.serverCPU}}

	// The first start creates the data directory, the dev CA and the channel key, so the
	// devices can be registered in its database; the measured server starts after that.
	first, err := b.start(ctx, true)
	if err != nil {
		return err
	}
	if err := first.stop(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	var args []string
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		args = append(args, "--cpuprofile", filepath.Join(o.profileDir, "cpu.pprof"), "--allocprofile", filepath.Join(o.profileDir, "allocs.pprof"))
	}
	srv, err := startApproveServer(ctx, e, b, o, args)
	if err != nil {
		return err
	}
	defer srv.close()

	devs, err := startApproveDevices(ctx, e, b, srv.banner, o)
	if err != nil {
		return err
	}
	defer devs.stop()

	before, err := measureCeiling(ctx, e, self, o.serverCPU, "verify-ceiling")
	if err != nil {
		return err
	}
	cpuBefore, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return err
	}
	res, err := srv.run(approveRun{Users: o.devices, InFlight: o.inFlight, Warmup: o.warmup, Duration: o.duration})
	if err != nil {
		return err
	}
	cpuAfter, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return err
	}
	dres, err := devs.stop()
	if err != nil {
		return err
	}
	if err := srv.stop(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	after, err := measureCeiling(ctx, e, self, o.serverCPU, "verify-ceiling")
	if err != nil {
		return err
	}
	if res.Approvals == 0 {
		return fmt.Errorf("no round trip completed (%d errors, first: %s; devices: %s)", res.Errors, res.FirstError, dres.FirstError)
	}
	rate := float64(res.Approvals) / res.Seconds
	ceil := (before.wall + after.wall) / 2
	ceilCPU := (before.cpu + after.cpu) / 2
	cpuPer := res.CPUSeconds / float64(res.Approvals)
	w := e.stdout
	fmt.Fprintf(w, "push-approve round trips: %.0f/s (p50 %.2f ms, p99 %.2f ms, server-side), %d errors; %d devices, %d in flight, %s\n",
		rate, res.P50ms, res.P99ms, res.Errors, o.devices, o.inFlight, o.duration)
	fmt.Fprintf(w, "ceiling: ECDSA P-256 verifications on the server's core: %.0f/s (before %.0f, after %.0f)\n", ceil, before.wall, after.wall)
	fmt.Fprintf(w, "ratio: %.3f (target: 3,000 round trips/s on one core)\n", rate/ceil)
	fmt.Fprintf(w, "CPU time: %.1f µs per round trip in the server against %.1f µs per verification: ratio %.3f\n",
		cpuPer*1e6, 1e6/ceilCPU, (1/cpuPer)/ceilCPU)
	fmt.Fprintf(w, "server core %.0f %% busy (whole process, %.1f s of CPU in %.1f s); device core %.0f %% busy\n",
		100*(cpuAfter-cpuBefore).Seconds()/(o.warmup+o.duration).Seconds(), (cpuAfter - cpuBefore).Seconds(), (o.warmup + o.duration).Seconds(), 100*dres.Busy)
	if res.Errors > 0 {
		fmt.Fprintf(w, "first error: %s\n", res.FirstError)
	}
	return nil
}

// approveServer is the `bench approve-server` child: the dev server with a request
// generator driven over its standard input.
type approveServer struct {
	*benchServer
	in  io.WriteCloser
	out *bufio.Scanner
}

func startApproveServer(ctx context.Context, e *env, b *deviceBench, o approveBenchOpts, args []string) (*approveServer, error) {
	env := []string{"SIGNET_DEVICE_HANDSHAKES_PER_IP_PER_MINUTE=100000000"}
	if !o.tls {
		env = append(env, "SIGNET_DEVICE_TLS=off")
	}
	s := &approveServer{}
	srv, err := startBenchServerWith(ctx, e, b.self, o.serverCPU, benchServerEnv{dataDir: b.dataDir, env: env,
		command: []string{"bench", "approve-server"}, control: func(in io.WriteCloser, out *bufio.Scanner) { s.in, s.out = in, out }}, args...)
	if err != nil {
		return nil, err
	}
	s.benchServer = srv
	return s, nil
}

// run has the server keep requests going for r.Warmup+r.Duration and returns what it
// measured over r.Duration.
func (s *approveServer) run(r approveRun) (approveResult, error) {
	line, _ := json.Marshal(r)
	if _, err := fmt.Fprintf(s.in, "%s\n", line); err != nil {
		return approveResult{}, err
	}
	// The URLs end with lines the banner reader does not need; the result is the next
	// JSON line.
	for s.out.Scan() && !strings.HasPrefix(s.out.Text(), "{") {
	}
	if !strings.HasPrefix(s.out.Text(), "{") {
		return approveResult{}, fmt.Errorf("the server ended without a result: %v", s.out.Err())
	}
	var res approveResult
	if err := json.Unmarshal(s.out.Bytes(), &res); err != nil {
		return approveResult{}, fmt.Errorf("server result %q: %w", s.out.Text(), err)
	}
	return res, nil
}

// approveDevices is a running `bench approve-devices` child.
type approveDevices struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	stop func() (approveDevicesResult, error)
}

func startApproveDevices(ctx context.Context, e *env, b *deviceBench, banner devBanner, o approveBenchOpts) (*approveDevices, error) {
	args := b.clientArgs("approve-devices", &benchServer{banner: banner}, 0, o.devices, "")
	cmd := exec.CommandContext(ctx, b.self, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = e.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startPinned(cmd, o.clientCPU); err != nil {
		return nil, err
	}
	d := &approveDevices{cmd: cmd, in: in, out: bufio.NewScanner(stdout)}
	d.stop = sync.OnceValues(func() (approveDevicesResult, error) {
		in.Close() // the process ends when its standard input does
		var res approveDevicesResult
		var err error
		if d.out.Scan() {
			err = json.Unmarshal(d.out.Bytes(), &res)
		} else {
			err = fmt.Errorf("the devices ended without a result: %v", d.out.Err())
		}
		_, _ = io.Copy(io.Discard, stdout)
		return res, errors.Join(err, cmd.Wait())
	})
	if !d.out.Scan() || d.out.Text() != "ready" {
		_, err := d.stop()
		return nil, fmt.Errorf("the devices did not connect: %q, %v", d.out.Text(), err)
	}
	return d, nil
}

// benchApproveServer runs the dev server and, for each approveRun line on standard
// input, keeps requests going and prints an approveResult line; it stops at the end of
// its input.
func benchApproveServer(ctx context.Context, e *env, f configFlags, prof profileFlags) error {
	cfg, err := f.load(e)
	if err != nil {
		return err
	}
	// The bench asks the same few users again and again, far past the push-bombing
	// limits that protect a real user.
	cfg.Authn.MaxCreated, cfg.Authn.CreatedWindow = 1<<30, time.Minute
	log := newLogger(cfg, e)
	redisstore.RouteClientLogs(log)
	srv, err := server.New(cfg, log)
	if err != nil {
		return usageErr(err)
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	stopProfile, err := prof.start()
	if err != nil {
		return errors.Join(err, srv.Shutdown(context.Background()))
	}
	srv.PrintURLs(e.stdout)
	sc := bufio.NewScanner(e.input())
	for err == nil && sc.Scan() {
		var r approveRun
		if err = json.Unmarshal(sc.Bytes(), &r); err != nil {
			break
		}
		var res approveResult
		if res, err = generateApprovals(ctx, srv, r); err == nil {
			line, _ := json.Marshal(res)
			_, err = fmt.Fprintf(e.stdout, "%s\n", line)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(err, stopProfile(), srv.Shutdown(shutdownCtx))
}

// generateApprovals keeps r.InFlight round trips going, each worker asking its own
// users in turn, and measures those that end within the measured time.
func generateApprovals(ctx context.Context, srv *server.Server, r approveRun) (approveResult, error) {
	reqs, st := srv.Requests(), srv.Store()
	if reqs == nil {
		return approveResult{}, errors.New("the server runs no authentication requests")
	}
	ctx, cancel := context.WithTimeout(ctx, r.Warmup+r.Duration+time.Minute)
	defer cancel()
	start := time.Now()
	measureFrom, end := start.Add(r.Warmup), start.Add(r.Warmup+r.Duration)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      atomic.Int64
		firstErr  atomic.Value
		cpuStart  time.Duration
		cpuOnce   sync.Once
	)
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	binding := []byte("bench")
	var wg sync.WaitGroup
	for w := range r.InFlight {
		wg.Go(func() {
			var mine []time.Duration
			defer func() {
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
			for i := w; ; i += r.InFlight {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				if !t0.Before(measureFrom) {
					cpuOnce.Do(func() { cpuStart = cpuTime() })
				}
				user := fmt.Sprintf("bench-user-%d", i%r.Users)
				q, err := device.Ask(ctx, st, reqs, t0, authn.NewRequest{Realm: "demo", Kind: authn.KindPushLogin,
					ClientID: "demo-app", UserID: user, Text: "Sign in to Demo", Binding: binding, NoNumber: true,
					RequesterIP: "192.0.2.1", UserAgent: "signet bench"})
				if err == nil {
					q, err = reqs.Wait(ctx, "demo", q.ID, time.Second)
				}
				if err == nil && q.State != authn.Approved {
					err = fmt.Errorf("request %s ended %s", q.ID, q.State)
				}
				if err == nil {
					_, err = reqs.Consume(ctx, "demo", q.ID, binding)
				}
				t1 := time.Now()
				if err != nil {
					if !t0.Before(measureFrom) && t1.Before(end) {
						fail(err)
					}
					continue
				}
				if !t0.Before(measureFrom) && t1.Before(end) {
					mine = append(mine, t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	cpuEnd := cpuTime()
	sortDurations(latencies)
	res := approveResult{Approvals: int64(len(latencies)), Errors: errs.Load(), Seconds: r.Duration.Seconds(),
		CPUSeconds: (cpuEnd - cpuStart).Seconds()}
	if fe, ok := firstErr.Load().(string); ok {
		res.FirstError = fe
	}
	if n := len(latencies); n > 0 {
		res.P50ms = float64(latencies[n/2].Microseconds()) / 1e3
		res.P99ms = float64(latencies[n*99/100].Microseconds()) / 1e3
	}
	return res, nil
}

// benchKeys is an authenticator.KeyStore over the bench's derived device keys.
type benchKeys map[string]*ecdsa.PrivateKey

func (k benchKeys) GenerateKey(string) ([]byte, error) {
	return nil, errors.New("bench keys are fixed")
}

func (k benchKeys) PublicKey(alias string) ([]byte, error) {
	if p, ok := k[alias]; ok {
		return p.PublicKey.Bytes()
	}
	return nil, authenticator.ErrNoKey
}

func (k benchKeys) SignDigest(alias string, digest []byte) ([]byte, error) {
	if p, ok := k[alias]; ok {
		return ecdsa.SignASN1(rand.Reader, p, digest)
	}
	return nil, authenticator.ErrNoKey
}

func (k benchKeys) DeleteKey(string) error { return nil }

// approvingListener hands each request to the device's approving goroutine: the SDK
// calls OnRequest on its reader, which must not block on the answer. The channel is
// never closed (the reader may still call after the session's Close); done ends the
// goroutine.
type approvingListener struct {
	reqs chan *authenticator.Request
	done chan struct{}
}

func (l approvingListener) OnRequest(r *authenticator.Request) {
	select {
	case l.reqs <- r:
	case <-l.done:
	default: // more than the buffer waits: the server re-delivers nothing, so count it lost
	}
}
func (approvingListener) OnClosed(string) {}

// benchApproveDevices connects devices first..first+count with the SDK, says "ready",
// approves every request they get until standard input closes, then prints its result.
func benchApproveDevices(e *env, o deviceClientOpts) error {
	pem, err := os.ReadFile(o.caFile)
	if err != nil {
		return err
	}
	channelURL := strings.TrimSuffix(o.addr, "/") + "/device/v1"
	if u, ok := strings.CutPrefix(channelURL, "http"); ok {
		channelURL = "ws" + u
	}
	keys := benchKeys{}
	a := authenticator.New(keys)
	if err := a.TrustPEM(pem); err != nil {
		return err
	}
	var (
		approved, errs atomic.Int64
		firstErr       atomic.Value
		wg             sync.WaitGroup
		sessions       []*authenticator.Session
		done           = make(chan struct{})
	)
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	for i := o.first; i < o.first+o.count; i++ {
		k, id, err := benchDeviceKey(o.seed, i)
		if err != nil {
			return err
		}
		alias := fmt.Sprintf("bench-%d", i)
		keys[alias] = k
		s, err := a.Connect(&authenticator.Identity{ChannelURL: channelURL, Realm: "demo", DeviceID: hex.EncodeToString(id[:]),
			Fingerprint: o.fingerprint, KeyAlias: alias}, nil)
		if err != nil {
			return fmt.Errorf("device %d: %w", i, err)
		}
		l := approvingListener{reqs: make(chan *authenticator.Request, 64), done: done}
		s.SetListener(l)
		sessions = append(sessions, s)
		wg.Go(func() {
			for {
				var r *authenticator.Request
				select {
				case r = <-l.reqs:
				case <-done:
					return
				}
				state, err := s.Approve(r, "")
				switch {
				case err != nil:
					fail(err)
				case state != "approved":
					fail(fmt.Errorf("request %s: %s", r.ID, state))
				default:
					approved.Add(1)
				}
			}
		})
	}
	fmt.Fprintln(e.stdout, "ready")
	start, cpuStart := time.Now(), cpuTime()
	_, _ = io.Copy(io.Discard, e.input())
	busy := (cpuTime() - cpuStart).Seconds() / time.Since(start).Seconds()
	close(done)
	for _, s := range sessions {
		s.Close()
	}
	wg.Wait()
	res := approveDevicesResult{Approved: approved.Load(), Errors: errs.Load(), Busy: busy}
	if fe, ok := firstErr.Load().(string); ok {
		res.FirstError = fe
	}
	line, _ := json.Marshal(res)
	_, err = fmt.Fprintf(e.stdout, "%s\n", line)
	return err
}

// benchVerifyCeiling prints ECDSA P-256 verifications per second of wall and of CPU
// time over d: the server's one public-key operation per approval.
func benchVerifyCeiling(e *env, d time.Duration) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("signet approval"))
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		return err
	}
	return printRate(e, d, func() error {
		if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
			return errors.New("verify")
		}
		return nil
	})
}
