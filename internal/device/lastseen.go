package device

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// lastSeen collects when devices connected and stores them a batch at a time, in one
// transaction, instead of one write transaction per connect: after a restart every
// device reconnects within minutes, and a transaction each would queue on the store's
// writer. A time waits at most lastSeenEvery; one lost in a crash is a minute-precise
// figure lost, not a security decision.
type lastSeen struct {
	srv     *Server
	mu      sync.Mutex
	pending map[deviceRef]time.Time
	kick    chan struct{}
}

type deviceRef struct{ realm, id string }

const (
	lastSeenEvery = time.Second
	lastSeenBatch = 512 // a fuller batch is stored at once
)

func newLastSeen(s *Server) *lastSeen {
	return &lastSeen{srv: s, pending: map[deviceRef]time.Time{}, kick: make(chan struct{}, 1)}
}

// note records that a device connected at t.
func (l *lastSeen) note(realm, id string, t time.Time) {
	l.mu.Lock()
	l.pending[deviceRef{realm, id}] = t
	full := len(l.pending) >= lastSeenBatch
	l.mu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// run stores the noted times every lastSeenEvery, or sooner for a full batch, until ctx
// ends; then it stores what is left.
func (l *lastSeen) run(ctx context.Context) {
	t := time.NewTicker(lastSeenEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			l.flush(final)
			cancel()
			return
		case <-t.C:
		case <-l.kick:
		}
		l.flush(ctx)
	}
}

func (l *lastSeen) flush(ctx context.Context) {
	l.mu.Lock()
	if len(l.pending) == 0 {
		l.mu.Unlock()
		return
	}
	batch := make([]store.DeviceSeen, 0, len(l.pending))
	for k, t := range l.pending {
		batch = append(batch, store.DeviceSeen{Realm: k.realm, ID: k.id, Seen: t})
	}
	clear(l.pending)
	l.mu.Unlock()
	// In one order on every node, so two nodes' batches cannot lock rows in opposite
	// orders and deadlock.
	slices.SortFunc(batch, func(a, b store.DeviceSeen) int {
		return cmp.Or(cmp.Compare(a.Realm, b.Realm), cmp.Compare(a.ID, b.ID))
	})
	if err := l.srv.cfg.Store.TouchDevices(ctx, batch); err != nil {
		l.srv.log.Warn("device: last-seen times not stored", "devices", len(batch), "err", err)
	}
}
