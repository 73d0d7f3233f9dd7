package callers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/testdb"
)

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func issue(t *testing.T, ca *pki.CA, subject pkix.Name) *x509.Certificate {
	t.Helper()
	now := time.Now()
	leaf, err := ca.Issue(pki.LeafRequest{Subject: &subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), Client: true})
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Cert
}

// conn is the connection state a listener hands over: verified says whether it checked
// the chain to its client CA (mode verify, or optional with a CA).
func conn(c *x509.Certificate, verified bool) *tls.ConnectionState {
	s := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	if verified {
		s.VerifiedChains = [][]*x509.Certificate{{c}}
	}
	return s
}

// TestIdentifyByCertificate: a certificate names its client by fingerprint on any
// listener, by subject only when its chain was verified; a subject or fingerprint two
// clients share, a disabled client, or a mapping taken off names nobody.
func TestIdentifyByCertificate(t *testing.T) {
	ctx := t.Context()
	st := testdb.Open(t, "sqlite")
	if _, err := st.CreateRealm(ctx, store.Realm{Name: "r", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, err := pki.NewCA("Bank clients CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	billingName := pkix.Name{CommonName: "billing", Organization: []string{"Example Bank"}, Country: []string{"DE"}}
	billing := issue(t, ca, billingName)
	renewed := issue(t, ca, billingName) // same subject, new key: another fingerprint
	pinned := issue(t, ca, pkix.Name{CommonName: "pinned"})
	stranger := issue(t, ca, pkix.Name{CommonName: "stranger", Organization: []string{"Example Bank"}, Country: []string{"DE"}})
	for _, c := range []store.Client{
		{Realm: "r", ID: "billing", Enabled: true, Scopes: []string{"signet:users:read"},
			TLSClientAuthSubjectDN: "C=de, O=example bank, CN=Billing"}, // RFC 4514 order is C last: this is another name
		{Realm: "r", ID: "pinned", Enabled: true, Scopes: []string{"signet:users:write"}, TLSClientCertificates: []string{fingerprint(pinned)}},
	} {
		if _, err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	x := New(st, func(context.Context, string, string) (Caller, error) { return Caller{}, ErrInvalidToken })

	identify := func(c *x509.Certificate, verified bool) (string, error) {
		t.Helper()
		caller, err := x.Identify(ctx, "r", conn(c, verified), http.Header{})
		return caller.ClientID, err
	}
	want := func(what string, c *x509.Certificate, verified bool, client string) {
		t.Helper()
		got, err := identify(c, verified)
		switch {
		case client == "" && !errors.Is(err, ErrUnregisteredCertificate):
			t.Errorf("%s: %q, %v; want ErrUnregisteredCertificate", what, got, err)
		case client != "" && (err != nil || got != client):
			t.Errorf("%s: %q, %v; want %q", what, got, err, client)
		}
	}

	// The subject as registered above is in the wrong order: it names no certificate.
	want("a subject written in the wrong order", billing, true, "")
	if _, err := st.UpdateClient(ctx, "r", "billing", func(c store.Client) (store.Client, error) {
		c.TLSClientAuthSubjectDN = "CN=Billing, O=example bank, C=de" // case does not count
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	x = New(st, nil) // a new index: the registration is read at once
	want("the registered subject, verified", billing, true, "billing")
	want("a renewed certificate with that subject, verified", renewed, true, "billing")
	want("the subject, chain not verified (mode require)", billing, false, "")
	want("another subject of the same CA", stranger, true, "")
	want("a pinned fingerprint, chain not verified", pinned, false, "pinned")
	want("a pinned fingerprint, verified", pinned, true, "pinned")
	caller, err := x.Identify(ctx, "r", conn(billing, true), http.Header{})
	if err != nil || !caller.Certificate || caller.Realm != "r" || !caller.HasAny("signet:users:read") || caller.HasAny("signet:users:write") {
		t.Errorf("caller %+v, %v: want billing's scopes, identified by certificate", caller, err)
	}
	if _, err := x.Identify(ctx, "elsewhere", conn(billing, true), http.Header{}); !errors.Is(err, ErrUnregisteredCertificate) {
		t.Errorf("another realm: %v", err)
	}

	// A second client with the same subject: which one calls cannot be told.
	if _, err := st.CreateClient(ctx, store.Client{Realm: "r", ID: "twin", Enabled: true, TLSClientAuthSubjectDN: "CN=billing,O=Example Bank,C=DE"}); err != nil {
		t.Fatal(err)
	}
	x = New(st, nil)
	want("a subject two clients share", billing, true, "")
	if err := st.DeleteClient(ctx, "r", "twin"); err != nil {
		t.Fatal(err)
	}
	x = New(st, nil)
	want("the subject once the twin is gone", billing, true, "billing")

	// A subject taken off, or a client disabled, is refused at once by the same index.
	if _, err := st.UpdateClient(ctx, "r", "billing", func(c store.Client) (store.Client, error) {
		c.TLSClientAuthSubjectDN = ""
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	want("the subject taken off", billing, true, "")
	if _, err := st.UpdateClient(ctx, "r", "pinned", func(c store.Client) (store.Client, error) {
		c.Enabled = false
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	want("a disabled client's fingerprint", pinned, false, "")
}

// TestIdentifyByToken: without a certificate the bearer token names the caller; scopes
// decide what it may do.
func TestIdentifyByToken(t *testing.T) {
	x := New(testdb.Open(t, "sqlite"), func(_ context.Context, realm, tok string) (Caller, error) {
		if tok != "good" {
			return Caller{}, ErrInvalidToken
		}
		return Caller{ClientID: "app", Scopes: []string{"signet:users:read"}, Certificate: true}, nil
	})
	ctx := t.Context()
	h := http.Header{"Authorization": {"bearer  good "}}
	c, err := x.Authorize(ctx, "r", nil, h, "signet:users:write", "signet:users:read")
	if err != nil || c.ClientID != "app" || c.Realm != "r" || c.Certificate {
		t.Errorf("Authorize = %+v, %v", c, err)
	}
	var se *ScopeError
	if _, err := x.Authorize(ctx, "r", nil, h, "signet:users:write"); !errors.As(err, &se) || se.ClientID != "app" {
		t.Errorf("a missing scope: %v", err)
	}
	if _, err := x.Identify(ctx, "r", &tls.ConnectionState{}, http.Header{}); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no credentials: %v", err)
	}
	if _, err := x.Identify(ctx, "r", nil, http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("another scheme: %v", err)
	}
	if _, err := x.Identify(ctx, "r", nil, http.Header{"Authorization": {"Bearer bad"}}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a bad token: %v", err)
	}
}
