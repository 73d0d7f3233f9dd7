// Package events is the durable outbox: state changes written to the store's event log
// (Outbox), from which webhooks and callbacks to business applications are delivered
// (Deliverer), signed as the Standard Webhooks specification says (signature.go), to
// subscriptions whose secrets it seals (Subscriptions).
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Outbox appends events to the event log with group commit. Append returns once its
// event is committed; Post returns at once and leaves the write to the outbox. The
// events that arrive while one transaction runs share the next, and an idle outbox
// lingers briefly before its first transaction so that a burst rides in one: a
// transaction costs several times an event's row on SQLite (BEGIN IMMEDIATE, the WAL
// frames at COMMIT), so a push approval's three events must not each pay for one.
type Outbox struct {
	log    store.EventLog
	logger *slog.Logger
	linger time.Duration
	// maxQueue and pauses are MaxQueue and retryPauses; tests shorten them.
	maxQueue int
	pauses   []time.Duration
	// written, when set, is called after each batch is committed.
	written func()

	mu       sync.Mutex
	queue    []*waiting
	flushing bool
	closed   bool
	full     chan struct{}  // signalled when the queue holds a batch while lingering
	closing  chan struct{}  // closed by Close: stop lingering
	abandon  chan struct{}  // closed when Close's deadline passes: stop retrying, drop the rest
	wg       sync.WaitGroup // the batch writer, while one runs
}

type waiting struct {
	// entry is an appended or posted event, or a kept outcome with its events.
	entry store.OutboxEntry
	done  chan error // nil for a posted event
	// result is what became of a kept outcome, set before done is signalled.
	result store.OutboxResult
}

// Limits of one batch: its size, the time its writes may take in all, and the pauses
// before writing it again after the database was unavailable; and the events Post
// queues at most while the database lags.
const (
	MaxBatch     = 256
	MaxQueue     = 64 << 10
	batchTimeout = 30 * time.Second
	// DefaultLinger is how long an idle outbox waits for company before it writes.
	DefaultLinger = 2 * time.Millisecond
)

var retryPauses = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// Errors of Append and Post.
var (
	// ErrClosed refuses an event appended after Close.
	ErrClosed = errors.New("events: the outbox is closed")
	// ErrFull refuses an event posted while MaxQueue events wait for the database.
	ErrFull = errors.New("events: the outbox is full; the event log is not keeping up")
)

// Option adjusts an Outbox.
type Option func(*Outbox)

// WithLogger reports posted events that could not be written (default: nowhere).
func WithLogger(l *slog.Logger) Option { return func(o *Outbox) { o.logger = l } }

// WithLinger sets how long an idle outbox waits before its first transaction (default
// DefaultLinger; 0 writes at once).
func WithLinger(d time.Duration) Option { return func(o *Outbox) { o.linger = d } }

// WithOnWrite calls f after each committed batch, for example a Deliverer's Nudge, so
// the deliveries just committed go out at once rather than at the next poll. f must not
// block.
func WithOnWrite(f func()) Option { return func(o *Outbox) { o.written = f } }

// NewOutbox writes to log.
func NewOutbox(log store.EventLog, opts ...Option) *Outbox {
	o := &Outbox{log: log, logger: slog.New(slog.DiscardHandler), linger: DefaultLinger,
		maxQueue: MaxQueue, pauses: retryPauses, full: make(chan struct{}, 1), closing: make(chan struct{}), abandon: make(chan struct{})}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Append writes e and returns once it is committed, or with the store's error, or with
// ctx's error (the event may then still be written). An event of a realm deleted
// meanwhile is dropped.
func (o *Outbox) Append(ctx context.Context, e store.Event) error {
	w := &waiting{entry: store.OutboxEntry{Events: []store.Event{e}}, done: make(chan error, 1)}
	if err := o.enqueue(w, false); err != nil {
		return err
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post queues e to be written within moments and returns at once; a write that fails
// after its retries is logged. Close writes what was posted before it.
//
// Post gives up no durability Append has for a change already made elsewhere (the
// ephemeral store): a crash between the change and the commit loses the event either
// way. What Append adds is only the wait.
func (o *Outbox) Post(e store.Event) error {
	return o.enqueue(&waiting{entry: store.OutboxEntry{Events: []store.Event{e}}}, true)
}

// Keep writes an entry that claims an authentication request's outcome (with the
// request's record, if any, and the events that tell of it), in the transaction of its
// batch and in its place among the events queued before and after it, unless an outcome
// of the request was claimed before: the result then says so, and nothing of the entry
// is written. It returns once committed, or with the store's error, or with ctx's error
// (the outcome may then still be kept).
func (o *Outbox) Keep(ctx context.Context, entry store.OutboxEntry) (store.OutboxResult, error) {
	if entry.Outcome == nil {
		return store.OutboxResult{}, fmt.Errorf("events: keep: %w: no outcome", store.ErrInvalid)
	}
	if err := entry.Outcome.Validate(); err != nil {
		return store.OutboxResult{}, err
	}
	if entry.Record != nil {
		if err := entry.Record.Validate(); err != nil {
			return store.OutboxResult{}, err
		}
	}
	w := &waiting{entry: entry, done: make(chan error, 1)}
	if err := o.enqueue(w, false); err != nil {
		return store.OutboxResult{}, err
	}
	select {
	case err := <-w.done:
		return w.result, err
	case <-ctx.Done():
		return store.OutboxResult{}, ctx.Err()
	}
}

func (o *Outbox) enqueue(w *waiting, bounded bool) error {
	for _, e := range w.entry.Events {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if bounded && len(o.queue) >= o.maxQueue {
		o.mu.Unlock()
		return ErrFull
	}
	o.queue = append(o.queue, w)
	if len(o.queue) == MaxBatch {
		select {
		case o.full <- struct{}{}:
		default:
		}
	}
	lead := !o.flushing
	if lead {
		o.flushing = true
		o.wg.Add(1) // under mu, before Close can wait
	}
	o.mu.Unlock()
	if lead {
		// The writes run without the caller's deadline (other callers' events ride in
		// them), bounded by batchTimeout.
		go o.flush()
	}
	return nil
}

// Close refuses new events and waits for those appended and posted so far to be
// written. Once ctx is done it stops retrying a database that is down: what is left is
// logged as lost (and its Append callers get ErrClosed), and Close returns ctx's error.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.closing)
	}
	o.mu.Unlock()
	done := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	o.mu.Lock()
	select {
	case <-o.abandon:
	default:
		close(o.abandon)
	}
	o.mu.Unlock()
	<-done // the writer gives up at its next pause, within one batch's write
	return ctx.Err()
}

// drainFull clears a signal left by an earlier run and reports whether the queue holds
// a batch already.
func (o *Outbox) drainFull() bool {
	select {
	case <-o.full:
	default:
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue) >= MaxBatch
}

// flush lingers, then writes the queue in batches until it is empty.
func (o *Outbox) flush() {
	defer o.wg.Done()
	if o.linger > 0 && !o.drainFull() {
		t := time.NewTimer(o.linger)
		select {
		case <-t.C:
		case <-o.full:
		case <-o.closing:
		}
		t.Stop()
	}
	for {
		o.mu.Lock()
		n := min(len(o.queue), MaxBatch)
		if n == 0 {
			o.flushing = false
			o.mu.Unlock()
			return
		}
		select {
		case <-o.abandon:
			rest := o.queue
			o.queue, o.flushing = nil, false
			o.mu.Unlock()
			o.drop(rest, ErrClosed)
			return
		default:
		}
		batch := o.queue[:n:n]
		o.queue = o.queue[n:]
		o.mu.Unlock()
		err := o.write(batch)
		if err != nil && len(batch) > 1 && !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			// The database refused something of the batch (one entry it cannot
			// store): each is written alone, so the others do not share its fate.
			for _, w := range batch {
				o.drop([]*waiting{w}, o.write([]*waiting{w}))
			}
			continue
		}
		o.drop(batch, err)
	}
}

// drop tells batch's Append callers err (nil: written) and logs the posted events lost.
func (o *Outbox) drop(batch []*waiting, err error) {
	lost := 0
	for _, w := range batch {
		if w.done != nil {
			w.done <- err
		} else if err != nil {
			lost++
		}
	}
	if lost > 0 {
		o.logger.Error("events not written to the event log", "events", lost, "err", err)
	}
}

// write appends one batch, again after a pause while the database is unavailable: as
// plain events when it keeps no outcome, else as entries (store.WriteOutbox), setting
// each waiting's result.
func (o *Outbox) write(batch []*waiting) error {
	entries := make([]store.OutboxEntry, len(batch))
	outcomes := false
	for i, w := range batch {
		entries[i] = w.entry
		outcomes = outcomes || w.entry.Outcome != nil
	}
	var events []store.Event
	if !outcomes {
		events = make([]store.Event, 0, len(batch))
		for _, w := range batch {
			events = append(events, w.entry.Events...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for i := 0; ; i++ {
		var err error
		if outcomes {
			var results []store.OutboxResult
			if results, err = o.log.WriteOutbox(ctx, entries); err == nil {
				for j, w := range batch {
					w.result = results[j]
				}
			}
		} else {
			_, err = o.log.AppendEvents(ctx, events)
		}
		if err == nil && o.written != nil {
			o.written()
		}
		if err == nil || !errors.Is(err, store.ErrUnavailable) || i == len(o.pauses) {
			return err
		}
		t := time.NewTimer(o.pauses[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-o.abandon:
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
