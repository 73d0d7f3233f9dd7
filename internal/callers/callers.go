// Package callers identifies the API clients that call Signet's machine APIs (the
// business REST API and the gRPC messaging API): by a TLS client certificate registered
// for an enabled client of the realm, by its fingerprint (store.Client.TLSClientCertificates)
// or, for a certificate whose chain the listener verified, by its subject
// (store.Client.TLSClientAuthSubjectDN), else by a
// bearer access token the realm issued, and checks the scopes they hold. Connecting to a
// listener is not being allowed to call it: a valid certificate that maps to no client
// is refused.
package callers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/store"
)

// Caller is who calls: a client of the realm and the scopes it holds. A client
// identified by its certificate holds the scopes it is registered with; one identified
// by a bearer token, those the token was issued with.
type Caller struct {
	Realm    string
	ClientID string
	Scopes   []string
	// Certificate tells that the caller was identified by its TLS client certificate.
	Certificate bool
}

// HasAny reports whether c holds one of scopes.
func (c Caller) HasAny(scopes ...string) bool {
	return slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(c.Scopes, s) })
}

// Errors of Identify and Authorize; any other error is the store's or the verifier's
// (the caller answers it as a temporary failure).
var (
	// ErrNoCredentials: neither a client certificate nor a bearer token was presented.
	ErrNoCredentials = errors.New("callers: no client certificate and no access token")
	// ErrInvalidToken: the bearer token is not valid for the realm, or its client is gone
	// or disabled. Verify functions return it for a token they refuse.
	ErrInvalidToken = errors.New("callers: the access token is not valid")
	// ErrUnregisteredCertificate: the client certificate maps to no enabled client of
	// the realm, neither by its fingerprint nor by its verified subject.
	ErrUnregisteredCertificate = errors.New("callers: the client certificate is not registered for an enabled client of this realm")
)

// ScopeError is Authorize's answer to a caller that holds none of the scopes asked for.
type ScopeError struct {
	ClientID string
	// Scopes are the scopes of which the caller needed one.
	Scopes []string
}

func (e *ScopeError) Error() string {
	return "client " + e.ClientID + " lacks the scope " + strings.Join(e.Scopes, " or ")
}

// Verify checks an access token issued by realm (ErrInvalidToken when it is not valid,
// or when its client no longer exists or is disabled) and tells whose it is.
type Verify func(ctx context.Context, realm, token string) (Caller, error)

// Identifier identifies callers. It is safe for concurrent use.
type Identifier struct {
	verify Verify
	certs  *certIndex
}

// New returns an Identifier that maps certificates to the clients of st and checks
// tokens with verify.
func New(st store.Store, verify Verify) *Identifier {
	return &Identifier{verify: verify, certs: &certIndex{store: st, byRealm: map[string]realmCerts{}}}
}

// Identify tells who calls realm: the client registered with the connection's client
// certificate when one was presented (state may be nil), else the owner of the bearer
// token in h's Authorization header (RFC 6750 §2.1).
func (x *Identifier) Identify(ctx context.Context, realm string, state *tls.ConnectionState, h http.Header) (Caller, error) {
	if state != nil && len(state.PeerCertificates) > 0 {
		leaf := state.PeerCertificates[0]
		sum := sha256.Sum256(leaf.Raw)
		subject := ""
		// A subject names a certificate only when the listener checked who signed it:
		// anyone can make a certificate with any subject.
		if len(state.VerifiedChains) > 0 {
			if dn, err := pki.SubjectDN(leaf); err == nil {
				subject = dn.Key()
			}
		}
		c, err := x.certs.client(ctx, realm, hex.EncodeToString(sum[:]), subject)
		if err != nil {
			return Caller{}, err
		}
		return Caller{Realm: realm, ClientID: c.ID, Scopes: slices.Clone(c.Scopes), Certificate: true}, nil
	}
	tok, ok := BearerToken(h)
	if !ok {
		return Caller{}, ErrNoCredentials
	}
	c, err := x.verify(ctx, realm, tok)
	if err != nil {
		return Caller{}, err
	}
	c.Realm, c.Certificate = realm, false
	return c, nil
}

// Authorize identifies the caller of realm and checks it holds one of scopes; a caller
// that holds none gets a *ScopeError.
func (x *Identifier) Authorize(ctx context.Context, realm string, state *tls.ConnectionState, h http.Header, scopes ...string) (Caller, error) {
	c, err := x.Identify(ctx, realm, state, h)
	if err != nil {
		return Caller{}, err
	}
	if !c.HasAny(scopes...) {
		return Caller{}, &ScopeError{ClientID: c.ClientID, Scopes: scopes}
	}
	return c, nil
}

// BearerToken reads the token of an Authorization header of the Bearer scheme, whose
// name is case-insensitive (RFC 9110 §11.1).
func BearerToken(h http.Header) (string, bool) {
	scheme, tok, ok := strings.Cut(h.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// readError wraps a store error met while identifying a caller.
func readError(err error) error { return fmt.Errorf("callers: read the realm's clients: %w", err) }
