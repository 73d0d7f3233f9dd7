package callers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/store"
)

// certIndex maps certificate fingerprints (store.Client.TLSClientCertificates) and
// subjects (store.Client.TLSClientAuthSubjectDN) to the clients of a realm registered
// with them, read again every certRecheck.
type certIndex struct {
	store   store.Store
	mu      sync.Mutex
	byRealm map[string]realmCerts
}

type realmCerts struct {
	read      time.Time
	byFP      map[string]string // fingerprint → client id
	bySubject map[string]string // pki.DN.Key of the subject → client id
}

const (
	certRecheck      = 10 * time.Second
	certMissRecheck  = time.Second
	maxIndexedRealms = 1000
)

// subjectKey is the key of a client's registered subject, "" when it has none (or one
// that does not parse, which the admin API never stores).
func subjectKey(c store.Client) string {
	if c.TLSClientAuthSubjectDN == "" {
		return ""
	}
	dn, err := pki.ParseDN(c.TLSClientAuthSubjectDN)
	if err != nil {
		return ""
	}
	return dn.Key()
}

// add maps key to client id, or to "" when another client has it: which one calls
// could not be told.
func add(m map[string]string, key, id string) {
	if other, taken := m[key]; taken && other != id {
		m[key] = ""
		return
	}
	m[key] = id
}

// read indexes the realm's clients.
func (x *certIndex) read(ctx context.Context, realm string) (realmCerts, error) {
	// Only realms that exist are indexed: the realm is named by a caller not yet
	// identified.
	if _, err := x.store.GetRealm(ctx, realm); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return realmCerts{}, ErrUnregisteredCertificate
	} else if err != nil {
		return realmCerts{}, readError(err)
	}
	rc := realmCerts{read: time.Now(), byFP: map[string]string{}, bySubject: map[string]string{}}
	cursor := ""
	for {
		page, err := x.store.ListClients(ctx, realm, store.ListOptions{Limit: 500, Cursor: cursor})
		if err != nil {
			return realmCerts{}, readError(err)
		}
		for _, c := range page.Items {
			for _, f := range c.TLSClientCertificates {
				add(rc.byFP, f, c.ID)
			}
			if k := subjectKey(c); k != "" {
				add(rc.bySubject, k, c.ID)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	x.mu.Lock()
	if len(x.byRealm) >= maxIndexedRealms {
		clear(x.byRealm)
	}
	x.byRealm[realm] = rc
	x.mu.Unlock()
	return rc, nil
}

// client returns the enabled client of realm registered with the certificate of
// fingerprint fp or, when subject (a pki.DN.Key) is not empty, with that subject; else
// ErrUnregisteredCertificate. A fingerprint is looked up first: it names one
// certificate, a subject every certificate the CA issued with it.
func (x *certIndex) client(ctx context.Context, realm, fp, subject string) (store.Client, error) {
	x.mu.Lock()
	rc, ok := x.byRealm[realm]
	x.mu.Unlock()
	if !ok || time.Since(rc.read) > certRecheck {
		var err error
		if rc, err = x.read(ctx, realm); err != nil {
			return store.Client{}, err
		}
	}
	id, byFP := rc.byFP[fp]
	bySubject := false
	if !byFP && subject != "" {
		id, bySubject = rc.bySubject[subject]
	}
	if !byFP && !bySubject && time.Since(rc.read) > certMissRecheck {
		// A certificate registered a moment ago is found at once; an unknown one makes
		// the realm's clients be read at most once per certMissRecheck.
		x.mu.Lock()
		delete(x.byRealm, realm)
		x.mu.Unlock()
		return x.client(ctx, realm, fp, subject)
	}
	if id == "" {
		return store.Client{}, ErrUnregisteredCertificate
	}
	// The client itself is read through the cache every time: a disabled client, or a
	// certificate or subject taken off it, is refused at once on this node.
	c, err := x.store.GetClient(ctx, realm, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Client{}, ErrUnregisteredCertificate
	}
	if err != nil {
		return store.Client{}, readError(err)
	}
	still := byFP && slices.Contains(c.TLSClientCertificates, fp) || bySubject && subjectKey(c) == subject
	if !c.Enabled || !still {
		return store.Client{}, ErrUnregisteredCertificate
	}
	return c, nil
}
