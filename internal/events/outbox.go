// Package events is the durable outbox: state changes written to the store's event log,
// from which callbacks to business applications are delivered.
package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Outbox appends events to the event log with group commit: Append returns once its
// event is committed, and the events appended while one transaction runs share the
// next. So a burst of state changes costs a transaction per batch, not per event, and
// no event is acknowledged before it is durable.
type Outbox struct {
	log store.EventLog

	mu       sync.Mutex
	queue    []*waiting
	flushing bool
	closed   bool
	wg       sync.WaitGroup // the batch writer, while one runs
}

type waiting struct {
	event store.Event
	done  chan error
}

// Limits of one batch: its size, the time its writes may take in all, and the pauses
// before writing it again after the database was unavailable.
const (
	MaxBatch     = 256
	batchTimeout = 30 * time.Second
)

var retryPauses = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// ErrClosed refuses an event appended after Close.
var ErrClosed = errors.New("events: the outbox is closed")

// NewOutbox writes to log.
func NewOutbox(log store.EventLog) *Outbox { return &Outbox{log: log} }

// Append writes e and returns once it is committed, or with the store's error, or with
// ctx's error (the event may then still be written). An event of a realm deleted
// meanwhile is dropped.
func (o *Outbox) Append(ctx context.Context, e store.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	w := &waiting{event: e, done: make(chan error, 1)}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	o.queue = append(o.queue, w)
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
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close refuses new events and waits for those appended so far to be written.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.wg.Wait()
}

// flush writes the queue in batches until it is empty.
func (o *Outbox) flush() {
	defer o.wg.Done()
	for {
		o.mu.Lock()
		n := min(len(o.queue), MaxBatch)
		if n == 0 {
			o.flushing = false
			o.mu.Unlock()
			return
		}
		batch := o.queue[:n:n]
		o.queue = o.queue[n:]
		o.mu.Unlock()
		events := make([]store.Event, len(batch))
		for i, w := range batch {
			events[i] = w.event
		}
		err := o.write(events)
		for _, w := range batch {
			w.done <- err
		}
	}
}

// write appends one batch, again after a pause while the database is unavailable.
func (o *Outbox) write(events []store.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for i := 0; ; i++ {
		_, err := o.log.AppendEvents(ctx, events)
		if err == nil || !errors.Is(err, store.ErrUnavailable) || i == len(retryPauses) {
			return err
		}
		t := time.NewTimer(retryPauses[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
