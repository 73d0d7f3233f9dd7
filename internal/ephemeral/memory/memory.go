// Package memory is the single-node ephemeral.Store: a map behind one mutex, a sweeper
// goroutine that purges expired keys, and in-process publish/subscribe. Expired keys are
// invisible as soon as they expire; the sweeper only reclaims their memory.
package memory

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
)

const defaultSweepInterval = 30 * time.Second

// Option adjusts a Store built by New.
type Option func(*Store)

// WithClock replaces time.Now, so tests can expire keys without waiting.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithSweepInterval sets how often expired keys are purged (default 30s). Values <= 0
// keep the default.
func WithSweepInterval(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.sweepEvery = d
		}
	}
}

type item struct {
	value   []byte
	version uint64
	expires time.Time
}

// Store is an in-process ephemeral.Store. Counters are ordinary entries whose value is
// the decimal count, so Get and Take work on them too.
type Store struct {
	now        func() time.Time
	sweepEvery time.Duration
	stop       chan struct{}
	swept      chan struct{}

	mu     sync.Mutex
	closed bool
	items  map[string]*item
	subs   map[string]map[*ephemeral.Mailbox]struct{}
}

var _ ephemeral.Store = (*Store)(nil)

// New returns an empty store and starts its sweeper; Close stops it.
func New(opts ...Option) *Store {
	s := &Store{
		now:        time.Now,
		sweepEvery: defaultSweepInterval,
		stop:       make(chan struct{}),
		swept:      make(chan struct{}),
		items:      make(map[string]*item),
		subs:       make(map[string]map[*ephemeral.Mailbox]struct{}),
	}
	for _, opt := range opts {
		opt(s)
	}
	go s.sweep()
	return s
}

func (s *Store) sweep() {
	defer close(s.swept)
	tick := time.NewTicker(s.sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.purge()
		}
	}
}

func (s *Store) purge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for key, it := range s.items {
		if !now.Before(it.expires) {
			delete(s.items, key)
		}
	}
}

// live returns the unexpired item at key, dropping it if it has expired. s.mu is held.
func (s *Store) live(key string, now time.Time) (*item, bool) {
	it, ok := s.items[key]
	if !ok {
		return nil, false
	}
	if !now.Before(it.expires) {
		delete(s.items, key)
		return nil, false
	}
	return it, true
}

// SetNX implements ephemeral.Store.
func (s *Store) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := ephemeral.ValidateWrite(key, ttl); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ephemeral.ErrClosed
	}
	now := s.now()
	if _, ok := s.live(key, now); ok {
		return false, nil
	}
	s.items[key] = &item{value: bytes.Clone(value), version: 1, expires: now.Add(ttl)}
	return true, nil
}

// Set implements ephemeral.Store.
func (s *Store) Set(_ context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	if err := ephemeral.ValidateWrite(key, ttl); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ephemeral.ErrClosed
	}
	now := s.now()
	it, ok := s.live(key, now)
	if !ok {
		it = &item{}
		s.items[key] = it
	}
	it.value = bytes.Clone(value)
	it.version++
	it.expires = now.Add(ttl)
	return it.version, nil
}

// Get implements ephemeral.Store.
func (s *Store) Get(_ context.Context, key string) (ephemeral.Entry, error) {
	if err := ephemeral.ValidateKey(key); err != nil {
		return ephemeral.Entry{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ephemeral.Entry{}, ephemeral.ErrClosed
	}
	it, ok := s.live(key, s.now())
	if !ok {
		return ephemeral.Entry{}, ephemeral.ErrNotFound
	}
	return ephemeral.Entry{Value: bytes.Clone(it.value), Version: it.version, ExpiresAt: it.expires}, nil
}

// Take implements ephemeral.Store.
func (s *Store) Take(_ context.Context, key string) ([]byte, error) {
	if err := ephemeral.ValidateKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ephemeral.ErrClosed
	}
	it, ok := s.live(key, s.now())
	if !ok {
		return nil, ephemeral.ErrNotFound
	}
	delete(s.items, key)
	// The stored slice was copied on write and is no longer reachable from the map.
	return it.value, nil
}

// CompareAndSwap implements ephemeral.Store.
func (s *Store) CompareAndSwap(_ context.Context, key string, version uint64, value []byte, ttl time.Duration) (uint64, error) {
	if err := ephemeral.ValidateSwap(key, ttl); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ephemeral.ErrClosed
	}
	now := s.now()
	it, ok := s.live(key, now)
	if !ok {
		return 0, ephemeral.ErrNotFound
	}
	if it.version != version {
		return 0, ephemeral.ErrConflict
	}
	it.value = bytes.Clone(value)
	it.version++
	if ttl > 0 {
		it.expires = now.Add(ttl)
	}
	return it.version, nil
}

// Delete implements ephemeral.Store.
func (s *Store) Delete(_ context.Context, key string) error {
	if err := ephemeral.ValidateKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ephemeral.ErrClosed
	}
	delete(s.items, key)
	return nil
}

// Incr implements ephemeral.Store. The counter is stored as its decimal value.
func (s *Store) Incr(_ context.Context, key string, window time.Duration) (int64, error) {
	if err := ephemeral.ValidateWrite(key, window); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ephemeral.ErrClosed
	}
	now := s.now()
	it, ok := s.live(key, now)
	if !ok {
		s.items[key] = &item{value: []byte("1"), version: 1, expires: now.Add(window)}
		return 1, nil
	}
	n, err := strconv.ParseInt(string(it.value), 10, 64)
	if err != nil {
		return 0, ephemeral.NotCounter(key)
	}
	n++
	it.value = strconv.AppendInt(nil, n, 10)
	it.version++
	return n, nil
}

// Publish implements ephemeral.Store. Each subscriber gets its own copy of msg.
func (s *Store) Publish(_ context.Context, channel string, msg []byte) error {
	if err := ephemeral.ValidateChannel(channel); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ephemeral.ErrClosed
	}
	for mb := range s.subs[channel] {
		mb.Deliver(bytes.Clone(msg))
	}
	return nil
}

// Subscribe implements ephemeral.Store. The returned subscription is an
// *ephemeral.Mailbox, whose Dropped method counts messages lost to a slow reader.
func (s *Store) Subscribe(ctx context.Context, channel string) (ephemeral.Subscription, error) {
	if err := ephemeral.ValidateChannel(channel); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ephemeral.ErrClosed
	}
	// The close hook takes s.mu, so even if ctx ends right away it runs after the
	// mailbox is registered below.
	mb := ephemeral.NewMailbox(ctx, ephemeral.SubscriptionBuffer, func(mb *ephemeral.Mailbox) {
		s.forget(channel, mb)
	})
	set := s.subs[channel]
	if set == nil {
		set = make(map[*ephemeral.Mailbox]struct{})
		s.subs[channel] = set
	}
	set[mb] = struct{}{}
	return mb, nil
}

func (s *Store) forget(channel string, mb *ephemeral.Mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.subs[channel]
	delete(set, mb)
	if len(set) == 0 {
		delete(s.subs, channel)
	}
}

// Ping implements ephemeral.Store; it fails only after Close.
func (s *Store) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ephemeral.ErrClosed
	}
	return nil
}

// Backend implements ephemeral.Store.
func (s *Store) Backend() string { return "memory" }

// Close stops the sweeper, ends every subscription and drops all keys. Later calls
// return ErrClosed; closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.items = nil
	var open []*ephemeral.Mailbox
	for _, set := range s.subs {
		for mb := range set {
			open = append(open, mb)
		}
	}
	s.mu.Unlock()

	close(s.stop)
	<-s.swept
	for _, mb := range open {
		_ = mb.Close()
	}
	return nil
}
