package oidc

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// revoke is RFC 7009. The client authenticates; a refresh token or an access token of
// one of its grants revokes that grant (every token issued from it). A client_credentials
// access token, which has no grant, is put on a deny list until it expires. Unknown,
// invalid and foreign tokens get 200 as the RFC says (§2.2), so nothing is learned. If
// the revocation cannot be recorded the answer is 503, never 200 (CONFORMANCE §4.5).
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) error {
	realm, err := p.realm(r.Context(), r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	c, err := p.authenticateClient(r.Context(), realm.Name, r)
	if err != nil {
		return err
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return InvalidRequest("token is required")
	}
	if err := p.revokeToken(r.Context(), realm.Name, c, token, r.PostForm.Get("token_type_hint")); err != nil {
		return TemporarilyUnavailable("the token could not be revoked; try again").WithCause(err)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (p *Provider) revokeToken(ctx context.Context, realm string, c store.Client, token, hint string) error {
	tryRefresh := func() (bool, error) {
		g, ok, err := p.grantOfRefresh(ctx, realm, token)
		if err != nil || !ok || g.ClientID != c.ID {
			return ok, err
		}
		return true, p.revokeGrantStrict(ctx, realm, g.ID, "revoked by the client")
	}
	if hint != "access_token" {
		if done, err := tryRefresh(); done || err != nil {
			return err
		}
	}
	ac, err := p.verifyAccessToken(ctx, realm, token)
	if errors.Is(err, errBadToken) {
		if hint == "access_token" {
			_, err := tryRefresh()
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if ac.ClientID != c.ID {
		return nil
	}
	if ac.GrantID != "" {
		return p.revokeGrantStrict(ctx, realm, ac.GrantID, "revoked by the client")
	}
	ttl := time.Until(time.Unix(ac.Expiry, 0)) + time.Minute
	if ttl <= 0 {
		return nil
	}
	_, err = p.eph.Set(ctx, revokedJTIKey(realm, ac.JTI), []byte{1}, ttl)
	return err
}

func revokedJTIKey(realm, jti string) string { return "revoked-jti:" + realm + ":" + jti }

// revokeGrantStrict revokes a grant and reports any storage failure.
func (p *Provider) revokeGrantStrict(ctx context.Context, realm, id, reason string) error {
	_, err := p.st.UpdateGrant(ctx, realm, id, func(g store.Grant) (store.Grant, error) {
		if !g.Revoked() {
			g.RevokedAt, g.RevokedReason = p.now(), reason
		}
		return g, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
