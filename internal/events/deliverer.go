package events

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/store"
)

// Defaults of a Deliverer.
const (
	// DefaultPollInterval is how often an idle Deliverer looks for due deliveries that
	// no Nudge announced (another node's events, retries falling due).
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultWorkers is how many subscriptions (or callbacks) are posted to at once.
	DefaultWorkers = 8
	// DefaultBatch is how many deliveries one claim takes at most.
	DefaultBatch = 256
	// DefaultLease is how long a claim is held; a node that dies leaves its claims to be
	// taken again once it ends.
	DefaultLease = 2 * time.Minute
	// DefaultAttemptTimeout bounds one request (the outbound policy's own timeout may
	// end it sooner).
	DefaultAttemptTimeout = 15 * time.Second
	// DefaultBackoff and DefaultMaxBackoff shape the pauses between attempts: the n-th
	// pause is drawn uniformly below min(DefaultMaxBackoff, DefaultBackoff·2ⁿ⁻¹) (full
	// jitter; see retryAt for deliveries that waited), and is at least a second.
	DefaultBackoff    = 5 * time.Second
	DefaultMaxBackoff = 4 * time.Hour
	// DefaultMaxAge is how long after a delivery was created (or redelivered) it is
	// retried before it is given up as failed.
	DefaultMaxAge = 72 * time.Hour
)

// minPause is the shortest pause between attempts, so that a receiver failing fast is
// not hammered when the jitter draws close to zero.
const minPause = time.Second

// DeliverOption adjusts a Deliverer.
type DeliverOption func(*deliverConfig)

type deliverConfig struct {
	now                func() time.Time
	jitter             func(time.Duration) time.Duration
	poll               time.Duration
	workers, batch     int
	lease, timeout     time.Duration
	backoff, maxPause  time.Duration
	maxAge             time.Duration
	metrics            *Metrics
	callbackKeys       func(ctx context.Context, realm string, now time.Time) ([][]byte, error)
	recordPauses       []time.Duration
	maxInFlightBatches int
	retention          time.Duration
}

// WithRetention deletes settled (delivered or failed) deliveries once they are older
// than d, checked at start and hourly; 0 keeps them (the default).
func WithRetention(d time.Duration) DeliverOption { return func(c *deliverConfig) { c.retention = d } }

// DeliveryStore is what a Deliverer reads and writes: the deliveries, and the outcome
// claims it purges.
type DeliveryStore interface {
	store.WebhookDeliveries
	PurgeAuthnOutcomes(ctx context.Context, before time.Time) (int, error)
}

// purgeEvery is how often settled deliveries past the retention, and outcome claims past
// OutcomeRetention, are deleted.
const purgeEvery = time.Hour

// OutcomeRetention is how long the claims of authentication requests' outcomes
// (store.WriteOutbox) are kept after the request was made: far longer than a request can
// still change (authn.MaxTTL and the outcome's retention).
const OutcomeRetention = 24 * time.Hour

// purgeLoop deletes settled deliveries past the retention, and outcome claims past
// OutcomeRetention, until the Deliverer stops.
func (d *Deliverer) purgeLoop() {
	defer d.loops.Done()
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(d.reqCtx, time.Minute)
		if d.cfg.retention > 0 {
			n, err := d.st.PurgeWebhookDeliveries(ctx, d.cfg.now().Add(-d.cfg.retention))
			if err != nil && d.reqCtx.Err() == nil {
				d.log.Warn("settled webhook deliveries not purged", "err", err)
			} else if n > 0 {
				d.log.Info("settled webhook deliveries purged", "deliveries", n)
			}
		}
		if _, err := d.st.PurgeAuthnOutcomes(ctx, d.cfg.now().Add(-OutcomeRetention)); err != nil && d.reqCtx.Err() == nil {
			d.log.Warn("authentication outcome claims not purged", "err", err)
		}
		cancel()
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
	}
}

// WithClock replaces time.Now: when deliveries are due, webhook-timestamp, backoff and
// leases. Tests move it to make retries due without waiting.
func WithClock(now func() time.Time) DeliverOption { return func(c *deliverConfig) { c.now = now } }

// WithJitter replaces the random draw of a pause below max (uniform by default).
func WithJitter(draw func(max time.Duration) time.Duration) DeliverOption {
	return func(c *deliverConfig) { c.jitter = draw }
}

// WithPollInterval sets how often an idle Deliverer looks for due deliveries (default
// DefaultPollInterval).
func WithPollInterval(d time.Duration) DeliverOption { return func(c *deliverConfig) { c.poll = d } }

// WithWorkers sets how many subscriptions or callbacks are posted to at once (default
// DefaultWorkers).
func WithWorkers(n int) DeliverOption { return func(c *deliverConfig) { c.workers = n } }

// WithBatch sets how many deliveries one claim takes at most (default DefaultBatch, at
// most store.MaxWebhookClaim).
func WithBatch(n int) DeliverOption { return func(c *deliverConfig) { c.batch = n } }

// WithLease sets how long a claim is held (default DefaultLease); it must exceed the
// attempt timeout.
func WithLease(d time.Duration) DeliverOption { return func(c *deliverConfig) { c.lease = d } }

// WithAttemptTimeout bounds one request (default DefaultAttemptTimeout).
func WithAttemptTimeout(d time.Duration) DeliverOption {
	return func(c *deliverConfig) { c.timeout = d }
}

// WithBackoff sets the first pause between attempts and the longest (defaults
// DefaultBackoff and DefaultMaxBackoff).
func WithBackoff(first, longest time.Duration) DeliverOption {
	return func(c *deliverConfig) { c.backoff, c.maxPause = first, longest }
}

// WithMaxAge sets how long a delivery is retried after it was created or redelivered
// (default DefaultMaxAge).
func WithMaxAge(d time.Duration) DeliverOption { return func(c *deliverConfig) { c.maxAge = d } }

// WithMetrics counts attempts and failures in m (default: nowhere).
func WithMetrics(m *Metrics) DeliverOption { return func(c *deliverConfig) { c.metrics = m } }

// WithCallbackKeys signs per-request callbacks, as subscriptions' deliveries are signed,
// with the keys that keys returns for their realm at now: for example the realm's
// callback secrets (CallbackSigningKeys over a store that caches realms). An error
// wrapping ErrNoSecret leaves the realm's callbacks unsigned; any other fails the
// attempt, which is retried. Without this option callbacks are not signed.
func WithCallbackKeys(keys func(ctx context.Context, realm string, now time.Time) ([][]byte, error)) DeliverOption {
	return func(c *deliverConfig) { c.callbackKeys = keys }
}

// Deliverer posts the event log's webhook deliveries to subscriptions and callbacks, as
// the Standard Webhooks specification describes (signature.go). It claims due
// deliveries with a lease (store.WebhookDeliveries), so any number of nodes run one
// each without posting one delivery twice at once; posts them outside any transaction
// through the outbound client, which refuses private targets and redirects under its
// policy; and records each outcome. A delivery answered 2xx is delivered; anything else,
// a refusal of the outbound policy included, is retried after a pause that grows
// exponentially with full jitter, until DefaultMaxAge after its creation, and then given
// up as failed (store.RedeliverWebhook starts it again).
//
// Per subscription, deliveries go in order: a claim's deliveries of one subscription are
// posted one after another by one worker, which then continues with the subscription's
// next ones. When one fails, the subscription's later deliveries wait (unattempted) for
// its retry, so a dead endpoint costs each node one request per retry, not one per
// event; a delivery that keeps failing is given up in time, so it holds nothing back
// for longer than that. Different subscriptions and callbacks are posted to at once.
//
// Delivery is at least once: a node that dies between a receiver's answer and the
// recording of it leaves the delivery to be posted again once its lease ends, under the
// same webhook-id, by which receivers deduplicate.
type Deliverer struct {
	st     DeliveryStore
	ring   *keys.Keyring
	client *outbound.Client
	log    *slog.Logger
	cfg    deliverConfig

	nudge     chan struct{}             // Nudge: look for due deliveries now
	freed     chan struct{}             // a worker's outcomes are recorded: claim again
	work      chan []store.WebhookClaim // one subscription's claims, or one callback's
	outcomes  chan outcome              // to the recorder
	inflight  atomic.Int64              // claimed, outcome not yet recorded
	claimErr  atomic.Bool               // the last claim failed: log only changes
	stop      chan struct{}             // closed by Close: claim and attempt nothing more
	reqCtx    context.Context           // requests and claims; ends when Close's deadline passes
	cancel    context.CancelFunc        //
	recCtx    context.Context           // recording; ends when Close's deadline passes
	recCancel context.CancelFunc        //
	loops     sync.WaitGroup            // the claimer and the workers
	recorder  sync.WaitGroup            // the recorder
	mu        sync.Mutex                // started, closed
	started   bool                      //
	closed    bool                      //
	waitMu    sync.Mutex                // waiting
	waiting   map[string]time.Time      // subscriptions whose deliveries wait for a retry, until when
}

// NewDeliverer returns a Deliverer that claims from st, opens sealed secrets and
// callback headers with ring, posts through client and logs to log. Call Start to run
// it and Close to stop it.
func NewDeliverer(st DeliveryStore, ring *keys.Keyring, client *outbound.Client, log *slog.Logger, opts ...DeliverOption) (*Deliverer, error) {
	cfg := deliverConfig{
		now:                time.Now,
		jitter:             func(max time.Duration) time.Duration { return rand.N(max) },
		poll:               DefaultPollInterval,
		workers:            DefaultWorkers,
		batch:              DefaultBatch,
		lease:              DefaultLease,
		timeout:            DefaultAttemptTimeout,
		backoff:            DefaultBackoff,
		maxPause:           DefaultMaxBackoff,
		maxAge:             DefaultMaxAge,
		recordPauses:       []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second},
		maxInFlightBatches: 2,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	var problems []error
	if st == nil || ring == nil || client == nil || log == nil {
		problems = append(problems, errors.New("the store, keyring, outbound client and logger are required"))
	}
	if cfg.now == nil || cfg.jitter == nil {
		problems = append(problems, errors.New("nil clock or jitter"))
	}
	if cfg.poll <= 0 || cfg.timeout <= 0 || cfg.backoff <= 0 || cfg.maxPause < cfg.backoff || cfg.maxAge <= 0 {
		problems = append(problems, errors.New("the poll interval, attempt timeout, backoff and maximum age must be positive, the longest pause at least the first"))
	}
	if cfg.lease <= cfg.timeout {
		problems = append(problems, fmt.Errorf("the lease %s must exceed the attempt timeout %s", cfg.lease, cfg.timeout))
	}
	if cfg.workers < 1 || cfg.batch < 1 || cfg.batch > store.MaxWebhookClaim {
		problems = append(problems, fmt.Errorf("workers (%d) must be at least 1, the batch (%d) between 1 and %d", cfg.workers, cfg.batch, store.MaxWebhookClaim))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("webhook deliverer: %w", err)
	}
	maxInFlight := cfg.batch * cfg.maxInFlightBatches
	d := &Deliverer{
		st: st, ring: ring, client: client, log: log, cfg: cfg,
		nudge:    make(chan struct{}, 1),
		freed:    make(chan struct{}, 1),
		work:     make(chan []store.WebhookClaim, maxInFlight),
		outcomes: make(chan outcome, maxInFlight),
		stop:     make(chan struct{}),
		waiting:  map[string]time.Time{},
	}
	d.reqCtx, d.cancel = context.WithCancel(context.Background())
	d.recCtx, d.recCancel = context.WithCancel(context.Background())
	return d, nil
}

// Start runs the claimer, the workers and the recorder until Close. It does nothing
// after the first call or after Close.
func (d *Deliverer) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	d.loops.Add(1 + d.cfg.workers)
	go d.claimLoop()
	for range d.cfg.workers {
		go d.workLoop()
	}
	d.loops.Add(1)
	go d.purgeLoop()
	d.recorder.Add(1)
	go d.recordLoop()
}

// Nudge tells the Deliverer that deliveries were just committed, so it claims now
// rather than at its next poll. It never blocks.
func (d *Deliverer) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Close stops claiming, lets the requests under way finish, releases what was claimed
// and not attempted (due again at once, for this or another node), records every
// outcome, and returns when every goroutine has ended. Once ctx is done it aborts the
// requests under way (their deliveries are released, not counted as attempts) and stops
// retrying to record outcomes; those deliveries are posted again after their lease,
// and Close returns ctx's error.
func (d *Deliverer) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	started := d.started
	d.mu.Unlock()
	close(d.stop)
	defer d.cancel()
	defer d.recCancel()
	if !started {
		return nil
	}
	var err error
	if !waitFor(ctx, &d.loops) {
		err = ctx.Err()
		d.cancel()
		// Workers may wait to hand outcomes to a recorder retrying a slow database:
		// it stops retrying (and keeps draining), so they are not held past ctx.
		d.recCancel()
		d.loops.Wait()
	}
	close(d.outcomes)
	if !waitFor(ctx, &d.recorder) {
		err = ctx.Err()
		d.recCancel()
		d.recorder.Wait()
	}
	return err
}

// waitFor waits for wg until ctx is done and reports whether wg finished.
func waitFor(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *Deliverer) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// claimLoop claims due deliveries while there is room, and otherwise waits for a
// worker's outcomes to be recorded (which may let its subscription's next deliveries
// be claimed), a nudge or the poll interval.
//
// A claim that finds less than it asked for has scanned the due deliveries that wait
// behind a subscription's leased ones; with a backlog that is most of its cost. So after
// one, the next claim on a nudge (new events) or a poll waits ten times as long as it
// took: under any backlog claims then take a tenth of the time at most, while an idle
// Deliverer, whose claims take microseconds, answers a nudge at once.
func (d *Deliverer) claimLoop() {
	defer d.loops.Done()
	defer close(d.work)
	timer := time.NewTimer(d.cfg.poll)
	defer timer.Stop()
	for {
		began := time.Now()
		full := d.claim()
		if d.stopping() {
			return
		}
		if full {
			continue // more may be due
		}
		earliest := began.Add(10 * time.Since(began))
		timer.Reset(max(d.cfg.poll, time.Until(earliest)))
		select {
		case <-d.stop:
			return
		case <-d.freed:
			continue
		case <-timer.C:
			continue
		case <-d.nudge:
		}
		if pause := time.Until(earliest); pause > 0 {
			timer.Reset(pause)
			select {
			case <-d.stop:
				return
			case <-d.freed:
			case <-timer.C:
			}
		}
	}
}

// claim takes as many due deliveries as there is room for, up to a batch, and hands
// them to the workers by subscription; it reports whether it got all it asked for.
func (d *Deliverer) claim() bool {
	room := d.cfg.batch*d.cfg.maxInFlightBatches - int(d.inflight.Load())
	n := min(d.cfg.batch, room)
	if n <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(d.reqCtx, claimTimeout)
	claims, err := d.st.ClaimWebhookDeliveries(ctx, d.cfg.now(), d.cfg.lease, n)
	cancel()
	if err != nil {
		if !d.claimErr.Swap(true) && d.reqCtx.Err() == nil {
			d.log.Warn("webhook deliveries cannot be claimed; retrying at every poll", "err", err)
		}
		return false
	}
	if d.claimErr.Swap(false) {
		d.log.Info("webhook deliveries are claimed again")
	}
	if len(claims) == 0 {
		return false
	}
	d.inflight.Add(int64(len(claims)))
	for _, g := range groups(claims) {
		d.work <- g // never blocks: the channel holds as many as may be in flight
	}
	return len(claims) == n
}

// groups splits claims, in ID order, into one group per subscription, in order of
// their first delivery, and one per callback.
func groups(claims []store.WebhookClaim) [][]store.WebhookClaim {
	var out [][]store.WebhookClaim
	index := map[string]int{}
	for _, c := range claims {
		if c.Delivery.SubscriptionID == "" {
			out = append(out, []store.WebhookClaim{c})
			continue
		}
		key := c.Delivery.Realm + "\x00" + c.Delivery.SubscriptionID
		if i, ok := index[key]; ok {
			out[i] = append(out[i], c)
			continue
		}
		index[key] = len(out)
		out = append(out, []store.WebhookClaim{c})
	}
	return out
}

func (d *Deliverer) workLoop() {
	defer d.loops.Done()
	for g := range d.work {
		d.deliverGroup(g)
	}
}

// outcome is what the recorder writes, or, with done set, a marker that a worker is
// done with what it was handed: once what came before it is recorded, the claimer
// claims again.
type outcome struct {
	store.WebhookOutcome
	done bool
}

// maxRounds bounds how many claims of one subscription a worker continues with before
// it returns to the pool, so that a few busy subscriptions cannot hold every worker.
const maxRounds = 16

// deliverGroup posts one subscription's claims in order and, once all are delivered,
// continues with the subscription's next due deliveries (ContinueWebhookDeliveries),
// so a backlog flows without a claim that scans every subscription's. The outcome of
// the last delivery is recorded only once the continuation is claimed: its lease keeps
// other claims off the subscription's later deliveries meanwhile.
func (d *Deliverer) deliverGroup(g []store.WebhookClaim) {
	defer func() { d.outcomes <- outcome{done: true} }()
	if until, ok := d.waitingUntil(g[0].Delivery, d.cfg.now()); ok {
		d.release(g, until)
		return
	}
	for round := 1; ; round++ {
		last, ok := d.deliverRun(g)
		if !ok {
			return
		}
		held := g[len(g)-1]
		var next []store.WebhookClaim
		if round < maxRounds && held.Delivery.SubscriptionID != "" && !d.stopping() &&
			d.cfg.now().Add(claimTimeout).Before(held.Delivery.LeaseUntil) {
			ctx, cancel := context.WithTimeout(d.reqCtx, claimTimeout)
			next, _ = d.st.ContinueWebhookDeliveries(ctx, held.Delivery.Realm, held.Delivery.SubscriptionID, held.Token, d.cfg.now(), d.cfg.lease, d.cfg.batch)
			cancel() // on an error what is left is claimed as usual
		}
		d.inflight.Add(int64(len(next)))
		d.outcomes <- outcome{WebhookOutcome: last}
		if len(next) == 0 {
			return
		}
		g = next
	}
}

// claimTimeout bounds one claim's transaction.
const claimTimeout = 30 * time.Second

// deliverRun posts claims of one subscription in order. When all are delivered it
// returns the last one's outcome, not yet sent to the recorder, and true. Once one is
// not delivered, the rest wait for its next attempt; once the Deliverer stops, or a
// claim's lease would end during an attempt, the rest are released.
func (d *Deliverer) deliverRun(g []store.WebhookClaim) (store.WebhookOutcome, bool) {
	for i, c := range g {
		now := d.cfg.now()
		if d.stopping() || now.Add(d.cfg.timeout).After(c.Delivery.LeaseUntil) {
			d.release(g[i:], now)
			return store.WebhookOutcome{}, false
		}
		o := d.attempt(c)
		if o.Delivered && i == len(g)-1 {
			return o, true
		}
		d.outcomes <- outcome{WebhookOutcome: o}
		if !o.Delivered {
			next := o.NextAttemptAt
			if next.IsZero() { // given up: the rest are attempted on their own
				next = o.At
			} else if o.Attempted {
				d.wait(c.Delivery, next)
			}
			d.release(g[i+1:], next)
			return store.WebhookOutcome{}, false
		}
	}
	return store.WebhookOutcome{}, false // g is never empty
}

// wait makes the later deliveries of dv's subscription, which a claim may hand to any
// worker, wait until dv's retry at until: a failing receiver then gets one request per
// retry, not one per claim of its backlog. Other nodes learn the same by their own
// first failure.
func (d *Deliverer) wait(dv store.WebhookDelivery, until time.Time) {
	if dv.SubscriptionID == "" {
		return
	}
	d.waitMu.Lock()
	defer d.waitMu.Unlock()
	d.waiting[dv.Realm+"\x00"+dv.SubscriptionID] = until
}

// waitingUntil reports until when the deliveries of dv's subscription wait at now.
func (d *Deliverer) waitingUntil(dv store.WebhookDelivery, now time.Time) (time.Time, bool) {
	if dv.SubscriptionID == "" {
		return time.Time{}, false
	}
	key := dv.Realm + "\x00" + dv.SubscriptionID
	d.waitMu.Lock()
	defer d.waitMu.Unlock()
	until, ok := d.waiting[key]
	if ok && !now.Before(until) {
		delete(d.waiting, key)
		return time.Time{}, false
	}
	return until, ok
}

// release records claims as not attempted, due again at next.
func (d *Deliverer) release(claims []store.WebhookClaim, next time.Time) {
	now := d.cfg.now()
	for _, c := range claims {
		d.outcomes <- outcome{WebhookOutcome: store.WebhookOutcome{ID: c.Delivery.ID, Token: c.Token, At: now, NextAttemptAt: next}}
	}
}

// recordLoop writes outcomes as they come, those that arrive while a write runs
// together in the next.
func (d *Deliverer) recordLoop() {
	defer d.recorder.Done()
	const maxBatch = 256
	for {
		o, ok := <-d.outcomes
		if !ok {
			return
		}
		var batch []store.WebhookOutcome
		ended := o.done
		if !o.done {
			batch = append(batch, o.WebhookOutcome)
		}
		open := true
	drain:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-d.outcomes:
				if !ok {
					open = false
					break drain
				}
				if o.done {
					ended = true
				} else {
					batch = append(batch, o.WebhookOutcome)
				}
			default:
				break drain
			}
		}
		if len(batch) > 0 {
			d.record(batch)
			d.inflight.Add(-int64(len(batch)))
		}
		if ended {
			select {
			case d.freed <- struct{}{}:
			default:
			}
		}
		if !open {
			return
		}
	}
}

// record writes one batch of outcomes, again after a pause while the database is
// unavailable. Outcomes it cannot write are lost: their deliveries are posted again
// once their leases end.
func (d *Deliverer) record(batch []store.WebhookOutcome) {
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(d.recCtx, 30*time.Second)
		_, err := d.st.RecordWebhookOutcomes(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrUnavailable) || i == len(d.cfg.recordPauses) || d.recCtx.Err() != nil {
			d.log.Error("webhook outcomes not recorded; their deliveries will be posted again", "outcomes", len(batch), "err", err)
			return
		}
		t := time.NewTimer(d.cfg.recordPauses[i])
		select {
		case <-t.C:
		case <-d.recCtx.Done():
			t.Stop()
			d.log.Error("webhook outcomes not recorded before shutdown; their deliveries will be posted again", "outcomes", len(batch), "err", err)
			return
		}
	}
}

// attempt posts one delivery and returns its outcome.
func (d *Deliverer) attempt(c store.WebhookClaim) store.WebhookOutcome {
	start := d.cfg.now()
	o := store.WebhookOutcome{ID: c.Delivery.ID, Token: c.Token, Attempted: true, At: start}
	began := time.Now()
	req, err := d.request(c, start)
	result := resultFailed
	if err != nil {
		o.Error = err.Error()
	} else {
		ctx, cancel := context.WithTimeout(d.reqCtx, d.cfg.timeout)
		resp, err := d.client.Do(ctx, req)
		cancel()
		switch {
		case err != nil && d.reqCtx.Err() != nil:
			// Aborted by Close: not the receiver's failure.
			return store.WebhookOutcome{ID: c.Delivery.ID, Token: c.Token, At: start, NextAttemptAt: start}
		case err != nil:
			o.Error, result = describe(err)
		case resp.Status >= 200 && resp.Status <= 299:
			o.Status, o.Delivered, result = resp.Status, true, resultDelivered
		default:
			o.Status, o.Error, result = resp.Status, fmt.Sprintf("HTTP status %d", resp.Status), resultRejected
		}
	}
	if !o.Delivered {
		o.NextAttemptAt = d.retryAt(c.Delivery, start)
	}
	d.cfg.metrics.attempted(result, time.Since(began), !o.Delivered && o.NextAttemptAt.IsZero())
	return o
}

// retryAt is when a delivery that failed its attempt at now is due again, or the zero
// time when it is given up: the pause after the n-th attempt is drawn below
// min(maxPause, max(backoff·2ⁿ⁻¹, age)), its age being the time since ScheduledAt. The
// age term matters for a delivery that waited, unattempted, behind a failing one of its
// subscription: its first pause is as long as the others' by then.
func (d *Deliverer) retryAt(dv store.WebhookDelivery, now time.Time) time.Time {
	now = store.Timestamp(now) // the precision of ScheduledAt
	ceiling := max(d.cfg.backoff, now.Sub(dv.ScheduledAt))
	if shift := dv.Attempts; shift < 40 {
		if c := d.cfg.backoff << shift; c > 0 {
			ceiling = max(ceiling, c)
		}
	} else {
		ceiling = d.cfg.maxPause
	}
	ceiling = min(ceiling, d.cfg.maxPause)
	pause := max(d.cfg.jitter(ceiling), min(minPause, d.cfg.backoff))
	next := now.Add(pause)
	if next.After(dv.ScheduledAt.Add(d.cfg.maxAge)) {
		return time.Time{}
	}
	return next
}

// errAttempt is an attempt's failure before any request: a message without secrets.
type errAttempt string

func (e errAttempt) Error() string { return string(e) }

// request builds the POST of one delivery at now: the Standard Webhooks body and
// headers, signed with each of a subscription's current secrets (a callback's, with its
// realm's callback keys, if any); a callback's own headers, but never in place of those
// Signet sets.
func (d *Deliverer) request(c store.WebhookClaim, now time.Time) (*http.Request, error) {
	body, err := WebhookBody(c.Event)
	if err != nil {
		return nil, errAttempt("the event cannot be encoded")
	}
	h := http.Header{}
	var signingKeys [][]byte
	if c.Delivery.SubscriptionID != "" {
		secrets, err := OpenWebhookSecrets(d.ring, c.Delivery.Realm, c.Delivery.SubscriptionID, c.Secrets)
		if err != nil {
			return nil, errAttempt("the subscription's signing secrets cannot be opened")
		}
		if signingKeys, err = SigningKeys(secrets, now); err != nil {
			return nil, errAttempt("the subscription has no valid signing secret")
		}
	} else {
		if len(c.Headers) > 0 {
			extra, err := authn.OpenCallbackHeaders(d.ring, c.Delivery.Realm, store.EventCallback{URL: c.Delivery.URL, Headers: c.Headers})
			if err != nil {
				return nil, errAttempt("the callback's headers cannot be opened")
			}
			for name, value := range extra {
				if !reservedHeader(http.CanonicalHeaderKey(name)) {
					h.Set(name, value)
				}
			}
		}
		if d.cfg.callbackKeys != nil {
			ctx, cancel := context.WithTimeout(d.reqCtx, d.cfg.timeout)
			keys, err := d.cfg.callbackKeys(ctx, c.Delivery.Realm, now)
			cancel()
			switch {
			case err == nil:
				signingKeys = keys
			case !errors.Is(err, ErrNoSecret):
				return nil, errAttempt("the realm's callback signing secrets cannot be read")
			}
		}
	}
	id := WebhookID(c.Delivery.ID)
	ts := now.Unix()
	h.Set("Content-Type", "application/json")
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	if len(signingKeys) > 0 {
		h.Set("Webhook-Signature", SignWebhook(id, ts, body, signingKeys...))
	}
	req, err := http.NewRequestWithContext(d.reqCtx, http.MethodPost, c.Delivery.URL, bytes.NewReader(body))
	if err != nil {
		return nil, errAttempt("the URL is not valid")
	}
	req.Header = h
	return req, nil
}

// WebhookID is the webhook-id of a delivery: the same on every attempt, so receivers
// deduplicate by it.
func WebhookID(deliveryID int64) string { return "msg_" + strconv.FormatInt(deliveryID, 10) }

// WebhookBody is what a delivery of e posts: the Standard Webhooks envelope of the
// event's type, time and data.
func WebhookBody(e store.Event) ([]byte, error) {
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{e.Type, e.At.UTC().Format(time.RFC3339Nano), e.Data})
}

// reservedHeader reports whether a callback may not set the canonical header name:
// Signet sets it itself (the Standard Webhooks headers, the body's), or it belongs to
// the connection.
func reservedHeader(name string) bool {
	if strings.HasPrefix(name, "Webhook-") || strings.HasPrefix(name, "Proxy-") {
		return true
	}
	switch name {
	case "Content-Type", "Content-Length", "Content-Encoding", "Host", "Connection", "Keep-Alive", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Expect", "User-Agent":
		return true
	}
	return false
}

// Results of an attempt, as the metrics name them.
const (
	resultDelivered = "delivered"
	resultRejected  = "rejected" // a non-2xx answer
	resultRefused   = "refused"  // the outbound policy refused the target or a redirect
	resultFailed    = "failed"   // no answer: connection, TLS, timeout
)

// describe turns an outbound error into what a delivery records: what went wrong,
// without the URL (whose path may carry a token) or anything else the receiver's
// operator should not read in an admin listing; and the metrics' result.
func describe(err error) (string, string) {
	var redirect *outbound.RedirectError
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &redirect):
		return fmt.Sprintf("redirect (status %d) not followed", redirect.Status), resultRefused
	case errors.Is(err, outbound.ErrForbiddenTarget):
		return "refused by the outbound policy: the target address is not allowed", resultRefused
	case errors.Is(err, outbound.ErrForbiddenScheme):
		return "refused by the outbound policy: plain http to a target not explicitly allowed", resultRefused
	case errors.Is(err, outbound.ErrTooLarge):
		return "the response was too large", resultFailed
	case errors.Is(err, context.DeadlineExceeded):
		return "no response in time", resultFailed
	case errors.As(err, &dnsErr):
		return "the host name did not resolve", resultFailed
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", resultFailed
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", resultFailed
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return "the TLS certificate was not accepted", resultFailed
	case errors.As(err, &alert), errors.As(err, &record):
		return "the TLS handshake failed", resultFailed
	}
	return "the request failed", resultFailed
}
