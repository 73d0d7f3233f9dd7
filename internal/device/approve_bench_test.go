package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/store"
)

// BenchmarkApproveRoundTrip times push-approve round trips over loopback: a request made
// for a user (device.Ask: the user and devices read, the request stored in the
// in-process ephemeral store, its event in the SQLite event log), delivered in band to the
// user's connected SDK device, approved with the number (the device signs; the server
// verifies the signature against the stored request and records the answer once). Each
// of 16 users has one device; the round trips run concurrently. It reports approvals per
// second, and beside it the ceiling the issue names: ECDSA P-256 verifications per second,
// measured in the same run, with their ratio. Run it on one core to compare with the
// issue's figure (go test -run '^$' -bench ApproveRoundTrip -cpu 1 ./internal/device):
// the SDK devices then share that core, so the figure is a floor of the server's.
func BenchmarkApproveRoundTrip(b *testing.B) {
	const users = 16
	var reqs *authn.Service
	h := newHarness(b, "sqlite", func(c *Config) {
		// The push-bombing limits would stop a benchmark's thousands of requests.
		outbox := events.NewOutbox(c.Store)
		var err error
		reqs, err = authn.New(context.Background(), authn.Config{Store: c.Ephemeral, MaxCreated: 1 << 30, MaxPending: 8,
			Events: authn.SinkFunc(func(_ context.Context, e authn.Event) error { return outbox.Post(e.Record()) })})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = reqs.Close(); _ = outbox.Close(context.Background()) })
		c.Requests = reqs
		c.HandshakesPerIP, c.EnrollmentsPerIP = 1<<20, 1<<20
	})
	ctx := context.Background()
	type phone struct {
		user string
		s    *authenticator.Session
		reqs chan *authenticator.Request
	}
	phones := make([]*phone, users)
	for i := range phones {
		u, err := h.st.CreateUser(ctx, store.User{Realm: "demo", ID: fmt.Sprintf("bench-%d", i), Username: fmt.Sprintf("bench%d", i), Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		act, err := h.srv.CreateActivation(ctx, h.url, ActivationRequest{Realm: "demo", UserID: u.ID, Actor: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		s, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(act.URL, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		p := &phone{user: u.ID, s: s, reqs: make(chan *authenticator.Request, 8)}
		s.SetListener(listenerFunc(func(r *authenticator.Request) { p.reqs <- r }))
		phones[i] = p
	}
	roundTrip := func(p *phone) error {
		r, err := Ask(ctx, h.st, reqs, time.Now(), authn.NewRequest{Realm: "demo", Kind: authn.KindPushLogin,
			ClientID: "bank-app", UserID: p.user, Text: "Sign in to Bank", Binding: []byte("bench")})
		if err != nil {
			return err
		}
		var got *authenticator.Request
		select {
		case got = <-p.reqs:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("request %s not delivered", r.ID)
		}
		state, err := p.s.Approve(got, r.MatchNumber)
		if err != nil || state != "approved" {
			return fmt.Errorf("approve: %q, %v", state, err)
		}
		return nil
	}
	// Warm up every connection once.
	for _, p := range phones {
		if err := roundTrip(p); err != nil {
			b.Fatal(err)
		}
	}
	verifies := verifyRate(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan struct{})
	errs := make(chan error, users)
	for _, p := range phones {
		wg.Go(func() {
			for range work {
				if err := roundTrip(p); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "approvals/s")
	b.ReportMetric(verifies, "verifies/s")
	b.ReportMetric(rate/verifies, "ratio")
}

// listenerFunc adapts a function to authenticator.Listener.
type listenerFunc func(*authenticator.Request)

func (f listenerFunc) OnRequest(r *authenticator.Request) { f(r) }
func (listenerFunc) OnClosed(string)                      {}

// verifyRate measures ECDSA P-256 verifications per second on this goroutine.
func verifyRate(b *testing.B) float64 {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("signet approval"))
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	samples := make([]float64, 0, 3)
	for range 3 {
		start, n := time.Now(), 0
		for time.Since(start) < 200*time.Millisecond {
			if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
				b.Fatal("verify failed")
			}
			n++
		}
		samples = append(samples, float64(n)/time.Since(start).Seconds())
	}
	slices.Sort(samples)
	return samples[len(samples)-1]
}
