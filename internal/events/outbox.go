// Package events is the durable outbox: state changes written to the store's event log,
// from which callbacks to business applications are delivered.
package events

import (
	"context"
	"sync"

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
	wg       sync.WaitGroup // the batch writer, while one runs
}

type waiting struct {
	event store.Event
	done  chan error
}

// MaxBatch bounds the events of one transaction.
const MaxBatch = 256

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
	o.queue = append(o.queue, w)
	lead := !o.flushing
	o.flushing = true
	if lead {
		o.wg.Add(1)
	}
	o.mu.Unlock()
	if lead {
		// This caller writes batches until the queue is empty; its own event is in the
		// first one. The writes run without the caller's deadline: other callers' events
		// ride in them.
		go o.flush(context.WithoutCancel(ctx))
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close waits for the events appended so far to be written.
func (o *Outbox) Close() { o.wg.Wait() }

// flush writes the queue in batches until it is empty.
func (o *Outbox) flush(ctx context.Context) {
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
		_, err := o.log.AppendEvents(ctx, events)
		for _, w := range batch {
			w.done <- err
		}
	}
}
