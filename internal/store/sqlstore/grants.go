package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// grantColumns are written as they are and read through grantSelect, which turns the
// NULL user_id of a client_credentials grant into "".
const (
	grantColumns = `realm, id, client_id, user_id, session_id, claims, refresh_hash, prev_refresh_hash, auth_time,
		prev_valid_until, created_at, last_used_at, expires_at, revoked_at, revoked_reason, data, version`
	grantSelect = `SELECT realm, id, client_id, COALESCE(user_id, ''), session_id, claims, refresh_hash, prev_refresh_hash,
		auth_time, prev_valid_until, created_at, last_used_at, expires_at, revoked_at, revoked_reason, data, version FROM grants`
)

// CreateGrant stores a new grant; ErrConflict if the ID exists, ErrNotFound if the realm,
// client or user is missing.
func (s *Store) CreateGrant(ctx context.Context, g store.Grant) (store.Grant, error) {
	g, data, err := store.PrepareCreate(g, s.now())
	if err != nil {
		return store.Grant{}, err
	}
	_, err = s.writer.Exec(ctx,
		`INSERT INTO grants (`+grantColumns+`) VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		g.Realm, g.ID, g.ClientID, g.UserID, g.SessionID, g.Claims, g.RefreshHash, g.PrevRefreshHash, s.timeValue(g.AuthTime),
		s.timeValue(g.PrevValidUntil), s.timeValue(g.CreatedAt), s.timeValue(g.LastUsedAt), s.timeValue(g.ExpiresAt), s.timeValue(g.RevokedAt),
		g.RevokedReason, string(data), g.Version)
	if err != nil {
		return store.Grant{}, s.wrapErr(ctx, err, "create grant %q in realm %q", g.ID, g.Realm)
	}
	return g, nil
}

// GetGrant returns the grant or ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, realm, id string) (store.Grant, error) {
	g, err := s.scanGrant(s.reader.QueryRow(ctx, grantSelect+` WHERE realm = $1 AND id = $2`, realm, id))
	if err != nil {
		return store.Grant{}, s.wrapErr(ctx, err, "get grant %q in realm %q", id, realm)
	}
	return g, nil
}

// UpdateGrant applies fn to the stored grant in one locking transaction (see update).
func (s *Store) UpdateGrant(ctx context.Context, realm, id string, fn func(store.Grant) (store.Grant, error)) (store.Grant, error) {
	return update(ctx, s, fmt.Sprintf("update grant %q in realm %q", id, realm),
		func(tx Tx) (store.Grant, error) {
			return s.scanGrant(tx.QueryRow(ctx, grantSelect+` WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, id))
		},
		func(old store.Grant) (store.Grant, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx Tx, g store.Grant, data []byte) error {
			_, err := tx.Exec(ctx, `UPDATE grants SET client_id = $1, user_id = NULLIF($2, ''), session_id = $3, claims = $4,
				refresh_hash = $5, prev_refresh_hash = $6, auth_time = $7, prev_valid_until = $8, last_used_at = $9,
				expires_at = $10, revoked_at = $11, revoked_reason = $12, data = $13, version = $14 WHERE realm = $15 AND id = $16`,
				g.ClientID, g.UserID, g.SessionID, g.Claims, g.RefreshHash, g.PrevRefreshHash, s.timeValue(g.AuthTime),
				s.timeValue(g.PrevValidUntil), s.timeValue(g.LastUsedAt), s.timeValue(g.ExpiresAt), s.timeValue(g.RevokedAt), g.RevokedReason,
				string(data), g.Version, realm, id)
			return err
		})
}

// ListUserGrants returns a user's grants, newest first, revoked ones included.
func (s *Store) ListUserGrants(ctx context.Context, realm, userID string) ([]store.Grant, error) {
	grants, err := queryAll(ctx, s.reader, s.scanGrant,
		grantSelect+` WHERE realm = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC`, realm, userID)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list grants of user %q in realm %q", userID, realm)
	}
	return grants, nil
}

// RevokeUserGrants revokes the user's unrevoked grants, only those of sessionID when it
// is not empty, and returns how many it revoked.
func (s *Store) RevokeUserGrants(ctx context.Context, realm, userID, sessionID, reason string, at time.Time) (int, error) {
	query := `UPDATE grants SET revoked_at = $1, revoked_reason = $2, version = version + 1
		WHERE realm = $3 AND user_id = $4 AND revoked_at IS NULL`
	args := []any{s.timeValue(store.RevocationTime(at, s.now())), reason, realm, userID}
	if sessionID != "" {
		query += ` AND session_id = $5`
		args = append(args, sessionID)
	}
	n, err := s.exec(ctx, query, args...)
	return n, s.wrapErr(ctx, err, "revoke grants of user %q in realm %q", userID, realm)
}

// DeleteExpiredGrants deletes grants whose ExpiresAt is before t, in every realm.
func (s *Store) DeleteExpiredGrants(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM grants WHERE expires_at < $1`, s.timeValue(t))
	return n, s.wrapErr(ctx, err, "delete expired grants")
}

// scanGrant reads one row of grantSelect.
func (s *Store) scanGrant(src Row) (store.Grant, error) {
	var (
		g    store.Grant
		data []byte
	)
	err := src.Scan(&g.Realm, &g.ID, &g.ClientID, &g.UserID, &g.SessionID, &g.Claims, &g.RefreshHash, &g.PrevRefreshHash,
		s.timeDest(&g.AuthTime), s.timeDest(&g.PrevValidUntil), s.timeDest(&g.CreatedAt), s.timeDest(&g.LastUsedAt),
		s.timeDest(&g.ExpiresAt), s.timeDest(&g.RevokedAt), &g.RevokedReason, &data, &g.Version)
	if err != nil {
		return store.Grant{}, err
	}
	return store.Scanned(g, data)
}
