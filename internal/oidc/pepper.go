package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"sync"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/store"
)

// pepperAttribute holds a realm's client-secret pepper, sealed under the keyring. Each
// realm has its own; it is created once and survives a key-encryption-key rotation
// (the previous KEK still opens it), so stored client secret hashes stay valid.
const pepperAttribute = "signet.client_secret_pepper"

// Peppers hands out each realm's client-secret hasher, creating the pepper on first use.
type Peppers struct {
	st      store.Realms
	ring    *keys.Keyring
	mu      sync.Mutex
	byRealm map[string]*SecretHasher
}

// NewPeppers returns the per-realm hasher source.
func NewPeppers(st store.Realms, ring *keys.Keyring) *Peppers {
	return &Peppers{st: st, ring: ring, byRealm: map[string]*SecretHasher{}}
}

func pepperAAD(realm string) []byte { return []byte("signet client-secret pepper\x00" + realm) }

// Hasher returns the client-secret hasher of realm.
func (ps *Peppers) Hasher(ctx context.Context, realm string) (*SecretHasher, error) {
	ps.mu.Lock()
	h, ok := ps.byRealm[realm]
	ps.mu.Unlock()
	if ok {
		return h, nil
	}
	r, err := ps.st.GetRealm(ctx, realm)
	if err != nil {
		return nil, fmt.Errorf("client secret pepper of realm %s: %w", realm, err)
	}
	if r.Attributes[pepperAttribute] == "" {
		// Created atomically: of two nodes racing here, the second sees the first's pepper.
		r, err = ps.st.UpdateRealm(ctx, realm, func(cur store.Realm) (store.Realm, error) {
			if cur.Attributes[pepperAttribute] != "" {
				return cur, nil
			}
			pepper := make([]byte, 32)
			_, _ = rand.Read(pepper)
			sealed, err := ps.ring.Seal(pepper, pepperAAD(realm))
			if err != nil {
				return cur, err
			}
			cur.Attributes = maps.Clone(cur.Attributes)
			if cur.Attributes == nil {
				cur.Attributes = map[string]string{}
			}
			cur.Attributes[pepperAttribute] = base64.StdEncoding.EncodeToString(sealed)
			return cur, nil
		})
		if err != nil {
			return nil, fmt.Errorf("create client secret pepper of realm %s: %w", realm, err)
		}
	}
	sealed, err := base64.StdEncoding.DecodeString(r.Attributes[pepperAttribute])
	if err != nil {
		return nil, fmt.Errorf("client secret pepper of realm %s: %w", realm, err)
	}
	pepper, err := ps.ring.Open(sealed, pepperAAD(realm))
	if err != nil {
		return nil, fmt.Errorf("open client secret pepper of realm %s: %w", realm, err)
	}
	h, err = NewSecretHasher(pepper)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.byRealm[realm] = h
	ps.mu.Unlock()
	return h, nil
}
