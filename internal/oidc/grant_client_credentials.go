package oidc

import (
	"net/http"
	"slices"
	"strings"

	"github.com/signet-auth/signet/internal/store"
)

// clientCredentials is RFC 6749 §4.4: a confidential client gets an access token for
// itself. No refresh token (§4.4.3) and no ID token; nothing is written to the database,
// so this path scales with signing alone.
func (p *Provider) clientCredentials(r *http.Request, realm store.Realm, c store.Client) (tokenResponse, error) {
	scopes, err := grantScopes(r.PostForm.Get("scope"), c.Scopes)
	if err != nil {
		return tokenResponse{}, err
	}
	if slices.Contains(scopes, "openid") {
		// There is no end user, so there is no OpenID Connect authentication.
		scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == "openid" })
	}
	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = defaultAccessTokenTTL
	}
	scope := strings.Join(scopes, " ")
	tok, err := p.mintAccessToken(r.Context(), realm.Name, accessClaims{Subject: c.ID, ClientID: c.ID, Scope: scope}, ttl)
	if err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds()), Scope: scope}, nil
}
