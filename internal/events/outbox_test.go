package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
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
			st := testdb.Open(t, backend)
			if _, err := st.CreateRealm(t.Context(), store.Realm{Name: "r"}); err != nil {
				t.Fatal(err)
			}
			log := &counting{EventLog: st}
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
			o.Close()
			if calls := log.calls.Load(); calls > n/4 {
				t.Errorf("%d transactions for %d concurrent events: little batching", calls, n)
			}
			t.Logf("%d events in %d transactions", n, log.calls.Load())
		})
	}
}

func TestOutboxErrors(t *testing.T) {
	t.Parallel()
	st := testdb.Open(t, "sqlite")
	if _, err := st.CreateRealm(t.Context(), store.Realm{Name: "r"}); err != nil {
		t.Fatal(err)
	}
	log := &counting{EventLog: st}
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
	o.Close()
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
	o.Close()
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
