package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Bearer is what a verified access token says about its holder.
type Bearer struct {
	Realm    string
	Subject  string
	ClientID string
	Scopes   []string
	// GrantID and SessionID are empty for client_credentials tokens.
	GrantID   string
	SessionID string
	Expiry    int64
}

// HasScope reports whether the token carries scope s.
func (b Bearer) HasScope(s string) bool { return slices.Contains(b.Scopes, s) }

// ErrInvalidBearer is every reason a bearer token is refused: malformed, badly signed, of
// the wrong type, expired, revoked, or its user disabled or locked.
var ErrInvalidBearer = errors.New("oidc: bearer token not valid")

// VerifyBearer checks an access token issued by realm, as a resource server inside
// Signet (the admin API, userinfo) must: signature, type, issuer, expiry and, for tokens
// from a user's grant, that the grant is live and its user enabled and not locked.
// Storage outages are returned as they are, not as ErrInvalidBearer.
func (p *Provider) VerifyBearer(ctx context.Context, realm, token string) (Bearer, error) {
	c, err := p.verifyAccessToken(ctx, realm, token)
	if errors.Is(err, errBadToken) {
		return Bearer{}, ErrInvalidBearer
	}
	if err != nil {
		return Bearer{}, err
	}
	live, err := p.tokenLive(ctx, realm, c)
	if err != nil {
		return Bearer{}, err
	}
	if !live {
		return Bearer{}, ErrInvalidBearer
	}
	return Bearer{
		Realm: realm, Subject: c.Subject, ClientID: c.ClientID, Scopes: strings.Fields(c.Scope),
		GrantID: c.GrantID, SessionID: c.SessionID, Expiry: c.Expiry,
	}, nil
}

// BearerToken returns the token of an "Authorization: Bearer" header (RFC 6750 §2.1).
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// TokenRealm reads which realm of this provider an access token claims to come from,
// without verifying anything: it only picks the realm to verify the token against with
// VerifyBearer. ok is false for anything that is not a JWT whose issuer is one of this
// provider's realms.
func (p *Provider) TokenRealm(token string) (realm string, ok bool) {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok || len(payload) > 8<<10 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return "", false
	}
	realm, ok = strings.CutPrefix(c.Issuer, p.publicURL+"/realms/")
	if !ok || realm == "" || strings.ContainsAny(realm, "/?#") {
		return "", false
	}
	return realm, true
}
