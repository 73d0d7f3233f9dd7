package callers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// certIndex maps certificate fingerprints to the clients of a realm registered with
// them (store.Client.TLSClientCertificates), read again every certRecheck.
type certIndex struct {
	store   store.Store
	mu      sync.Mutex
	byRealm map[string]realmCerts
}

type realmCerts struct {
	read time.Time
	byFP map[string]string // fingerprint → client id
}

const (
	certRecheck      = 10 * time.Second
	certMissRecheck  = time.Second
	maxIndexedRealms = 1000
)

// client returns the enabled client of realm registered with the certificate of
// fingerprint fp, or ErrUnregisteredCertificate.
func (x *certIndex) client(ctx context.Context, realm, fp string) (store.Client, error) {
	x.mu.Lock()
	rc, ok := x.byRealm[realm]
	x.mu.Unlock()
	if !ok || time.Since(rc.read) > certRecheck {
		// Only realms that exist are indexed: the realm is named by a caller not yet
		// identified.
		if _, err := x.store.GetRealm(ctx, realm); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			return store.Client{}, ErrUnregisteredCertificate
		} else if err != nil {
			return store.Client{}, readError(err)
		}
		m := map[string]string{}
		cursor := ""
		for {
			page, err := x.store.ListClients(ctx, realm, store.ListOptions{Limit: 500, Cursor: cursor})
			if err != nil {
				return store.Client{}, readError(err)
			}
			for _, c := range page.Items {
				for _, f := range c.TLSClientCertificates {
					if other, taken := m[f]; taken && other != c.ID {
						m[f] = "" // on two clients: which one is calling cannot be told
						continue
					}
					m[f] = c.ID
				}
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		rc = realmCerts{read: time.Now(), byFP: m}
		x.mu.Lock()
		if len(x.byRealm) >= maxIndexedRealms {
			clear(x.byRealm)
		}
		x.byRealm[realm] = rc
		x.mu.Unlock()
	}
	id, ok := rc.byFP[fp]
	if !ok && time.Since(rc.read) > certMissRecheck {
		// A certificate registered a moment ago is found at once; an unknown one makes
		// the realm's clients be read at most once per certMissRecheck.
		x.mu.Lock()
		delete(x.byRealm, realm)
		x.mu.Unlock()
		return x.client(ctx, realm, fp)
	}
	if !ok || id == "" {
		return store.Client{}, ErrUnregisteredCertificate
	}
	// The client itself is read through the cache every time: a disabled client, or a
	// certificate taken off it, is refused at once on this node.
	c, err := x.store.GetClient(ctx, realm, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, ErrUnregisteredCertificate
	}
	if err != nil {
		return store.Client{}, readError(err)
	}
	if !c.Enabled || !slices.Contains(c.TLSClientCertificates, fp) {
		return store.Client{}, ErrUnregisteredCertificate
	}
	return c, nil
}
