package device

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// workers runs connection openings (TLS, upgrade, SIGMA-I) on goroutines kept between
// connections. A handshake's crypto grows a goroutine's stack to several times Go's
// initial size; on a new goroutine per connection that growth, a copy of the stack each
// time it doubles, is paid on every handshake. A worker waits a while for the next
// opening before it exits, so a burst leaves no crowd of grown stacks behind.
type workers struct {
	ctx  context.Context
	wg   *sync.WaitGroup
	work chan func()
	idle time.Duration
	// started counts the workers ever started, waiting those waiting for work.
	started, waiting atomic.Int64
}

func newWorkers(ctx context.Context, wg *sync.WaitGroup, idle time.Duration) *workers {
	return &workers{ctx: ctx, wg: wg, work: make(chan func()), idle: idle}
}

// run hands f to a waiting worker, or starts one.
func (w *workers) run(f func()) {
	select {
	case w.work <- f:
	default:
		w.wg.Add(1)
		w.started.Add(1)
		go w.worker(f)
	}
}

func (w *workers) worker(f func()) {
	defer w.wg.Done()
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		f()
		t.Reset(w.idle)
		w.waiting.Add(1)
		select {
		case f = <-w.work:
			w.waiting.Add(-1)
		case <-t.C:
			w.waiting.Add(-1)
			return
		case <-w.ctx.Done():
			w.waiting.Add(-1)
			return
		}
	}
}
