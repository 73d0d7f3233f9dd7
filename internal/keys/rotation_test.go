package keys

import (
	"errors"
	"slices"
	"testing"
	"time"
)

const day = 24 * time.Hour

var (
	t0     = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	policy = Policy{RotationPeriod: 30 * day, PrepublishFor: 7 * day, RetainFor: 10 * day}
)

func gen(a Alg) (*Key, error) { return Generate(a) }

// newKey returns a fresh key of alg created at at.
func newKey(t testing.TB, alg Alg, at time.Time) *Key {
	t.Helper()
	if alg != ES256 && alg != EdDSA {
		k := *fixture(t, alg) // RSA generation is slow; one key per alg is enough
		k.CreatedAt = at
		return &k
	}
	k, err := Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	k.CreatedAt = at
	return k
}

func count(ks []Stored, alg Alg, st State) int {
	n := 0
	for _, s := range ks {
		if s.Key.Alg == alg && s.State == st {
			n++
		}
	}
	return n
}

func find(ks []Stored, kid string) (Stored, bool) {
	for _, s := range ks {
		if s.Key.KID == kid {
			return s, true
		}
	}
	return Stored{}, false
}

func apply(t testing.TB, now time.Time, pl RotationPlan, ks []Stored) []Stored {
	t.Helper()
	out, err := Apply(now, pl, ks, gen)
	if err != nil {
		t.Fatal(err)
	}
	if again := Plan(now, policy, out, pl.Alg); again.Changes() {
		t.Fatalf("plan not idempotent at %v: %+v", now.Sub(t0), again)
	}
	return out
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultPolicy().Validate(); err != nil {
		t.Errorf("default policy: %v", err)
	}
	if err := policy.Validate(); err != nil {
		t.Errorf("test policy: %v", err)
	}
	for _, alg := range []Alg{"none", "HS256", ""} {
		if pl := Plan(t0, policy, nil, alg); !errors.Is(pl.Err, ErrUnsupportedAlg) || pl.Changes() {
			t.Errorf("Plan(%q) = %+v", alg, pl)
		}
	}
	for _, p := range []Policy{
		{},
		{RotationPeriod: -day, RetainFor: day},
		{RotationPeriod: day, RetainFor: 0},
		{RotationPeriod: day, PrepublishFor: -time.Second, RetainFor: day},
		{RotationPeriod: day, PrepublishFor: 2 * day, RetainFor: day},
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidPolicy", p, err)
		}
		// Planning under an invalid policy does nothing, rather than rotate on every run
		// and delete retired keys at once.
		ks := []Stored{{Key: newKey(t, ES256, t0), State: StateRetired, RetiredAt: t0}}
		for _, pl := range []RotationPlan{Plan(t0.Add(day), p, ks, ES256), ForceRotate(t0.Add(day), p, ks, ES256)} {
			if !errors.Is(pl.Err, ErrInvalidPolicy) || pl.Changes() {
				t.Errorf("plan under %+v = %+v", p, pl)
			}
			if _, err := Apply(t0, pl, ks, gen); !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("Apply of invalid plan = %v", err)
			}
		}
	}
}

// TestPlanTimeline walks one algorithm through two rotations, applying each plan.
func TestPlanTimeline(t *testing.T) {
	t.Parallel()
	type want struct {
		generateActive, generateNext, promote bool
		retire, delete                        int
		nextCheck                             time.Duration // since t0
	}
	steps := []struct {
		at   time.Duration
		want want
	}{
		{0, want{generateActive: true, generateNext: true, nextCheck: 30 * day}},
		{day, want{nextCheck: 30 * day}},
		{30*day - time.Second, want{nextCheck: 30 * day}},
		{30 * day, want{promote: true, retire: 1, generateNext: true, nextCheck: 40 * day}},
		{35 * day, want{nextCheck: 40 * day}},
		{40*day - time.Second, want{nextCheck: 40 * day}},
		{40 * day, want{delete: 1, nextCheck: 60 * day}},
		{61 * day, want{promote: true, retire: 1, generateNext: true, nextCheck: 71 * day}},
		{71 * day, want{delete: 1, nextCheck: 91 * day}},
	}
	var ks []Stored
	var prevActive, prevNext string
	for _, st := range steps {
		now := t0.Add(st.at)
		pl := Plan(now, policy, ks, ES256)
		got := want{
			generateActive: pl.GenerateActive, generateNext: pl.GenerateNext, promote: pl.Promote != "",
			retire: len(pl.Retire), delete: len(pl.Delete), nextCheck: pl.NextCheck.Sub(t0),
		}
		if got != st.want {
			t.Fatalf("at %v: plan %+v, want %+v", st.at, got, st.want)
		}
		if st.want.promote && (pl.Promote != prevNext || pl.Signing != prevNext || pl.Retire[0] != prevActive) {
			t.Fatalf("at %v: promote %s retire %v, want next %s over active %s", st.at, pl.Promote, pl.Retire, prevNext, prevActive)
		}
		ks = apply(t, now, pl, ks)
		if count(ks, ES256, StateActive) != 1 || count(ks, ES256, StateNext) != 1 || count(ks, ES256, StateRetired) > 1 {
			t.Fatalf("at %v: %d active, %d next, %d retired", st.at,
				count(ks, ES256, StateActive), count(ks, ES256, StateNext), count(ks, ES256, StateRetired))
		}
		active, err := SigningKey(ks, ES256)
		if err != nil {
			t.Fatal(err)
		}
		if pl.Signing != "" && pl.Signing != active.KID {
			t.Fatalf("at %v: plan says %s signs, list says %s", st.at, pl.Signing, active.KID)
		}
		prevActive = active.KID
		for _, s := range ks {
			if s.State == StateNext {
				prevNext = s.Key.KID
			}
		}
	}
}

// TestRetiredKeyStillVerifies: a token signed by a key just before it is retired verifies
// against the published JWKS until RetainFor has passed, then its kid is unknown.
func TestRetiredKeyStillVerifies(t *testing.T) {
	t.Parallel()
	ks := apply(t, t0, Plan(t0, policy, nil, ES256), nil)
	signer, err := SigningKey(ks, ES256)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Sign(signer, TypeAccessToken, testPayload)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at        time.Duration
		wantState State // of the signing key; "" once deleted
		want      error
	}{
		{29 * day, StateActive, nil},
		{30 * day, StateRetired, nil},
		{35 * day, StateRetired, nil},
		{40*day - time.Nanosecond, StateRetired, nil},
		{40 * day, "", ErrUnknownKID},
		{100 * day, "", ErrUnknownKID},
	}
	for _, tt := range tests {
		now := t0.Add(tt.at)
		ks = apply(t, now, Plan(now, policy, ks, ES256), ks)
		s, ok := find(ks, signer.KID)
		if s.State != tt.wantState || ok != (tt.wantState != "") {
			t.Fatalf("at %v: key state %q (present %v), want %q", tt.at, s.State, ok, tt.wantState)
		}
		_, _, err := Verify(tok, reparse(t, JWKS(Published(ks))), []Alg{ES256})
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Fatalf("at %v: Verify = %v, want %v", tt.at, err, tt.want)
		}
	}
}

// TestRotationOverManyPeriods runs the plan every six hours for a year and checks the
// invariants at every step: one active and one next key, rotation on schedule, every
// next key pre-published, every key that ever signed published for RetainFor after its
// retirement and deleted after that, and a token signed by each key verifying as long as
// its key is published.
func TestRotationOverManyPeriods(t *testing.T) {
	t.Parallel()
	const step = 6 * time.Hour
	type life struct {
		created, activated, retired time.Time
		token                       string // signed by the key at its last step as active
	}
	lives := map[string]*life{}
	var ks []Stored
	rotations := 0
	for now := t0; now.Before(t0.Add(365 * day)); now = now.Add(step) {
		pl := Plan(now, policy, ks, ES256)
		if !pl.NextCheck.After(now) {
			t.Fatalf("at %v: NextCheck %v is not in the future", now.Sub(t0), pl.NextCheck.Sub(t0))
		}
		if pl.Promote != "" {
			rotations++
		}
		ks = apply(t, now, pl, ks)

		if a, n := count(ks, ES256, StateActive), count(ks, ES256, StateNext); a != 1 || n != 1 {
			t.Fatalf("at %v: %d active, %d next", now.Sub(t0), a, n)
		}
		for _, s := range ks {
			l := lives[s.Key.KID]
			if l == nil {
				l = &life{created: s.Key.CreatedAt}
				lives[s.Key.KID] = l
			}
			switch s.State {
			case StateActive:
				if l.activated.IsZero() {
					l.activated = s.ActivatedAt
					// Every activation after the bootstrap key's was pre-published.
					if s.ActivatedAt.After(t0) && s.ActivatedAt.Sub(l.created) < policy.PrepublishFor {
						t.Fatalf("key %s active after %v of pre-publication", s.Key.KID, s.ActivatedAt.Sub(l.created))
					}
				}
				if age := now.Sub(s.ActivatedAt); age >= policy.RotationPeriod+step {
					t.Fatalf("at %v: active key is %v old", now.Sub(t0), age)
				}
				tok, err := Sign(s.Key, TypeJWT, testPayload)
				if err != nil {
					t.Fatal(err)
				}
				l.token = tok
			case StateRetired:
				l.retired = s.RetiredAt
			}
		}

		set := JWKS(Published(ks))
		for kid, l := range lives {
			_, present := find(ks, kid)
			shouldBe := l.retired.IsZero() || now.Before(l.retired.Add(policy.RetainFor))
			if present != shouldBe {
				t.Fatalf("at %v: key retired at %v present=%v, want %v", now.Sub(t0), l.retired.Sub(t0), present, shouldBe)
			}
			if l.token == "" {
				continue
			}
			_, _, err := Verify(l.token, set, []Alg{ES256})
			if present && err != nil {
				t.Fatalf("at %v: token of published key %s: %v", now.Sub(t0), kid, err)
			}
			if !present && !errors.Is(err, ErrUnknownKID) {
				t.Fatalf("at %v: token of deleted key %s: %v, want ErrUnknownKID", now.Sub(t0), kid, err)
			}
			if !present {
				delete(lives, kid) // checked once after deletion; keeps the loop small
			}
		}
	}
	if want := 365 / 30; rotations != want {
		t.Errorf("%d rotations in a year, want %d", rotations, want)
	}
}

func TestPlanCases(t *testing.T) {
	t.Parallel()
	now := t0.Add(100 * day)
	old := newKey(t, ES256, now.Add(-60*day))
	young := newKey(t, ES256, now.Add(-2*day))
	ripe := newKey(t, ES256, now.Add(-20*day))
	retiredOld := newKey(t, ES256, now.Add(-90*day))
	retiredNew := newKey(t, ES256, now.Add(-80*day))
	rsaKey := newKey(t, RS256, now.Add(-400*day))

	tests := []struct {
		name string
		ks   []Stored
		want RotationPlan
	}{
		{
			name: "active due, next published too briefly: wait",
			ks:   []Stored{{Key: old, State: StateActive, ActivatedAt: now.Add(-31 * day)}, {Key: young, State: StateNext}},
			want: RotationPlan{Signing: old.KID, NextCheck: young.CreatedAt.Add(policy.PrepublishFor)},
		},
		{
			name: "active due, next ripe: rotate",
			ks:   []Stored{{Key: old, State: StateActive, ActivatedAt: now.Add(-31 * day)}, {Key: ripe, State: StateNext}},
			want: RotationPlan{Signing: ripe.KID, Promote: ripe.KID, Retire: []string{old.KID}, GenerateNext: true, NextCheck: now.Add(policy.RetainFor)},
		},
		{
			name: "active due, no next: generate next, rotate after pre-publication",
			ks:   []Stored{{Key: old, State: StateActive, ActivatedAt: now.Add(-31 * day)}},
			want: RotationPlan{Signing: old.KID, GenerateNext: true, NextCheck: now.Add(policy.PrepublishFor)},
		},
		{
			name: "active without activation time rotates by creation time",
			ks:   []Stored{{Key: old, State: StateActive}, {Key: ripe, State: StateNext}},
			want: RotationPlan{Signing: ripe.KID, Promote: ripe.KID, Retire: []string{old.KID}, GenerateNext: true, NextCheck: now.Add(policy.RetainFor)},
		},
		{
			name: "no active, next exists: promote at once",
			ks:   []Stored{{Key: young, State: StateNext}},
			want: RotationPlan{Signing: young.KID, Promote: young.KID, GenerateNext: true, NextCheck: now.Add(policy.RotationPeriod)},
		},
		{
			name: "only retired keys: start over, keep them published",
			ks:   []Stored{{Key: retiredNew, State: StateRetired, RetiredAt: now.Add(-day)}},
			want: RotationPlan{GenerateActive: true, GenerateNext: true, NextCheck: now.Add(9 * day)},
		},
		{
			name: "two actives: newer signs, older retired",
			ks: []Stored{
				{Key: old, State: StateActive, ActivatedAt: now.Add(-5 * day)},
				{Key: ripe, State: StateActive, ActivatedAt: now.Add(-day)},
				{Key: young, State: StateNext},
			},
			want: RotationPlan{Signing: ripe.KID, Retire: []string{old.KID}, NextCheck: now.Add(policy.RetainFor)},
		},
		{
			name: "two nexts: the older stays, the younger (never used) goes",
			ks: []Stored{
				{Key: old, State: StateActive, ActivatedAt: now.Add(-day)},
				{Key: young, State: StateNext},
				{Key: ripe, State: StateNext},
			},
			want: RotationPlan{Signing: old.KID, Delete: []string{young.KID}, NextCheck: now.Add(29 * day)},
		},
		{
			name: "retired keys: expired deleted, recent kept, unstamped stamped",
			ks: []Stored{
				{Key: old, State: StateActive, ActivatedAt: now.Add(-day)},
				{Key: ripe, State: StateNext},
				{Key: retiredOld, State: StateRetired, RetiredAt: now.Add(-policy.RetainFor)},
				{Key: retiredNew, State: StateRetired, RetiredAt: now.Add(-3 * day)},
				{Key: young, State: StateRetired},
			},
			want: RotationPlan{Signing: old.KID, Delete: []string{retiredOld.KID}, Retire: []string{young.KID}, NextCheck: now.Add(7 * day)},
		},
		{
			name: "keys of other algorithms are ignored",
			ks: []Stored{
				{Key: rsaKey, State: StateActive, ActivatedAt: rsaKey.CreatedAt},
				{Key: old, State: StateActive, ActivatedAt: now.Add(-day)},
				{Key: ripe, State: StateNext},
			},
			want: RotationPlan{Signing: old.KID, NextCheck: now.Add(29 * day)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Plan(now, policy, tt.ks, ES256)
			if got.Err != nil {
				t.Fatal(got.Err)
			}
			tt.want.Alg = ES256
			if !equalPlan(got, tt.want) {
				t.Fatalf("Plan =\n  %+v\nwant\n  %+v", got, tt.want)
			}
			after := apply(t, now, got, tt.ks)
			if count(after, ES256, StateActive) != 1 || count(after, ES256, StateNext) != 1 {
				t.Fatalf("after apply: %d active, %d next", count(after, ES256, StateActive), count(after, ES256, StateNext))
			}
			if count(after, RS256, StateActive) != count(tt.ks, RS256, StateActive) {
				t.Fatal("apply touched another algorithm")
			}
		})
	}
}

func equalPlan(a, b RotationPlan) bool {
	return a.Alg == b.Alg && a.Signing == b.Signing && a.GenerateActive == b.GenerateActive &&
		a.GenerateNext == b.GenerateNext && a.Promote == b.Promote && a.NextCheck.Equal(b.NextCheck) &&
		slices.Equal(a.Retire, b.Retire) && slices.Equal(a.Delete, b.Delete)
}

func TestForceRotate(t *testing.T) {
	t.Parallel()
	now := t0.Add(10 * day)
	ks := apply(t, t0, Plan(t0, policy, nil, ES256), nil)
	oldActive, err := SigningKey(ks, ES256)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Sign(oldActive, TypeJWT, testPayload)
	if err != nil {
		t.Fatal(err)
	}
	next := ks[slices.IndexFunc(ks, func(s Stored) bool { return s.State == StateNext })].Key

	// With a next key: it signs at once, although published only 10 of 30 days.
	pl := ForceRotate(now, policy, ks, ES256)
	want := RotationPlan{Alg: ES256, Signing: next.KID, Promote: next.KID, Retire: []string{oldActive.KID}, GenerateNext: true, NextCheck: now.Add(policy.RetainFor)}
	if !equalPlan(pl, want) {
		t.Fatalf("ForceRotate =\n  %+v\nwant\n  %+v", pl, want)
	}
	ks = apply(t, now, pl, ks)
	if k, _ := SigningKey(ks, ES256); k.KID != next.KID {
		t.Fatalf("signing key %s, want %s", k.KID, next.KID)
	}
	// The old key stays published: tokens it signed still verify.
	if _, _, err := Verify(tok, JWKS(Published(ks)), []Alg{ES256}); err != nil {
		t.Fatalf("token of the force-retired key: %v", err)
	}

	// Without a next key: a new key is generated and signs at once.
	var noNext []Stored
	for _, s := range ks {
		if s.State != StateNext {
			noNext = append(noNext, s)
		}
	}
	pl = ForceRotate(now, policy, noNext, ES256)
	if !pl.GenerateActive || !pl.GenerateNext || pl.Promote != "" || !slices.Equal(pl.Retire, []string{next.KID}) {
		t.Fatalf("ForceRotate without next = %+v", pl)
	}
	after := apply(t, now, pl, noNext)
	if k, _ := SigningKey(after, ES256); k.KID == next.KID || k.KID == oldActive.KID {
		t.Fatal("no fresh key signs")
	}
	if len(Published(after)) != 4 { // fresh active, fresh next, two retired
		t.Fatalf("published %d keys, want 4", len(Published(after)))
	}

	// On an empty list it bootstraps like Plan.
	if pl := ForceRotate(now, policy, nil, ES256); !pl.GenerateActive || !pl.GenerateNext {
		t.Fatalf("ForceRotate(empty) = %+v", pl)
	}
}

func TestPublished(t *testing.T) {
	t.Parallel()
	now := t0
	a1 := newKey(t, ES256, now.Add(-40*day))
	a2 := newKey(t, RS256, now.Add(-40*day))
	n1 := newKey(t, ES256, now.Add(-day))
	r1 := newKey(t, ES256, now.Add(-90*day))
	r2 := newKey(t, ES256, now.Add(-70*day))
	bad := newKey(t, EdDSA, now)
	ks := []Stored{
		{Key: r1, State: StateRetired, RetiredAt: now.Add(-9 * day)},
		{Key: n1, State: StateNext},
		{Key: bad, State: "compromised"},
		{Key: a1, State: StateActive, ActivatedAt: now.Add(-2 * day)},
		{Key: r2, State: StateRetired, RetiredAt: now.Add(-2 * day)},
		{Key: a2, State: StateActive, ActivatedAt: now.Add(-1 * day)},
		{Key: nil, State: StateActive},
		{Key: n1, State: StateNext}, // duplicate row
	}
	var got []string
	for _, k := range Published(ks) {
		got = append(got, k.KID)
	}
	want := []string{a2.KID, a1.KID, n1.KID, r2.KID, r1.KID}
	if !slices.Equal(got, want) {
		t.Fatalf("Published = %v, want %v", got, want)
	}
	if len(Published(nil)) != 0 {
		t.Fatal("Published(nil) is not empty")
	}
}

func TestSigningKey(t *testing.T) {
	t.Parallel()
	k1 := newKey(t, ES256, t0)
	k2 := newKey(t, ES256, t0)
	ks := []Stored{
		{Key: k1, State: StateActive, ActivatedAt: t0},
		{Key: k2, State: StateActive, ActivatedAt: t0.Add(time.Hour)},
		{Key: newKey(t, ES256, t0), State: StateNext},
	}
	if k, err := SigningKey(ks, ES256); err != nil || k != k2 {
		t.Fatalf("SigningKey = %v, %v; want the newest active %v", k, err, k2)
	}
	if _, err := SigningKey(ks, EdDSA); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("SigningKey(EdDSA) = %v, want ErrNoActiveKey", err)
	}
	if _, err := SigningKey(ks[2:], ES256); !errors.Is(err, ErrNoActiveKey) {
		t.Fatalf("SigningKey(next only) = %v, want ErrNoActiveKey", err)
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	k := newKey(t, ES256, t0)
	ks := []Stored{{Key: k, State: StateActive, ActivatedAt: t0}}
	orig := slices.Clone(ks)

	for _, pl := range []RotationPlan{
		{Alg: ES256, Promote: "missing"},
		{Alg: ES256, Retire: []string{"missing"}},
		{Alg: ES256, Delete: []string{"missing"}},
		{Alg: ES256, Promote: k.KID}, // active, not next
		{Alg: EdDSA, Retire: []string{k.KID}},
	} {
		if _, err := Apply(t0, pl, ks, gen); !errors.Is(err, ErrPlanMismatch) {
			t.Errorf("Apply(%+v) = %v, want ErrPlanMismatch", pl, err)
		}
	}
	boom := errors.New("entropy exhausted")
	if _, err := Apply(t0, RotationPlan{Alg: ES256, GenerateNext: true}, ks, func(Alg) (*Key, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("generator error = %v", err)
	}
	if _, err := Apply(t0, RotationPlan{Alg: ES256, GenerateNext: true}, ks, func(Alg) (*Key, error) { return newKey(t, EdDSA, t0), nil }); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("generator of the wrong alg = %v", err)
	}
	if !slices.Equal(ks, orig) || ks[0].State != StateActive {
		t.Error("failed Apply modified its input")
	}
	// Generated keys take the plan's clock, not the wall clock.
	out, err := Apply(t0, RotationPlan{Alg: ES256, GenerateNext: true}, ks, gen)
	if err != nil {
		t.Fatal(err)
	}
	if got := out[len(out)-1]; !got.Key.CreatedAt.Equal(t0) || got.State != StateNext {
		t.Errorf("generated %+v", got)
	}
}
