package oidc

import (
	"context"
	"errors"
	"net/http"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/store"
)

// introspect is RFC 7662. The caller authenticates as a client of the realm. An access
// token is active while its signature, type, issuer and expiry hold and, when it came
// from a grant, while that grant is not revoked and its user is enabled and not locked
// (CONFORMANCE §4.14: introspection stops the moment a user is locked).
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	if caller, err := p.authenticateClient(r.Context(), realm.Name, r); err != nil {
		return err
	} else if caller.Public {
		// A public client proves nothing about itself; introspection is for resource servers.
		return errClientAuth
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return InvalidRequest("token is required")
	}
	inactive := map[string]any{"active": false}
	c, err := p.verifyAccessToken(r.Context(), realm.Name, token)
	if errors.Is(err, errBadToken) {
		return writeJSON(w, http.StatusOK, inactive)
	}
	if err != nil {
		return err
	}
	live, err := p.tokenLive(r.Context(), realm.Name, c)
	if err != nil {
		return err
	}
	if !live {
		return writeJSON(w, http.StatusOK, inactive)
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"active": true, "scope": c.Scope, "client_id": c.ClientID, "sub": c.Subject,
		"aud": c.Audience, "iss": c.Issuer, "exp": c.Expiry, "iat": c.IssuedAt, "jti": c.JTI,
		"token_type": "Bearer",
	})
}

// tokenLive reports whether a verified access token is still good: its grant is live,
// or, for a token without a grant, it was not revoked.
func (p *Provider) tokenLive(ctx context.Context, realm string, c accessClaims) (bool, error) {
	if c.GrantID != "" {
		return p.grantLive(ctx, realm, c.GrantID)
	}
	_, err := p.eph.Get(ctx, revokedJTIKey(realm, c.JTI))
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, ephemeral.ErrNotFound):
		return true, nil
	default:
		return false, err
	}
}

// grantLive reports whether tokens of a grant are still good: the grant exists, is not
// revoked or expired, and its user (if any) is enabled and not locked.
func (p *Provider) grantLive(ctx context.Context, realm, grantID string) (bool, error) {
	g, err := p.st.GetGrant(ctx, realm, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := p.now()
	if g.Revoked() || !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt) {
		return false, nil
	}
	if g.UserID == "" {
		return true, nil
	}
	u, err := p.st.GetUser(ctx, realm, g.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Enabled && !now.Before(u.LockedUntil), nil
}
