package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/keys"
)

// accessTokenAlg signs access tokens (ES256: fast, short, and on every platform).
const accessTokenAlg = keys.ES256

// accessClaims are the claims of an RFC 9068 JWT access token.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	Scope    string   `json:"scope,omitempty"`
	// GrantID names the grant the token was issued from (empty for client_credentials);
	// revoking the grant revokes the token.
	GrantID   string `json:"gid,omitempty"`
	SessionID string `json:"sid,omitempty"`
	AuthTime  int64  `json:"auth_time,omitempty"`
	ACR       string `json:"acr,omitempty"`
}

// mintAccessToken signs an access token for realm with the realm's ES256 key. The
// audience is the realm itself unless the claims name one.
func (p *Provider) mintAccessToken(ctx context.Context, realm string, c accessClaims, ttl time.Duration) (string, error) {
	now := p.now()
	c.Issuer = p.Issuer(realm)
	if len(c.Audience) == 0 {
		c.Audience = []string{c.Issuer}
	}
	c.IssuedAt, c.Expiry, c.JTI = now.Unix(), now.Add(ttl).Unix(), RandomToken(16)
	// Appended on the stack instead of marshalled: this runs for every token issued.
	var buf [512]byte
	return p.keys.Sign(ctx, realm, accessTokenAlg, keys.TypeAccessToken, appendAccessClaims(buf[:0], &c))
}

// errBadToken is every reason a presented access token is not valid.
var errBadToken = errors.New("access token not valid")

// verifyAccessToken checks an access token of realm: signature by a published realm key
// with the access-token algorithm only, type at+jwt (so an ID token is never accepted as
// an access token), issuer and expiry.
func (p *Provider) verifyAccessToken(ctx context.Context, realm, token string) (accessClaims, error) {
	set, err := p.keys.PublicKeys(ctx, realm)
	if err != nil {
		return accessClaims{}, err
	}
	payload, header, err := keys.Verify(token, set, []keys.Alg{accessTokenAlg})
	if err != nil {
		return accessClaims{}, fmt.Errorf("%w: %w", errBadToken, err)
	}
	if !keys.TypeIs(header, keys.TypeAccessToken) {
		return accessClaims{}, fmt.Errorf("%w: type is not %s", errBadToken, keys.TypeAccessToken)
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return accessClaims{}, fmt.Errorf("%w: %w", errBadToken, err)
	}
	if c.Issuer != p.Issuer(realm) || c.Expiry <= p.now().Unix() || c.JTI == "" {
		return accessClaims{}, fmt.Errorf("%w: wrong issuer, expired or without jti", errBadToken)
	}
	return c, nil
}
