package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
	"github.com/signet-auth/signet/internal/testutil"
)

// counting counts the transactions the outbox makes.
type counting struct {
	store.EventLog
	calls atomic.Int64
	fail  atomic.Bool
}

func (c *counting) AppendEvents(ctx context.Context, events []store.Event) ([]store.Event, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return nil, fmt.Errorf("database down: %w", store.ErrUnavailable)
	}
	return c.EventLog.AppendEvents(ctx, events)
}

// realmStore opens a store of backend holding realm r, and the event log over it that
// counts transactions.
func realmStore(t *testing.T, backend string) (store.Store, *counting) {
	t.Helper()
	st := testdb.Open(t, backend)
	if _, err := st.CreateRealm(t.Context(), store.Realm{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	return st, &counting{EventLog: st}
}

func event(realm string, i int) store.Event {
	return store.Event{Realm: realm, Type: "authn.created", Subject: fmt.Sprintf("q%d", i), At: time.Now(),
		Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

// Every appended event is in the log when Append returns, and concurrent appends share
// transactions.
func TestOutboxGroupCommit(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st, log := realmStore(t, backend)
			o := NewOutbox(log)
			const n = 200
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if err := o.Append(t.Context(), event("r", i)); err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					page, err := st.ListEvents(t.Context(), "r", store.EventFilter{Subject: fmt.Sprintf("q%d", i)}, store.ListOptions{})
					if err != nil || len(page.Items) != 1 {
						t.Errorf("event %d not in the log once Append returned: %v, %v", i, page.Items, err)
					}
				})
			}
			wg.Wait()
			_ = o.Close(t.Context())
			if calls := log.calls.Load(); calls > n/4 {
				t.Errorf("%d transactions for %d concurrent events: little batching", calls, n)
			}
			t.Logf("%d events in %d transactions", n, log.calls.Load())
		})
	}
}

func TestOutboxErrors(t *testing.T) {
	t.Parallel()
	st, log := realmStore(t, "sqlite")
	o := NewOutbox(log)
	bad := event("r", 1)
	bad.Data = []byte("not json")
	if err := o.Append(t.Context(), bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("invalid event: %v, want ErrInvalid", err)
	}
	log.fail.Store(true)
	before := log.calls.Load()
	if err := o.Append(t.Context(), event("r", 2)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("store down: %v, want its error", err)
	}
	if tries := log.calls.Load() - before; tries != int64(len(retryPauses)+1) {
		t.Errorf("%d writes while the store was down, want %d (retries)", tries, len(retryPauses)+1)
	}
	log.fail.Store(false)
	if err := o.Append(t.Context(), event("r", 3)); err != nil {
		t.Errorf("after the store is back: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := o.Append(ctx, event("r", 4)); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled append: %v", err)
	}
	_ = o.Close(t.Context())
	page, err := st.ListEvents(t.Context(), "r", store.EventFilter{}, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The cancelled caller stopped waiting; its event was written all the same.
	if len(page.Items) != 2 {
		t.Errorf("%d events in the log, want 2 (the third and the cancelled fourth)", len(page.Items))
	}
}

// Close waits for what was appended, and refuses what comes after; Append and Close at
// the same moment are safe.
func TestOutboxClose(t *testing.T) {
	t.Parallel()
	st := testdb.Open(t, "sqlite")
	if _, err := st.CreateRealm(t.Context(), store.Realm{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	o := NewOutbox(st)
	var wg sync.WaitGroup
	var written atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			err := o.Append(t.Context(), event("r", i))
			switch {
			case err == nil:
				written.Add(1)
			case !errors.Is(err, ErrClosed):
				t.Errorf("Append: %v", err)
			}
		})
	}
	_ = o.Close(t.Context())
	wg.Wait()
	if err := o.Append(t.Context(), event("r", 99)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	page, err := st.ListEvents(t.Context(), "r", store.EventFilter{}, store.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(page.Items)) != written.Load() {
		t.Errorf("%d events in the log, %d acknowledged", len(page.Items), written.Load())
	}
}

// Posted events are written without their poster waiting, in few transactions, and
// Close writes every one posted before it.
func TestOutboxPost(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st, log := realmStore(t, backend)
			o := NewOutbox(log)
			const n = 1000
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if err := o.Post(event("r", i)); err != nil {
						t.Errorf("Post: %v", err)
					}
				})
			}
			wg.Wait()
			_ = o.Close(t.Context())
			if got := countEvents(t, st); got != n {
				t.Errorf("%d events in the log after Close, %d posted", got, n)
			}
			if calls := log.calls.Load(); calls > n/20 {
				t.Errorf("%d transactions for %d posted events: the linger should gather them", calls, n)
			}
			if err := o.Post(event("r", n)); !errors.Is(err, ErrClosed) {
				t.Errorf("Post after Close: %v, want ErrClosed", err)
			}
			t.Logf("%d events in %d transactions", n, log.calls.Load())
		})
	}
}

// capture is a slog handler that keeps the messages logged.
type capture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, r.Message)
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }
func (c *capture) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// While the database is down, posted events queue up to MaxQueue and then are refused
// (ErrFull), not held without bound; what could not be written is logged, and what waits
// is written once the database is back.
func TestOutboxPostBackpressure(t *testing.T) {
	t.Parallel()
	st, log := realmStore(t, "sqlite")
	log.fail.Store(true)
	logs := &capture{}
	o := NewOutbox(log, WithLogger(slog.New(logs)), WithLinger(0))
	o.maxQueue, o.pauses = 4*MaxBatch, []time.Duration{50 * time.Millisecond}
	full := false
	for i := range 8 * MaxBatch {
		if err := o.Post(event("r", i)); errors.Is(err, ErrFull) {
			full = true
			break
		} else if err != nil {
			t.Fatalf("Post %d: %v", i, err)
		}
	}
	if !full {
		t.Fatalf("Post never said ErrFull while the database was down")
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return slices.Contains(logs.messages(), "events not written to the event log")
	}, "the events lost while the database was down to be logged")
	log.fail.Store(false)
	testutil.Eventually(t, 5*time.Second, func() bool { return o.Post(event("r", -1)) == nil },
		"Post to be taken again once the database is back")
	_ = o.Close(t.Context())
	page, err := st.ListEvents(t.Context(), "r", store.EventFilter{}, store.ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 {
		t.Errorf("nothing written once the database was back: %v, %v", page.Items, err)
	}
}

// countEvents counts realm r's events, page by page.
func countEvents(t *testing.T, st store.Store) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		page, err := st.ListEvents(t.Context(), "r", store.EventFilter{}, store.ListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
		if cursor = page.Next; cursor == "" {
			return n
		}
	}
}

// TestOutboxKeep: an outcome kept through the outbox is written in its place among the
// events posted before and after it, in their transaction, with its record; a second
// outcome of the same request is refused with the first's state and writes nothing.
func TestOutboxKeep(t *testing.T) {
	t.Parallel()
	for _, backend := range testdb.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st, log := realmStore(t, backend)
			ctx := t.Context()
			if _, err := st.CreateUser(ctx, store.User{Realm: "r", ID: "u1", Username: "alice", Enabled: true}); err != nil {
				t.Fatal(err)
			}
			o := NewOutbox(log, WithLinger(20*time.Millisecond))
			defer o.Close(ctx)
			if err := o.Post(event("r", 1)); err != nil {
				t.Fatal(err)
			}
			created := time.Now()
			entry := func(state store.AuthnState, typ string) store.OutboxEntry {
				return store.OutboxEntry{
					Outcome: &store.AuthnOutcome{Realm: "r", ID: "q1", CreatedAt: created, State: state},
					Record:  &store.AuthnRequest{Realm: "r", ID: "q1", UserID: "u1", Kind: "transaction", State: state, CreatedAt: created, ExpiresAt: created.Add(time.Minute)},
					Events:  []store.Event{{Realm: "r", Type: typ, Subject: "q1", At: time.Now(), Data: []byte(`{}`)}},
				}
			}
			res, err := o.Keep(ctx, entry(store.AuthnApproved, "authn.approved"))
			if err != nil || !res.Kept {
				t.Fatalf("Keep = %+v, %v", res, err)
			}
			res, err = o.Keep(ctx, entry(store.AuthnExpired, "authn.expired"))
			if err != nil || res.Kept || res.Existing != store.AuthnApproved {
				t.Fatalf("a second Keep = %+v, %v; want the approval existing", res, err)
			}
			if err := o.Append(ctx, event("r", 2)); err != nil {
				t.Fatal(err)
			}
			page, err := st.ListEvents(ctx, "r", store.EventFilter{}, store.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range slices.Backward(page.Items) {
				got = append(got, e.Type+" "+e.Subject)
			}
			if want := []string{"authn.created q1", "authn.approved q1", "authn.created q2"}; !slices.Equal(got, want) {
				t.Errorf("the log holds %v, want %v", got, want)
			}
			if rec, err := st.GetAuthnRequest(ctx, "r", "q1"); err != nil || rec.State != store.AuthnApproved {
				t.Errorf("the record %+v, %v", rec, err)
			}
			for what, bad := range map[string]store.OutboxEntry{
				"no outcome":        {Events: entry(store.AuthnApproved, "authn.approved").Events},
				"a pending outcome": {Outcome: &store.AuthnOutcome{Realm: "r", ID: "q2", CreatedAt: created, State: store.AuthnPending}},
				"an invalid record": {Outcome: &store.AuthnOutcome{Realm: "r", ID: "q2", CreatedAt: created, State: store.AuthnApproved}, Record: &store.AuthnRequest{Realm: "r", ID: "q2"}},
			} {
				if _, err := o.Keep(ctx, bad); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("%s: %v", what, err)
				}
			}
		})
	}
}

// poisoned refuses, as a database refuses a value it cannot store, any write that holds
// an event of type "poison", whatever else it holds.
type poisoned struct{ store.EventLog }

func (p poisoned) refuse(events []store.Event) error {
	for _, e := range events {
		if e.Type == "poison" {
			return errors.New("unsupported Unicode escape sequence")
		}
	}
	return nil
}

func (p poisoned) AppendEvents(ctx context.Context, events []store.Event) ([]store.Event, error) {
	if err := p.refuse(events); err != nil {
		return nil, err
	}
	return p.EventLog.AppendEvents(ctx, events)
}

func (p poisoned) WriteOutbox(ctx context.Context, entries []store.OutboxEntry) ([]store.OutboxResult, error) {
	for _, en := range entries {
		if err := p.refuse(en.Events); err != nil {
			return nil, err
		}
	}
	return p.EventLog.WriteOutbox(ctx, entries)
}

// TestOutboxIsolatesARefusedEntry: an entry the database refuses fails alone; the
// events and outcomes that shared its batch are written.
func TestOutboxIsolatesARefusedEntry(t *testing.T) {
	t.Parallel()
	st, _ := realmStore(t, "sqlite")
	ctx := t.Context()
	o := NewOutbox(poisoned{st}, WithLinger(time.Hour)) // one batch: Close ends the linger
	for i := range 3 {
		if err := o.Post(event("r", i)); err != nil {
			t.Fatal(err)
		}
	}
	results := make(chan error, 2)
	keep := func(id, typ string) {
		_, err := o.Keep(ctx, store.OutboxEntry{Outcome: &store.AuthnOutcome{Realm: "r", ID: id, CreatedAt: time.Now(), State: store.AuthnDenied},
			Events: []store.Event{{Realm: "r", Type: typ, Subject: id, At: time.Now(), Data: []byte(`{}`)}}})
		results <- err
	}
	go keep("bad", "poison")
	go keep("good", "authn.denied")
	testutil.Eventually(t, 10*time.Second, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.queue) == 5
	}, "the five entries to be queued")
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range 2 {
		if err := <-results; err != nil {
			failed++
		}
	}
	page, err := st.ListEvents(ctx, "r", store.EventFilter{}, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if failed != 1 || len(page.Items) != 4 {
		t.Errorf("%d Keep calls failed, %d events written; want the poisoned one alone to fail, the other four written", failed, len(page.Items))
	}
}
