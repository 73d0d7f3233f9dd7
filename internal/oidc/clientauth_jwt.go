package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/store"
)

// ClientAssertionType is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Time rules for client assertions: a small clock difference between client and server
// is allowed, a large one is not, and an assertion lives a few minutes at most, which
// also bounds how long its jti is remembered.
const (
	assertionSkew        = 60 * time.Second
	maxAssertionLifetime = 10 * time.Minute
)

// assertionAlgs are the algorithms a client may sign assertions with: no "none", no HMAC
// (a shared secret is no proof of a private key).
var assertionAlgs = []keys.Alg{keys.RS256, keys.PS256, keys.ES256, keys.EdDSA}

// clientAuthMethods are the client authentication methods the token and introspection
// endpoints accept, as discovery lists them.
var clientAuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT}

func assertionAlgNames() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}

// WithOutbound sets the client for calls to clients' servers (jwks_uri,
// sector_identifier_uri). The default refuses private and loopback targets.
func WithOutbound(c *outbound.Client) Option { return func(p *Provider) { p.out = c } }

// authenticateClientAssertion is private_key_jwt (OIDC Core §9, RFC 7523 §2.2): the
// client proves itself with a JWT signed by one of its registered keys. Every failure is
// errClientAuth to the caller; the reason is its cause, for the log.
func (p *Provider) authenticateClientAssertion(ctx context.Context, realm string, r *http.Request) (store.Client, error) {
	if _, _, basic := r.BasicAuth(); basic || r.PostForm.Has("client_secret") {
		return store.Client{}, InvalidRequest("use one client authentication method")
	}
	return p.verifyClientAssertion(ctx, realm, r.PostForm.Get("client_id"),
		r.PostForm.Get("client_assertion_type"), r.PostForm.Get("client_assertion"))
}

// badAssertion is errClientAuth with the reason attached for the log.
func badAssertion(format string, args ...any) error {
	return errClientAuth.WithCause(fmt.Errorf("client assertion: "+format, args...))
}

func (p *Provider) verifyClientAssertion(ctx context.Context, realm, clientID, assertionType, assertion string) (store.Client, error) {
	if assertionType != ClientAssertionType {
		return store.Client{}, badAssertion("client_assertion_type %q is not supported", assertionType)
	}
	if assertion == "" {
		return store.Client{}, badAssertion("no client_assertion")
	}
	// The client is named inside the token, whose key is the client's: read the subject
	// unverified to find the client, then verify everything against its keys.
	sub, err := assertionSubject(assertion)
	if err != nil {
		return store.Client{}, badAssertion("%v", err)
	}
	if clientID != "" && clientID != sub {
		// RFC 7521 §4.2: a client_id next to the assertion must name the same client.
		return store.Client{}, badAssertion("client_id %q but sub %q", clientID, sub)
	}
	c, err := p.st.GetClient(ctx, realm, sub)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return store.Client{}, badAssertion("no client %q", sub)
	}
	if err != nil {
		return store.Client{}, err
	}
	if !c.Enabled || c.Public || c.AuthMethod != AuthPrivateKeyJWT {
		return store.Client{}, badAssertion("client %q is disabled or does not use private_key_jwt", c.ID)
	}
	allowed := assertionAlgs
	if c.TokenEndpointAuthSigningAlg != "" {
		alg, err := keys.ParseAlg(c.TokenEndpointAuthSigningAlg)
		if err != nil {
			return store.Client{}, badAssertion("client %q: %v", c.ID, err)
		}
		allowed = []keys.Alg{alg}
	}
	payload, err := p.verifyWithClientKeys(ctx, c, assertion, allowed)
	if err != nil {
		return store.Client{}, badAssertion("client %q: %v", c.ID, err)
	}
	var cl jwt.Claims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return store.Client{}, badAssertion("client %q: claims: %v", c.ID, err)
	}
	exp, err := p.checkAssertionClaims(realm, c.ID, cl)
	if err != nil {
		return store.Client{}, badAssertion("client %q: %v", c.ID, err)
	}
	// Single use (CONFORMANCE §4.4): the jti is remembered until the assertion expires,
	// set-if-absent, so of concurrent uses exactly one passes. Checked last, so an
	// assertion that fails anything else cannot burn a jti.
	sum := sha256.Sum256([]byte(cl.ID))
	key := "jti:" + url.QueryEscape(realm) + ":" + url.QueryEscape(c.ID) + ":" + hex.EncodeToString(sum[:])
	ttl := max(exp.Add(assertionSkew).Sub(p.now()), time.Second) // a TTL must be positive
	fresh, err := p.eph.SetNX(ctx, key, []byte{1}, ttl)
	if err != nil {
		return store.Client{}, fmt.Errorf("remember client assertion: %w", err)
	}
	if !fresh {
		return store.Client{}, badAssertion("client %q: jti replayed", c.ID)
	}
	return c, nil
}

// assertionSubject returns the unverified "sub" of a compact JWS, only to find whose
// keys verify it.
func assertionSubject(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("payload is not base64url")
	}
	var c struct {
		Subject string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Subject == "" {
		return "", errors.New("payload has no sub")
	}
	return c.Subject, nil
}

// verifyWithClientKeys checks the signature against the client's registered keys only:
// keys.Verify ignores "jku", "x5u", "x5c" and an embedded "jwk". An unknown "kid" makes
// Signet fetch a jwks_uri once more (rate-limited), as the client may have rotated keys.
func (p *Provider) verifyWithClientKeys(ctx context.Context, c store.Client, token string, allowed []keys.Alg) ([]byte, error) {
	set, gen, err := p.clientKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	payload, _, err := keys.Verify(token, set, allowed)
	if errors.Is(err, keys.ErrUnknownKID) && c.JWKSURI != "" {
		if set, _, err = p.refetchClientKeys(ctx, c, gen); err != nil {
			return nil, err
		}
		payload, _, err = keys.Verify(token, set, allowed)
	}
	return payload, err
}

// checkAssertionClaims applies RFC 7523 §3 and OIDC Core §9 to verified claims and
// returns the expiry.
func (p *Provider) checkAssertionClaims(realm, clientID string, cl jwt.Claims) (time.Time, error) {
	if cl.Issuer != clientID || cl.Subject != clientID {
		return time.Time{}, fmt.Errorf("iss %q and sub %q must both be the client_id", cl.Issuer, cl.Subject)
	}
	// OIDC Core §9 names the token endpoint, RFC 7523 §3 the authorization server, and
	// FAPI and RFC 9126 §2 the issuer: accept either.
	if !slices.Contains(cl.Audience, p.Issuer(realm)) && !slices.Contains(cl.Audience, p.endpoint(realm, "token")) {
		return time.Time{}, fmt.Errorf("aud %q names neither the issuer nor the token endpoint", []string(cl.Audience))
	}
	if cl.ID == "" {
		return time.Time{}, errors.New("no jti")
	}
	if cl.Expiry == nil {
		return time.Time{}, errors.New("no exp")
	}
	now := p.now()
	exp := cl.Expiry.Time()
	switch {
	case !now.Before(exp.Add(assertionSkew)):
		return time.Time{}, fmt.Errorf("expired at %s", exp.UTC().Format(time.RFC3339))
	case exp.Sub(now) > maxAssertionLifetime+assertionSkew:
		return time.Time{}, fmt.Errorf("exp %s is more than %s ahead", exp.UTC().Format(time.RFC3339), maxAssertionLifetime)
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(assertionSkew)):
		return time.Time{}, errors.New("nbf is in the future")
	case cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(assertionSkew)):
		return time.Time{}, errors.New("iat is in the future")
	case cl.IssuedAt != nil && cl.IssuedAt.Time().Before(now.Add(-maxAssertionLifetime-assertionSkew)):
		return time.Time{}, errors.New("iat is too old")
	}
	return exp, nil
}
