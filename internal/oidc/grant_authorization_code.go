package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/store"
)

// Refresh lifetimes when neither client nor realm sets them: a refresh token follows the
// browser session (Keycloak's SSO defaults) unless offline_access was granted.
const (
	defaultRefreshIdle        = 30 * time.Minute
	defaultRefreshMax         = 10 * time.Hour
	defaultOfflineRefreshIdle = 30 * 24 * time.Hour
	defaultOfflineRefreshMax  = 365 * 24 * time.Hour
)

var errCodeInvalid = InvalidGrant("the authorization code is invalid, expired or used")

// authorizationCode is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): a code redeems once,
// for the client it was issued to, with the redirect URI and verifier of its request.
// Redeeming a used code revokes what the first redemption issued (RFC 6749 §4.1.2).
func (p *Provider) authorizationCode(r *http.Request, realm store.Realm, c store.Client) (tokenResponse, error) {
	ctx := r.Context()
	code := r.PostForm.Get("code")
	if code == "" {
		return tokenResponse{}, InvalidRequest("code is required")
	}
	h := sha256.Sum256([]byte(code))
	raw, err := p.eph.Take(ctx, codeKey(realm.Name, h))
	if errors.Is(err, ephemeral.ErrNotFound) {
		if err := p.codeReplayed(ctx, realm.Name, h); err != nil {
			return tokenResponse{}, err
		}
		return tokenResponse{}, errCodeInvalid
	}
	if err != nil {
		return tokenResponse{}, err
	}
	var rec codeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return tokenResponse{}, errCodeInvalid.WithCause(err)
	}
	if rec.ClientID != c.ID {
		return tokenResponse{}, errCodeInvalid
	}
	switch ru := r.PostForm.Get("redirect_uri"); {
	case ru == "" && rec.RedirectGiven:
		// RFC 6749 §4.1.3: required when the authorization request included it.
		return tokenResponse{}, InvalidRequest("redirect_uri is required")
	case ru != "" && ru != rec.RedirectURI:
		return tokenResponse{}, InvalidGrant("redirect_uri differs from the authorization request")
	}
	verifier := r.PostForm.Get("code_verifier")
	switch {
	case rec.CodeChallenge != "" && !VerifyPKCE(verifier, rec.CodeChallenge):
		return tokenResponse{}, InvalidGrant("code_verifier does not match the code_challenge")
	case rec.CodeChallenge == "" && verifier != "":
		// CONFORMANCE §4.6: a verifier without a challenge is a downgrade attempt.
		return tokenResponse{}, InvalidGrant("code_verifier sent, but the request had no code_challenge")
	}
	u, err := p.activeUser(ctx, realm.Name, rec.UserID)
	if err != nil {
		return tokenResponse{}, err
	}
	// A logout between the code and its redemption ends what the code would start.
	if _, err := p.st.GetSession(ctx, realm.Name, rec.SessionID); errors.Is(err, store.ErrNotFound) {
		return tokenResponse{}, InvalidGrant("the session of this code has ended")
	} else if err != nil {
		return tokenResponse{}, err
	}
	now := p.now()
	g := store.Grant{
		Realm: realm.Name, ID: rec.GrantID, ClientID: c.ID, UserID: u.ID, SessionID: rec.SessionID,
		Scopes: rec.Scopes, Claims: rec.Claims, AuthTime: time.Unix(rec.AuthTime, 0), AMR: rec.AMR, ACR: rec.ACR,
		CreatedAt: now, LastUsedAt: now,
	}
	g, refresh, err := p.createGrant(ctx, c, g)
	if err != nil {
		return tokenResponse{}, err
	}
	// A replay that raced this redemption, before the grant existed, could not revoke it;
	// it left a mark. This redemption still wins (exactly one does), but what it issues
	// is revoked at once, as if the replay had come later.
	if _, err := p.eph.Get(ctx, codeReusedKey(realm.Name, h)); err == nil {
		p.revokeGrant(ctx, realm.Name, g.ID, "authorization code replayed")
	}
	return p.userTokens(ctx, realm.Name, c, g, u, refresh, rec.Nonce)
}

// createGrant stores a new grant of a user's tokens, with its refresh token (returned)
// when the client may refresh: its expiry is the refresh token's, else the access token's.
func (p *Provider) createGrant(ctx context.Context, c store.Client, g store.Grant) (store.Grant, string, error) {
	refresh := ""
	if slices.Contains(c.GrantTypes, "refresh_token") {
		hasher, err := p.peppers.Hasher(ctx, g.Realm)
		if err != nil {
			return g, "", err
		}
		// Every generation's secret is derived, the first too, so a replayed token of any
		// generation is recognised as one (and revokes the family).
		secret := refreshSuccessor(hasher, g)
		sum := sha256.Sum256([]byte(secret))
		g.RefreshHash = sum[:]
		refresh = g.ID + "." + secret
		_, max := refreshTTLs(c, g.Scopes)
		g.ExpiresAt = g.CreatedAt.Add(max)
	} else {
		g.ExpiresAt = g.CreatedAt.Add(accessTTL(c))
	}
	if _, err := p.st.CreateGrant(ctx, g); err != nil {
		return g, "", err
	}
	return g, refresh, nil
}

// codeReplayed marks a redeemed code as replayed and revokes the grant it created.
func (p *Provider) codeReplayed(ctx context.Context, realm string, h [32]byte) error {
	gid, err := p.eph.Get(ctx, codeGrantKey(realm, h))
	if errors.Is(err, ephemeral.ErrNotFound) {
		return nil // never issued, or long gone
	}
	if err != nil {
		return err
	}
	if _, err := p.eph.SetNX(ctx, codeReusedKey(realm, h), []byte{1}, codeReuseTTL); err != nil {
		return err
	}
	p.revokeGrant(ctx, realm, string(gid.Value), "authorization code replayed")
	return nil
}

// revokeGrant revokes a grant if it exists; a failure is logged (the caller already
// refuses the request).
func (p *Provider) revokeGrant(ctx context.Context, realm, id, reason string) {
	_, err := p.st.UpdateGrant(ctx, realm, id, func(g store.Grant) (store.Grant, error) {
		if !g.Revoked() {
			g.RevokedAt, g.RevokedReason = p.now(), reason
		}
		return g, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.log.Error("revoke grant", "realm", realm, "reason", reason, "err", err)
	}
}

// activeUser loads a user who may still get tokens (CONFORMANCE §4.12: a locked or
// disabled user is refused at the token endpoint and at refresh).
func (p *Provider) activeUser(ctx context.Context, realm, id string) (store.User, error) {
	u, err := p.st.GetUser(ctx, realm, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, InvalidGrant("the user no longer exists")
	}
	if err != nil {
		return store.User{}, err
	}
	if !userActive(u, p.now()) {
		return store.User{}, InvalidGrant("the user is disabled or locked")
	}
	return u, nil
}

func accessTTL(c store.Client) time.Duration {
	if c.AccessTokenTTL > 0 {
		return c.AccessTokenTTL
	}
	return defaultAccessTokenTTL
}

// refreshTTLs are a grant's idle and absolute refresh lifetimes.
func refreshTTLs(c store.Client, scopes []string) (idle, max time.Duration) {
	idle, max = defaultRefreshIdle, defaultRefreshMax
	if slices.Contains(scopes, "offline_access") {
		idle, max = defaultOfflineRefreshIdle, defaultOfflineRefreshMax
	}
	if c.RefreshTokenIdleTTL > 0 {
		idle = c.RefreshTokenIdleTTL
	}
	if c.RefreshTokenMaxTTL > 0 {
		max = c.RefreshTokenMaxTTL
	}
	return idle, max
}

// userTokens issues the access token, ID token (for openid) and refresh token of a grant.
func (p *Provider) userTokens(ctx context.Context, realm string, c store.Client, g store.Grant, u store.User, refresh, nonce string) (tokenResponse, error) {
	return p.userTokensFor(ctx, realm, c, g, u, refresh, nonce, "")
}

// userTokensFor is userTokens; for a CIBA push (authReqID set) the ID token also names
// the request and hashes the refresh token (CIBA Core §10.3.1).
func (p *Provider) userTokensFor(ctx context.Context, realm string, c store.Client, g store.Grant, u store.User, refresh, nonce, authReqID string) (tokenResponse, error) {
	ttl := accessTTL(c)
	scope := strings.Join(g.Scopes, " ")
	at, err := p.mintAccessToken(ctx, realm, accessClaims{
		Subject: u.ID, ClientID: c.ID, Scope: scope, GrantID: g.ID, SessionID: g.SessionID,
		AuthTime: g.AuthTime.Unix(), ACR: g.ACR,
	}, ttl)
	if err != nil {
		return tokenResponse{}, err
	}
	resp := tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds()), RefreshToken: refresh, Scope: scope}
	if slices.Contains(g.Scopes, "openid") {
		resp.IDToken, err = p.mintIDToken(ctx, realm, idTokenInput{
			client: c, user: u, scopes: g.Scopes, claims: g.Claims, nonce: nonce, sessionID: g.SessionID,
			authTime: g.AuthTime.Unix(), amr: g.AMR, acr: g.ACR, accessToken: at,
			authReqID: authReqID, refreshToken: map[bool]string{true: refresh}[authReqID != ""],
		})
		if err != nil {
			return tokenResponse{}, err
		}
	}
	return resp, nil
}
