package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/sigma"
)

// backends runs fn against the in-process store and against Redis (CI sets its URL).
func backends(t *testing.T, fn func(t *testing.T, open func() ephemeral.Store)) {
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		st := memory.New()
		t.Cleanup(func() { _ = st.Close() })
		fn(t, func() ephemeral.Store { return st })
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		url := testutil.RedisURL(t)
		prefix := "signet-test:authn:" + rand.Text()[:10] + ":"
		var once sync.Once
		var st ephemeral.Store
		fn(t, func() ephemeral.Store {
			once.Do(func() {
				s, err := redis.Open(t.Context(), url, redis.WithPrefix(prefix))
				if err != nil {
					t.Fatalf("open Redis: %v", err)
				}
				t.Cleanup(func() { _ = s.Close() })
				st = s
			})
			return st
		})
	})
}

// recorder keeps the events it is given.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(_ context.Context, e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// all lists every event type recorded, in order.
func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

// types lists the event types recorded for request id, in order.
func (r *recorder) types(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.RequestID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

type fixture struct {
	t      *testing.T
	svc    *Service
	clock  *testutil.Clock
	events *recorder
	user   string
	phones []*phone
}

// phone is an enrolled device: its id and key.
type phone struct {
	id  string
	key *ecdsa.PrivateKey
}

func newPhone(t *testing.T, id string) *phone {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &phone{id: id, key: k}
}

func (p *phone) publicKey(t *testing.T) []byte {
	b, err := p.key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply signs a decision on r as this phone, for user.
func (p *phone) reply(t *testing.T, r Request, user string, d sigma.Decision, number string, at time.Time) Reply {
	t.Helper()
	sig, err := sigma.SignApproval(p.key, sigma.Approval{RequestID: r.ID, Realm: r.Realm, ClientID: r.ClientID,
		Text: r.Text, AuthorizationDetails: r.AuthorizationDetails, Number: number, Decision: d, Time: at.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return Reply{DeviceID: p.id, UserID: user, DeviceKey: p.publicKey(t), Decision: d, Number: number,
		SignedAt: at.Unix(), Signature: sig}
}

func newFixture(t *testing.T, st ephemeral.Store, tune func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: testutil.NewClock(time.Now()), events: &recorder{},
		user: "user-" + rand.Text()[:8], phones: []*phone{newPhone(t, "phone-a"), newPhone(t, "phone-b")}}
	cfg := Config{Store: st, Events: f.events, Now: f.clock.Now}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	f.svc = svc
	return f
}

var binding = []byte("browser-login-secret")

func (f *fixture) create(tune func(*NewRequest)) Request {
	f.t.Helper()
	n := NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "webapp", ClientName: "Web App", UserID: f.user,
		Devices: []string{f.phones[0].id, f.phones[1].id}, Text: "Sign in to Web App",
		RequesterIP: "192.0.2.7", UserAgent: "Mozilla/5.0\x00evil", Binding: binding}
	if tune != nil {
		tune(&n)
	}
	r, err := f.svc.Create(f.t.Context(), n)
	if err != nil {
		f.t.Fatalf("Create: %v", err)
	}
	return r
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		r := f.create(nil)
		if len(r.MatchNumber) != 2 || r.MatchNumber[0] == '0' {
			t.Errorf("match number %q: want two digits, no leading zero", r.MatchNumber)
		}
		if got := r.ExpiresAt.Sub(r.CreatedAt); got != DefaultTTL {
			t.Errorf("life %v, want %v", got, DefaultTTL)
		}
		if r.UserAgent != "Mozilla/5.0?evil" {
			t.Errorf("user agent kept as %q", r.UserAgent)
		}
		pending, err := f.svc.Pending(ctx, "demo", f.user)
		if err != nil || len(pending) != 1 || pending[0].ID != r.ID {
			t.Fatalf("Pending = %v, %v; want the request", pending, err)
		}
		if _, err := f.svc.Consume(ctx, "demo", r.ID, binding); !errors.Is(err, ErrPending) {
			t.Errorf("Consume of a pending request: %v, want ErrPending", err)
		}
		got, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[1].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()))
		if err != nil || got.State != Approved || got.Answer.DeviceID != "phone-b" {
			t.Fatalf("Answer = %+v, %v; want approved by phone-b", got, err)
		}
		if pending, _ := f.svc.Pending(ctx, "demo", f.user); len(pending) != 0 {
			t.Errorf("an answered request is still listed: %v", pending)
		}
		if _, err := f.svc.Consume(ctx, "demo", r.ID, []byte("another browser")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Consume with another binding: %v, want ErrNotFound", err)
		}
		out, err := f.svc.Consume(ctx, "demo", r.ID, binding)
		if err != nil || out.State != Approved {
			t.Fatalf("Consume = %v, %v; want the approval", out.State, err)
		}
		if _, err := f.svc.Consume(ctx, "demo", r.ID, binding); !errors.Is(err, ErrConsumed) {
			t.Errorf("second Consume: %v, want ErrConsumed", err)
		}
		if got, want := f.events.types(r.ID), []string{"authn.created", "authn.approved", "authn.consumed"}; !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
		// The stored answer verifies on its own.
		stored, err := f.svc.Get(ctx, "demo", r.ID)
		if err != nil || stored.State != Consumed {
			t.Fatalf("Get = %v, %v", stored.State, err)
		}
		if _, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Deny, "", f.clock.Now())); !errors.Is(err, ErrNotPending) {
			t.Errorf("answer after the outcome: %v, want ErrNotPending", err)
		}
	})
}

func TestAnswerRefusals(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		r := f.create(nil)
		now := f.clock.Now()
		stranger := newPhone(t, "phone-x")
		tampered := r
		tampered.Text = "Pay 1000 EUR to the attacker"
		badSig := f.phones[0].reply(t, tampered, f.user, sigma.Approve, r.MatchNumber, now)
		otherKey := f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, now)
		otherKey.DeviceKey = f.phones[1].publicKey(t)
		late := f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, now.Add(-2*MaxClockSkew))
		notMeApprove := f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, now)
		notMeApprove.NotMe = true
		badKey := f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, now)
		badKey.DeviceKey = []byte{4, 1, 2, 3}
		for name, c := range map[string]struct {
			rep  Reply
			want error
		}{
			"text changed":          {badSig, ErrBadSignature},
			"another device's key":  {otherKey, ErrBadSignature},
			"device not addressed":  {stranger.reply(t, r, f.user, sigma.Approve, r.MatchNumber, now), ErrNotAddressed},
			"another user":          {f.phones[0].reply(t, r, "someone-else", sigma.Approve, r.MatchNumber, now), ErrNotFound},
			"signed time off":       {late, ErrInvalid},
			"not me on an approval": {notMeApprove, ErrInvalid},
			"not a P-256 point":     {badKey, ErrInvalid},
			"decision out of range": {Reply{DeviceID: "phone-a", UserID: f.user, Decision: 7}, ErrInvalid},
			// Signed as the device likes, but no number a request shows.
			"a NUL in the number":   {f.phones[0].reply(t, r, f.user, sigma.Approve, "4\x00", now), ErrInvalid},
			"a number far too long": {f.phones[0].reply(t, r, f.user, sigma.Approve, strings.Repeat("4", 17), now), ErrInvalid},
		} {
			if _, err := f.svc.Answer(ctx, "demo", r.ID, c.rep); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", name, err, c.want)
			}
		}
		if _, err := f.svc.Answer(ctx, "demo", "no-such-request", f.phones[0].reply(t, r, f.user, sigma.Approve, "", now)); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown request: %v", err)
		}
		if _, err := f.svc.Answer(ctx, "other-realm", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, "", now)); !errors.Is(err, ErrNotFound) {
			t.Errorf("request of another realm: %v", err)
		}
		if got, _ := f.svc.Get(ctx, "demo", r.ID); got.State != Pending {
			t.Errorf("after refused answers the request is %s, want still pending", got.State)
		}
	})
}

func TestWrongNumberIsADenial(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		r := f.create(nil)
		wrong := fmt.Sprintf("%02d", 10+(int(r.MatchNumber[1]-'0')+1)%10)
		got, err := f.svc.Answer(t.Context(), "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, wrong, f.clock.Now()))
		if err != nil || got.State != Denied || !got.Answer.WrongNumber || got.Answer.Decision != "approve" {
			t.Fatalf("approval with the wrong number: %+v, %v; want denied", got, err)
		}
		if got := f.events.types(r.ID); !slices.Equal(got, []string{"authn.created", "authn.denied"}) {
			t.Errorf("events %v", got)
		}
	})
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		r := f.create(func(n *NewRequest) { n.TTL = 30 * time.Second })
		signed := f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now())
		f.clock.Advance(31 * time.Second)
		if _, err := f.svc.Answer(ctx, "demo", r.ID, signed); !errors.Is(err, ErrExpired) {
			t.Errorf("answer after expiry: %v, want ErrExpired", err)
		}
		if _, err := f.svc.Cancel(ctx, "demo", r.ID, binding); !errors.Is(err, ErrNotPending) {
			t.Errorf("cancel after expiry: %v, want ErrNotPending", err)
		}
		out, err := f.svc.Consume(ctx, "demo", r.ID, binding)
		if err != nil || out.State != Expired {
			t.Fatalf("Consume = %v, %v; want expired", out.State, err)
		}
		if got := f.events.types(r.ID); !slices.Equal(got, []string{"authn.created", "authn.expired", "authn.consumed"}) {
			t.Errorf("events %v: want one expiry", got)
		}
		if pending, _ := f.svc.Pending(ctx, "demo", f.user); len(pending) != 0 {
			t.Errorf("an expired request is listed: %v", pending)
		}
	})
}

// The node that made a request expires it on time, with nobody reading it.
func TestExpiryTimer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nil)
	r := f.create(func(n *NewRequest) { n.TTL = MinTTL })
	if !f.svc.scheduled(r) {
		t.Fatal("Create set no expiry timer")
	}
	// A timer that fires before the expiry (the clocks disagree) sets itself again.
	f.svc.schedule(r.Realm, r.ID, time.Millisecond)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return f.svc.scheduled(r) && len(f.events.types(r.ID)) == 1
	}, "an early timer did not set itself again")
	f.clock.Advance(MinTTL)
	// The timer Create set, due now rather than in ten seconds of the real clock.
	f.svc.schedule(r.Realm, r.ID, time.Millisecond)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return slices.Contains(f.events.types(r.ID), "authn.expired")
	}, "the request did not expire on its timer")
	if pending, _ := f.svc.Pending(t.Context(), "demo", f.user); len(pending) != 0 {
		t.Errorf("an expired request is listed: %v", pending)
	}
}

// scheduled reports whether r has an expiry timer on this node.
func (s *Service) scheduled(r Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.timers[r.Realm+"\x00"+r.ID]
	return ok
}

// waiting reports whether a Wait for the request is under way.
func (s *Service) waiting(realm, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters[realm+"\x00"+id]) > 0
}

func TestCancel(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		r := f.create(nil)
		if _, err := f.svc.Cancel(ctx, "demo", r.ID, []byte("not the starter")); !errors.Is(err, ErrNotFound) {
			t.Errorf("cancel by another: %v, want ErrNotFound", err)
		}
		if got, err := f.svc.Cancel(ctx, "demo", r.ID, binding); err != nil || got.State != Cancelled {
			t.Fatalf("Cancel = %v, %v", got.State, err)
		}
		if _, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now())); !errors.Is(err, ErrNotPending) {
			t.Errorf("answer after cancel: %v, want ErrNotPending", err)
		}
		if out, err := f.svc.Consume(ctx, "demo", r.ID, binding); err != nil || out.State != Cancelled {
			t.Errorf("Consume = %v, %v; want cancelled", out.State, err)
		}
	})
}

// Push bombing: at most MaxPending requests wait per user, and denials start a cooldown.
func TestPushBombing(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), func(c *Config) { c.MaxPending = 2; c.DenialsBeforeCooldown = 2 })
		ctx := t.Context()
		a, b := f.create(nil), f.create(nil)
		n := NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "webapp", UserID: f.user, Devices: []string{"phone-a"}, Binding: binding}
		if _, err := f.svc.Create(ctx, n); !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("third pending request: %v, want ErrTooManyPending", err)
		}
		// Another user is not affected.
		other := n
		other.UserID = "someone-else"
		if _, err := f.svc.Create(ctx, other); err != nil {
			t.Errorf("another user's request: %v", err)
		}
		if _, err := f.svc.Answer(ctx, "demo", a.ID, f.phones[0].reply(t, a, f.user, sigma.Deny, "", f.clock.Now())); err != nil {
			t.Fatal(err)
		}
		c, err := f.svc.Create(ctx, n)
		if err != nil {
			t.Fatalf("a request once one was answered: %v", err)
		}
		if _, err := f.svc.Answer(ctx, "demo", b.ID, f.phones[0].reply(t, b, f.user, sigma.Deny, "", f.clock.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Cancel(ctx, "demo", c.ID, binding); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, n); !errors.Is(err, ErrCoolingDown) {
			t.Errorf("request after two denials: %v, want ErrCoolingDown", err)
		}
	})
}

// Cancelling and asking again does not get around the limit: every request made counts.
func TestCreationLimit(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), func(c *Config) { c.MaxCreated = 3 })
		for range 3 {
			r := f.create(nil)
			if _, err := f.svc.Cancel(t.Context(), "demo", r.ID, binding); err != nil {
				t.Fatal(err)
			}
		}
		n := NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "webapp", UserID: f.user, Devices: []string{"phone-a"}, Binding: binding}
		if _, err := f.svc.Create(t.Context(), n); !errors.Is(err, ErrTooManyCreated) {
			t.Fatalf("a fourth request within the window: %v, want ErrTooManyCreated", err)
		}
	})
}

// Close ends every Wait.
func TestCloseEndsWaits(t *testing.T) {
	t.Parallel()
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	f := newFixture(t, st, nil)
	r := f.create(nil)
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Wait(context.Background(), "demo", r.ID, time.Hour)
		done <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() bool { return f.svc.waiting(r.Realm, r.ID) }, "the waiter did not start")
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Wait after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the Wait")
	}
}

// Of two devices answering one request at the same moment, exactly one decides it.
func TestConcurrentAnswers(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), func(c *Config) { c.DenialsBeforeCooldown, c.MaxCreated = 1000, 1000 })
		ctx := t.Context()
		for range 20 {
			r := f.create(nil)
			replies := []Reply{
				f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()),
				f.phones[1].reply(t, r, f.user, sigma.Deny, "", f.clock.Now()),
			}
			var wins, lost atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, rep := range replies {
				wg.Go(func() {
					<-start
					_, err := f.svc.Answer(ctx, "demo", r.ID, rep)
					switch {
					case err == nil:
						wins.Add(1)
					case errors.Is(err, ErrNotPending):
						lost.Add(1)
					default:
						t.Errorf("Answer: %v", err)
					}
				})
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 || lost.Load() != 1 {
				t.Fatalf("%d answers won and %d lost; want one each", wins.Load(), lost.Load())
			}
			got, _ := f.svc.Get(ctx, "demo", r.ID)
			if n := len(f.events.types(r.ID)); n != 2 {
				t.Errorf("%d events for one outcome", n)
			}
			var consumed atomic.Int32
			for range 8 {
				wg.Go(func() {
					if out, err := f.svc.Consume(ctx, "demo", r.ID, binding); err == nil {
						if out.State != got.State {
							t.Errorf("consumed %s, stored %s", out.State, got.State)
						}
						consumed.Add(1)
					} else if !errors.Is(err, ErrConsumed) {
						t.Errorf("Consume: %v", err)
					}
				})
			}
			wg.Wait()
			if consumed.Load() != 1 {
				t.Fatalf("%d consumptions succeeded; want exactly one", consumed.Load())
			}
		}
	})
}

func TestQRLogin(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		r, err := f.svc.Create(ctx, NewRequest{Realm: "demo", Kind: KindQRLogin, ClientID: "webapp", Binding: binding})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now())); !errors.Is(err, ErrNotFound) {
			t.Errorf("answer before a claim: %v, want ErrNotFound", err)
		}
		if _, err := f.svc.Claim(ctx, "demo", r.ID, f.user, "phone-a"); err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if _, err := f.svc.Claim(ctx, "demo", r.ID, f.user, "phone-a"); err != nil {
			t.Errorf("the same claim again: %v", err)
		}
		if _, err := f.svc.Claim(ctx, "demo", r.ID, "intruder", "phone-z"); !errors.Is(err, ErrNotPending) {
			t.Errorf("a second device's claim: %v, want ErrNotPending", err)
		}
		got, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()))
		if err != nil || got.State != Approved || got.UserID != f.user {
			t.Fatalf("Answer = %+v, %v", got, err)
		}
		push := f.create(nil)
		if _, err := f.svc.Claim(ctx, "demo", push.ID, f.user, "phone-a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("claim of a push login: %v, want ErrNotFound", err)
		}
	})
}

func TestNotMe(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		r := f.create(nil)
		rep := f.phones[0].reply(t, r, f.user, sigma.Deny, "", f.clock.Now())
		rep.NotMe = true
		got, err := f.svc.Answer(t.Context(), "demo", r.ID, rep)
		if err != nil || got.State != Denied || !got.Answer.NotMe {
			t.Fatalf("Answer = %+v, %v", got, err)
		}
		if got := f.events.types(r.ID); !slices.Equal(got, []string{"authn.created", "authn.denied", "authn.reported"}) {
			t.Errorf("events %v", got)
		}
	})
}

// A waiter on one node wakes when a device's answer lands on another.
func TestWaitAcrossNodes(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		other, err := New(t.Context(), Config{Store: open(), Events: f.events, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Close() })
		r := f.create(nil)
		done := make(chan Request, 1)
		go func() {
			// The poll is long: only the notice can wake the waiter in time.
			got, err := f.svc.Wait(t.Context(), "demo", r.ID, time.Hour)
			if err != nil {
				t.Errorf("Wait: %v", err)
			}
			done <- got
		}()
		testutil.Eventually(t, 5*time.Second, func() bool { return f.svc.waiting(r.Realm, r.ID) }, "the waiter did not start")
		if _, err := other.Answer(t.Context(), "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now())); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got.State != Approved {
				t.Errorf("Wait returned %s", got.State)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the waiter did not wake")
		}
	})
}

func TestCreateRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nil)
	base := NewRequest{Realm: "demo", Kind: KindTransaction, ClientID: "bank", UserID: "u", Devices: []string{"d"}, Binding: binding}
	for name, tune := range map[string]func(*NewRequest){
		"unknown kind":        func(n *NewRequest) { n.Kind = "wire" },
		"no realm":            func(n *NewRequest) { n.Realm = "" },
		"no client":           func(n *NewRequest) { n.ClientID = "" },
		"no user":             func(n *NewRequest) { n.UserID = "" },
		"QR with a user":      func(n *NewRequest) { n.Kind = KindQRLogin },
		"no binding":          func(n *NewRequest) { n.Binding = nil },
		"too short":           func(n *NewRequest) { n.TTL = time.Second },
		"too long":            func(n *NewRequest) { n.TTL = 11 * time.Minute },
		"control character":   func(n *NewRequest) { n.Text = "pay\x1b[2J" },
		"not UTF-8":           func(n *NewRequest) { n.Text = "\xff" },
		"text too long":       func(n *NewRequest) { n.Text = strings.Repeat("é", MaxText+1) },
		"details not array":   func(n *NewRequest) { n.AuthorizationDetails = []byte(`{"type":"payment"}`) },
		"details empty array": func(n *NewRequest) { n.AuthorizationDetails = []byte(`[]`) },
		"details no type":     func(n *NewRequest) { n.AuthorizationDetails = []byte(`[{"amount":"1"}]`) },
		"details too big": func(n *NewRequest) {
			n.AuthorizationDetails = []byte(`[{"type":"` + strings.Repeat("a", MaxAuthorizationDetails) + `"}]`)
		},
		"too many devices": func(n *NewRequest) { n.Devices = make([]string, MaxDevices+1) },
	} {
		n := base
		tune(&n)
		if _, err := f.svc.Create(t.Context(), n); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	n := base
	n.Text = "Pay 12.50 EUR\nto ACME"
	n.AuthorizationDetails = []byte(`[ {"type": "payment_initiation", "instructedAmount": {"currency": "EUR", "amount": "12.50"}} ]`)
	r, err := f.svc.Create(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"12.50"}}]`; string(r.AuthorizationDetails) != want {
		t.Errorf("details kept as %s, want compact %s", r.AuthorizationDetails, want)
	}
}

// The number to match is uniform over 10–99.
func TestMatchNumberSpread(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for range 9000 {
		seen[matchNumber()]++
	}
	if len(seen) != 90 {
		t.Fatalf("%d distinct numbers, want 90", len(seen))
	}
	for n, c := range seen {
		if c < 50 || c > 160 {
			t.Errorf("%s drawn %d times in 9000", n, c)
		}
	}
}

// The details a device signs are kept byte for byte: HTML characters are not escaped.
func TestDetailsKeptExactly(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		r := f.create(func(n *NewRequest) {
			n.Kind = KindTransaction
			n.AuthorizationDetails = []byte(`[{"type":"payment","payee":"Smith & Co <AG>"}]`)
		})
		got, err := f.svc.Get(t.Context(), "demo", r.ID)
		if err != nil || string(got.AuthorizationDetails) != `[{"type":"payment","payee":"Smith & Co <AG>"}]` {
			t.Fatalf("stored details %s, %v", got.AuthorizationDetails, err)
		}
	})
}

// A request without number matching (a CIBA client shows its binding message instead)
// is approved without a number.
func TestNoNumber(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nil)
	r := f.create(func(n *NewRequest) { n.Kind, n.NoNumber = KindCIBA, true })
	if r.MatchNumber != "" {
		t.Fatalf("match number %q on a request without number matching", r.MatchNumber)
	}
	got, err := f.svc.Answer(t.Context(), "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, "", f.clock.Now()))
	if err != nil || got.State != Approved || got.Answer.WrongNumber {
		t.Fatalf("Answer = %v, %v", got.State, err)
	}
}

// A node that has read a request sees a change another node made (the version tells it
// its copy is old), and what a read returns is the caller's own.
func TestReadsSeeOtherNodesChanges(t *testing.T) {
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		ctx := t.Context()
		st := open()
		a, err := New(ctx, Config{Store: st, Events: &recorder{}})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := New(ctx, Config{Store: st, Events: &recorder{}})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		r, err := a.Create(ctx, NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "app", UserID: "u-" + rand.Text()[:8],
			Devices: []string{"d1", "d2"}, Text: "Sign in", Binding: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Get(ctx, "demo", r.ID)
		if err != nil || got.State != Pending {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		got.Devices[0] = "mallory"
		if _, err := b.Cancel(ctx, "demo", r.ID, []byte("x")); err != nil {
			t.Fatal(err)
		}
		got, err = a.Get(ctx, "demo", r.ID)
		if err != nil || got.State != Cancelled {
			t.Errorf("node A reads %s after node B cancelled, %v", got.State, err)
		}
		if got.Devices[0] != "d1" {
			t.Errorf("a caller's change reached node A's copy: devices %v", got.Devices)
		}
	})
}

// A state change's event is emitted before the change is announced: whoever the notice
// wakes (a waiter consuming the outcome, a device answering) makes events that must
// follow it in the log.
func TestEventBeforeNotice(t *testing.T) {
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		st := open()
		f := newFixture(t, st, nil)
		ctx := t.Context()
		requests, err := st.Subscribe(ctx, RequestsChannel)
		if err != nil {
			t.Fatal(err)
		}
		defer requests.Close()
		outcomes, err := st.Subscribe(ctx, OutcomesChannel)
		if err != nil {
			t.Fatal(err)
		}
		defer outcomes.Close()
		// The changes are made on other goroutines, as by other parts of the server, and
		// the events are read the moment the notice arrives.
		created := make(chan Request, 1)
		go func() { created <- f.create(nil) }()
		var first []byte
		select {
		case first = <-requests.C():
		case <-time.After(10 * time.Second):
			t.Fatal("no new-request notice")
		}
		seen := f.events.all()
		r := <-created
		if !strings.Contains(string(first), r.ID) || len(seen) == 0 || seen[0] != "authn.created" {
			t.Errorf("at the new-request notice the events are %v, want authn.created already", seen)
		}
		answered := make(chan error, 1)
		go func() {
			_, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, r.MatchNumber, f.clock.Now()))
			answered <- err
		}()
		waitNotice(t, outcomes, r.ID)
		if got := f.events.types(r.ID); len(got) < 2 || got[1] != "authn.approved" {
			t.Errorf("at the outcome notice the events are %v, want authn.approved already", got)
		}
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
	})
}

// waitNotice waits for a notice naming id.
func waitNotice(t *testing.T, sub ephemeral.Subscription, id string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-sub.C():
			if strings.Contains(string(b), id) {
				return
			}
		case <-deadline:
			t.Fatalf("no notice for %s", id)
		}
	}
}
