package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signet-auth/signet/internal/store"
)

// How long a client's jwks_uri answer is used, and how often it may be fetched at most.
// The minimum interval bounds what a stream of assertions with made-up "kid"s can make
// Signet send to a client's server (CONFORMANCE oidcc-refresh-token-rp-key-rotation).
const (
	clientJWKSTTL        = 5 * time.Minute
	clientJWKSMinRefetch = 10 * time.Second
	// clientJWKSMaxEntries bounds the cache; past it an arbitrary entry makes room.
	clientJWKSMaxEntries = 10000
	// maxClientKeys bounds the keys of one client's JWKS.
	maxClientKeys = 20
)

// errJWKSRateLimited means the client's jwks_uri was fetched too recently to fetch again.
var errJWKSRateLimited = errors.New("jwks_uri fetched less than 10 s ago")

// clientJWKS caches the key sets fetched from clients' jwks_uri, per node. A set is
// used for clientJWKSTTL; a "kid" missing from it triggers one re-fetch, and no
// client's jwks_uri is fetched more than once per clientJWKSMinRefetch, failed fetches
// included.
type clientJWKS struct {
	mu      sync.Mutex
	entries map[string]*jwksEntry // by realm "\x00" client_id
}

type jwksEntry struct {
	fetch sync.Mutex // one fetch at a time per client; held during the call

	mu     sync.Mutex // guards the fields below
	uri    string     // where set came from
	set    jose.JSONWebKeySet
	loaded time.Time // when set was fetched; zero: no set
	tried  time.Time // when the last fetch started, successful or not
	gen    uint64    // counts successful fetches
}

func newClientJWKS() *clientJWKS { return &clientJWKS{entries: map[string]*jwksEntry{}} }

func (k *clientJWKS) entry(c store.Client) *jwksEntry {
	id := c.Realm + "\x00" + c.ID
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.entries[id]
	if !ok {
		if len(k.entries) >= clientJWKSMaxEntries {
			for old := range k.entries {
				delete(k.entries, old)
				break
			}
		}
		e = &jwksEntry{}
		k.entries[id] = e
	}
	return e
}

// clientKeys returns the public keys of c: its inline JWKS, or the set at its jwks_uri
// (cached) together with the generation of that set, for refetchClientKeys.
func (p *Provider) clientKeys(ctx context.Context, c store.Client) (jose.JSONWebKeySet, uint64, error) {
	if c.JWKSURI == "" {
		set, err := parseClientJWKS(c.JWKS)
		return set, 0, err
	}
	e := p.clientJWKS.entry(c)
	now := p.now()
	e.mu.Lock()
	if e.uri == c.JWKSURI && !e.loaded.IsZero() && now.Sub(e.loaded) < clientJWKSTTL {
		set, gen := e.set, e.gen
		e.mu.Unlock()
		return set, gen, nil
	}
	gen := e.gen
	e.mu.Unlock()
	return p.fetchClientKeys(ctx, c, e, gen)
}

// refetchClientKeys fetches c's jwks_uri again after a token named a "kid" missing from
// the set of generation seen: the client may have rotated its keys. If another request
// fetched meanwhile, its set is used instead.
func (p *Provider) refetchClientKeys(ctx context.Context, c store.Client, seen uint64) (jose.JSONWebKeySet, uint64, error) {
	return p.fetchClientKeys(ctx, c, p.clientJWKS.entry(c), seen)
}

func (p *Provider) fetchClientKeys(ctx context.Context, c store.Client, e *jwksEntry, seen uint64) (jose.JSONWebKeySet, uint64, error) {
	e.fetch.Lock()
	defer e.fetch.Unlock()
	now := p.now()
	e.mu.Lock()
	if e.uri != c.JWKSURI {
		// A new jwks_uri (the client was updated) starts afresh.
		e.uri, e.set, e.loaded, e.tried = c.JWKSURI, jose.JSONWebKeySet{}, time.Time{}, time.Time{}
	}
	if e.gen != seen && !e.loaded.IsZero() && now.Sub(e.loaded) < clientJWKSTTL {
		set, gen := e.set, e.gen
		e.mu.Unlock()
		return set, gen, nil
	}
	if !e.tried.IsZero() && now.Sub(e.tried) < clientJWKSMinRefetch {
		e.mu.Unlock()
		return jose.JSONWebKeySet{}, 0, fmt.Errorf("keys of client %s: %w", c.ID, errJWKSRateLimited)
	}
	e.tried = now
	e.mu.Unlock()

	// Not tied to this request: others may be waiting for the answer, and the outbound
	// client bounds the call in time and size anyway.
	var raw json.RawMessage
	err := p.out.GetJSON(context.WithoutCancel(ctx), c.JWKSURI, &raw)
	var set jose.JSONWebKeySet
	if err == nil {
		set, err = parseClientJWKS(raw)
	}
	if err != nil {
		return jose.JSONWebKeySet{}, 0, fmt.Errorf("keys of client %s: %w", c.ID, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.set, e.loaded, e.gen = set, now, e.gen+1
	return e.set, e.gen, nil
}

// parseClientJWKS decodes a client's JWK set and keeps its public signature keys.
// Private or symmetric members are refused: a client that publishes them has leaked
// them, and a symmetric key must never verify anything.
func parseClientJWKS(raw []byte) (jose.JSONWebKeySet, error) {
	if len(raw) == 0 {
		return jose.JSONWebKeySet{}, errors.New("client has no keys")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("client JWKS: %w", err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > maxClientKeys {
		return jose.JSONWebKeySet{}, fmt.Errorf("client JWKS has %d keys, want 1 to %d", len(set.Keys), maxClientKeys)
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return jose.JSONWebKeySet{}, fmt.Errorf("client JWKS key %d (kid %q) is not a valid public key", i, k.KeyID)
		}
	}
	return set, nil
}
