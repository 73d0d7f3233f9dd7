package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// refreshGrace is how long the token a rotation replaced still redeems, for the same
// successor: concurrent refreshes of one token (tabs, retries after a lost response)
// all succeed and agree.
const refreshGrace = 30 * time.Second

var errRefreshInvalid = InvalidGrant("the refresh token is invalid, expired or revoked")

// refreshToken is RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2):
//   - the current token rotates to a successor (when the client's policy rotates);
//   - the token just replaced, within refreshGrace, gets that same successor;
//   - any older token is a replay: the whole grant (every token of the family) is revoked.
func (p *Provider) refreshToken(r *http.Request, realm store.Realm, c store.Client) (tokenResponse, error) {
	ctx := r.Context()
	gid, secret, ok := strings.Cut(r.PostForm.Get("refresh_token"), ".")
	if !ok || gid == "" || secret == "" || len(gid) > 64 {
		return tokenResponse{}, errRefreshInvalid
	}
	hasher, err := p.peppers.Hasher(ctx, realm.Name)
	if err != nil {
		return tokenResponse{}, err
	}
	sum := sha256.Sum256([]byte(secret))
	now := p.now()
	var (
		reused    bool
		successor string
	)
	g, err := p.st.UpdateGrant(ctx, realm.Name, gid, func(g store.Grant) (store.Grant, error) {
		reused, successor = false, ""
		idle, _ := refreshTTLs(c, g.Scopes)
		switch {
		case g.ClientID != c.ID || g.Revoked() || len(g.RefreshHash) == 0:
			return g, errRefreshInvalid
		case !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt), now.Sub(g.LastUsedAt) > idle:
			return g, errRefreshInvalid
		}
		cur := subtle.ConstantTimeCompare(sum[:], g.RefreshHash) == 1
		prev := len(g.PrevRefreshHash) > 0 && subtle.ConstantTimeCompare(sum[:], g.PrevRefreshHash) == 1
		switch {
		case cur && !c.RefreshRotation:
			successor = secret
		case cur:
			g.RefreshGeneration++
			successor = refreshSuccessor(hasher, g)
			next := sha256.Sum256([]byte(successor))
			g.PrevRefreshHash, g.PrevValidUntil, g.RefreshHash = g.RefreshHash, now.Add(refreshGrace), next[:]
		case prev && now.Before(g.PrevValidUntil):
			successor = refreshSuccessor(hasher, g)
		case prev || olderGeneration(hasher, g, secret):
			// A replaced token came back: someone holds a copy. Revoke the family. A
			// merely wrong secret revokes nothing, or knowing a grant id (it is in access
			// tokens) would let anyone end someone else's grant.
			reused = true
			g.RevokedAt, g.RevokedReason = now, "refresh token reused"
			return g, nil
		default:
			return g, errRefreshInvalid
		}
		g.LastUsedAt = now
		return g, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		return tokenResponse{}, errRefreshInvalid
	case err != nil:
		return tokenResponse{}, err
	case reused:
		p.log.Warn("refresh token reuse: grant revoked", "realm", realm.Name, "client", c.ID)
		return tokenResponse{}, errRefreshInvalid
	}
	u, err := p.activeUser(ctx, realm.Name, g.UserID)
	if err != nil {
		return tokenResponse{}, err
	}
	if scope := r.PostForm.Get("scope"); scope != "" {
		// RFC 6749 §6: a refresh may narrow the scope, never widen it.
		narrowed := strings.Fields(scope)
		for _, s := range narrowed {
			if !slices.Contains(g.Scopes, s) {
				return tokenResponse{}, InvalidScope("scope " + s + " was not granted")
			}
		}
		slices.Sort(narrowed)
		g.Scopes = slices.Compact(narrowed)
	}
	return p.userTokens(ctx, realm.Name, c, g, u, g.ID+"."+successor, "")
}

// refreshSuccessor derives the refresh secret of a grant's current generation from the
// realm's secret pepper, so every caller inside the grace window gets the same successor
// without the database ever holding a usable token.
func refreshSuccessor(h *SecretHasher, g store.Grant) string {
	mac := h.Hash("signet refresh v1\x00" + g.ID + "\x00" + strconv.FormatInt(g.RefreshGeneration, 10))
	return base64.RawURLEncoding.EncodeToString(mac)
}

// olderGeneration reports whether secret is the derived token of one of the grant's
// earlier generations (the last 100 are checked).
func olderGeneration(h *SecretHasher, g store.Grant, secret string) bool {
	found := 0
	for gen := g.RefreshGeneration - 2; gen >= 0 && gen >= g.RefreshGeneration-101; gen-- {
		old := g
		old.RefreshGeneration = gen
		found |= subtle.ConstantTimeCompare([]byte(refreshSuccessor(h, old)), []byte(secret))
	}
	return found == 1
}

// grantOfRefresh returns the grant a refresh token names if the token is its current or
// grace-window token; used by revocation.
func (p *Provider) grantOfRefresh(ctx context.Context, realm, token string) (store.Grant, bool, error) {
	gid, secret, ok := strings.Cut(token, ".")
	if !ok || gid == "" || secret == "" || len(gid) > 64 {
		return store.Grant{}, false, nil
	}
	g, err := p.st.GetGrant(ctx, realm, gid)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return store.Grant{}, false, nil
	}
	if err != nil {
		return store.Grant{}, false, err
	}
	sum := sha256.Sum256([]byte(secret))
	match := len(g.RefreshHash) > 0 && subtle.ConstantTimeCompare(sum[:], g.RefreshHash) == 1 ||
		len(g.PrevRefreshHash) > 0 && subtle.ConstantTimeCompare(sum[:], g.PrevRefreshHash) == 1
	return g, match, nil
}
