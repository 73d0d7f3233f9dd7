package authn

import (
	"errors"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/ephemeral/memory"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/sigma"
)

func TestRealmPolicy(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		attrs map[string]string
		want  Policy
	}{
		"none": {nil, Policy{NumberMatching: NumberMatchingPick}},
		"all set": {map[string]string{AttrNumberMatching: "off", AttrMaxPending: "1", AttrDenialsBeforeCooldown: "5",
			AttrDenialWindow: "1h0m0s", AttrCooldown: "30s"},
			Policy{NumberMatching: NumberMatchingOff, MaxPending: 1, DenialsBeforeCooldown: 5, DenialWindow: time.Hour, Cooldown: 30 * time.Second}},
		// Only the exact value turns number matching off; unusable limits are the node's.
		"unusable": {map[string]string{AttrNumberMatching: "OFF", AttrMaxPending: "0", AttrDenialsBeforeCooldown: "-1",
			AttrDenialWindow: "10", AttrCooldown: "-5s"},
			Policy{NumberMatching: NumberMatchingPick}},
		"pick": {map[string]string{AttrNumberMatching: "pick"}, Policy{NumberMatching: NumberMatchingPick}},
	} {
		if got := RealmPolicy(store.Realm{Attributes: tc.attrs}); got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

// Without a realm policy the node's limits apply, and they are what they always were.
func TestPolicyDefaults(t *testing.T) {
	t.Parallel()
	want := Policy{NumberMatching: NumberMatchingPick, MaxPending: 3, DenialsBeforeCooldown: 3,
		DenialWindow: 10 * time.Minute, Cooldown: 2 * time.Minute}
	if got := (Config{}).Defaults(); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	node := Config{MaxPending: 5, Cooldown: time.Minute}.Defaults()
	if node.MaxPending != 5 || node.Cooldown != time.Minute || node.DenialsBeforeCooldown != 3 {
		t.Errorf("the node's own limits: %+v", node)
	}
	realm := Policy{MaxPending: 1, NumberMatching: NumberMatchingOff}.Or(node)
	if realm.MaxPending != 1 || realm.NumberMatching != NumberMatchingOff || realm.Cooldown != time.Minute {
		t.Errorf("a realm's policy over the node's: %+v", realm)
	}

	f := newFixture(t, memory.New(), nil)
	r := f.create(nil)
	if r.Policy != want || len(r.MatchNumber) != 2 {
		t.Errorf("a request without a policy: policy %+v, number %q", r.Policy, r.MatchNumber)
	}
}

// A realm that allows one pending request refuses the second; the node's limit still
// holds for a realm without a policy of its own.
func TestRealmMaxPending(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		strict := Policy{MaxPending: 1}
		f.create(func(n *NewRequest) { n.Policy = strict })
		n := NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "webapp", UserID: f.user, Devices: []string{"phone-a"},
			Binding: binding, Policy: strict}
		if _, err := f.svc.Create(ctx, n); !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("second pending request with max_pending_per_user 1: %v, want ErrTooManyPending", err)
		}
		// The same user in a realm without a policy: the node's 3.
		n.Realm, n.Policy = "other", Policy{}
		for i := range 3 {
			if _, err := f.svc.Create(ctx, n); err != nil {
				t.Fatalf("request %d in a realm with the node's limits: %v", i+1, err)
			}
		}
		if _, err := f.svc.Create(ctx, n); !errors.Is(err, ErrTooManyPending) {
			t.Fatalf("fourth pending request with the node's limits: %v, want ErrTooManyPending", err)
		}
	})
}

// cooldownFixture is a fixture whose in-process store runs on the fixture's clock, so
// the cooldown's expiry can be reached without waiting.
func cooldownFixture(t *testing.T) *fixture {
	t.Helper()
	clock := testutil.NewClock(time.Now())
	st := memory.New(memory.WithClock(clock.Now))
	t.Cleanup(func() { _ = st.Close() })
	f := newFixture(t, st, func(c *Config) { c.Now = clock.Now })
	f.clock = clock
	return f
}

// A realm with denials_before_cooldown 1 starts its cooldown at the first denial, for
// as long as its cooldown; the node's 3 denials hold elsewhere.
func TestRealmCooldown(t *testing.T) {
	t.Parallel()
	f := cooldownFixture(t)
	ctx := t.Context()
	strict := Policy{DenialsBeforeCooldown: 1, Cooldown: 30 * time.Second}
	deny := func(r Request) {
		t.Helper()
		if got, err := f.svc.Answer(ctx, r.Realm, r.ID, f.phones[0].reply(t, r, f.user, sigma.Deny, "", f.clock.Now())); err != nil || got.State != Denied {
			t.Fatalf("deny: %v, %v", got.State, err)
		}
	}
	deny(f.create(func(n *NewRequest) { n.Policy = strict }))
	n := NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "webapp", UserID: f.user, Devices: []string{"phone-a"},
		Binding: binding, Policy: strict}
	if _, err := f.svc.Create(ctx, n); !errors.Is(err, ErrCoolingDown) {
		t.Fatalf("a request after one denial with denials_before_cooldown 1: %v, want ErrCoolingDown", err)
	}
	f.clock.Advance(29 * time.Second)
	if _, err := f.svc.Create(ctx, n); !errors.Is(err, ErrCoolingDown) {
		t.Fatalf("a request within the 30 s cooldown: %v, want ErrCoolingDown", err)
	}
	f.clock.Advance(2 * time.Second)
	if _, err := f.svc.Create(ctx, n); err != nil {
		t.Fatalf("a request after the cooldown: %v", err)
	}

	// Another realm, the node's policy: two denials start nothing.
	for range 2 {
		deny(f.create(func(n *NewRequest) { n.Realm = "other" }))
	}
	n.Realm, n.Policy = "other", Policy{}
	if _, err := f.svc.Create(ctx, n); err != nil {
		t.Fatalf("a request after two denials with the node's three: %v", err)
	}
}

// Denials count within the realm's window: two a minute apart do not add up under a
// 30-second window, and do under the node's 10 minutes.
func TestRealmDenialWindow(t *testing.T) {
	t.Parallel()
	f := cooldownFixture(t)
	ctx := t.Context()
	for _, tc := range []struct {
		user   string
		window time.Duration
		want   error
	}{{"short-window", 30 * time.Second, nil}, {"node-window", 0, ErrCoolingDown}} {
		p := Policy{DenialsBeforeCooldown: 2, DenialWindow: tc.window}
		for range 2 {
			r := f.create(func(n *NewRequest) { n.Policy, n.UserID = p, tc.user })
			if _, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, tc.user, sigma.Deny, "", f.clock.Now())); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
		}
		n := NewRequest{Realm: "demo", Kind: KindPushLogin, ClientID: "webapp", UserID: tc.user, Devices: []string{"phone-a"},
			Binding: binding, Policy: p}
		if _, err := f.svc.Create(ctx, n); !errors.Is(err, tc.want) {
			t.Errorf("%s: a request after two denials a minute apart: %v, want %v", tc.user, err, tc.want)
		}
	}
}

// With number matching off, a push login from the login pages carries no number and is
// approved without one; a QR login keeps its number; the default keeps it everywhere.
func TestNumberMatchingOff(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, open func() ephemeral.Store) {
		f := newFixture(t, open(), nil)
		ctx := t.Context()
		off := Policy{NumberMatching: NumberMatchingOff}
		r := f.create(func(n *NewRequest) { n.Policy = off })
		if r.MatchNumber != "" || r.Policy.NumberMatching != NumberMatchingOff {
			t.Fatalf("push login with number matching off: number %q, policy %+v", r.MatchNumber, r.Policy)
		}
		got, err := f.svc.Answer(ctx, "demo", r.ID, f.phones[0].reply(t, r, f.user, sigma.Approve, "", f.clock.Now()))
		if err != nil || got.State != Approved || got.Answer.WrongNumber {
			t.Fatalf("approval without a number: %v, %v", got.State, err)
		}
		qr, err := f.svc.Create(ctx, NewRequest{Realm: "demo", Kind: KindQRLogin, ClientID: "webapp", Binding: binding, Policy: off})
		if err != nil || len(qr.MatchNumber) != 2 {
			t.Fatalf("QR login with number matching off: number %q, %v; want one", qr.MatchNumber, err)
		}
		for _, p := range []Policy{{}, {NumberMatching: NumberMatchingPick}, {NumberMatching: "bogus"}} {
			if r := f.create(func(n *NewRequest) { n.Policy = p; n.UserID = "user-" + p.NumberMatching }); len(r.MatchNumber) != 2 {
				t.Errorf("push login with number matching %q: number %q", p.NumberMatching, r.MatchNumber)
			}
		}
	})
}
