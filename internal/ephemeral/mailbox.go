package ephemeral

import (
	"context"
	"sync"
	"sync/atomic"
)

// SubscriptionBuffer is how many undelivered messages a subscription holds before newer
// ones are dropped.
const SubscriptionBuffer = 256

// Mailbox is the Subscription every implementation hands out: a bounded buffer between
// the publishing side and the reader. Deliver never blocks; when the buffer is full the
// message is dropped and counted, which is the at-most-once promise of Store.Publish.
type Mailbox struct {
	ch      chan []byte
	dropped atomic.Uint64
	once    sync.Once
	onClose func(*Mailbox)

	mu     sync.Mutex // orders Deliver against close(ch)
	closed bool
	stop   func() bool // unregisters the ctx hook
}

// NewMailbox returns an open Mailbox holding up to size messages. It closes when Close is
// called or ctx ends. onClose, if not nil, runs once after C is closed; the implementation
// uses it to stop what feeds the mailbox and to forget it. onClose may run on another
// goroutine before NewMailbox returns if ctx has already ended.
func NewMailbox(ctx context.Context, size int, onClose func(*Mailbox)) *Mailbox {
	m := &Mailbox{ch: make(chan []byte, size), onClose: onClose}
	stop := context.AfterFunc(ctx, func() { _ = m.Close() })
	m.mu.Lock()
	m.stop = stop
	m.mu.Unlock()
	return m
}

// Deliver queues msg without blocking. It reports false when msg was not queued: the
// buffer was full (the drop is counted) or the mailbox is closed.
func (m *Mailbox) Deliver(msg []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	select {
	case m.ch <- msg:
		return true
	default:
		m.dropped.Add(1)
		return false
	}
}

// C yields messages in the order they were delivered; it is closed when the mailbox is.
func (m *Mailbox) C() <-chan []byte { return m.ch }

// Dropped counts the messages lost because the reader did not keep up.
func (m *Mailbox) Dropped() uint64 { return m.dropped.Load() }

// Close ends the subscription and closes C. Closing twice is not an error.
func (m *Mailbox) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		close(m.ch)
		stop := m.stop
		m.mu.Unlock()
		if stop != nil {
			stop()
		}
		if m.onClose != nil {
			m.onClose(m)
		}
	})
	return nil
}
