package cached_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/store/storetest"
	"github.com/signet-auth/signet/internal/testutil"
)

// The decorator changes no behaviour of the store it wraps.
func TestConformance(t *testing.T) {
	t.Parallel()
	var paths sync.Map // *cached.Store → its SQLite file
	storetest.Run(t, conformanceOpener(&paths), storetest.WithRecordMigration(func(t *testing.T, s store.Store, version int) {
		t.Helper()
		path, ok := paths.Load(s)
		if !ok {
			t.Fatalf("no database path for %T", s)
		}
		db, err := sql.Open("sqlite", path.(string))
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		defer db.Close()
		if _, err := db.ExecContext(t.Context(),
			`INSERT INTO signet_schema_migrations (version, name, applied_at) VALUES (?, 'from_a_newer_build', ?)`,
			version, time.Now().UnixNano()); err != nil {
			t.Fatalf("record migration %d: %v", version, err)
		}
	}))
}

func TestReadsServedFromMemory(t *testing.T) {
	t.Parallel()
	path := dbPath(t)
	s, inner := newNode(t, path, newBus(t))
	seed(t, inner.Store)
	ctx := t.Context()

	for range 3 {
		if c := mustClient(t, s, "acme", "c1"); c.ID != "c1" || !c.Enabled {
			t.Fatalf("GetClient = %+v", c)
		}
		if r, err := s.GetRealm(ctx, "acme"); err != nil || r.Name != "acme" {
			t.Fatalf("GetRealm = %+v, %v", r, err)
		}
	}
	if n := inner.clientGets.Load(); n != 1 {
		t.Errorf("inner GetClient calls = %d, want 1", n)
	}
	if n := inner.realmGets.Load(); n != 1 {
		t.Errorf("inner GetRealm calls = %d, want 1", n)
	}
	if st := s.Stats(); st.Hits != 4 || st.Misses != 2 || st.Realms != 1 || st.Clients != 1 {
		t.Errorf("Stats = %+v, want 4 hits, 2 misses, 1 realm and 1 client held", st)
	}
}

func TestNotFoundCachedBriefly(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_000_000, 0))
	s, inner := newNode(t, dbPath(t), newBus(t), cached.WithClock(clock.Now))
	seed(t, inner.Store)
	ctx := t.Context()

	for range 2 {
		if _, err := s.GetClient(ctx, "acme", "late"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetClient(late) error = %v, want ErrNotFound", err)
		}
		if _, err := s.GetRealm(ctx, "later"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetRealm(later) error = %v, want ErrNotFound", err)
		}
	}
	if c, r := inner.clientGets.Load(), inner.realmGets.Load(); c != 1 || r != 1 {
		t.Fatalf("inner calls = %d clients, %d realms; want the not-found answers cached", c, r)
	}

	// Created behind the decorator's back, as if the invalidation was lost: the
	// not-found answers last DefaultNegativeTTL, not DefaultTTL.
	if _, err := inner.Store.CreateClient(ctx, newClient("acme", "late")); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Store.CreateRealm(ctx, store.Realm{Name: "later"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(cached.DefaultNegativeTTL - time.Millisecond)
	if _, err := s.GetClient(ctx, "acme", "late"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient(late) before the negative TTL error = %v, want the cached ErrNotFound", err)
	}
	clock.Advance(time.Millisecond)
	mustClient(t, s, "acme", "late")
	if _, err := s.GetRealm(ctx, "later"); err != nil {
		t.Fatalf("GetRealm(later) after the negative TTL: %v", err)
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Unix(1_000_000, 0))
	const ttl = time.Minute
	s, inner := newNode(t, dbPath(t), newBus(t), cached.WithClock(clock.Now), cached.WithTTL(ttl))
	seed(t, inner.Store)

	mustClient(t, s, "acme", "c1")
	// Disabled behind the decorator's back, as if the invalidation was lost.
	if _, err := inner.Store.UpdateClient(t.Context(), "acme", "c1", disable); err != nil {
		t.Fatal(err)
	}
	clock.Advance(ttl - time.Nanosecond)
	if c := mustClient(t, s, "acme", "c1"); !c.Enabled || inner.clientGets.Load() != 1 {
		t.Fatalf("before the TTL: Enabled = %v after %d inner reads, want the cached, enabled client", c.Enabled, inner.clientGets.Load())
	}
	clock.Advance(time.Nanosecond)
	if c := mustClient(t, s, "acme", "c1"); c.Enabled || inner.clientGets.Load() != 2 {
		t.Fatalf("at the TTL: Enabled = %v after %d inner reads, want a fresh read of the disabled client", c.Enabled, inner.clientGets.Load())
	}
	mustClient(t, s, "acme", "c1")
	if n := inner.clientGets.Load(); n != 2 {
		t.Errorf("inner GetClient calls = %d, want the fresh read cached again", n)
	}
}

// A change on one node reaches the other through the bus, not through expiry: the TTLs
// here are far longer than the wait.
func TestChangeSeenOnOtherNode(t *testing.T) {
	t.Parallel()
	path, bus := dbPath(t), newBus(t)
	long := []cached.Option{cached.WithTTL(time.Hour), cached.WithNegativeTTL(time.Hour)}
	a, innerA := newNode(t, path, bus, long...)
	b, innerB := newNode(t, path, bus, long...)
	seed(t, innerA.Store)
	ctx := t.Context()

	mustClient(t, b, "acme", "c1")
	if _, err := b.GetRealm(ctx, "fresh"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRealm(fresh) error = %v, want ErrNotFound", err)
	}
	mustClient(t, b, "acme", "c1")
	if n := innerB.clientGets.Load(); n != 1 {
		t.Fatalf("node B inner GetClient calls = %d, want the client cached", n)
	}

	if _, err := a.UpdateClient(ctx, "acme", "c1", disable); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRealm(ctx, store.Realm{Name: "fresh"}); err != nil {
		t.Fatal(err)
	}
	// The writing node reads its own write at once.
	if mustClient(t, a, "acme", "c1").Enabled {
		t.Error("node A still serves the enabled client after disabling it")
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		return !mustClient(t, b, "acme", "c1").Enabled
	}, "node B to see the client disabled on node A")
	testutil.Eventually(t, waitTimeout, func() bool {
		_, err := b.GetRealm(ctx, "fresh")
		return err == nil
	}, "node B to see the realm created on node A")
}

func TestDeleteRealmDropsItsClients(t *testing.T) {
	t.Parallel()
	path, bus := dbPath(t), newBus(t)
	a, innerA := newNode(t, path, bus, cached.WithTTL(time.Hour))
	b, innerB := newNode(t, path, bus, cached.WithTTL(time.Hour))
	seed(t, innerA.Store)
	if _, err := innerA.Store.CreateRealm(t.Context(), store.Realm{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if _, err := innerA.Store.CreateClient(t.Context(), newClient("other", "c1")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*cached.Store{a, b, a, b} {
		for _, key := range [][2]string{{"acme", "c1"}, {"acme", "c2"}, {"other", "c1"}} {
			mustClient(t, s, key[0], key[1])
		}
	}
	if na, nb := innerA.clientGets.Load(), innerB.clientGets.Load(); na != 3 || nb != 3 {
		t.Fatalf("inner GetClient calls = %d and %d, want 3 each", na, nb)
	}

	if err := a.DeleteRealm(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	gone := func(s *cached.Store) bool {
		for _, id := range []string{"c1", "c2"} {
			if _, err := s.GetClient(t.Context(), "acme", id); !errors.Is(err, store.ErrNotFound) {
				return false
			}
		}
		_, err := s.GetRealm(t.Context(), "acme")
		return errors.Is(err, store.ErrNotFound)
	}
	if !gone(a) {
		t.Error("node A still serves the deleted realm or its clients")
	}
	testutil.Eventually(t, waitTimeout, func() bool { return gone(b) }, "node B to drop the deleted realm and its clients")
	// Another realm's clients stay cached.
	before := innerB.clientGets.Load()
	mustClient(t, b, "other", "c1")
	if n := innerB.clientGets.Load(); n != before {
		t.Errorf("reading other/c1 reached the database; want it still cached")
	}
}

// A load that read the database before a change must not put what it read back into
// the cache after the change's invalidation, whether the change was made on this node or
// on another.
func TestLoadRacingInvalidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"LocalWrite", false}, {"RemoteWrite", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, bus := dbPath(t), newBus(t)
			a, innerA := newNode(t, path, bus)
			b, _ := newNode(t, path, bus)
			seed(t, innerA.Store)
			ctx := t.Context()

			read, release := make(chan struct{}), make(chan struct{})
			innerA.pauseNextClientGet(func() {
				close(read)
				<-release
			})
			got := make(chan store.Client, 1)
			go func() {
				c, err := a.GetClient(ctx, "acme", "c1")
				if err != nil {
					t.Errorf("racing GetClient: %v", err)
				}
				got <- c
			}()
			wait(t, read, "the racing GetClient to read the database")

			writer, applied := a, uint64(2) // the local drop and the node's own message
			if tc.remote {
				writer, applied = b, 1
			}
			before := a.Stats().Invalidations
			if _, err := writer.UpdateClient(ctx, "acme", "c1", disable); err != nil {
				t.Fatal(err)
			}
			// Every invalidation of the write is applied on node A before the racing load
			// finishes, so nothing later could hide a stale insert.
			testutil.Eventually(t, waitTimeout, func() bool {
				return a.Stats().Invalidations >= before+applied
			}, "node A to apply the invalidation")
			close(release)
			if stale := wait(t, got, "the racing GetClient"); !stale.Enabled {
				t.Fatal("the racing GetClient read after the change; the test did not set up the race")
			}

			if mustClient(t, a, "acme", "c1").Enabled {
				t.Error("the value read before the change was cached after its invalidation")
			}
			if n := innerA.clientGets.Load(); n != 2 {
				t.Errorf("inner GetClient calls = %d, want 2", n)
			}
		})
	}
}

func TestCopiesAreIndependent(t *testing.T) {
	t.Parallel()
	s, inner := newNode(t, dbPath(t), newBus(t))
	seed(t, inner.Store)
	ctx := t.Context()
	want := mustClient(t, inner.Store, "acme", "c1")
	wantRealm, err := inner.Store.GetRealm(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	scribble := func(c store.Client, r store.Realm) {
		c.SecretHash[0], c.JWKS[0] = 0xff, 'X'
		c.RedirectURIs[0], c.GrantTypes[0], c.Scopes[0], c.Contacts[0] = "evil", "evil", "evil", "evil"
		c.Attributes["tier"] = "evil"
		r.Attributes["theme"] = "evil"
	}
	// The first read is a miss, the second a hit: neither result may alias the cache.
	for i := range 3 {
		c := mustClient(t, s, "acme", "c1")
		r, err := s.GetRealm(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if !equalClient(c, want) || r.Attributes["theme"] != wantRealm.Attributes["theme"] {
			t.Fatalf("read %d = %+v, %+v; a caller's change leaked into the cache", i, c, r)
		}
		scribble(c, r)
	}
	if inner.clientGets.Load() != 1 {
		t.Errorf("inner GetClient calls = %d, want 1", inner.clientGets.Load())
	}
}

func equalClient(a, b store.Client) bool {
	return string(a.SecretHash) == string(b.SecretHash) && string(a.JWKS) == string(b.JWKS) &&
		slices.Equal(a.RedirectURIs, b.RedirectURIs) && slices.Equal(a.GrantTypes, b.GrantTypes) &&
		slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Contacts, b.Contacts) &&
		a.Attributes["tier"] == b.Attributes["tier"] && a.Version == b.Version && a.Enabled == b.Enabled
}

func TestInnerErrorsNotCached(t *testing.T) {
	t.Parallel()
	s, inner := newNode(t, dbPath(t), newBus(t))
	seed(t, inner.Store)
	ctx := t.Context()

	inner.setFail(fmt.Errorf("%w: connection refused", store.ErrUnavailable))
	for range 2 {
		if _, err := s.GetClient(ctx, "acme", "c1"); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("GetClient error = %v, want ErrUnavailable", err)
		}
		if _, err := s.GetRealm(ctx, "acme"); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("GetRealm error = %v, want ErrUnavailable", err)
		}
	}
	if c, r := inner.clientGets.Load(), inner.realmGets.Load(); c != 2 || r != 2 {
		t.Errorf("inner calls = %d clients, %d realms; want every failing read to reach the store", c, r)
	}

	inner.setFail(nil)
	mustClient(t, s, "acme", "c1")
	mustClient(t, s, "acme", "c1")
	if n := inner.clientGets.Load(); n != 3 {
		t.Errorf("inner GetClient calls = %d, want 3: the failures were not cached, the success was", n)
	}

	// A cancelled read is an error like any other: not cached either.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.GetClient(cancelled, "acme", "c2"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetClient(cancelled) error = %v, want context.Canceled", err)
	}
	mustClient(t, s, "acme", "c2")
}

func TestMaxEntries(t *testing.T) {
	t.Parallel()
	s, inner := newNode(t, dbPath(t), newBus(t), cached.WithMaxEntries(2))
	seed(t, inner.Store)
	if _, err := inner.Store.CreateClient(t.Context(), newClient("acme", "c3")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"c1", "c2", "c3", "c3", "c2"} {
		mustClient(t, s, "acme", id)
	}
	if n := inner.clientGets.Load(); n != 3 {
		t.Fatalf("inner GetClient calls = %d, want 3", n)
	}
	mustClient(t, s, "acme", "c1") // the oldest, evicted by c3
	if n := inner.clientGets.Load(); n != 4 {
		t.Errorf("inner GetClient calls = %d, want c1 read again", n)
	}
	if st := s.Stats(); st.Clients != 2 || st.Evictions != 2 {
		t.Errorf("Stats = %+v, want 2 clients held after 2 evictions", st)
	}
}

// When the subscription ends, the node reads from the database until it has
// resubscribed (with backoff), then starts from an empty cache, because invalidations
// may have been lost meanwhile.
func TestResubscribe(t *testing.T) {
	t.Parallel()
	path, bus := dbPath(t), newFlakyBus(t)
	a, inner := newNode(t, path, bus)
	b, _ := newNode(t, path, bus)
	seed(t, inner.Store)
	ctx := t.Context()
	mustClient(t, a, "acme", "c1")

	attempt := make(chan struct{})
	outcome := make(chan error)
	bus.setBefore(func() error {
		attempt <- struct{}{}
		return <-outcome
	})
	// A change whose message is lost with the subscription.
	if _, err := inner.Store.UpdateClient(ctx, "acme", "c1", disable); err != nil {
		t.Fatal(err)
	}
	bus.sub(0).Close()
	wait(t, attempt, "the first resubscription attempt")

	// Meanwhile every read goes to the database, and nothing read is kept.
	before := inner.clientGets.Load()
	for range 2 {
		if mustClient(t, a, "acme", "c1").Enabled {
			t.Error("read during the outage served the stale client")
		}
	}
	if n := inner.clientGets.Load() - before; n != 2 {
		t.Errorf("reads during the outage reaching the database = %d, want 2", n)
	}

	outcome <- errors.New("redis: connection refused")
	wait(t, attempt, "the retry after a failed resubscription")
	bus.setBefore(nil)
	outcome <- nil

	testutil.Eventually(t, waitTimeout, func() bool { return a.Stats().Resets == 1 }, "the cache to be cleared on resubscribing")
	testutil.Eventually(t, waitTimeout, func() bool {
		hits := a.Stats().Hits
		mustClient(t, a, "acme", "c2")
		return a.Stats().Hits > hits
	}, "node A to serve from memory again")
	if mustClient(t, a, "acme", "c1").Enabled {
		t.Error("after resubscribing, node A served the client it had cached before the outage")
	}

	// The new subscription carries invalidations.
	mustClient(t, a, "acme", "c2")
	if _, err := b.UpdateClient(ctx, "acme", "c2", disable); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		return !mustClient(t, a, "acme", "c2").Enabled
	}, "node A to see a change made after resubscribing")
}

// A message lost on the way (the subscription survived, as go-redis resubscribes on its
// own after a Redis restart) shows as a gap in its sender's sequence numbers: at the
// sender's next message, at its next heartbeat at the latest.
func TestLostMessageDetected(t *testing.T) {
	t.Parallel()
	const never, often = time.Hour, 10 * time.Millisecond
	for _, tc := range []struct {
		name string
		// heartbeat of the writing node A and the reading node B
		heartbeatA, heartbeatB time.Duration
		// next is A's next write after the lost one, if any
		next bool
		// aFirst starts A before B, so B learns A's sequence number from A's answer to
		// B's hello rather than from A's own hello.
		aFirst bool
	}{
		{"NextMessage", never, never, true, false},
		{"Heartbeat", often, never, false, false},
		{"HelloAnswered", never, never, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, bus := dbPath(t), newFlakyBus(t)
			ctx := t.Context()
			var a, b *cached.Store
			var inner *counting
			if tc.aFirst {
				a, inner = newNode(t, path, bus, cached.WithTTL(time.Hour), cached.WithHeartbeat(tc.heartbeatA))
				watch, err := bus.Subscribe(ctx, cached.DefaultChannel)
				if err != nil {
					t.Fatal(err)
				}
				defer watch.Close()
				b, _ = newNode(t, path, bus, cached.WithTTL(time.Hour), cached.WithHeartbeat(tc.heartbeatB))
				// Once A's answer is published, B reads it before anything A sends later.
				for !strings.Contains(string(wait(t, watch.C(), "A's answer to B's hello")), `"kind":"heartbeat"`) {
				}
			} else {
				// B first: A's hello at Start gives B A's first sequence number.
				b, _ = newNode(t, path, bus, cached.WithTTL(time.Hour), cached.WithHeartbeat(tc.heartbeatB))
				a, inner = newNode(t, path, bus, cached.WithTTL(time.Hour), cached.WithHeartbeat(tc.heartbeatA))
			}
			seed(t, inner.Store)
			mustClient(t, b, "acme", "c1")

			bus.loseNext(`"kind":"client"`)
			if _, err := a.UpdateClient(ctx, "acme", "c1", disable); err != nil {
				t.Fatal(err)
			}
			if tc.next {
				if _, err := a.UpdateRealm(ctx, "acme", func(r store.Realm) (store.Realm, error) { return r, nil }); err != nil {
					t.Fatal(err)
				}
			}
			testutil.Eventually(t, waitTimeout, func() bool {
				return !mustClient(t, b, "acme", "c1").Enabled
			}, "node B to notice the lost message and drop the client")
			if b.Stats().Resets == 0 {
				t.Error("node B saw the change without clearing its cache")
			}
		})
	}
}

// A node whose own subscription silently missed messages notices from its own
// heartbeats.
func TestOwnLossDetected(t *testing.T) {
	t.Parallel()
	bus := newFlakyBus(t)
	s, inner := newNode(t, dbPath(t), bus, cached.WithTTL(time.Hour), cached.WithHeartbeat(10*time.Millisecond))
	seed(t, inner.Store)
	mustClient(t, s, "acme", "c1")
	// Changed elsewhere while this node's subscription was down.
	if _, err := inner.Store.UpdateClient(t.Context(), "acme", "c1", disable); err != nil {
		t.Fatal(err)
	}
	bus.loseNext(`"kind":"heartbeat"`)
	testutil.Eventually(t, waitTimeout, func() bool {
		return !mustClient(t, s, "acme", "c1").Enabled
	}, "the node to notice its lost heartbeat and drop the client")
}

// Messages the subscription lost to a slow reader, or could not parse, clear the cache.
func TestLostOrUnreadableMessagesClearCache(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cause func(t *testing.T, bus *flakyBus)
	}{
		{"Dropped", func(t *testing.T, bus *flakyBus) {
			bus.sub(0).dropped.Add(3)
			// The loss is noticed with the next message.
			if err := bus.Publish(t.Context(), cached.DefaultChannel, []byte(`{"kind":"realm","realm":"elsewhere"}`)); err != nil {
				t.Fatal(err)
			}
		}},
		{"Unreadable", func(t *testing.T, bus *flakyBus) {
			if err := bus.Publish(t.Context(), cached.DefaultChannel, []byte(`not json`)); err != nil {
				t.Fatal(err)
			}
		}},
		{"UnknownKind", func(t *testing.T, bus *flakyBus) {
			if err := bus.Publish(t.Context(), cached.DefaultChannel, []byte(`{"kind":"from-a-newer-build"}`)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := newFlakyBus(t)
			s, inner := newNode(t, dbPath(t), bus)
			seed(t, inner.Store)
			mustClient(t, s, "acme", "c1")
			tc.cause(t, bus)
			testutil.Eventually(t, waitTimeout, func() bool { return s.Stats().Resets == 1 }, "the cache to be cleared")
			mustClient(t, s, "acme", "c1")
			if n := inner.clientGets.Load(); n != 2 {
				t.Errorf("inner GetClient calls = %d, want the client read again", n)
			}
		})
	}
}

// A failed publish does not fail the write: it happened, and the other nodes' entries
// expire.
func TestPublishFailure(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	inner := &counting{Store: openSQLite(t, dbPath(t))}
	s, err := cached.New(inner, bus)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seed(t, inner.Store)
	bus.Close()
	if _, err := s.UpdateClient(t.Context(), "acme", "c1", disable); err != nil {
		t.Errorf("UpdateClient with the bus down: %v", err)
	}
	if mustClient(t, s, "acme", "c1").Enabled {
		t.Error("the write did not happen")
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	inner := openSQLite(t, dbPath(t))
	defer inner.Close()
	bus := newBus(t)
	for name, tc := range map[string]struct {
		inner store.Store
		opts  []cached.Option
	}{
		"NoInner":        {opts: nil},
		"ZeroTTL":        {inner: inner, opts: []cached.Option{cached.WithTTL(0)}},
		"NegativeNegTTL": {inner: inner, opts: []cached.Option{cached.WithNegativeTTL(-time.Second)}},
		"NegTTLAboveTTL": {inner: inner, opts: []cached.Option{cached.WithTTL(time.Second), cached.WithNegativeTTL(2 * time.Second)}},
		"ZeroMaxEntries": {inner: inner, opts: []cached.Option{cached.WithMaxEntries(0)}},
		"EmptyChannel":   {inner: inner, opts: []cached.Option{cached.WithChannel("")}},
		"NilClock":       {inner: inner, opts: []cached.Option{cached.WithClock(nil)}},
		"NilLogger":      {inner: inner, opts: []cached.Option{cached.WithLogger(nil)}},
	} {
		if _, err := cached.New(tc.inner, bus, tc.opts...); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	if _, err := cached.New(inner, nil); err == nil {
		t.Error("New without a bus succeeded, want an error")
	}
	if _, err := cached.New(inner, bus, cached.WithNegativeTTL(0)); err != nil {
		t.Errorf("New with negative caching off: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	bus := newBus(t)
	s, err := cached.New(openSQLite(t, dbPath(t)), bus)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Start(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Start(cancelled) error = %v, want context.Canceled", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start after a cancelled Start: %v", err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded, want an error")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded, want an error")
	}
	if _, err := s.GetRealm(t.Context(), "acme"); err == nil {
		t.Error("GetRealm after Close succeeded, want the closed store's error")
	}
}

// Not parallel: it counts the process's goroutines. Parallel tests are paused while it
// runs.
func TestNoGoroutineLeak(t *testing.T) {
	baseline := runtime.NumGoroutine()
	func() {
		path, bus := dbPath(t), &flakyBus{Store: memory.New()}
		defer bus.Close()
		var nodes []*cached.Store
		for range 2 {
			s, err := cached.New(&counting{Store: openSQLite(t, path)}, bus)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, s)
		}
		a, b := nodes[0], nodes[1]
		seed(t, a)
		mustClient(t, b, "acme", "c1")
		if _, err := a.UpdateClient(t.Context(), "acme", "c1", disable); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, waitTimeout, func() bool { return !mustClient(t, b, "acme", "c1").Enabled }, "node B to see the change")

		// Node B loses its subscription and cannot get it back: Close must still stop it,
		// whether it is waiting out its backoff or inside Subscribe.
		attempt := make(chan struct{}, 1)
		bus.setBefore(func() error {
			select {
			case attempt <- struct{}{}:
			default:
			}
			return errors.New("redis: connection refused")
		})
		bus.sub(1).Close()
		wait(t, attempt, "node B to try resubscribing")
		for _, s := range nodes {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	}()
	testutil.Eventually(t, waitTimeout, func() bool { return runtime.NumGoroutine() <= baseline },
		"goroutines to return to the baseline of %d", baseline)
}
