// Package ephemeraltest is the conformance suite every ephemeral.Store must pass: the
// in-process store, Redis under miniredis and a real Redis all run the same tests.
package ephemeraltest

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/testutil"
)

// shortTTL is the TTL of keys a test waits to see expire.
const shortTTL = 100 * time.Millisecond

// longTTL is the TTL of keys that must outlive the test.
const longTTL = time.Hour

// waitTimeout bounds every wait for an expiry or a message.
const waitTimeout = 5 * time.Second

// Options adapts the suite to a backend.
type Options struct {
	// Advance, if set, moves the backend's clock forward by d. Set it for backends whose
	// TTLs only run on demand (miniredis). Advancing a shared clock would expire other
	// tests' keys, so with Advance set the subtests run one at a time.
	Advance func(d time.Duration)
}

// Run runs the suite on stores made by open, which returns a new, empty store for each
// subtest (on a shared Redis, give each one its own key prefix). Run closes every store
// it opens.
func Run(t *testing.T, open func(t *testing.T) ephemeral.Store) {
	RunWithOptions(t, open, Options{})
}

// RunWithOptions is Run with backend-specific options.
func RunWithOptions(t *testing.T, open func(t *testing.T) ephemeral.Store, opts Options) {
	s := &suite{opts: opts}
	tests := []struct {
		name string
		fn   func(t *testing.T, st ephemeral.Store)
	}{
		{"SetNX", s.setNX},
		{"GetReturnsValueAndVersion", s.getReturnsValueAndVersion},
		{"GetMissing", s.getMissing},
		{"SetIncrementsVersion", s.setIncrementsVersion},
		{"ValuesAreCopied", s.valuesAreCopied},
		{"ValueExpires", s.valueExpires},
		{"InvalidArguments", s.invalidArguments},
		{"Take", s.take},
		{"ConcurrentTake", s.concurrentTake},
		{"CompareAndSwap", s.compareAndSwap},
		{"CompareAndSwapKeepsExpiry", s.compareAndSwapKeepsExpiry},
		{"CompareAndSwapResetsExpiry", s.compareAndSwapResetsExpiry},
		{"ConcurrentCompareAndSwap", s.concurrentCompareAndSwap},
		{"ConcurrentSetNX", s.concurrentSetNX},
		{"Incr", s.incr},
		{"IncrKeepsWindow", s.incrKeepsWindow},
		{"IncrNotCounter", s.incrNotCounter},
		{"ConcurrentIncr", s.concurrentIncr},
		{"Delete", s.delete},
		{"BinaryValues", s.binaryValues},
		{"PublishSubscribe", s.publishSubscribe},
		{"ChannelsAreSeparate", s.channelsAreSeparate},
		{"SlowSubscriberDoesNotBlockPublish", s.slowSubscriber},
		{"SubscriptionClose", s.subscriptionClose},
		{"SubscribeContextCancel", s.subscribeContextCancel},
		{"StoreClose", s.storeClose},
		{"PingAndBackend", s.pingAndBackend},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if opts.Advance == nil {
				t.Parallel()
			}
			st := open(t)
			t.Cleanup(func() { _ = st.Close() })
			tc.fn(t, st)
		})
	}
}

type suite struct {
	opts Options
}

// waitExpired waits until gone reports that something with the given TTL has expired,
// advancing the backend clock first when it has one.
func (s *suite) waitExpired(t *testing.T, ttl time.Duration, gone func() bool, what string) {
	t.Helper()
	if s.opts.Advance != nil {
		s.opts.Advance(ttl + ttl/2)
	}
	testutil.Eventually(t, waitTimeout, gone, "%s did not expire", what)
}

func isNotFound(t *testing.T, st ephemeral.Store, key string) func() bool {
	return func() bool {
		_, err := st.Get(t.Context(), key)
		if err != nil && !errors.Is(err, ephemeral.ErrNotFound) {
			t.Errorf("Get(%q): %v", key, err)
			return true
		}
		return errors.Is(err, ephemeral.ErrNotFound)
	}
}

func mustGet(t *testing.T, st ephemeral.Store, key string) ephemeral.Entry {
	t.Helper()
	e, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return e
}

func mustSet(t *testing.T, st ephemeral.Store, key, value string, ttl time.Duration) uint64 {
	t.Helper()
	v, err := st.Set(t.Context(), key, []byte(value), ttl)
	if err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
	return v
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// concurrently runs fn n times at once, released together to maximise contention.
func concurrently(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func (s *suite) setNX(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	ok, err := st.SetNX(ctx, "k", []byte("first"), longTTL)
	if err != nil || !ok {
		t.Fatalf("SetNX on absent key = %v, %v; want true, nil", ok, err)
	}
	ok, err = st.SetNX(ctx, "k", []byte("second"), longTTL)
	if err != nil || ok {
		t.Fatalf("SetNX on present key = %v, %v; want false, nil", ok, err)
	}
	if e := mustGet(t, st, "k"); string(e.Value) != "first" || e.Version != 1 {
		t.Fatalf("after refused SetNX: %q v%d, want %q v1", e.Value, e.Version, "first")
	}
}

func (s *suite) getReturnsValueAndVersion(t *testing.T, st ephemeral.Store) {
	before := time.Now()
	if ok, err := st.SetNX(t.Context(), "k", []byte("value"), longTTL); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	e := mustGet(t, st, "k")
	if string(e.Value) != "value" || e.Version != 1 {
		t.Fatalf("Get = %q v%d, want %q v1", e.Value, e.Version, "value")
	}
	// Allow for the clock skew between test and server.
	if lo, hi := before.Add(longTTL-time.Minute), time.Now().Add(longTTL+time.Minute); e.ExpiresAt.Before(lo) || e.ExpiresAt.After(hi) {
		t.Fatalf("ExpiresAt = %v, want about %v", e.ExpiresAt, before.Add(longTTL))
	}
}

func (s *suite) getMissing(t *testing.T, st ephemeral.Store) {
	_, err := st.Get(t.Context(), "missing")
	wantErr(t, "Get(missing)", err, ephemeral.ErrNotFound)
}

func (s *suite) setIncrementsVersion(t *testing.T, st ephemeral.Store) {
	for want := uint64(1); want <= 3; want++ {
		if v := mustSet(t, st, "k", "v"+strconv.FormatUint(want, 10), longTTL); v != want {
			t.Fatalf("Set #%d returned version %d", want, v)
		}
	}
	if e := mustGet(t, st, "k"); string(e.Value) != "v3" || e.Version != 3 {
		t.Fatalf("Get = %q v%d, want %q v3", e.Value, e.Version, "v3")
	}
	if ok, err := st.SetNX(t.Context(), "nx", []byte("a"), longTTL); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if v := mustSet(t, st, "nx", "b", longTTL); v != 2 {
		t.Fatalf("Set after SetNX returned version %d, want 2", v)
	}
}

func (s *suite) valuesAreCopied(t *testing.T, st ephemeral.Store) {
	in := []byte("original")
	if _, err := st.Set(t.Context(), "k", in, longTTL); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	out := mustGet(t, st, "k").Value
	copy(out, "YYYYYYYY")
	if got := mustGet(t, st, "k").Value; string(got) != "original" {
		t.Fatalf("stored value changed through a caller's slice: %q", got)
	}
}

func (s *suite) valueExpires(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	start := time.Now()
	if ok, err := st.SetNX(ctx, "k", []byte("v"), shortTTL); err != nil || !ok {
		t.Fatalf("SetNX = %v, %v", ok, err)
	}
	if _, err := st.Get(ctx, "k"); err != nil && time.Since(start) < shortTTL {
		t.Fatalf("Get before expiry: %v", err)
	}
	s.waitExpired(t, shortTTL, isNotFound(t, st, "k"), "value")
	// An expired key is absent: it can be created again and starts at version 1.
	if ok, err := st.SetNX(ctx, "k", []byte("again"), longTTL); err != nil || !ok {
		t.Fatalf("SetNX after expiry = %v, %v", ok, err)
	}
	if e := mustGet(t, st, "k"); e.Version != 1 {
		t.Fatalf("version after re-creation = %d, want 1", e.Version)
	}
	if _, err := st.Take(ctx, "k"); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) invalidArguments(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	for _, ttl := range []time.Duration{0, -time.Second} {
		_, err := st.SetNX(ctx, "k", []byte("v"), ttl)
		wantErr(t, "SetNX ttl "+ttl.String(), err, ephemeral.ErrInvalid)
		_, err = st.Set(ctx, "k", []byte("v"), ttl)
		wantErr(t, "Set ttl "+ttl.String(), err, ephemeral.ErrInvalid)
		_, err = st.Incr(ctx, "k", ttl)
		wantErr(t, "Incr window "+ttl.String(), err, ephemeral.ErrInvalid)
	}
	_, err := st.Get(ctx, "k")
	wantErr(t, "Get after refused writes", err, ephemeral.ErrNotFound)

	mustSet(t, st, "k", "v", longTTL)
	_, err = st.CompareAndSwap(ctx, "k", 1, []byte("w"), -time.Second)
	wantErr(t, "CompareAndSwap negative ttl", err, ephemeral.ErrInvalid)

	_, err = st.Get(ctx, "")
	wantErr(t, "Get empty key", err, ephemeral.ErrInvalid)
	_, err = st.Set(ctx, "", []byte("v"), longTTL)
	wantErr(t, "Set empty key", err, ephemeral.ErrInvalid)
	err = st.Publish(ctx, "", []byte("m"))
	wantErr(t, "Publish empty channel", err, ephemeral.ErrInvalid)
	_, err = st.Subscribe(ctx, "")
	wantErr(t, "Subscribe empty channel", err, ephemeral.ErrInvalid)
}

func (s *suite) take(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	mustSet(t, st, "code", "secret", longTTL)
	v, err := st.Take(ctx, "code")
	if err != nil || string(v) != "secret" {
		t.Fatalf("Take = %q, %v; want %q", v, err, "secret")
	}
	_, err = st.Take(ctx, "code")
	wantErr(t, "second Take", err, ephemeral.ErrNotFound)
	_, err = st.Get(ctx, "code")
	wantErr(t, "Get after Take", err, ephemeral.ErrNotFound)
	_, err = st.Take(ctx, "missing")
	wantErr(t, "Take(missing)", err, ephemeral.ErrNotFound)
}

func (s *suite) concurrentTake(t *testing.T, st ephemeral.Store) {
	const n = 100
	mustSet(t, st, "code", "secret", longTTL)
	var won, notFound atomic.Int64
	concurrently(n, func(int) {
		v, err := st.Take(t.Context(), "code")
		switch {
		case err == nil && string(v) == "secret":
			won.Add(1)
		case errors.Is(err, ephemeral.ErrNotFound):
			notFound.Add(1)
		default:
			t.Errorf("Take = %q, %v", v, err)
		}
	})
	if won.Load() != 1 || notFound.Load() != n-1 {
		t.Fatalf("%d concurrent Takes: %d won, %d not found; want 1 and %d", n, won.Load(), notFound.Load(), n-1)
	}
}

func (s *suite) compareAndSwap(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	mustSet(t, st, "k", "pending", longTTL)
	v, err := st.CompareAndSwap(ctx, "k", 1, []byte("approved"), 0)
	if err != nil || v != 2 {
		t.Fatalf("CompareAndSwap = %d, %v; want 2, nil", v, err)
	}
	if e := mustGet(t, st, "k"); string(e.Value) != "approved" || e.Version != 2 {
		t.Fatalf("Get = %q v%d, want %q v2", e.Value, e.Version, "approved")
	}
	_, err = st.CompareAndSwap(ctx, "k", 1, []byte("stale"), 0)
	wantErr(t, "CompareAndSwap stale version", err, ephemeral.ErrConflict)
	if e := mustGet(t, st, "k"); string(e.Value) != "approved" || e.Version != 2 {
		t.Fatalf("after conflict Get = %q v%d, want %q v2", e.Value, e.Version, "approved")
	}
	_, err = st.CompareAndSwap(ctx, "missing", 1, []byte("x"), 0)
	wantErr(t, "CompareAndSwap missing", err, ephemeral.ErrNotFound)
	_, err = st.Get(ctx, "missing")
	wantErr(t, "Get after CompareAndSwap missing", err, ephemeral.ErrNotFound)
}

func (s *suite) compareAndSwapKeepsExpiry(t *testing.T, st ephemeral.Store) {
	mustSet(t, st, "k", "a", shortTTL)
	_, err := st.CompareAndSwap(t.Context(), "k", 1, []byte("b"), 0)
	if err != nil && !errors.Is(err, ephemeral.ErrNotFound) { // NotFound: already expired
		t.Fatalf("CompareAndSwap: %v", err)
	}
	s.waitExpired(t, shortTTL, isNotFound(t, st, "k"), "swapped value with ttl 0")
}

func (s *suite) compareAndSwapResetsExpiry(t *testing.T, st ephemeral.Store) {
	mustSet(t, st, "k", "a", longTTL)
	before := time.Now()
	if _, err := st.CompareAndSwap(t.Context(), "k", 1, []byte("b"), 2*longTTL); err != nil {
		t.Fatal(err)
	}
	if e := mustGet(t, st, "k"); e.ExpiresAt.Before(before.Add(2*longTTL - time.Minute)) {
		t.Fatalf("ExpiresAt = %v, want about %v", e.ExpiresAt, before.Add(2*longTTL))
	}
}

func (s *suite) concurrentCompareAndSwap(t *testing.T, st ephemeral.Store) {
	const n = 50
	mustSet(t, st, "count", "0", longTTL)
	concurrently(n, func(int) {
		for {
			e, err := st.Get(t.Context(), "count")
			if err != nil {
				t.Errorf("Get: %v", err)
				return
			}
			c, _ := strconv.Atoi(string(e.Value))
			_, err = st.CompareAndSwap(t.Context(), "count", e.Version, []byte(strconv.Itoa(c+1)), 0)
			if errors.Is(err, ephemeral.ErrConflict) {
				continue
			}
			if err != nil {
				t.Errorf("CompareAndSwap: %v", err)
			}
			return
		}
	})
	if e := mustGet(t, st, "count"); string(e.Value) != strconv.Itoa(n) || e.Version != n+1 {
		t.Fatalf("after %d CAS loops: %q v%d, want %d v%d", n, e.Value, e.Version, n, n+1)
	}
}

func (s *suite) concurrentSetNX(t *testing.T, st ephemeral.Store) {
	const n = 100
	var stored atomic.Int64
	concurrently(n, func(i int) {
		ok, err := st.SetNX(t.Context(), "lock", []byte(strconv.Itoa(i)), longTTL)
		if err != nil {
			t.Errorf("SetNX: %v", err)
		}
		if ok {
			stored.Add(1)
		}
	})
	if stored.Load() != 1 {
		t.Fatalf("%d concurrent SetNX stored %d times, want 1", n, stored.Load())
	}
}

func (s *suite) incr(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	start := time.Now()
	for want := int64(1); want <= 5; want++ {
		n, err := st.Incr(ctx, "hits", shortTTL)
		if err != nil {
			t.Fatal(err)
		}
		if n != want && time.Since(start) < shortTTL {
			t.Fatalf("Incr #%d = %d", want, n)
		}
	}
	if e, err := st.Get(ctx, "hits"); err == nil {
		if _, perr := strconv.Atoi(string(e.Value)); perr != nil {
			t.Fatalf("a counter reads as its decimal count, got %q", e.Value)
		}
	}
	s.waitExpired(t, shortTTL, isNotFound(t, st, "hits"), "counter")
	if n, err := st.Incr(ctx, "hits", longTTL); err != nil || n != 1 {
		t.Fatalf("Incr after the window = %d, %v; want 1", n, err)
	}
	if e := mustGet(t, st, "hits"); string(e.Value) != "1" {
		t.Fatalf("Get(counter) = %q, want %q", e.Value, "1")
	}
}

func (s *suite) incrKeepsWindow(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	if _, err := st.Incr(ctx, "hits", shortTTL); err != nil {
		t.Fatal(err)
	}
	// A later increment with a longer window must not extend the first one.
	if _, err := st.Incr(ctx, "hits", longTTL); err != nil {
		t.Fatal(err)
	}
	s.waitExpired(t, shortTTL, isNotFound(t, st, "hits"), "counter")
}

func (s *suite) incrNotCounter(t *testing.T, st ephemeral.Store) {
	mustSet(t, st, "k", "not a number", longTTL)
	_, err := st.Incr(t.Context(), "k", longTTL)
	wantErr(t, "Incr of a non-counter value", err, ephemeral.ErrInvalid)
	if e := mustGet(t, st, "k"); string(e.Value) != "not a number" || e.Version != 1 {
		t.Fatalf("value changed by a refused Incr: %q v%d", e.Value, e.Version)
	}
}

func (s *suite) concurrentIncr(t *testing.T, st ephemeral.Store) {
	const n = 200
	var mu sync.Mutex
	seen := make(map[int64]bool, n)
	concurrently(n, func(int) {
		c, err := st.Incr(t.Context(), "hits", longTTL)
		if err != nil {
			t.Errorf("Incr: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[c] {
			t.Errorf("count %d returned twice", c)
		}
		seen[c] = true
	})
	for c := int64(1); c <= n; c++ {
		if !seen[c] {
			t.Fatalf("count %d never returned", c)
		}
	}
	if e := mustGet(t, st, "hits"); string(e.Value) != strconv.Itoa(n) {
		t.Fatalf("final count %q, want %d", e.Value, n)
	}
}

func (s *suite) delete(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	mustSet(t, st, "k", "v", longTTL)
	if err := st.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	_, err := st.Get(ctx, "k")
	wantErr(t, "Get after Delete", err, ephemeral.ErrNotFound)
	if err := st.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, err := st.Incr(ctx, "c", longTTL); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Incr(ctx, "c", longTTL); err != nil || n != 1 {
		t.Fatalf("Incr after Delete = %d, %v; want 1", n, err)
	}
}

func (s *suite) binaryValues(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	all := make([]byte, 0, 512)
	for i := range 256 {
		all = append(all, byte(i), 0)
	}
	for name, v := range map[string][]byte{
		"zeros": {0, 0, 0},
		"all":   all,
		"empty": {},
	} {
		if _, err := st.Set(ctx, name, v, longTTL); err != nil {
			t.Fatalf("Set(%s): %v", name, err)
		}
		if got := mustGet(t, st, name).Value; !bytes.Equal(got, v) {
			t.Fatalf("Get(%s) = %x, want %x", name, got, v)
		}
		if _, err := st.CompareAndSwap(ctx, name, 1, append([]byte{0}, v...), 0); err != nil {
			t.Fatalf("CompareAndSwap(%s): %v", name, err)
		}
		if got, err := st.Take(ctx, name); err != nil || !bytes.Equal(got, append([]byte{0}, v...)) {
			t.Fatalf("Take(%s) = %x, %v", name, got, err)
		}
	}
	sub, err := st.Subscribe(ctx, "bin")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := st.Publish(ctx, "bin", all); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, sub); !bytes.Equal(got, all) {
		t.Fatalf("published %x, received %x", all, got)
	}
}

// receive returns the next message or fails the test after waitTimeout.
func receive(t *testing.T, sub ephemeral.Subscription) []byte {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription ended while waiting for a message")
		}
		return m
	case <-timer.C:
		t.Fatalf("no message within %s", waitTimeout)
		return nil
	}
}

// waitEnded drains sub until C is closed or fails the test after waitTimeout.
func waitEnded(t *testing.T, sub ephemeral.Subscription) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("subscription still open after %s", waitTimeout)
		}
	}
}

func (s *suite) publishSubscribe(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	var subs []ephemeral.Subscription
	for range 2 {
		sub, err := st.Subscribe(ctx, "events")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs = append(subs, sub)
	}
	// Subscribe returns once the subscription is active: nothing published after it is lost.
	const n = 20
	for i := range n {
		if err := st.Publish(ctx, "events", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for j, sub := range subs {
		for i := range n {
			if got := string(receive(t, sub)); got != strconv.Itoa(i) {
				t.Fatalf("subscriber %d message %d = %q, want %q", j, i, got, strconv.Itoa(i))
			}
		}
	}
	if err := st.Publish(ctx, "nobody-listens", []byte("x")); err != nil {
		t.Fatalf("Publish without subscribers: %v", err)
	}
}

func (s *suite) channelsAreSeparate(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	a, err := st.Subscribe(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := st.Subscribe(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, m := range []string{"a1", "a2", "a3"} {
		if err := st.Publish(ctx, "a", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	// Published after the messages on a: had b received any of those, they would come first.
	if err := st.Publish(ctx, "b", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if got := string(receive(t, b)); got != "marker" {
		t.Fatalf("subscriber of b received %q, want only %q", got, "marker")
	}
	for _, want := range []string{"a1", "a2", "a3"} {
		if got := string(receive(t, a)); got != want {
			t.Fatalf("subscriber of a received %q, want %q", got, want)
		}
	}
}

func (s *suite) slowSubscriber(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	sub, err := st.Subscribe(ctx, "flood")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	counted, ok := sub.(interface{ Dropped() uint64 })
	if !ok {
		t.Fatalf("subscription %T does not count its drops (no Dropped method)", sub)
	}
	// Nobody reads while more than the buffer is published: Publish must not block, the
	// first SubscriptionBuffer messages are kept in order and the rest are dropped.
	const extra = 44
	for i := range ephemeral.SubscriptionBuffer + extra {
		if err := st.Publish(ctx, "flood", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, waitTimeout, func() bool { return counted.Dropped() == extra },
		"Dropped() did not reach %d", extra)
	for i := range ephemeral.SubscriptionBuffer {
		if got := string(receive(t, sub)); got != strconv.Itoa(i) {
			t.Fatalf("message %d = %q", i, got)
		}
	}
	if err := st.Publish(ctx, "flood", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := string(receive(t, sub)); got != "after" {
		t.Fatalf("after draining, received %q, want %q", got, "after")
	}
}

func (s *suite) subscriptionClose(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	sub, err := st.Subscribe(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, sub)
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The store stays usable, and publishing to a channel whose subscriber left is fine.
	if err := st.Publish(ctx, "c", []byte("late")); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) subscribeContextCancel(t *testing.T, st ephemeral.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	sub, err := st.Subscribe(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	cancel()
	waitEnded(t, sub)
}

func (s *suite) storeClose(t *testing.T, st ephemeral.Store) {
	ctx := t.Context()
	mustSet(t, st, "k", "v", longTTL)
	sub, err := st.Subscribe(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, sub)
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, call := range Calls(ctx, st) {
		wantErr(t, name+" after Close", call(), ephemeral.ErrClosed)
	}
}

func (s *suite) pingAndBackend(t *testing.T, st ephemeral.Store) {
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if b := st.Backend(); b != "memory" && b != "redis" {
		t.Fatalf("Backend() = %q", b)
	}
}

// CheckCloseStopsGoroutines opens a store, subscribes (once with a context that is then
// cancelled) and closes it, then waits for the goroutine count to return to where it was.
// Call it from a test that does not run in parallel with others.
func CheckCloseStopsGoroutines(t *testing.T, open func(t *testing.T) ephemeral.Store) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	st := open(t)
	for _, c := range []string{"a", "a", "b"} {
		if _, err := st.Subscribe(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := st.Subscribe(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool { return runtime.NumGoroutine() <= baseline },
		"goroutines still running after Close (%d before open)", baseline)
}

// Calls returns one call of every Store method that reaches the backing service, by
// method name, each with valid arguments, for tests of the error every method returns in
// some state (closed, unreachable).
func Calls(ctx context.Context, st ephemeral.Store) map[string]func() error {
	return map[string]func() error{
		"SetNX": func() error { _, err := st.SetNX(ctx, "k", []byte("v"), longTTL); return err },
		"Set":   func() error { _, err := st.Set(ctx, "k", []byte("v"), longTTL); return err },
		"Get":   func() error { _, err := st.Get(ctx, "k"); return err },
		"Take":  func() error { _, err := st.Take(ctx, "k"); return err },
		"CompareAndSwap": func() error {
			_, err := st.CompareAndSwap(ctx, "k", 1, []byte("w"), 0)
			return err
		},
		"Delete":    func() error { return st.Delete(ctx, "k") },
		"Incr":      func() error { _, err := st.Incr(ctx, "i", longTTL); return err },
		"Publish":   func() error { return st.Publish(ctx, "c", []byte("m")) },
		"Subscribe": func() error { _, err := st.Subscribe(ctx, "c"); return err },
		"Ping":      func() error { return st.Ping(ctx) },
	}
}
