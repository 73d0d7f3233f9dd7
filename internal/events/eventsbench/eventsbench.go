// Package eventsbench measures webhook delivery on a real store: how fast a Deliverer
// drains a backlog, and how long an event takes from the outbox to its receiver, each
// beside a ceiling measured in the same run on the same core (plain POSTs of the same
// body through the same outbound client). The Go benchmarks in internal/events and
// `signet bench webhooks` both run it.
package eventsbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/store"
)

// DeliverOptions configures Deliver.
type DeliverOptions struct {
	// Events are appended before the Deliverer starts; each fans out to every
	// subscription.
	Events int
	// Subscriptions of the realm, all at the receiver (default 1: one ordered stream).
	Subscriptions int
	// Receiver is where deliveries go; nil starts one in this process for the run.
	Receiver *Target
	// CPU, when set, reads this process's CPU time, for the figures per delivery.
	CPU func() time.Duration
}

// DeliverResult is what Deliver measured.
type DeliverResult struct {
	// Deliveries arrived at the receiver, Elapsed from the Deliverer's start to the
	// last arrival.
	Deliveries int           `json:"deliveries"`
	Elapsed    time.Duration `json:"elapsed"`
	// Failed counts the Deliverer's attempts that did not deliver (none in a clean run).
	Failed int64 `json:"failed"`
	// Posts is the ceiling: as many plain POSTs, PostElapsed their time.
	Posts       int           `json:"posts"`
	PostElapsed time.Duration `json:"post_elapsed"`
	// Concurrency is how many POSTs the ceiling had under way at once: as many as the
	// Deliverer posts (one per subscription, up to its workers).
	Concurrency int `json:"concurrency"`
	// CPU and PostCPU are this process's CPU time in each part (zero without
	// DeliverOptions.CPU).
	CPU     time.Duration `json:"cpu"`
	PostCPU time.Duration `json:"post_cpu"`
}

// Rate is deliveries per second.
func (r DeliverResult) Rate() float64 { return float64(r.Deliveries) / r.Elapsed.Seconds() }

// Ceiling is plain POSTs per second.
func (r DeliverResult) Ceiling() float64 { return float64(r.Posts) / r.PostElapsed.Seconds() }

// Ratio is Rate over Ceiling.
func (r DeliverResult) Ratio() float64 { return r.Rate() / r.Ceiling() }

// Deliver times webhook deliveries to a TLS (HTTP/2) receiver on loopback: o.Events
// events of a new realm are appended, then a Deliverer claims, signs, posts and records
// them until the receiver has them all. Then, through the same outbound client, the
// same number of plain POSTs of a body like the Deliverer's, as many at once as it
// posts: the ceiling the network path allows.
func Deliver(ctx context.Context, st store.Store, o DeliverOptions) (DeliverResult, error) {
	if o.Subscriptions == 0 {
		o.Subscriptions = 1
	}
	if o.Events < 1 || o.Subscriptions < 1 {
		return DeliverResult{}, errors.New("events and subscriptions must be positive")
	}
	const realm = "bench-deliver"
	s, err := setUp(ctx, st, realm, o.Receiver, o.Subscriptions)
	if err != nil {
		return DeliverResult{}, err
	}
	defer s.close()
	batch := make([]store.Event, 0, events.MaxBatch)
	for i := range o.Events {
		batch = append(batch, store.Event{Realm: realm, Type: "authn.approved", Subject: fmt.Sprintf("q%d", i), UserID: "u1", At: time.Now(),
			Data: fmt.Appendf(nil, `{"type":"authn.approved","realm":%q,"request_id":"q%d","kind":"login","client_id":"app","user_id":"u1"}`, realm, i)})
		if len(batch) == cap(batch) || i == o.Events-1 {
			if _, err := st.AppendEvents(ctx, batch); err != nil {
				return DeliverResult{}, fmt.Errorf("append events: %w", err)
			}
			batch = batch[:0]
		}
	}
	res := DeliverResult{Deliveries: o.Events * o.Subscriptions, Concurrency: min(o.Subscriptions, events.DefaultWorkers)}
	if err := s.ctl.expect(ctx, res.Deliveries); err != nil {
		return DeliverResult{}, err
	}

	cpu := o.CPU
	if cpu == nil {
		cpu = func() time.Duration { return 0 }
	}
	start, cpuStart := time.Now(), cpu()
	d, err := s.deliverer(10 * time.Millisecond)
	if err != nil {
		return DeliverResult{}, err
	}
	arrived, err := s.ctl.wait(ctx)
	res.Elapsed, res.CPU = time.Since(start), cpu()-cpuStart
	closeErr := d.Close(ctx)
	if err != nil {
		return DeliverResult{}, err
	}
	if closeErr != nil {
		return DeliverResult{}, fmt.Errorf("close the deliverer: %w", closeErr)
	}
	if res.Failed, err = s.failed(); err != nil {
		return DeliverResult{}, err
	}
	if arrived.Count < res.Deliveries {
		return res, fmt.Errorf("%d of %d deliveries arrived, then none for %s (%d failed attempts)", arrived.Count, res.Deliveries, stallAfter, res.Failed)
	}

	body, err := events.WebhookBody(store.Event{Type: "authn.approved", At: time.Now(),
		Data: fmt.Appendf(nil, `{"type":"authn.approved","realm":%q,"request_id":"q1","kind":"login","client_id":"app","user_id":"u1"}`, realm)})
	if err != nil {
		return DeliverResult{}, err
	}
	posts := make(chan struct{}, res.Deliveries)
	for range res.Deliveries {
		posts <- struct{}{}
	}
	close(posts)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	start, cpuStart = time.Now(), cpu()
	for range res.Concurrency {
		wg.Go(func() {
			for range posts {
				if _, err := s.post(ctx, body); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	res.Posts, res.PostElapsed, res.PostCPU = res.Deliveries, time.Since(start), cpu()-cpuStart
	if err := firstErr.Load(); err != nil {
		return res, *err
	}
	return res, nil
}

// LatencyOptions configures CommitToDelivery.
type LatencyOptions struct {
	// Events are appended one every Interval (default 1 ms), well below the rate
	// Deliver measures, so the figures are latencies, not a queue's.
	Events   int
	Interval time.Duration
	// Receiver is where deliveries go; nil starts one in this process for the run.
	Receiver *Target
}

// LatencyResult is what CommitToDelivery measured.
type LatencyResult struct {
	Events int `json:"events"`
	// P50 and P99 are from the Append call to the arrival at the receiver.
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	// PostP99 is the ceiling: the p99 of a plain POST of the same body, one at a time.
	PostP99 time.Duration `json:"post_p99"`
	// Failed counts the Deliverer's attempts that did not deliver (none in a clean run).
	Failed int64 `json:"failed"`
}

// CommitToDelivery times how long an event takes from the outbox to the receiver while
// events keep coming: o.Events events are appended through an Outbox that nudges the
// Deliverer after each commit (its poll is a second away, so the nudge is what is
// measured), one every o.Interval, and the receiver notes when each arrives. Then, as
// the ceiling, as many plain POSTs of the same body through the same client, one at a
// time, each timed.
func CommitToDelivery(ctx context.Context, st store.Store, o LatencyOptions) (LatencyResult, error) {
	if o.Interval == 0 {
		o.Interval = time.Millisecond
	}
	if o.Events < 1 || o.Interval < 0 {
		return LatencyResult{}, errors.New("events and the interval must be positive")
	}
	const realm = "bench-latency"
	s, err := setUp(ctx, st, realm, o.Receiver, 1)
	if err != nil {
		return LatencyResult{}, err
	}
	defer s.close()
	if err := s.ctl.expect(ctx, o.Events); err != nil {
		return LatencyResult{}, err
	}
	d, err := s.deliverer(time.Second)
	if err != nil {
		return LatencyResult{}, err
	}
	defer d.Close(ctx)
	out := events.NewOutbox(st, events.WithOnWrite(d.Nudge))
	defer out.Close(ctx)

	data := func(i int, sent time.Time) []byte {
		return fmt.Appendf(nil, `{"type":"authn.approved","realm":%q,"n":%d,"sent":%d}`, realm, i, sent.UnixNano())
	}
	var (
		wg        sync.WaitGroup
		appendErr atomic.Pointer[error]
	)
	tick := time.NewTicker(o.Interval)
	for i := range o.Events {
		<-tick.C
		sent := time.Now()
		wg.Go(func() {
			e := store.Event{Realm: realm, Type: "authn.approved", Subject: fmt.Sprintf("q%d", i), At: sent, Data: data(i, sent)}
			if err := out.Append(ctx, e); err != nil {
				err = fmt.Errorf("append: %w", err)
				appendErr.CompareAndSwap(nil, &err)
			}
		})
	}
	tick.Stop()
	wg.Wait()
	if err := appendErr.Load(); err != nil {
		return LatencyResult{}, *err
	}
	arrived, err := s.ctl.wait(ctx)
	if err != nil {
		return LatencyResult{}, err
	}
	res := LatencyResult{Events: o.Events}
	if res.Failed, err = s.failed(); err != nil {
		return LatencyResult{}, err
	}
	if arrived.Count < o.Events || len(arrived.Latencies) < o.Events {
		return res, fmt.Errorf("%d of %d events delivered, then none for %s (%d failed attempts)", arrived.Count, o.Events, stallAfter, res.Failed)
	}
	lat := make([]time.Duration, len(arrived.Latencies))
	for i, us := range arrived.Latencies {
		lat[i] = time.Duration(us) * time.Microsecond
	}
	res.P50, res.P99 = percentile(lat, 0.50), percentile(lat, 0.99)

	body, err := events.WebhookBody(store.Event{Type: "authn.approved", At: time.Now(), Data: data(0, time.Now())})
	if err != nil {
		return LatencyResult{}, err
	}
	raw := make([]time.Duration, 0, o.Events)
	for range o.Events {
		took, err := s.post(ctx, body)
		if err != nil {
			return res, err
		}
		raw = append(raw, took)
	}
	res.PostP99 = percentile(raw, 0.99)
	return res, nil
}

// setup is what both benches run on: a realm with subscriptions at a receiver, a
// keyring and an outbound client allowed to reach loopback.
type setup struct {
	st      store.Store
	ring    *keys.Keyring
	client  *outbound.Client
	to      Target
	ctl     *control
	metrics *prometheus.Registry
	closers []func()
}

func setUp(ctx context.Context, st store.Store, realm string, to *Target, subscriptions int) (_ *setup, err error) {
	s := &setup{st: st, metrics: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if to == nil {
		r := StartReceiver()
		s.closers = append(s.closers, r.Close)
		t := r.Target()
		to = &t
	}
	s.to, s.ctl = *to, to.control()
	s.closers = append(s.closers, s.ctl.close)
	if s.ring, err = newKeyring(); err != nil {
		return nil, err
	}
	s.client = outbound.New(loopbackPolicy(), outbound.WithRootCAs(to.Roots))
	s.closers = append(s.closers, s.client.CloseIdleConnections)
	if _, err := st.CreateRealm(ctx, store.Realm{Name: realm, Enabled: true}); err != nil {
		return nil, fmt.Errorf("create realm: %w", err)
	}
	subs := events.Subscriptions{Store: st, Ring: s.ring}
	for range subscriptions {
		if _, _, err := subs.Create(ctx, store.WebhookSubscription{Realm: realm, URL: to.URL + "/hooks", Enabled: true}); err != nil {
			return nil, fmt.Errorf("create subscription: %w", err)
		}
	}
	return s, nil
}

func (s *setup) close() {
	for _, c := range slices.Backward(s.closers) {
		c()
	}
}

// deliverer starts a Deliverer that polls every poll and counts its attempts.
func (s *setup) deliverer(poll time.Duration) (*events.Deliverer, error) {
	d, err := events.NewDeliverer(s.st, s.ring, s.client, slog.New(slog.DiscardHandler),
		events.WithPollInterval(poll), events.WithMetrics(events.NewMetrics(s.metrics)))
	if err != nil {
		return nil, err
	}
	d.Start()
	return d, nil
}

// failed counts the Deliverer's attempts that did not deliver.
func (s *setup) failed() (int64, error) {
	families, err := s.metrics.Gather()
	if err != nil {
		return 0, err
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "signet_webhook_attempts_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() != "delivered" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int64(n), nil
}

// post sends body to the receiver's /raw as a plain POST with the headers a delivery
// carries, and returns how long it took.
func (s *setup) post(ctx context.Context, body []byte) (time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodPost, s.to.URL+"/raw", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Webhook-Id", "msg_1")
	req.Header.Set("Webhook-Timestamp", "1700000000")
	req.Header.Set("Webhook-Signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	resp, err := s.client.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("plain POST: %w", err)
	}
	if resp.Status != http.StatusNoContent {
		return 0, fmt.Errorf("plain POST: HTTP status %d", resp.Status)
	}
	return time.Since(start), nil
}

// loopbackPolicy is the production outbound policy with loopback addresses allowed,
// which it refuses: the receiver is on this machine.
func loopbackPolicy() outbound.Policy {
	p := outbound.DefaultPolicy()
	p.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	return p
}

// newKeyring returns a keyring under a new random key-encryption key, which seals the
// subscriptions' secrets.
func newKeyring() (*keys.Keyring, error) {
	encoded, err := keys.GenerateKEK()
	if err != nil {
		return nil, err
	}
	kek, err := keys.ParseKEK(encoded)
	if err != nil {
		return nil, err
	}
	return keys.NewKeyring(kek)
}

// percentile returns the q-quantile of ds (sorted in place).
func percentile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*q))]
}
