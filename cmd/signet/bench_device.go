package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlite"
	"github.com/signet-auth/signet/sigma"
)

// `signet bench device` measures the device channel: completed SIGMA-I handshakes per
// second against the server's own crypto per handshake on the same core, and the
// server's resident memory per idle authenticated connection against a bare Go listener
// holding as many idle connections.

// deviceBenchOpts configures `signet bench device`.
type deviceBenchOpts struct {
	handshakes, memory   bool
	duration             time.Duration
	concurrency          int
	idle, holders        int
	serverCPU, clientCPU int
	handshakeTLS         bool
	settle               time.Duration
	profileDir           string
}

// deviceClientOpts configures one load or holding process.
type deviceClientOpts struct {
	addr, caFile, fingerprint, seed string
	first, count                    int
	concurrency                     int
	duration                        time.Duration
	hello                           bool
	holdFor                         time.Duration
	localIP                         string
}

func addDeviceBench(parent *cobra.Command, e *env) {
	var o deviceBenchOpts
	dev := &cobra.Command{
		Use:   "device",
		Short: "device channel: SIGMA-I handshakes/s against the server's crypto per handshake, and memory per idle authenticated connection",
		Long: "Starts `signet serve --dev` (SQLite) pinned to one core with GOMAXPROCS=1 and registers devices\n" +
			"in its store. --handshakes: a load process on another core connects as registered devices, runs\n" +
			"the SIGMA-I handshake and closes, as fast as the server answers; the ceiling is the server's own\n" +
			"crypto of one handshake (P-256 key generation, ECDH, ECDSA sign and verify) on the server's core.\n" +
			"--memory: several processes hold --idle authenticated connections (handshake and hello), and the\n" +
			"server's resident memory before and after, per connection, is compared with a bare Go listener\n" +
			"holding as many idle TCP (or TLS) connections; once with the DEVICE listener in plain text\n" +
			"(TLS at a reverse proxy), once with TLS. Without either flag, both run.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !o.handshakes && !o.memory {
				o.handshakes, o.memory = true, true
			}
			return benchDevice(c.Context(), e, o)
		},
	}
	f := dev.Flags()
	f.BoolVar(&o.handshakes, "handshakes", false, "measure completed handshakes per second")
	f.BoolVar(&o.memory, "memory", false, "measure resident memory per idle authenticated connection")
	f.DurationVar(&o.duration, "duration", 8*time.Second, "how long to load the server with handshakes")
	f.IntVar(&o.concurrency, "concurrency", 32, "concurrent handshakes from the load process")
	f.BoolVar(&o.handshakeTLS, "handshake-tls", false, "run the handshakes over TLS (default: plain, as behind a TLS-terminating proxy)")
	f.IntVar(&o.idle, "idle", 15000, "idle authenticated connections to hold for the memory measurement")
	f.IntVar(&o.holders, "holders", 2, "processes holding the idle connections (each holds at most 19,000)")
	f.DurationVar(&o.settle, "settle", 60*time.Second, "longest wait for the server's resident memory to settle")
	f.StringVar(&o.profileDir, "profile", "", "write the server's CPU and allocation profiles of the handshake load (cpu.pprof, allocs.pprof) to this directory")
	f.IntVar(&o.serverCPU, "server-cpu", 0, "core the server (and the ceilings) run on")
	f.IntVar(&o.clientCPU, "client-cpu", 1, "core the load and holding processes run on")

	var co deviceClientOpts
	clientFlags := func(c *cobra.Command) {
		f := c.Flags()
		f.StringVar(&co.addr, "addr", "", "")
		f.StringVar(&co.caFile, "ca", "", "")
		f.StringVar(&co.fingerprint, "fingerprint", "", "")
		f.StringVar(&co.seed, "seed", "", "")
		f.IntVar(&co.first, "first", 0, "")
		f.IntVar(&co.count, "count", 0, "")
		f.IntVar(&co.concurrency, "concurrency", 32, "")
		f.StringVar(&co.localIP, "local-ip", "", "")
	}
	load := &cobra.Command{Use: "device-load", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchDeviceLoad(e, co) }}
	clientFlags(load)
	load.Flags().DurationVar(&co.duration, "duration", 8*time.Second, "")
	hold := &cobra.Command{Use: "device-hold", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchDeviceHold(e, co) }}
	clientFlags(hold)
	hold.Flags().BoolVar(&co.hello, "hello", true, "")
	hold.Flags().DurationVar(&co.holdFor, "hold-for", 5*time.Minute, "")
	var ceilingFor time.Duration
	ceiling := &cobra.Command{Use: "sigma-ceiling", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchSigmaCeiling(e, ceilingFor) }}
	ceiling.Flags().DurationVar(&ceilingFor, "duration", 3*time.Second, "")
	var floorTLS bool
	floor := &cobra.Command{Use: "tcp-floor", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchTCPFloor(e, floorTLS) }}
	floor.Flags().BoolVar(&floorTLS, "tls", false, "")
	parent.AddCommand(dev, load, hold, ceiling, floor)
}

// benchDeviceKey derives device i's key and id from seed, so the bench registers the
// devices and the load processes act as them without passing keys around.
func benchDeviceKey(seed string, i int) (*ecdsa.PrivateKey, [16]byte, error) {
	var id [16]byte
	for ctr := 0; ctr < 8; ctr++ {
		sum := sha256.Sum256(fmt.Appendf(nil, "signet bench device key %s %d %d", seed, i, ctr))
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), sum[:])
		if err != nil {
			continue // out of range: try the next counter
		}
		idSum := sha256.Sum256(fmt.Appendf(nil, "signet bench device id %s %d", seed, i))
		copy(id[:], idSum[:16])
		return priv, id, nil
	}
	return nil, id, fmt.Errorf("no key for device %d", i)
}

// registerBenchDevices creates n users in the demo realm, each with one active device,
// straight in the dev server's SQLite file (through activation codes redeemed by
// EnrollDevice, the one way the store creates devices), and returns the channel key
// fingerprint devices pin.
func registerBenchDevices(ctx context.Context, dataDir, seed string, n int) (string, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "signet.db"))
	if err != nil {
		return "", err
	}
	defer st.Close()
	keys, err := st.ListChannelKeys(ctx)
	if err != nil {
		return "", err
	}
	fp := ""
	for _, k := range keys { // the newest key that is not retired is the current one
		if k.RetiredAt.IsZero() {
			fp = k.ID
		}
	}
	if fp == "" {
		return "", errors.New("the server holds no channel key")
	}
	now := time.Now()
	for i := range n {
		priv, id, err := benchDeviceKey(seed, i)
		if err != nil {
			return "", err
		}
		point, err := priv.PublicKey.Bytes()
		if err != nil {
			return "", err
		}
		u, err := st.CreateUser(ctx, store.User{Realm: "demo", ID: fmt.Sprintf("bench-user-%d", i), Username: fmt.Sprintf("bench-%d", i), Enabled: true})
		if err != nil {
			return "", fmt.Errorf("user %d: %w", i, err)
		}
		hash := sha256.Sum256(fmt.Appendf(nil, "signet bench code %s %d", seed, i))
		if _, err := st.CreateActivationCode(ctx, store.ActivationCode{Realm: "demo", ID: fmt.Sprintf("bench-code-%d", i), CodeHash: hash[:],
			UserID: u.ID, CreatedBy: "bench", ExpiresAt: now.Add(time.Hour)}, store.Audit{Actor: "bench", Action: "activation_created"}); err != nil {
			return "", fmt.Errorf("activation code %d: %w", i, err)
		}
		if _, err := st.EnrollDevice(ctx, "demo", hash[:], now, 0, store.Device{ID: hex.EncodeToString(id[:]),
			PublicKey: point, DisplayName: "bench", Platform: "bench"}, store.Audit{Actor: "bench", Action: "enrolled"}); err != nil {
			return "", fmt.Errorf("device %d: %w", i, err)
		}
	}
	return fp, nil
}

func benchDevice(ctx context.Context, e *env, o deviceBenchOpts) error {
	fail := func(err error) error { return &exitError{code: exitFailure, err: err} }
	if runtime.NumCPU() < 2 {
		return fail(errors.New("bench device needs two cores: one for the server, one for the devices"))
	}
	if o.holders < 1 || o.idle > o.holders*19000 {
		return fail(fmt.Errorf("%d connections need at least %d holding processes (19,000 each)", o.idle, (o.idle+18999)/19000))
	}
	if o.idle < 1 || o.concurrency < 1 {
		return fail(errors.New("--idle and --concurrency must be positive"))
	}
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "signet-bench-device-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	seed := randomURLSafe(12)
	devices := o.idle
	b := &deviceBench{e: e, o: o, self: self, dataDir: filepath.Join(dir, "data"), seed: seed, devices: devices}
	if o.handshakes {
		if err := b.handshakes(ctx); err != nil {
			return fail(err)
		}
	}
	if o.memory {
		if err := b.memory(ctx); err != nil {
			return fail(err)
		}
	}
	return nil
}

type deviceBench struct {
	e             *env
	o             deviceBenchOpts
	self, dataDir string
	seed          string
	devices       int
	fingerprint   string // set once the devices are registered
}

// start starts the dev server on the shared data directory, registering the devices on
// its first start.
func (b *deviceBench) start(ctx context.Context, tlsOn bool, args ...string) (*benchServer, error) {
	env := []string{"SIGNET_DEVICE_HANDSHAKES_PER_IP_PER_MINUTE=100000000"}
	if !tlsOn {
		env = append(env, "SIGNET_DEVICE_TLS=off")
	}
	srv, err := startBenchServerWith(ctx, b.e, b.self, b.o.serverCPU, benchServerEnv{dataDir: b.dataDir, env: env}, args...)
	if err != nil {
		return nil, err
	}
	if b.fingerprint == "" {
		t0 := time.Now()
		if b.fingerprint, err = registerBenchDevices(ctx, b.dataDir, b.seed, b.devices); err != nil {
			srv.close()
			return nil, fmt.Errorf("register devices: %w", err)
		}
		fmt.Fprintf(b.e.stderr, "registered %d devices in %.1f s\n", b.devices, time.Since(t0).Seconds())
	}
	return srv, nil
}

func (b *deviceBench) clientArgs(sub string, srv *benchServer, first, count int, localIP string) []string {
	return []string{"bench", sub, "--addr", srv.banner.device, "--ca", srv.banner.ca, "--fingerprint", b.fingerprint,
		"--seed", b.seed, "--first", fmt.Sprint(first), "--count", fmt.Sprint(count), "--local-ip", localIP}
}

// deviceLoadResult is what a load process reports.
type deviceLoadResult struct {
	HPS        float64 `json:"hps"`
	OK         int64   `json:"ok"`
	Errors     int64   `json:"errors"`
	Busy       float64 `json:"busy"`
	FirstError string  `json:"first_error,omitempty"`
}

func (b *deviceBench) handshakes(ctx context.Context) error {
	e, o := b.e, b.o
	var args []string
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		args = append(args, "--cpuprofile", filepath.Join(o.profileDir, "cpu.pprof"), "--allocprofile", filepath.Join(o.profileDir, "allocs.pprof"))
	}
	srv, err := b.start(ctx, o.handshakeTLS, args...)
	if err != nil {
		return err
	}
	defer srv.close()
	before, err := measureCeiling(ctx, e, b.self, o.serverCPU, "sigma-ceiling")
	if err != nil {
		return err
	}
	cpuBefore, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return err
	}
	args = append(b.clientArgs("device-load", srv, 0, b.devices, "127.0.2.1"),
		"--duration", o.duration.String(), "--concurrency", fmt.Sprint(o.concurrency))
	load := exec.CommandContext(ctx, b.self, args...)
	load.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out strings.Builder
	load.Stdout, load.Stderr = &out, e.stderr
	loadStart := time.Now()
	if err := startPinned(load, o.clientCPU); err != nil {
		return err
	}
	if err := load.Wait(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	loadTime := time.Since(loadStart)
	cpuAfter, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return err
	}
	var lr deviceLoadResult
	if err := json.Unmarshal([]byte(out.String()), &lr); err != nil {
		return fmt.Errorf("load result: %w", err)
	}
	if err := srv.stop(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	after, err := measureCeiling(ctx, e, b.self, o.serverCPU, "sigma-ceiling")
	if err != nil {
		return err
	}
	ceiling := (before.wall + after.wall) / 2
	total := lr.OK + lr.Errors
	cpuPerHS := time.Duration(0)
	if total > 0 {
		cpuPerHS = (cpuAfter - cpuBefore) / time.Duration(total)
	}
	cpuPerCeiling := time.Duration(2 / (before.cpu + after.cpu) * float64(time.Second))
	transport := "plain WebSocket (TLS at a proxy)"
	if o.handshakeTLS {
		transport = "TLS 1.3"
	}
	fmt.Fprintf(e.stdout, "device handshakes: %.0f /s (%d completed, %d failed, %d concurrent, %s, %s)\n",
		lr.HPS, lr.OK, lr.Errors, o.concurrency, transport, o.duration)
	fmt.Fprintf(e.stdout, "ceiling, the server's crypto per handshake on core %d: %.0f /s (%.0f before the load, %.0f after)\n",
		o.serverCPU, ceiling, before.wall, after.wall)
	fmt.Fprintf(e.stdout, "ratio: %.3f (target >= 0.6)\n", lr.HPS/ceiling)
	fmt.Fprintf(e.stdout, "CPU time: %.1f µs per handshake, %.1f µs of crypto per handshake, ratio %.3f\n",
		float64(cpuPerHS.Nanoseconds())/1e3, float64(cpuPerCeiling.Nanoseconds())/1e3, float64(cpuPerCeiling)/float64(cpuPerHS))
	fmt.Fprintf(e.stdout, "busy during the load: server core %.0f %%, load core %.0f %%\n",
		100*float64(cpuAfter-cpuBefore)/float64(loadTime), 100*lr.Busy)
	if lr.Errors > 0 {
		return fmt.Errorf("%d handshakes failed; the first: %s", lr.Errors, lr.FirstError)
	}
	return nil
}

func (b *deviceBench) memory(ctx context.Context) error {
	for _, tlsOn := range []bool{false, true} {
		if err := b.memoryOnce(ctx, tlsOn); err != nil {
			return err
		}
	}
	return nil
}

func (b *deviceBench) memoryOnce(ctx context.Context, tlsOn bool) error {
	e, o := b.e, b.o
	name, target := "plain (TLS at a proxy)", 8.0
	if tlsOn {
		name, target = "TLS 1.3", 16.0
	}
	// The floor first: a bare Go listener on the same core holding as many connections.
	floor, err := b.floor(ctx, tlsOn)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	srv, err := b.start(ctx, tlsOn)
	if err != nil {
		return err
	}
	defer srv.close()
	pid := srv.cmd.Process.Pid
	// Warm the server up with a few connections, so what it sets up once (the channel
	// keys, the first handshake's tables) is in the baseline, not in the figure.
	if err := b.holdAndRelease(ctx, srv, min(64, b.devices)); err != nil {
		return err
	}
	// Each reading waits for a collection after the connections were opened (the
	// garbage of their handshakes gone) and for a quiet server to have returned its free
	// heap to the system (ops.GCTuning), so neither reading counts memory the other does
	// not.
	statsBefore := quietStats(e.stderr, srv, goMemStats(srv.banner.ops, srv.banner.ca), 150*time.Second)
	before, err := settledRSS(pid, o.settle)
	if err != nil {
		return err
	}
	holders, err := b.hold(ctx, srv, b.devices)
	defer holders.stop()
	if err != nil {
		return err
	}
	// An idle server allocates next to nothing, so a collection comes from the trim of
	// a quiet server or the runtime's periodic one (at most two minutes away).
	quietStats(e.stderr, srv, goMemStats(srv.banner.ops, srv.banner.ca), 150*time.Second)
	after, err := settledRSS(pid, o.settle)
	if err != nil {
		return err
	}
	statsAfter := goMemStats(srv.banner.ops, srv.banner.ca)
	perConn := float64(after-before) / float64(b.devices) / 1024
	fmt.Fprintf(e.stdout, "memory per idle authenticated connection, %s: %.2f KiB (RSS %.1f → %.1f MiB, %d connections held by %d processes; target <= %.0f KiB)\n",
		name, perConn, mib(before), mib(after), b.devices, o.holders, target)
	fmt.Fprintf(e.stdout, "floor, a bare Go listener parking one goroutine in Read per connection: %.2f KiB (ratio %.2f)\n",
		floor, perConn/floor)
	if statsBefore != nil && statsAfter != nil {
		var parts []string
		for _, k := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes"} {
			parts = append(parts, fmt.Sprintf("%s %.2f KiB", strings.TrimPrefix(k, "go_memstats_"), (statsAfter[k]-statsBefore[k])/float64(b.devices)/1024))
		}
		fmt.Fprintf(e.stdout, "  Go runtime, per connection: %s\n", strings.Join(parts, ", "))
		free := func(st map[string]float64) float64 {
			return (st["go_memstats_heap_idle_bytes"] - st["go_memstats_heap_released_bytes"]) / (1 << 20)
		}
		fmt.Fprintf(e.stdout, "  free heap not returned to the system: %.1f MiB before, %.1f MiB after\n", free(statsBefore), free(statsAfter))
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// quietStats waits, at most limit, until the server has collected since since was read
// (when given) and holds under 16 MiB of free heap not returned to the system (what a
// quiet server's trim leaves), and returns its runtime figures then. A wait that runs out
// is reported on w.
func quietStats(w io.Writer, srv *benchServer, since map[string]float64, limit time.Duration) map[string]float64 {
	start := time.Now()
	for {
		st := goMemStats(srv.banner.ops, srv.banner.ca)
		if st == nil {
			fmt.Fprintln(w, "bench: the server's /metrics could not be read; the reading does not wait for a collection")
			return nil
		}
		collected := since == nil || st["go_gc_duration_seconds_count"] > since["go_gc_duration_seconds_count"]
		if collected && st["go_memstats_heap_idle_bytes"]-st["go_memstats_heap_released_bytes"] < 16<<20 {
			return st
		}
		if time.Since(start) > limit {
			fmt.Fprintf(w, "bench: no quiet collection within %v; reading the memory anyway\n", limit)
			return st
		}
		time.Sleep(2 * time.Second)
	}
}

// holders is a set of processes holding connections; stop ends them.
type holders struct {
	cmds []*exec.Cmd
	ins  []io.WriteCloser
}

func (h *holders) stop() {
	for _, in := range h.ins {
		_ = in.Close() // a holder exits when its stdin closes
	}
	for _, c := range h.cmds {
		_ = c.Wait()
	}
	h.cmds, h.ins = nil, nil
}

// hold starts o.holders processes that together hold n authenticated connections, and
// returns once all of them report every connection up.
func (b *deviceBench) hold(ctx context.Context, srv *benchServer, n int) (*holders, error) {
	h := &holders{}
	per := (n + b.o.holders - 1) / b.o.holders
	type ready struct {
		line string
		err  error
	}
	results := make(chan ready, b.o.holders)
	for p := range b.o.holders {
		first := p * per
		count := min(per, n-first)
		if count <= 0 {
			break
		}
		// Each process connects from its own loopback address, so no two share the
		// ephemeral port range.
		c := exec.CommandContext(ctx, b.self, b.clientArgs("device-hold", srv, first, count, fmt.Sprintf("127.0.1.%d", p+1))...)
		c.Env = append(os.Environ(), "GOMAXPROCS=1")
		in, err := c.StdinPipe()
		if err != nil {
			return h, err
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return h, err
		}
		c.Stderr = b.e.stderr
		if err := startPinned(c, b.o.clientCPU); err != nil {
			return h, err
		}
		h.cmds, h.ins = append(h.cmds, c), append(h.ins, in)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			results <- ready{line, err}
			_, _ = io.Copy(io.Discard, out)
		}()
	}
	for range h.cmds {
		r := <-results
		if r.err != nil {
			return h, fmt.Errorf("a holding process ended before it held its connections: %w", r.err)
		}
		var held, failed int
		var first string
		if _, err := fmt.Sscan(r.line, &held, &failed); err != nil {
			return h, fmt.Errorf("holding process: %q", r.line)
		}
		if failed > 0 {
			_, first, _ = strings.Cut(strings.TrimSpace(r.line), " # ")
			return h, fmt.Errorf("a holding process could not open %d of its connections; the first error: %s", failed, first)
		}
	}
	return h, nil
}

func (b *deviceBench) holdAndRelease(ctx context.Context, srv *benchServer, n int) error {
	save := b.o.holders
	b.o.holders = 1
	h, err := b.hold(ctx, srv, n)
	b.o.holders = save
	h.stop()
	return err
}

// floor measures a bare listener's RSS per idle connection on the server's core.
func (b *deviceBench) floor(ctx context.Context, tlsOn bool) (float64, error) {
	c := exec.CommandContext(ctx, b.self, "bench", "tcp-floor", "--tls="+fmt.Sprint(tlsOn))
	c.Env = append(os.Environ(), "GOMAXPROCS=1")
	in, err := c.StdinPipe()
	if err != nil {
		return 0, err
	}
	out, err := c.StdoutPipe()
	if err != nil {
		return 0, err
	}
	c.Stderr = b.e.stderr
	if err := startPinned(c, b.o.serverCPU); err != nil {
		return 0, err
	}
	defer func() { _ = in.Close(); _ = c.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("floor listener: %w", err)
	}
	addr = strings.TrimSpace(addr)
	before, err := settledRSS(c.Process.Pid, b.o.settle)
	if err != nil {
		return 0, err
	}
	per := (b.devices + b.o.holders - 1) / b.o.holders
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			_ = nc.Close()
		}
	}()
	// The floor's clients are in this process: it holds at most 19,000 files per
	// holder's share, so raise the limit and dial from one address per share.
	if err := raiseFileLimit(b.devices + 100); err != nil {
		return 0, err
	}
	for i := range b.devices {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.3.%d", i/per+1))}, Timeout: 10 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return 0, fmt.Errorf("connection %d to the floor listener: %w", i, err)
		}
		if tlsOn {
			tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true}) // the floor's own throwaway certificate
			if err := tc.HandshakeContext(ctx); err != nil {
				return 0, err
			}
			nc = tc
		}
		conns = append(conns, nc)
	}
	after, err := settledRSS(c.Process.Pid, b.o.settle)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(b.devices) / 1024, nil
}

// benchTCPFloor listens on loopback, prints its address, accepts connections and parks a
// goroutine in Read on each (after the TLS handshake, with --tls), until stdin closes.
func benchTCPFloor(e *env, tlsOn bool) error {
	if err := raiseFileLimit(20000); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var cfg *tls.Config
	if tlsOn {
		cert, err := throwawayCertificate()
		if err != nil {
			return err
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				if cfg != nil {
					tc := tls.Server(nc, cfg)
					if tc.Handshake() != nil {
						return
					}
					nc = tc
				}
				var buf [1]byte
				_, _ = nc.Read(buf[:])
			}()
		}
	}()
	fmt.Fprintln(e.stdout, ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return ln.Close()
}

func throwawayCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// raiseFileLimit raises this process's open-file limit to at least need, up to the hard
// limit, and says plainly when the machine cannot hold that many.
func raiseFileLimit(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= uint64(need) {
		return nil
	}
	if lim.Max < uint64(need) {
		return fmt.Errorf("this process may open at most %d files (hard limit) and needs %d: raise the limit (ulimit -Hn) or use more holding processes", lim.Max, need)
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// readRSS returns VmRSS from a /proc/PID/status text, in bytes.
func readRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS line %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS line")
}

func processRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return readRSS(string(raw))
}

// settledRSS waits until the process's RSS has moved by less than 0.5 % over three
// samples a second apart (at most maxWait), and returns it.
func settledRSS(pid int, maxWait time.Duration) (int64, error) {
	var last []int64
	deadline := time.Now().Add(maxWait)
	for {
		rss, err := processRSS(pid)
		if err != nil {
			return 0, err
		}
		last = append(last, rss)
		if n := len(last); n >= 3 && rssSettled(last[n-3:]) || time.Now().After(deadline) {
			return rss, nil
		}
		time.Sleep(time.Second)
	}
}

// rssSettled reports whether samples stay within 0.5 % of their largest.
func rssSettled(samples []int64) bool {
	lo, hi := samples[0], samples[0]
	for _, s := range samples {
		lo, hi = min(lo, s), max(hi, s)
	}
	return float64(hi-lo) <= 0.005*float64(hi)
}

// goMemStats reads the go_memstats_* gauges and the number of collections from the ops listener's /metrics; nil when
// it cannot.
func goMemStats(opsURL, caFile string) map[string]float64 {
	if opsURL == "" {
		return nil
	}
	c := &http.Client{Timeout: 5 * time.Second}
	if strings.HasPrefix(opsURL, "https:") {
		roots, err := loadRoots(caFile)
		if err != nil {
			return nil
		}
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	}
	resp, err := c.Get(opsURL + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "go_memstats_") && name != "go_gc_duration_seconds_count" {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

func loadRoots(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + caFile)
	}
	return roots, nil
}

// deviceClient is what the load and holding processes share: how to reach the server
// and act as device i.
type deviceClient struct {
	o       deviceClientOpts
	host    string // host:port
	path    string
	tls     *tls.Config
	pin     [32]byte
	signers []*ecdsa.PrivateKey
	ids     [][16]byte
}

func newDeviceClient(o deviceClientOpts) (*deviceClient, error) {
	u, err := url.Parse(o.addr)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("device URL %q", o.addr)
	}
	c := &deviceClient{o: o, host: u.Host, path: strings.TrimSuffix(u.Path, "/") + "/device/v1"}
	if u.Scheme == "wss" || u.Scheme == "https" {
		roots, err := loadRoots(o.caFile)
		if err != nil {
			return nil, err
		}
		c.tls = &tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS13, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	}
	fp, err := base64.RawURLEncoding.DecodeString(o.fingerprint)
	if err != nil || len(fp) != 32 {
		return nil, errors.New("bad --fingerprint")
	}
	copy(c.pin[:], fp)
	for i := o.first; i < o.first+o.count; i++ {
		k, id, err := benchDeviceKey(o.seed, i)
		if err != nil {
			return nil, err
		}
		c.signers, c.ids = append(c.signers, k), append(c.ids, id)
	}
	if len(c.ids) == 0 {
		return nil, errors.New("no devices")
	}
	return c, nil
}

// wsConn is the client side of one device connection: a small buffered reader, masked
// frames written whole.
type wsConn struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte
}

// dial connects as device i (index into c.ids) and runs the WebSocket upgrade and the
// SIGMA-I handshake; it returns the connection and the session.
func (c *deviceClient) dial(ctx context.Context, i int) (*wsConn, *sigma.Session, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if c.o.localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.o.localIP)}
	}
	nc, err := d.DialContext(ctx, "tcp", c.host)
	if err != nil {
		return nil, nil, err
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = tc
	}
	w := &wsConn{nc: nc, br: bufio.NewReaderSize(nc, 512)}
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	sess, err := c.handshake(w, i)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return w, sess, nil
}

func (c *deviceClient) handshake(w *wsConn, i int) (*sigma.Session, error) {
	// The key is fixed: the server checks only the accept value it sends back, which
	// this client has no reason to check against a server it runs itself.
	req := "GET " + c.path + " HTTP/1.1\r\nHost: " + c.host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(w.nc, req); err != nil {
		return nil, err
	}
	status, err := w.br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		return nil, fmt.Errorf("upgrade: %s", strings.TrimSpace(status))
	}
	for {
		line, err := w.br.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("upgrade: %w", err)
		}
		if len(line) <= 2 {
			break
		}
	}
	hs, err := sigma.NewClient(sigma.ClientConfig{ServerKeyFingerprint: c.pin, DeviceID: c.ids[i], Signer: c.signers[i]})
	if err != nil {
		return nil, err
	}
	hello, err := hs.Start()
	if err != nil {
		return nil, err
	}
	if err := w.write(ws.OpBinary, hello); err != nil {
		return nil, err
	}
	reply, err := w.read()
	if err != nil {
		return nil, fmt.Errorf("read ServerHello: %w", err)
	}
	finish, sess, err := hs.Finish(reply)
	if err != nil {
		return nil, err
	}
	if err := w.write(ws.OpBinary, finish); err != nil {
		return nil, err
	}
	return sess, nil
}

// write sends one masked frame in one write.
func (w *wsConn) write(op ws.OpCode, payload []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload)), Masked: true}
	binary.LittleEndian.PutUint32(h.Mask[:], mrand.Uint32())
	w.buf = w.buf[:0]
	w.buf = appendHeader(w.buf, h)
	start := len(w.buf)
	w.buf = append(w.buf, payload...)
	ws.Cipher(w.buf[start:], h.Mask, 0)
	_, err := w.nc.Write(w.buf)
	return err
}

type sliceWriter struct{ b *[]byte }

func (s sliceWriter) Write(p []byte) (int, error) { *s.b = append(*s.b, p...); return len(p), nil }

func appendHeader(b []byte, h ws.Header) []byte {
	_ = ws.WriteHeader(sliceWriter{&b}, h)
	return b
}

// read returns the next data frame's payload; a close frame is an error carrying its code.
func (w *wsConn) read() ([]byte, error) {
	for {
		h, err := ws.ReadHeader(w.br)
		if err != nil {
			return nil, err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(w.br, p); err != nil {
			return nil, err
		}
		switch h.OpCode {
		case ws.OpBinary:
			return p, nil
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			return nil, closeError{code, reason}
		}
	}
}

type closeError struct {
	code   ws.StatusCode
	reason string
}

func (e closeError) Error() string {
	return fmt.Sprintf("closed by the server: %d %s", e.code, e.reason)
}

// benchDeviceLoad runs handshakes as the devices in turn from o.concurrency workers for
// o.duration and prints a deviceLoadResult. After its ClientFinish each worker sends a
// close frame: a server that accepted the handshake answers it with the same code (1000),
// one that refused it closes with 1008 first, so a completed handshake is known without
// any message inside the channel.
func benchDeviceLoad(e *env, o deviceClientOpts) error {
	c, err := newDeviceClient(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+time.Minute)
	defer cancel()
	var ok, failed atomic.Int64
	var next atomic.Uint64
	var firstErr atomic.Value
	one := func() error {
		i := int(next.Add(1) % uint64(len(c.ids)))
		w, _, err := c.dial(ctx, i)
		if err != nil {
			return err
		}
		defer w.nc.Close()
		if err := w.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
			return err
		}
		_, err = w.read()
		var ce closeError
		if !errors.As(err, &ce) {
			return fmt.Errorf("after the handshake: %v", err)
		}
		if ce.code != ws.StatusNormalClosure {
			return ce
		}
		return nil
	}
	// Warm up: the first connections pay for tables and caches on both sides.
	for range o.concurrency {
		if err := one(); err != nil {
			return fmt.Errorf("warm-up handshake: %w", err)
		}
	}
	deadline := time.Now().Add(o.duration)
	start, cpuStart := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := one(); err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	res := deviceLoadResult{HPS: float64(ok.Load()) / elapsed.Seconds(), OK: ok.Load(), Errors: failed.Load(), Busy: float64(cpu) / float64(elapsed)}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return json.NewEncoder(e.stdout).Encode(res)
}

// benchDeviceHold opens o.count authenticated connections (handshake, then a hello and
// its answer), prints "held failed # first error", and keeps them open until stdin
// closes or o.holdFor passes.
func benchDeviceHold(e *env, o deviceClientOpts) error {
	if o.count > 19000 {
		return fmt.Errorf("one holding process holds at most 19,000 connections, not %d", o.count)
	}
	if err := raiseFileLimit(o.count + 100); err != nil {
		return err
	}
	c, err := newDeviceClient(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.holdFor)
	defer cancel()
	conns := make([]*wsConn, len(c.ids))
	var failed atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(c.ids) {
					return
				}
				w, err := c.holdOne(ctx, i, o.hello)
				if err != nil {
					if failed.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				conns[i] = w
			}
		})
	}
	wg.Wait()
	first, _ := firstErr.Load().(string)
	fmt.Fprintf(e.stdout, "%d %d # %s\n", int64(len(c.ids))-failed.Load(), failed.Load(), first)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	for _, w := range conns {
		if w != nil {
			_ = w.nc.Close()
		}
	}
	return nil
}

func (c *deviceClient) holdOne(ctx context.Context, i int, hello bool) (*wsConn, error) {
	w, sess, err := c.dial(ctx, i)
	if err != nil {
		return nil, err
	}
	if hello {
		frame, err := sess.Seal([]byte(`{"id":1,"type":"hello","app_version":"bench","platform":"bench"}`))
		if err == nil {
			err = w.write(ws.OpBinary, frame)
		}
		var reply []byte
		if err == nil {
			reply, err = w.read()
		}
		if err == nil {
			var plain []byte
			if plain, err = sess.Open(reply); err == nil && !strings.Contains(string(plain), `"hello.ok"`) {
				err = fmt.Errorf("hello answered with %s", plain)
			}
		}
		if err != nil {
			w.nc.Close()
			return nil, fmt.Errorf("hello: %w", err)
		}
	}
	_ = w.nc.SetDeadline(time.Time{})
	// Drop what the handshake needed; an idle device keeps only its connection.
	w.br, w.buf = nil, nil
	return w, nil
}

// benchSigmaCeiling prints how many times per second of wall-clock and of CPU time this
// core does the server's crypto of one handshake, as sigma's BenchmarkServerHandshake
// ("ceiling") does: one P-256 key generation, one ECDH, one ECDSA signature, one ECDSA
// verification, nothing else.
func benchSigmaCeiling(e *env, d time.Duration) error {
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	deviceKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("transcript"))
	deviceSig, err := deviceKey.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	return printRate(e, d, func() error {
		eph, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		if _, err := eph.ECDH(peer.PublicKey()); err != nil {
			return err
		}
		if _, err := serverKey.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(&deviceKey.PublicKey, digest[:], deviceSig) {
			return errors.New("verify")
		}
		return nil
	})
}

// printRate runs op for d and prints how many times it ran per second of wall time and
// per second of this process's CPU time: a ceiling as measureCeiling reads it.
func printRate(e *env, d time.Duration, op func() error) error {
	n := 0
	start, cpuStart := time.Now(), cpuTime()
	for time.Since(start) < d {
		if err := op(); err != nil {
			return err
		}
		n++
	}
	wall, cpu := time.Since(start), cpuTime()-cpuStart
	_, err := fmt.Fprintf(e.stdout, "%.1f %.1f\n", float64(n)/wall.Seconds(), float64(n)/cpu.Seconds())
	return err
}
