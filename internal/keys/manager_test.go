package keys

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/sqlite"
	"github.com/signet-auth/signet/internal/testutil"
)

func newManagerStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "demo", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	return st
}

func newTestManager(t *testing.T, st store.SigningKeys, ring *Keyring, clock *testutil.Clock) *Manager {
	t.Helper()
	m, err := NewManager(st, ring, DefaultPolicy(), WithClock(clock.Now), WithRefresh(0))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testRing(t *testing.T) *Keyring { return mustKeyring(t, mustKEK(t)) }

func publishedKIDs(t *testing.T, m *Manager, realm string) map[string]bool {
	t.Helper()
	raw, err := m.JWKS(context.Background(), realm)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS holds a private key %s", k.KeyID)
		}
		kids[k.KeyID] = true
	}
	return kids
}

// TestManagerRotatesThroughTheStore drives a realm's ES256 keys through a year: one key
// signs at a time, the next one is published before it signs, a retired key stays
// published for RetainFor and is then deleted, and a token keeps verifying until then.
func TestManagerRotatesThroughTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newManagerStore(t)
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := newTestManager(t, st, testRing(t), clock)

	if kids := publishedKIDs(t, m, "demo"); len(kids) != 0 {
		t.Fatalf("a new realm publishes keys before any is used: %v", kids)
	}
	first, err := m.SigningKey(ctx, "demo", ES256)
	if err != nil {
		t.Fatal(err)
	}
	kids := publishedKIDs(t, m, "demo")
	if len(kids) != 2 || !kids[first.KID] {
		t.Fatalf("after first use want the active and the pre-published next key, got %v", kids)
	}
	token, err := Sign(first, TypeJWT, []byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}

	p := DefaultPolicy()
	clock.Advance(p.RotationPeriod + time.Hour)
	second, err := m.SigningKey(ctx, "demo", ES256)
	if err != nil {
		t.Fatal(err)
	}
	if second.KID == first.KID || !kids[second.KID] {
		t.Fatalf("after the rotation period the pre-published key must sign: first %s, second %s, published before %v", first.KID, second.KID, kids)
	}
	set, err := m.PublicKeys(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(token, set, []Alg{ES256}); err != nil {
		t.Fatalf("a token of the retired key stopped verifying: %v", err)
	}
	clock.Advance(p.RetainFor + time.Hour)
	if _, err := m.SigningKey(ctx, "demo", ES256); err != nil {
		t.Fatal(err)
	}
	set, _ = m.PublicKeys(ctx, "demo")
	if _, _, err := Verify(token, set, []Alg{ES256}); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("the retired key is still published after RetainFor: %v", err)
	}

	// At rest, every key is sealed: another KEK opens none of them.
	rows, err := st.ListSigningKeys(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	other := testRing(t)
	for _, r := range rows {
		if _, err := other.OpenKey(r.Sealed, "demo", r.KID); err == nil {
			t.Fatalf("key %s opens with another KEK", r.KID)
		}
	}
	wrong := newTestManager(t, st, other, clock)
	if _, err := wrong.SigningKey(ctx, "demo", ES256); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("a node with the wrong KEK signed (%v)", err)
	}
}

// TestManagerAlgorithmsAreLazy: RS256 keys exist only once something signs with RS256,
// and each algorithm rotates on its own.
func TestManagerAlgorithmsAreLazy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testutil.NewClock(time.Now())
	m := newTestManager(t, newManagerStore(t), testRing(t), clock)
	es, err := m.SigningKey(ctx, "demo", ES256)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(publishedKIDs(t, m, "demo")); n != 2 {
		t.Fatalf("%d keys published, want 2 (ES256 only)", n)
	}
	rs, err := m.SigningKey(ctx, "demo", RS256)
	if err != nil || rs.Alg != RS256 {
		t.Fatalf("RS256: %v %v", rs, err)
	}
	if n := len(publishedKIDs(t, m, "demo")); n != 4 {
		t.Fatalf("%d keys published, want 4", n)
	}
	if err := m.Rotate(ctx, "demo", RS256); err != nil {
		t.Fatal(err)
	}
	es2, _ := m.SigningKey(ctx, "demo", ES256)
	rs2, _ := m.SigningKey(ctx, "demo", RS256)
	if es2.KID != es.KID || rs2.KID == rs.KID {
		t.Fatalf("forced RS256 rotation: ES256 %s→%s, RS256 %s→%s", es.KID, es2.KID, rs.KID, rs2.KID)
	}
	if _, err := m.SigningKey(ctx, "nosuchrealm", ES256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing realm: %v", err)
	}
}

// TestManagerNodesAgree: several nodes (managers on one database) asking for keys at once
// end with exactly one active and one next key, and all sign with the same one.
func TestManagerNodesAgree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newManagerStore(t)
	ring := testRing(t)
	clock := testutil.NewClock(time.Now())
	const nodes = 8
	got := make([]string, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		m := newTestManager(t, st, ring, clock)
		wg.Go(func() {
			k, err := m.SigningKey(ctx, "demo", ES256)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = k.KID
		})
	}
	wg.Wait()
	for _, kid := range got {
		if kid != got[0] {
			t.Fatalf("nodes sign with different keys: %v", got)
		}
	}
	rows, err := st.ListSigningKeys(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d keys stored, want one active and one next", len(rows))
	}
}

// TestManagerSignFollowsRotation: Sign reuses a signer per key and switches to the new key
// the moment a rotation happens; every token verifies against the published set.
func TestManagerSignFollowsRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newTestManager(t, newManagerStore(t), testRing(t), testutil.NewClock(time.Now()))
	kidOf := func(tok string) string {
		set, err := m.PublicKeys(ctx, "demo")
		if err != nil {
			t.Fatal(err)
		}
		_, h, err := Verify(tok, set, []Alg{ES256})
		if err != nil || !TypeIs(h, TypeAccessToken) {
			t.Fatalf("token does not verify as at+jwt: %v", err)
		}
		return h.KeyID
	}
	a, err := m.Sign(ctx, "demo", ES256, TypeAccessToken, []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Sign(ctx, "demo", ES256, TypeAccessToken, []byte(`{"n":2}`))
	if kidOf(a) != kidOf(b) {
		t.Fatal("two tokens in a row signed by different keys")
	}
	if err := m.Rotate(ctx, "demo", ES256); err != nil {
		t.Fatal(err)
	}
	c, _ := m.Sign(ctx, "demo", ES256, TypeAccessToken, []byte(`{"n":3}`))
	if kidOf(c) == kidOf(a) {
		t.Fatal("signing continued with the retired key after a rotation")
	}
}

// TestManagerSignPlansAgainWhenDue: with a key set cached for long, Sign skips planning
// until the plan's next check, and rotates on schedule once that time has come.
func TestManagerSignPlansAgainWhenDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testutil.NewClock(time.Now())
	m, err := NewManager(newManagerStore(t), testRing(t), DefaultPolicy(), WithClock(clock.Now), WithRefresh(100*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kidOf := func() string {
		tok, err := m.Sign(ctx, "demo", ES256, TypeAccessToken, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		set, _ := m.PublicKeys(ctx, "demo")
		_, h, err := Verify(tok, set, []Alg{ES256})
		if err != nil {
			t.Fatal(err)
		}
		return h.KeyID
	}
	first := kidOf()
	p := DefaultPolicy()
	clock.Advance(p.RotationPeriod - time.Minute)
	if kidOf() != first {
		t.Fatal("rotated before the rotation period ended")
	}
	clock.Advance(2 * time.Minute)
	if kidOf() == first {
		t.Fatal("still signing with the old key after the rotation period")
	}
}
