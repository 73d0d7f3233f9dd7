package keys

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-auth/signet/internal/store"
)

// Manager keeps each realm's signing keys: it loads and unseals them from the store,
// caches them, carries out the rotation plan (generating, promoting, retiring and
// deleting keys in one store transaction, serialized per realm across nodes) and serves
// the signing key per algorithm and the published JWKS.
//
// Keys of an algorithm are created the first time something asks to sign with it, so a
// realm publishes only the algorithms its clients use.
type Manager struct {
	st     store.SigningKeys
	ring   *Keyring
	policy Policy
	now    func() time.Time
	gen    func(Alg) (*Key, error)
	// refresh bounds how long a node serves a cached key set before re-reading it, so a
	// rotation made by another node is seen within this time.
	refresh time.Duration

	mu    sync.Mutex
	cache map[string]*realmKeys
}

// realmKeys is one loaded key set of a realm. It is replaced, never changed, when the
// keys are re-read or rotated, so what is cached per algorithm goes with it.
type realmKeys struct {
	loaded time.Time
	keys   []Stored
	jwks   []byte

	mu      sync.Mutex
	signing map[Alg]*algSigning
}

// algSigning is the signing state of one algorithm in a loaded key set: its signing
// key, the time until which planning the set again changes nothing (so the token
// endpoint does not run Plan on every token), and one compact signer per token type.
type algSigning struct {
	// key and quiet are set before the state is shared and never change.
	key   *Key
	quiet time.Time

	mu      sync.Mutex
	signers map[string]*CompactSigner
}

// ManagerOption adjusts a Manager (test seams).
type ManagerOption func(*Manager)

// WithClock sets the manager's clock.
func WithClock(now func() time.Time) ManagerOption { return func(m *Manager) { m.now = now } }

// WithGenerator replaces Generate (tests use a faster or deterministic generator).
func WithGenerator(gen func(Alg) (*Key, error)) ManagerOption {
	return func(m *Manager) { m.gen = gen }
}

// WithRefresh sets how long a cached key set is served before it is re-read.
func WithRefresh(d time.Duration) ManagerOption { return func(m *Manager) { m.refresh = d } }

// NewManager creates a manager over st, sealing private keys with ring.
func NewManager(st store.SigningKeys, ring *Keyring, p Policy, opts ...ManagerOption) (*Manager, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if ring == nil {
		return nil, fmt.Errorf("key manager: %w: no keyring", ErrInvalidKEK)
	}
	m := &Manager{st: st, ring: ring, policy: p, now: time.Now, gen: Generate, refresh: time.Minute, cache: map[string]*realmKeys{}}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// SigningKey returns the key that signs for alg in realm, creating the realm's keys of
// that algorithm on first use and carrying out a due rotation.
func (m *Manager) SigningKey(ctx context.Context, realm string, alg Alg) (*Key, error) {
	st, err := m.signing(ctx, realm, alg)
	if err != nil {
		return nil, err
	}
	return st.key, nil
}

// Sign signs payload as a compact JWS of type typ with realm's current key for alg.
func (m *Manager) Sign(ctx context.Context, realm string, alg Alg, typ string, payload []byte) (string, error) {
	st, err := m.signing(ctx, realm, alg)
	if err != nil {
		return "", err
	}
	s, err := st.signer(typ)
	if err != nil {
		return "", err
	}
	return s.Sign(payload)
}

// signing returns the signing state of alg in realm, carrying out a due rotation. Plan
// is pure: until the NextCheck of a plan without changes, planning the same key set
// again changes nothing, so it runs again only after that time or on a new key set.
func (m *Manager) signing(ctx context.Context, realm string, alg Alg) (*algSigning, error) {
	rk, err := m.load(ctx, realm)
	if err != nil {
		return nil, err
	}
	now := m.now()
	rk.mu.Lock()
	st := rk.signing[alg]
	rk.mu.Unlock()
	if st != nil && now.Before(st.quiet) {
		return st, nil
	}
	pl := Plan(now, m.policy, rk.keys, alg)
	if pl.Changes() {
		if rk, err = m.rotate(ctx, realm, alg, false); err != nil {
			return nil, err
		}
	}
	k, err := SigningKey(rk.keys, alg)
	if err != nil {
		return nil, err
	}
	st = &algSigning{key: k}
	// After a rotation rk is the old set; the next call plans the new one.
	if !pl.Changes() && pl.Err == nil {
		st.quiet = pl.NextCheck
		rk.mu.Lock()
		if rk.signing == nil {
			rk.signing = map[Alg]*algSigning{}
		}
		rk.signing[alg] = st
		rk.mu.Unlock()
	}
	return st, nil
}

// signer returns the compact signer for typ, building it once: building one costs
// allocations on every token otherwise.
func (st *algSigning) signer(typ string) (*CompactSigner, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.signers[typ]; ok {
		return s, nil
	}
	s, err := NewCompactSigner(st.key, typ)
	if err != nil {
		return nil, err
	}
	if st.signers == nil {
		st.signers = map[string]*CompactSigner{}
	}
	st.signers[typ] = s
	return s, nil
}

// JWKS returns the realm's published key set as JSON (public keys only).
func (m *Manager) JWKS(ctx context.Context, realm string) ([]byte, error) {
	rk, err := m.load(ctx, realm)
	if err != nil {
		return nil, err
	}
	return rk.jwks, nil
}

// PublicKeys returns the realm's published key set, for verifying tokens it issued.
func (m *Manager) PublicKeys(ctx context.Context, realm string) (jose.JSONWebKeySet, error) {
	rk, err := m.load(ctx, realm)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return JWKS(Published(rk.keys)), nil
}

// Rotate rotates alg's keys in realm now (an administrator's "rotate"), whatever the
// schedule says; see ForceRotate for why that is safe.
func (m *Manager) Rotate(ctx context.Context, realm string, alg Alg) error {
	_, err := m.rotate(ctx, realm, alg, true)
	return err
}

// Forget drops the cached keys of realm, so the next call reads them again (another node
// rotated them, or the realm was deleted).
func (m *Manager) Forget(realm string) {
	m.mu.Lock()
	delete(m.cache, realm)
	m.mu.Unlock()
}

func (m *Manager) load(ctx context.Context, realm string) (*realmKeys, error) {
	m.mu.Lock()
	rk, ok := m.cache[realm]
	m.mu.Unlock()
	if ok && m.now().Sub(rk.loaded) < m.refresh {
		return rk, nil
	}
	stored, err := m.st.ListSigningKeys(ctx, realm)
	if err != nil {
		return nil, fmt.Errorf("load signing keys of realm %s: %w", realm, err)
	}
	return m.remember(realm, stored)
}

// rotate plans and applies inside one store transaction, on the key set as it is in the
// store at that moment, so concurrent nodes never both rotate.
func (m *Manager) rotate(ctx context.Context, realm string, alg Alg, force bool) (*realmKeys, error) {
	stored, err := m.st.UpdateSigningKeys(ctx, realm, func(cur []store.SigningKey) ([]store.SigningKey, error) {
		ks, err := m.open(realm, cur)
		if err != nil {
			return nil, err
		}
		now := m.now()
		pl := Plan(now, m.policy, ks, alg)
		if force {
			pl = ForceRotate(now, m.policy, ks, alg)
		}
		if !pl.Changes() {
			return cur, nil
		}
		next, err := Apply(now, pl, ks, m.gen)
		if err != nil {
			return nil, err
		}
		return m.seal(realm, cur, next)
	})
	if err != nil {
		return nil, fmt.Errorf("rotate %s keys of realm %s: %w", alg, realm, err)
	}
	return m.remember(realm, stored)
}

func (m *Manager) remember(realm string, stored []store.SigningKey) (*realmKeys, error) {
	ks, err := m.open(realm, stored)
	if err != nil {
		return nil, err
	}
	jwks, err := json.Marshal(JWKS(Published(ks)))
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	rk := &realmKeys{loaded: m.now(), keys: ks, jwks: jwks}
	m.mu.Lock()
	m.cache[realm] = rk
	m.mu.Unlock()
	return rk, nil
}

// open unseals stored keys. A key that does not open (another KEK, tampering) is an
// error: signing with a key set the node cannot read would be worse than failing.
func (m *Manager) open(realm string, stored []store.SigningKey) ([]Stored, error) {
	out := make([]Stored, 0, len(stored))
	for _, s := range stored {
		k, err := m.ring.OpenKey(s.Sealed, realm, s.KID)
		if err != nil {
			return nil, fmt.Errorf("open signing key %s of realm %s: %w", s.KID, realm, err)
		}
		if string(k.Alg) != s.Alg {
			return nil, fmt.Errorf("signing key %s of realm %s: %w: stored as %s, sealed as %s", s.KID, realm, ErrInvalidKey, s.Alg, k.Alg)
		}
		out = append(out, Stored{Key: k, State: State(s.State), ActivatedAt: s.ActivatedAt, RetiredAt: s.RetiredAt})
	}
	return out, nil
}

// seal turns the rotated set back into store rows, reusing the sealed bytes of keys that
// already exist so an unchanged key is not re-encrypted.
func (m *Manager) seal(realm string, cur []store.SigningKey, ks []Stored) ([]store.SigningKey, error) {
	sealed := map[string]store.SigningKey{}
	for _, c := range cur {
		sealed[c.KID] = c
	}
	out := make([]store.SigningKey, 0, len(ks))
	for _, s := range ks {
		row, ok := sealed[s.Key.KID]
		if !ok {
			b, err := m.ring.SealKey(s.Key, realm)
			if err != nil {
				return nil, err
			}
			pub, err := json.Marshal(PublicJWK(s.Key))
			if err != nil {
				return nil, fmt.Errorf("encode public key: %w", err)
			}
			row = store.SigningKey{Realm: realm, KID: s.Key.KID, Alg: string(s.Key.Alg), Sealed: b, PublicJWK: pub, CreatedAt: s.Key.CreatedAt}
		}
		row.State, row.ActivatedAt, row.RetiredAt = string(s.State), s.ActivatedAt, s.RetiredAt
		out = append(out, row)
	}
	return out, nil
}
