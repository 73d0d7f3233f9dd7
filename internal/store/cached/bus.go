package cached

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
)

// Kinds of invalidation message. A node that receives a kind it does not know (a newer
// build during a rolling upgrade) or a message it cannot parse clears its whole cache.
const (
	kindRealm     = "realm"      // the realm named by Realm
	kindClient    = "client"     // the client Client of realm Realm
	kindRealmTree = "realm-tree" // the realm and every one of its clients, users and devices
	kindUser      = "user"       // the user User of realm Realm, and the list of their devices
	kindUserTree  = "user-tree"  // the same, and every device of the user (deleted with them)
	// the device Device, and the device list of its user User (of every user of Realm
	// when User is empty)
	kindDevice    = "device"
	kindAll       = "all"       // everything
	kindHeartbeat = "heartbeat" // nothing: it only carries the sender's sequence number
	kindHello     = "hello"     // a heartbeat asking every other node for one at once
)

// peerForgetAfter is how long the sequence number of a node that has gone quiet is kept.
// Nodes heartbeat every few seconds, so a quiet node has stopped; forgetting it bounds
// memory as nodes come and go, and at worst misses a gap that the TTL then covers.
const peerForgetAfter = time.Hour

// message is one invalidation as published on the channel, in JSON. Node and Seq
// number the messages of each node from 1 without gaps, so a receiver can tell that it
// lost one.
type message struct {
	Kind   string `json:"kind"`
	Realm  string `json:"realm,omitempty"`
	Client string `json:"client,omitempty"`
	User   string `json:"user,omitempty"`
	Device string `json:"device,omitempty"`
	Node   string `json:"node,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
}

func (m message) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Three strings always marshal.
		panic(fmt.Sprintf("cached: marshal invalidation: %v", err))
	}
	return b
}

func decode(b []byte) (message, bool) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return message{}, false
	}
	switch m.Kind {
	case kindRealm, kindRealmTree, kindClient, kindUser, kindUserTree, kindDevice, kindAll, kindHeartbeat, kindHello:
		return m, true
	}
	return message{}, false
}

// peer is what a receiver remembers of another node's (or its own) messages.
type peer struct {
	seq  uint64
	seen time.Time
}

// sequences tracks the last sequence number seen from each node.
type sequences map[string]*peer

// lost records m's sequence number and reports whether messages of its node went missing
// since the last one seen. The first message seen of a node sets its baseline. Numbers at
// or below the last one seen are stale repeats and change nothing.
func (q sequences) lost(m message, now time.Time) bool {
	if m.Node == "" {
		return false
	}
	p := q[m.Node]
	if p == nil {
		q[m.Node] = &peer{seq: m.Seq, seen: now}
		return false
	}
	p.seen = now
	if m.Seq <= p.seq {
		return false
	}
	gap := m.Seq > p.seq+1
	p.seq = m.Seq
	return gap
}

// forget drops the nodes not heard from since before.
func (q sequences) forget(before time.Time) {
	for node, p := range q {
		if p.seen.Before(before) {
			delete(q, node)
		}
	}
}

// dropCounter is implemented by subscriptions that count messages lost to a slow reader
// (ephemeral.Mailbox, which both implementations hand out).
type dropCounter interface{ Dropped() uint64 }

// Start subscribes to invalidations, announces this node on the channel and returns once
// the subscription is active; from then on reads are served from memory. The receive
// loop runs until Close. ctx bounds only the subscribing. A Store starts once.
func (s *Store) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start cached store: %w", err)
	}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch {
	case s.closed:
		return errors.New("start cached store: closed")
	case s.started:
		return errors.New("start cached store: already started")
	}
	// The subscription lives as long as the loop, not as long as ctx; ctx only cancels
	// a Subscribe that is still waiting.
	loopCtx, cancel := context.WithCancel(context.Background())
	unbind := context.AfterFunc(ctx, cancel)
	sub, err := s.bus.Subscribe(loopCtx, s.cfg.channel)
	if !unbind() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		if sub != nil {
			_ = sub.Close()
		}
		cancel()
		return fmt.Errorf("subscribe to cache invalidations on %q: %w", s.cfg.channel, err)
	}
	s.started = true
	s.stop = cancel
	s.done = make(chan struct{})
	s.announce(loopCtx)
	s.live.Store(true)
	go s.run(loopCtx, sub)
	return nil
}

// announce publishes a hello once subscribed. The other nodes take its sequence number
// as this node's baseline, so that any later message of this node that goes missing
// shows as a gap, and answer with a heartbeat, which gives this node their baselines.
func (s *Store) announce(ctx context.Context) {
	if err := s.publish(ctx, message{Kind: kindHello}); err != nil && ctx.Err() == nil {
		s.cfg.log.Warn("publish cache hello", "channel", s.cfg.channel, "error", err)
	}
}

// Close stops the receive loop, waits for it, and closes the inner store. Closing again
// returns the first result.
func (s *Store) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.stopLocked()
	s.closeErr = s.backend.Close()
	return s.closeErr
}

// Stop ends the invalidation loop and leaves the inner store open: reads go to it from
// now on. A server stops the cache before the ephemeral store it listens on, and closes
// the inner store last.
func (s *Store) Stop() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.stopLocked()
}

func (s *Store) stopLocked() {
	s.live.Store(false)
	if s.started && !s.stopped {
		s.stop()
		<-s.done
		s.stopped = true
	}
}

// run receives invalidations until ctx ends. When the subscription ends on its own it
// resubscribes with backoff; messages may have been lost meanwhile, so it serves reads
// from the inner store until resubscribed and then clears the cache.
func (s *Store) run(ctx context.Context, sub ephemeral.Subscription) {
	defer close(s.done)
	delay := s.cfg.backoffMin
	for {
		since := time.Now()
		s.receive(ctx, sub)
		_ = sub.Close()
		s.live.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(since) > s.cfg.backoffMax {
			delay = s.cfg.backoffMin // it was up a while: not a flapping subscription
		}
		s.cfg.log.Warn("cache invalidation subscription ended; reading from the database until resubscribed",
			"channel", s.cfg.channel)
		sub, delay = s.resubscribe(ctx, delay)
		if sub == nil {
			return
		}
		s.announce(ctx)
		s.reset()
		s.live.Store(true)
		s.cfg.log.Info("cache invalidation subscription restored; cache cleared", "channel", s.cfg.channel)
	}
}

// receive applies messages from sub until it ends or ctx does, and publishes this
// node's heartbeat on every tick and in answer to another node's hello.
func (s *Store) receive(ctx context.Context, sub ephemeral.Subscription) {
	counter, _ := sub.(dropCounter)
	var dropped uint64 // a new subscription has lost nothing yet
	// Numbers seen before a resubscription say nothing about this subscription, and
	// the cache has been cleared anyway.
	seqs := sequences{}
	tick := time.NewTicker(s.cfg.heartbeat)
	defer tick.Stop()
	failing := false
	beat := func() {
		err := s.publish(ctx, message{Kind: kindHeartbeat})
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			s.cfg.log.Warn("publish cache heartbeat", "channel", s.cfg.channel, "error", err)
		case err == nil && failing:
			s.cfg.log.Info("cache heartbeat published again", "channel", s.cfg.channel)
		}
		failing = err != nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			beat()
			seqs.forget(s.cfg.now().Add(-peerForgetAfter))
		case b, ok := <-sub.C():
			if !ok {
				return
			}
			m, readable := decode(b)
			if !readable {
				// An unreadable message has no kind, which apply answers by clearing all.
				s.cfg.log.Warn("unreadable cache invalidation; cache cleared", "message", string(b[:min(len(b), 200)]))
			}
			gap := seqs.lost(m, s.cfg.now())
			slow := false
			if counter != nil {
				if n := counter.Dropped(); n != dropped {
					dropped, slow = n, true
				}
			}
			if gap || slow {
				s.cfg.log.Warn("cache invalidations were lost; cache cleared",
					"sequence_gap", gap, "node", m.Node, "dropped_by_slow_reader", slow)
				s.reset()
			}
			s.apply(m)
			if m.Kind == kindHello && m.Node != s.node {
				beat()
			}
		}
	}
}

// resubscribe waits delay, jittered, then tries to subscribe, doubling delay up to the
// maximum after each failure. It returns nil when ctx ends, and the delay to use next.
func (s *Store) resubscribe(ctx context.Context, delay time.Duration) (ephemeral.Subscription, time.Duration) {
	for {
		// Wait between half and all of delay, so that nodes that lost Redis together do
		// not all come back in the same instant.
		wait := delay/2 + rand.N(delay/2+1)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, delay
		case <-timer.C:
		}
		delay = min(2*delay, s.cfg.backoffMax)
		sub, err := s.bus.Subscribe(ctx, s.cfg.channel)
		if err == nil {
			return sub, delay
		}
		if ctx.Err() != nil {
			return nil, delay
		}
		s.cfg.log.Warn("resubscribe to cache invalidations", "channel", s.cfg.channel, "retry_in", delay.String(), "error", err)
	}
}
