package keys

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// State is where a stored key is in its lifecycle.
type State string

// Key states. All three are published in the JWKS; only active keys sign.
const (
	// StateNext: generated and published, not yet signing.
	StateNext State = "next"
	// StateActive: signs new tokens.
	StateActive State = "active"
	// StateRetired: no longer signs; published until Policy.RetainFor has passed so that
	// tokens it signed still verify.
	StateRetired State = "retired"
)

// Valid reports whether s is a known state.
func (s State) Valid() bool { return s == StateNext || s == StateActive || s == StateRetired }

// Stored is a key with its lifecycle bookkeeping, as the store persists it.
type Stored struct {
	Key   *Key
	State State
	// ActivatedAt is when the key became active (zero while it is next).
	ActivatedAt time.Time
	// RetiredAt is when the key was retired (zero unless it is retired).
	RetiredAt time.Time
}

// activatedAt falls back to the creation time for an active key stored without an
// activation time, so such a key still rotates.
func (s Stored) activatedAt() time.Time {
	if s.ActivatedAt.IsZero() {
		return s.Key.CreatedAt
	}
	return s.ActivatedAt
}

// Policy is a realm's key rotation policy.
type Policy struct {
	// RotationPeriod is how long a key stays active before the next key takes over.
	RotationPeriod time.Duration
	// PrepublishFor is how long a next key must have been published before it may
	// become active: at least the longest time a relying party caches the JWKS.
	PrepublishFor time.Duration
	// RetainFor is how long a retired key stays published: at least the longest lifetime
	// of anything it signed (ID, access and logout tokens, signed userinfo responses),
	// or those stop verifying before they expire.
	RetainFor time.Duration
}

// DefaultPolicy rotates every 90 days, pre-publishes for 7 days (far beyond the hours
// relying parties usually cache a JWKS) and keeps a retired key published for 30 days
// (beyond any token lifetime Signet allows by default). The JWKS then holds two or three
// keys per algorithm.
func DefaultPolicy() Policy {
	const day = 24 * time.Hour
	return Policy{RotationPeriod: 90 * day, PrepublishFor: 7 * day, RetainFor: 30 * day}
}

// Validate checks that the durations are usable. The configuration layer also checks
// RetainFor against the configured token lifetimes, which this package does not know.
func (p Policy) Validate() error {
	switch {
	case p.RotationPeriod <= 0:
		return fmt.Errorf("%w: rotation period %v must be positive", ErrInvalidPolicy, p.RotationPeriod)
	case p.PrepublishFor < 0:
		return fmt.Errorf("%w: pre-publication %v must not be negative", ErrInvalidPolicy, p.PrepublishFor)
	case p.PrepublishFor > p.RotationPeriod:
		// A next key is generated when its predecessor becomes active, so it has been
		// published for one rotation period when it is due; a longer pre-publication
		// would stretch every period.
		return fmt.Errorf("%w: pre-publication %v exceeds rotation period %v", ErrInvalidPolicy, p.PrepublishFor, p.RotationPeriod)
	case p.RetainFor <= 0:
		return fmt.Errorf("%w: retention %v must be positive", ErrInvalidPolicy, p.RetainFor)
	}
	return nil
}

// RotationPlan is what to do for one algorithm at one instant. Applying it (Apply, or
// the store in one transaction) leaves exactly one active and one next key.
type RotationPlan struct {
	Alg Alg
	// Signing is the kid of the key that signs once the plan is applied; empty when
	// GenerateActive is set, as the new key's kid is known only once it exists.
	Signing string
	// GenerateActive: no key can sign; generate one and make it active at once.
	GenerateActive bool
	// GenerateNext: generate a key and store it as next (published, not signing).
	GenerateNext bool
	// Promote is the kid of the next key to make active now, or empty.
	Promote string
	// Retire lists kids to mark retired now: the active key being replaced, surplus
	// active keys, and retired keys missing their retirement time.
	Retire []string
	// Delete lists kids to remove: keys retired for RetainFor, and surplus next keys
	// (which never signed anything).
	Delete []string
	// NextCheck is when running Plan again will next change something, provided the
	// plan is applied now; a scheduler sleeps until then.
	NextCheck time.Time
	// Err is set, and nothing else is, when the policy or algorithm is invalid: a zero
	// Policy would otherwise rotate on every run and delete retired keys at once.
	Err error
}

// Changes reports whether the plan has anything to do.
func (pl RotationPlan) Changes() bool {
	return pl.GenerateActive || pl.GenerateNext || pl.Promote != "" || len(pl.Retire) > 0 || len(pl.Delete) > 0
}

// Plan decides what to do for alg at now under policy p, given every stored key of the
// realm (keys of other algorithms are ignored). It is pure and idempotent: applying its
// result and planning again at the same instant yields no changes. An invalid policy or
// algorithm yields a plan with only Err set.
//
//   - No key at all: generate an active key and a next key.
//   - No active key but a next one: promote it at once (something must sign) and
//     generate a new next.
//   - Active key and no next key: generate the next key.
//   - Active key older than RotationPeriod and next key published for at least
//     PrepublishFor: promote the next key, retire the active one, generate a new next.
//     If the next key is not yet published long enough, the active key signs a little
//     longer; relying parties must never meet a kid they could not have fetched.
//   - Retired keys are deleted once retired for RetainFor.
func Plan(now time.Time, p Policy, ks []Stored, alg Alg) RotationPlan {
	return plan(now, p, ks, alg, false)
}

// ForceRotate plans an administrator's "rotate now": the next key becomes active at
// once (if there is none, a new key is generated and made active at once), the current
// active key is retired, and a new next key is generated. Deletions are as in Plan.
//
// A forced rotation skips pre-publication: the next key may have been published only
// briefly and a freshly generated key not at all, so a relying party with a cached JWKS
// can meet an unknown kid. That is still safe, and at worst briefly inconvenient:
// nothing verifies against a key it has not fetched, and OpenID Connect Core §10.1.1
// tells relying parties to re-fetch the JWKS on an unknown kid. Tokens the old key
// already signed keep verifying, because the retired key stays published for RetainFor.
// (After a suspected compromise, also delete the retired key; that is a separate,
// explicit step, since it invalidates every token the key signed.)
func ForceRotate(now time.Time, p Policy, ks []Stored, alg Alg) RotationPlan {
	return plan(now, p, ks, alg, true)
}

func plan(now time.Time, p Policy, ks []Stored, alg Alg, force bool) RotationPlan {
	pl := RotationPlan{Alg: alg}
	if err := p.Validate(); err != nil {
		pl.Err = fmt.Errorf("plan %s rotation: %w", alg, err)
		return pl
	}
	if !alg.Valid() {
		pl.Err = fmt.Errorf("plan %q rotation: %w", alg, ErrUnsupportedAlg)
		return pl
	}
	var actives, nexts []Stored
	// Earliest future moment something changes, given the plan is applied now.
	var wake []time.Time

	for _, s := range ks {
		if s.Key == nil || s.Key.Alg != alg {
			continue
		}
		switch s.State {
		case StateActive:
			actives = append(actives, s)
		case StateNext:
			nexts = append(nexts, s)
		case StateRetired:
			switch deleteAt := s.RetiredAt.Add(p.RetainFor); {
			case s.RetiredAt.IsZero():
				// Stamp it now rather than guess: it stays published a full RetainFor.
				pl.Retire = append(pl.Retire, s.Key.KID)
				wake = append(wake, now.Add(p.RetainFor))
			case !now.Before(deleteAt):
				pl.Delete = append(pl.Delete, s.Key.KID)
			default:
				wake = append(wake, deleteAt)
			}
		}
	}

	// Newest activation first: the newest active key is the one that signs.
	slices.SortFunc(actives, func(a, b Stored) int {
		return cmp.Or(b.activatedAt().Compare(a.activatedAt()), cmp.Compare(a.Key.KID, b.Key.KID))
	})
	// Oldest next first: it has been published longest.
	slices.SortFunc(nexts, func(a, b Stored) int {
		return cmp.Or(a.Key.CreatedAt.Compare(b.Key.CreatedAt), cmp.Compare(a.Key.KID, b.Key.KID))
	})

	// Surplus keys, which only a race or a manual change leaves behind: extra active keys
	// are retired (they may have signed), extra next keys deleted (they never signed).
	if len(actives) > 1 {
		for _, s := range actives[1:] {
			pl.Retire = append(pl.Retire, s.Key.KID)
		}
		wake = append(wake, now.Add(p.RetainFor))
		actives = actives[:1]
	}
	if len(nexts) > 1 {
		for _, s := range nexts[1:] {
			pl.Delete = append(pl.Delete, s.Key.KID)
		}
		nexts = nexts[:1]
	}

	var activeSince, nextSince time.Time
	switch {
	case len(actives) == 1 && !force && (len(nexts) == 0 ||
		now.Before(actives[0].activatedAt().Add(p.RotationPeriod)) ||
		now.Before(nexts[0].Key.CreatedAt.Add(p.PrepublishFor))):
		// Keep the active key.
		pl.Signing = actives[0].Key.KID
		activeSince = actives[0].activatedAt()
		if len(nexts) == 0 {
			pl.GenerateNext = true
			nextSince = now
		} else {
			nextSince = nexts[0].Key.CreatedAt
		}
	default:
		// Replace the active key (or install a first one).
		if len(actives) == 1 {
			pl.Retire = append(pl.Retire, actives[0].Key.KID)
			wake = append(wake, now.Add(p.RetainFor))
		}
		if len(nexts) == 1 {
			pl.Promote = nexts[0].Key.KID
			pl.Signing = pl.Promote
		} else {
			pl.GenerateActive = true
		}
		pl.GenerateNext = true
		activeSince, nextSince = now, now
	}
	rotateAt := activeSince.Add(p.RotationPeriod)
	if t := nextSince.Add(p.PrepublishFor); t.After(rotateAt) {
		rotateAt = t
	}
	wake = append(wake, rotateAt)
	pl.NextCheck = slices.MinFunc(wake, time.Time.Compare)
	return pl
}

// Apply performs pl on a copy of ks at now, generating keys with gen (Generate in
// production, a faster or deterministic generator in tests). Generated keys are stamped
// with now, so the key list and later plans share one clock. It is the reference for
// what the store does in one transaction; ks itself is not modified.
func Apply(now time.Time, pl RotationPlan, ks []Stored, gen func(Alg) (*Key, error)) ([]Stored, error) {
	if pl.Err != nil {
		return nil, fmt.Errorf("apply rotation plan: %w", pl.Err)
	}
	var fresh []Stored
	newKey := func(st State) error {
		k, err := gen(pl.Alg)
		if err != nil {
			return fmt.Errorf("apply rotation plan: %w", err)
		}
		if k == nil || k.Alg != pl.Alg {
			return fmt.Errorf("apply rotation plan: %w: generator returned no %s key", ErrInvalidKey, pl.Alg)
		}
		k2 := *k
		k2.CreatedAt = now
		s := Stored{Key: &k2, State: st}
		if st == StateActive {
			s.ActivatedAt = now
		}
		fresh = append(fresh, s)
		return nil
	}
	if pl.GenerateActive {
		if err := newKey(StateActive); err != nil {
			return nil, err
		}
	}
	if pl.GenerateNext {
		if err := newKey(StateNext); err != nil {
			return nil, err
		}
	}

	out := make([]Stored, 0, len(ks)+len(fresh))
	seen := map[string]bool{}
	for _, s := range ks {
		if s.Key == nil || s.Key.Alg != pl.Alg {
			out = append(out, s)
			continue
		}
		kid := s.Key.KID
		switch {
		case slices.Contains(pl.Delete, kid):
			seen[kid] = true
			continue
		case slices.Contains(pl.Retire, kid):
			s.State, s.RetiredAt = StateRetired, now
			seen[kid] = true
		case kid == pl.Promote:
			if s.State != StateNext {
				return nil, fmt.Errorf("apply rotation plan: %w: promoted key %s is %s", ErrPlanMismatch, kid, s.State)
			}
			s.State, s.ActivatedAt = StateActive, now
			seen[kid] = true
		}
		out = append(out, s)
	}
	for _, kid := range slices.Concat(pl.Delete, pl.Retire, []string{pl.Promote}) {
		if kid != "" && !seen[kid] {
			return nil, fmt.Errorf("apply rotation plan: %w: no %s key %s", ErrPlanMismatch, pl.Alg, kid)
		}
	}
	return append(out, fresh...), nil
}

// Published returns the keys to publish in the JWKS: every next, active and retired key
// in ks (deleted keys are simply no longer in the list). Active keys come first, newest
// first, then next keys, then retired keys, most recently retired first.
func Published(ks []Stored) []*Key {
	rank := map[State]int{StateActive: 0, StateNext: 1, StateRetired: 2}
	var pub []Stored
	for _, s := range ks {
		if s.Key != nil && s.State.Valid() {
			pub = append(pub, s)
		}
	}
	slices.SortStableFunc(pub, func(a, b Stored) int {
		if c := cmp.Compare(rank[a.State], rank[b.State]); c != 0 {
			return c
		}
		switch a.State {
		case StateActive:
			return b.activatedAt().Compare(a.activatedAt())
		case StateRetired:
			return b.RetiredAt.Compare(a.RetiredAt)
		}
		return a.Key.CreatedAt.Compare(b.Key.CreatedAt)
	})
	out := make([]*Key, 0, len(pub))
	seen := map[string]bool{}
	for _, s := range pub {
		if !seen[s.Key.KID] {
			seen[s.Key.KID] = true
			out = append(out, s.Key)
		}
	}
	return out
}

// SigningKey returns the key that signs for alg: the most recently activated active key.
func SigningKey(ks []Stored, alg Alg) (*Key, error) {
	var best *Stored
	for i := range ks {
		s := &ks[i]
		if s.Key == nil || s.Key.Alg != alg || s.State != StateActive {
			continue
		}
		// Same order as Plan: newest activation, then smallest kid.
		if best == nil || cmp.Or(s.activatedAt().Compare(best.activatedAt()), cmp.Compare(best.Key.KID, s.Key.KID)) > 0 {
			best = s
		}
	}
	if best == nil {
		return nil, fmt.Errorf("signing key for %s: %w", alg, ErrNoActiveKey)
	}
	return best.Key, nil
}
