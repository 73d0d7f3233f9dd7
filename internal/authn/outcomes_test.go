package authn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/sigma"
)

// keeper is a Recorder over a map, as the durable store's records are: the first
// outcome of a request is kept with its events, a later one is refused with it.
type keeper struct {
	mu       sync.Mutex
	outcomes map[string]State
	events   map[string][][]string // per request, the event types of each kept record
	fail     error                 // when set, Record fails with it and keeps nothing
	// kept, when set, is called after an outcome is kept and before Record returns: a
	// node between its recording and its swap.
	after func(r Request)
}

func newKeeper() *keeper {
	return &keeper{outcomes: map[string]State{}, events: map[string][][]string{}}
}

func (k *keeper) Keeps(*Request) bool { return true }

func (k *keeper) Record(ctx context.Context, r Request, events []Event) (State, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fail != nil {
		return "", k.fail
	}
	if s, ok := k.outcomes[r.ID]; ok {
		return s, ErrRecorded
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	k.outcomes[r.ID], k.events[r.ID] = r.State, append(k.events[r.ID], types)
	if after := k.after; after != nil {
		k.mu.Unlock()
		after(r)
		k.mu.Lock()
	}
	// As Outbox.Keep: a caller whose context ends while it waits hears so, though the
	// outcome is kept.
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return r.State, nil
}

func (k *keeper) kept(id string) (State, [][]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.outcomes[id], slices.Clone(k.events[id])
}

// TestRecordedOutcomes: with a Recorder, an outcome is recorded with its events, in one
// record, before it is made; those events go nowhere else; the first outcome recorded
// is the request's.
func TestRecordedOutcomes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		k := newKeeper()
		f := newFixture(t, open(), func(c *Config) { c.Outcomes = k })
		ctx := t.Context()

		// An approval: recorded with its event, which the sink does not get again.
		r := f.create(nil)
		got, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()))
		if err != nil || got.State != Approved {
			t.Fatalf("Answer = %v, %v", got.State, err)
		}
		if s, evs := k.kept(r.ID); s != Approved || !slices.EqualFunc(evs, [][]string{{"authn.approved"}}, slices.Equal) {
			t.Fatalf("kept %q with %v, want approved with its event", s, evs)
		}
		if _, err := f.svc.Consume(ctx, "demo", r.ID, binding); err != nil {
			t.Fatal(err)
		}
		if got := f.events.types(r.ID); !slices.Equal(got, []string{"authn.created", "authn.consumed"}) {
			t.Errorf("sink got %v, want the events that are no outcome", got)
		}

		// "This wasn't me": the denial and the report in one record.
		r = f.create(nil)
		rep := f.phones[1].reply(t, r, f.user, sigma.Deny, "", f.clock.Now())
		rep.NotMe = true
		if got, err := f.svc.Answer(ctx, "demo", r.ID, rep); err != nil || got.State != Denied {
			t.Fatalf("a denial marked not mine: %v, %v", got.State, err)
		}
		if _, evs := k.kept(r.ID); !slices.EqualFunc(evs, [][]string{{"authn.denied", "authn.reported"}}, slices.Equal) {
			t.Errorf("kept %v, want the denial and the report together", evs)
		}

		// A cancellation and an expiry are outcomes too.
		r = f.create(nil)
		if _, err := f.svc.Cancel(ctx, "demo", r.ID, binding); err != nil {
			t.Fatal(err)
		}
		expiring := f.create(nil)
		f.clock.Advance(DefaultTTL + time.Second)
		if got, err := f.svc.Get(ctx, "demo", expiring.ID); err != nil || got.State != Expired {
			t.Fatalf("Get after expiry: %v, %v", got.State, err)
		}
		// A QR login no device scanned: its expiry is an outcome too, of no user.
		qr := f.create(func(n *NewRequest) { n.Kind, n.UserID, n.Devices = KindQRLogin, "", nil })
		f.clock.Advance(DefaultTTL + time.Second)
		if got, err := f.svc.Get(ctx, "demo", qr.ID); err != nil || got.State != Expired {
			t.Fatalf("Get of an unscanned QR login after expiry: %v, %v", got.State, err)
		}
		for id, want := range map[string]State{r.ID: Cancelled, expiring.ID: Expired, qr.ID: Expired} {
			if s, evs := k.kept(id); s != want || len(evs) != 1 {
				t.Errorf("kept %q with %v, want %q once", s, evs, want)
			}
		}
	})
}

// TestRecordedOutcomeRace: an approval and a denial from two phones at once: one outcome
// is recorded, the request has that one, the other answer is refused.
func TestRecordedOutcomeRace(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		k := newKeeper()
		f := newFixture(t, open(), func(c *Config) {
			c.Outcomes, c.DenialsBeforeCooldown, c.MaxCreated = k, 1000, 1000
		})
		ctx := t.Context()
		for range 20 {
			r := f.create(nil)
			replies := []Reply{
				f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()),
				f.phones[1].reply(t, r, f.user, sigma.Deny, "", f.clock.Now()),
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, rep := range replies {
				wg.Go(func() { _, errs[i] = f.svc.Answer(ctx, "demo", r.ID, rep) })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrNotPending):
					t.Fatalf("an answer failed: %v", err)
				}
			}
			kept, evs := k.kept(r.ID)
			now, err := f.svc.Get(ctx, "demo", r.ID)
			if won != 1 || len(evs) != 1 || err != nil || now.State != kept {
				t.Fatalf("%d answers won, %d records, request %q (%v), kept %q", won, len(evs), now.State, err, kept)
			}
			if now.Answer == nil {
				t.Fatalf("the request lost the winning answer")
			}
		}
	})
}

// TestRecordedOutcomeSettles: an outcome another node recorded but did not make (it
// stopped between the two) is what the request ends with when next read past its
// expiry, without events of its own; and while the durable store fails, no outcome is
// made.
func TestRecordedOutcomeSettles(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		k := newKeeper()
		f := newFixture(t, open(), func(c *Config) { c.Outcomes = k })
		ctx := t.Context()
		r := f.create(nil)
		k.mu.Lock()
		k.outcomes[r.ID] = Approved // recorded elsewhere; that node stopped
		k.mu.Unlock()
		f.clock.Advance(DefaultTTL + time.Second)
		got, err := f.svc.Get(ctx, "demo", r.ID)
		if err != nil || got.State != Approved {
			t.Fatalf("Get = %v, %v; want the recorded approval", got.State, err)
		}
		if pending, _ := f.svc.Pending(ctx, "demo", f.user); len(pending) != 0 {
			t.Errorf("a settled request is still listed: %v", pending)
		}
		if got := f.events.types(r.ID); !slices.Equal(got, []string{"authn.created"}) {
			t.Errorf("sink got %v, want no event of the settling", got)
		}

		unavailable := errors.New("database unavailable")
		k.mu.Lock()
		k.fail = unavailable
		k.mu.Unlock()
		r = f.create(nil)
		rep := f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now())
		if _, err := f.svc.Answer(ctx, "demo", r.ID, rep); !errors.Is(err, unavailable) {
			t.Fatalf("Answer while the store fails: %v", err)
		}
		if got, _ := f.svc.Get(ctx, "demo", r.ID); got.State != Pending {
			t.Fatalf("an outcome not recorded was made: %v", got.State)
		}
		k.mu.Lock()
		k.fail = nil
		k.mu.Unlock()
		if got, err := f.svc.Answer(ctx, "demo", r.ID, rep); err != nil || got.State != Approved {
			t.Fatalf("the answer again, once the store is back: %v, %v", got.State, err)
		}
	})
}

// TestRecordedOutcomeOvertaken: while the node that recorded an approval has not yet
// made it, a cancellation loses the recording and gives the request the bare approval,
// and the requester, woken, consumes it; the approving device is still answered with
// the approval it made, its answer and no error.
func TestRecordedOutcomeOvertaken(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		k := newKeeper()
		f := newFixture(t, open(), func(c *Config) { c.Outcomes = k })
		ctx := t.Context()
		r := f.create(nil)
		k.after = func(rec Request) {
			if rec.State != Approved {
				return
			}
			if _, err := f.svc.Cancel(ctx, "demo", r.ID, binding); !errors.Is(err, ErrNotPending) {
				t.Errorf("Cancel after the approval was recorded: %v, want ErrNotPending", err)
			}
			if out, err := f.svc.Consume(ctx, "demo", r.ID, binding); err != nil || out.State != Approved {
				t.Errorf("Consume of the settled approval: %v, %v", out.State, err)
			}
		}
		got, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()))
		if err != nil || got.State != Approved || got.Answer == nil || got.Answer.DeviceID != f.phones[0].id {
			t.Fatalf("Answer = %+v, %v; want the approval with its answer", got, err)
		}
		if now, err := f.svc.Get(ctx, "demo", r.ID); err != nil || now.State != Consumed {
			t.Errorf("the request is %v (%v), want consumed", now.State, err)
		}
		if _, evs := k.kept(r.ID); len(evs) != 1 {
			t.Errorf("records %v, want the approval's alone", evs)
		}
	})
}

// TestRecordingOutlivesItsCaller: a caller that gives up while its outcome is being
// recorded does not stop it: the outcome is made.
func TestRecordingOutlivesItsCaller(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		k := newKeeper()
		f := newFixture(t, open(), func(c *Config) { c.Outcomes = k })
		r := f.create(nil)
		ctx, cancel := context.WithCancel(t.Context())
		k.after = func(Request) { cancel() }
		got, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()))
		if err != nil || got.State != Approved {
			t.Fatalf("Answer whose caller gave up = %v, %v; want the approval", got.State, err)
		}
		if now, err := f.svc.Get(t.Context(), "demo", r.ID); err != nil || now.State != Approved {
			t.Errorf("the request is %v (%v), want approved", now.State, err)
		}
	})
}
