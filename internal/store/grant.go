package store

import "time"

// Validate reports whether g may be stored: it has an ID and a client, a session only
// with a user, and times every back end can store. The error wraps ErrInvalid.
func (g Grant) Validate() error {
	key := g.key()
	switch {
	case g.ID == "":
		return invalid(key, "ID is empty")
	case g.ClientID == "":
		return invalid(key, "client ID is empty")
	case g.SessionID != "" && g.UserID == "":
		return invalid(key, "session %q without a user", g.SessionID)
	}
	return checkTimes(key, g.AuthTime, g.PrevValidUntil, g.CreatedAt, g.LastUsedAt, g.ExpiresAt, g.RevokedAt)
}

func (g *Grant) key() string { return recordKey("grant", g.Realm, g.ID) }

func (g *Grant) normalize() {
	g.Scopes = cloneStrings(g.Scopes)
	g.AMR = cloneStrings(g.AMR)
	g.Claims = cloneBytes(g.Claims)
	g.RefreshHash = cloneBytes(g.RefreshHash)
	g.PrevRefreshHash = cloneBytes(g.PrevRefreshHash)
	timestamps(&g.AuthTime, &g.PrevValidUntil, &g.CreatedAt, &g.LastUsedAt, &g.ExpiresAt, &g.RevokedAt)
}

func (g *Grant) stamps() stamps {
	return stamps{created: &g.CreatedAt, callerCreated: true, version: &g.Version}
}

func (g *Grant) document() any {
	return &struct {
		Scopes            *[]string `json:"scopes"`
		AMR               *[]string `json:"amr"`
		ACR               *string   `json:"acr"`
		RefreshGeneration *int64    `json:"refresh_generation"`
	}{&g.Scopes, &g.AMR, &g.ACR, &g.RefreshGeneration}
}

// RevocationTime is the RevokedAt that RevokeUserGrants sets: at, or now when at is zero,
// as Timestamp keeps it.
func RevocationTime(at, now time.Time) time.Time {
	if at.IsZero() {
		at = now
	}
	return Timestamp(at)
}
