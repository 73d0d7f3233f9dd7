package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/push"
	"github.com/signet-auth/signet/internal/push/apns"
	"github.com/signet-auth/signet/internal/push/apns/apnstest"
)

// `signet bench push` measures APNs wake-ups per second from one sender over one HTTP/2
// connection, against a fake APNs on another core; the ceiling is the same requests sent
// by Go's own HTTP/2 client over one connection, on the same core in the same run.

type pushBenchOpts struct {
	duration            time.Duration
	concurrency         int
	senderCPU, fakeCPU  int
	fakeURL, certFile   string
	keyFile, keyID, iss string
	topic, mode         string
}

// pushLoadResult is what a load process reports.
type pushLoadResult struct {
	Sends      int64   `json:"sends"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

func addPushBench(parent *cobra.Command, e *env) {
	var o pushBenchOpts
	c := &cobra.Command{
		Use:   "push",
		Short: "APNs wake-ups/s from one sender over one HTTP/2 connection, against Go's HTTP/2 client on the same core",
		Long: "Starts a fake APNs (HTTP/2, TLS, provider-token checks) pinned to one core, then, pinned to another\n" +
			"core with GOMAXPROCS=1: Go's HTTP/2 client sending the same requests over one connection (the\n" +
			"ceiling), Signet's APNs sender (internal/push/apns: provider token, payload, answer mapping), and\n" +
			"the ceiling again. Each runs --concurrency sends at a time for --duration.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := benchPush(c.Context(), e, o); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	f := c.Flags()
	f.DurationVar(&o.duration, "duration", 8*time.Second, "measured time of each run")
	f.IntVar(&o.concurrency, "concurrency", 64, "sends under way at once")
	f.IntVar(&o.senderCPU, "sender-cpu", 0, "core the sender (and the ceiling) run on")
	f.IntVar(&o.fakeCPU, "fake-cpu", 1, "core the fake APNs runs on")

	fake := &cobra.Command{Use: "apns-fake", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchAPNsFake(e) }}
	var lo pushBenchOpts
	load := &cobra.Command{Use: "push-load", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchPushLoad(c.Context(), e, lo) }}
	lf := load.Flags()
	lf.StringVar(&lo.fakeURL, "url", "", "")
	lf.StringVar(&lo.certFile, "cert", "", "")
	lf.StringVar(&lo.keyFile, "key", "", "")
	lf.StringVar(&lo.keyID, "key-id", "", "")
	lf.StringVar(&lo.iss, "team-id", "", "")
	lf.StringVar(&lo.topic, "topic", "", "")
	lf.StringVar(&lo.mode, "mode", "sender", "")
	lf.DurationVar(&lo.duration, "duration", 8*time.Second, "")
	lf.IntVar(&lo.concurrency, "concurrency", 64, "")
	parent.AddCommand(c, fake, load)
}

// fakeBanner is what `bench apns-fake` prints first.
type fakeBanner struct {
	URL    string `json:"url"`
	Cert   string `json:"cert"` // PEM
	Key    string `json:"key"`  // PEM (.p8)
	KeyID  string `json:"key_id"`
	TeamID string `json:"team_id"`
	Topic  string `json:"topic"`
}

// benchAPNsFake serves a fake APNs until its standard input ends, then prints how many
// requests it answered.
func benchAPNsFake(e *env) error {
	s, err := apnstest.Start(apnstest.Config{CountOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	b, _ := json.Marshal(fakeBanner{URL: s.URL, Cert: string(cert), Key: string(s.KeyPEM), KeyID: s.KeyID, TeamID: s.TeamID, Topic: s.Topic})
	fmt.Fprintf(e.stdout, "%s\n", b)
	_, _ = io.Copy(io.Discard, e.input())
	_, err = fmt.Fprintf(e.stdout, "%d\n", s.Answered())
	return err
}

func benchPush(ctx context.Context, e *env, o pushBenchOpts) error {
	if o.concurrency < 1 || o.duration <= 0 {
		return errors.New("--concurrency and --duration must be positive")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "signet-bench-push-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var banner fakeBanner
	_, stopFake, err := startBenchHelper(ctx, e, self, o.fakeCPU, &banner, "apns-fake")
	if err != nil {
		return err
	}
	defer stopFake()
	certFile, keyFile := filepath.Join(dir, "fake.pem"), filepath.Join(dir, "key.p8")
	if err := os.WriteFile(certFile, []byte(banner.Cert), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, []byte(banner.Key), 0o600); err != nil {
		return err
	}
	run := func(mode string) (pushLoadResult, error) {
		var r pushLoadResult
		if err := runBenchHelper(ctx, e, self, o.senderCPU, &r, "push-load", "--url", banner.URL, "--cert", certFile, "--key", keyFile,
			"--key-id", banner.KeyID, "--team-id", banner.TeamID, "--topic", banner.Topic, "--mode", mode,
			"--duration", o.duration.String(), "--concurrency", strconv.Itoa(o.concurrency)); err != nil {
			return pushLoadResult{}, fmt.Errorf("%s load: %w", mode, err)
		}
		if r.Sends == 0 {
			return r, fmt.Errorf("%s load sent nothing (%d errors, first: %s)", mode, r.Errors, r.FirstError)
		}
		return r, nil
	}
	before, err := run("raw")
	if err != nil {
		return err
	}
	sender, err := run("sender")
	if err != nil {
		return err
	}
	after, err := run("raw")
	if err != nil {
		return err
	}
	rate := func(r pushLoadResult) float64 { return float64(r.Sends) / r.Seconds }
	ceil := (rate(before) + rate(after)) / 2
	cpuRate := func(r pushLoadResult) float64 { return float64(r.Sends) / r.CPUSeconds }
	ceilCPU := (cpuRate(before) + cpuRate(after)) / 2
	w := e.stdout
	fmt.Fprintf(w, "APNs wake-ups (Signet's sender, one HTTP/2 connection, one core): %.0f/s (p50 %.2f ms, p99 %.2f ms), %d errors; %d at a time, %s\n",
		rate(sender), sender.P50ms, sender.P99ms, sender.Errors, o.concurrency, o.duration)
	fmt.Fprintf(w, "ceiling: Go's HTTP/2 client, same requests, one connection, same core: %.0f/s (before %.0f, after %.0f)\n", ceil, rate(before), rate(after))
	fmt.Fprintf(w, "ratio: %.3f (target: 5,000 wake-ups/s on one core)\n", rate(sender)/ceil)
	fmt.Fprintf(w, "CPU time: %.1f µs per wake-up against %.1f µs per raw request: ratio %.3f\n",
		1e6/cpuRate(sender), 1e6/ceilCPU, cpuRate(sender)/ceilCPU)
	if sender.Errors > 0 {
		fmt.Fprintf(w, "first error: %s\n", sender.FirstError)
	}
	return nil
}

// benchPushLoad sends wake-ups for o.duration, o.concurrency at a time, with Signet's
// sender (mode "sender") or Go's HTTP/2 client (mode "raw"), and prints a pushLoadResult.
func benchPushLoad(ctx context.Context, e *env, o pushBenchOpts) error {
	roots, err := loadRoots(o.certFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(o.keyFile)
	if err != nil {
		return err
	}
	cfg := apns.Config{Key: key, KeyID: o.keyID, TeamID: o.iss, Topic: o.topic, BaseURL: o.fakeURL}
	msg := push.Message{ID: "0123456789abcdef0123456789abcdef", Title: "Sign-in request", CollapseID: "0123456789abcdef0123456789abcdef", TTL: 2 * time.Minute}
	token := strings.Repeat("a1b2c3d4", 8)
	var send func(ctx context.Context) error
	switch o.mode {
	case "sender":
		s, err := apns.New(cfg, apns.WithRootCAs(roots))
		if err != nil {
			return err
		}
		defer s.Close()
		send = func(ctx context.Context) error { return s.Send(ctx, token, msg) }
	case "raw":
		send, err = rawAPNs(cfg, roots, token, msg)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q", o.mode)
	}
	// One send first, so the connection (and the token) exist before the clock starts.
	if err := send(ctx); err != nil {
		return fmt.Errorf("first send: %w", err)
	}
	var (
		sends, errs atomic.Int64
		firstErr    atomic.Value
		mu          sync.Mutex
		lat         []time.Duration
		wg          sync.WaitGroup
	)
	start, cpuStart := time.Now(), cpuTime()
	end := start.Add(o.duration)
	for range o.concurrency {
		wg.Go(func() {
			var mine []time.Duration
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				if err := send(ctx); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				sends.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res := pushLoadResult{Sends: sends.Load(), Errors: errs.Load(), Seconds: time.Since(start).Seconds(), CPUSeconds: (cpuTime() - cpuStart).Seconds()}
	if fe, ok := firstErr.Load().(string); ok {
		res.FirstError = fe
	}
	if n := len(lat); n > 0 {
		sortDurations(lat)
		res.P50ms = float64(lat[n/2].Microseconds()) / 1e3
		res.P99ms = float64(lat[n*99/100].Microseconds()) / 1e3
	}
	b, _ := json.Marshal(res)
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

// rawAPNs returns a send that posts the request Signet's sender would, built once, with
// Go's HTTP/2 client over one connection: the transport's own cost.
func rawAPNs(cfg apns.Config, roots *x509.CertPool, token string, msg push.Message) (func(context.Context) error, error) {
	block, _ := pem.Decode(cfg.Key)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an ECDSA key")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ek},
		(&jose.SignerOptions{}).WithHeader("kid", cfg.KeyID))
	if err != nil {
		return nil, err
	}
	claims, _ := json.Marshal(map[string]any{"iss": cfg.TeamID, "iat": time.Now().Unix()})
	jws, err := signer.Sign(claims)
	if err != nil {
		return nil, err
	}
	jwt, err := jws.CompactSerialize()
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(map[string]any{"aps": map[string]any{"alert": map[string]string{"title": msg.Title}, "mutable-content": 1},
		"signet": map[string]string{"id": msg.ID}})
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := cfg.BaseURL + "/3/device/" + token
	expiration := strconv.FormatInt(time.Now().Add(msg.TTL).Unix(), 10)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(payload)))
		if err != nil {
			return err
		}
		req.Header.Set("authorization", "bearer "+jwt)
		req.Header.Set("apns-topic", cfg.Topic)
		req.Header.Set("apns-push-type", "alert")
		req.Header.Set("apns-priority", "10")
		req.Header.Set("apns-expiration", expiration)
		req.Header.Set("apns-collapse-id", msg.CollapseID)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}, nil
}
