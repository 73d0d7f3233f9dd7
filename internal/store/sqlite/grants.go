package sqlite

import (
	"context"
	"database/sql"
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
	_, err = s.writer.ExecContext(ctx,
		`INSERT INTO grants (`+grantColumns+`) VALUES (?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.Realm, g.ID, g.ClientID, g.UserID, g.SessionID, g.Claims, g.RefreshHash, g.PrevRefreshHash, nanos(g.AuthTime),
		nanos(g.PrevValidUntil), nanos(g.CreatedAt), nanos(g.LastUsedAt), nanos(g.ExpiresAt), nanos(g.RevokedAt),
		g.RevokedReason, string(data), g.Version)
	if err != nil {
		return store.Grant{}, wrapErr(ctx, err, "create grant %q in realm %q", g.ID, g.Realm)
	}
	return g, nil
}

// GetGrant returns the grant or ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, realm, id string) (store.Grant, error) {
	g, err := scanGrant(s.reader.QueryRowContext(ctx, grantSelect+` WHERE realm = ? AND id = ?`, realm, id))
	if err != nil {
		return store.Grant{}, wrapErr(ctx, err, "get grant %q in realm %q", id, realm)
	}
	return g, nil
}

// UpdateGrant applies fn to the stored grant inside one write transaction.
func (s *Store) UpdateGrant(ctx context.Context, realm, id string, fn func(store.Grant) (store.Grant, error)) (store.Grant, error) {
	return update(ctx, s, fmt.Sprintf("update grant %q in realm %q", id, realm),
		func(tx *sql.Tx) (store.Grant, error) {
			return scanGrant(tx.QueryRowContext(ctx, grantSelect+` WHERE realm = ? AND id = ?`, realm, id))
		},
		func(old store.Grant) (store.Grant, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx *sql.Tx, g store.Grant, data []byte) error {
			_, err := tx.ExecContext(ctx, `UPDATE grants SET client_id = ?, user_id = NULLIF(?, ''), session_id = ?, claims = ?,
				refresh_hash = ?, prev_refresh_hash = ?, auth_time = ?, prev_valid_until = ?, last_used_at = ?,
				expires_at = ?, revoked_at = ?, revoked_reason = ?, data = ?, version = ? WHERE realm = ? AND id = ?`,
				g.ClientID, g.UserID, g.SessionID, g.Claims, g.RefreshHash, g.PrevRefreshHash, nanos(g.AuthTime),
				nanos(g.PrevValidUntil), nanos(g.LastUsedAt), nanos(g.ExpiresAt), nanos(g.RevokedAt), g.RevokedReason,
				string(data), g.Version, realm, id)
			return err
		})
}

// ListUserGrants returns a user's grants, newest first, revoked ones included.
func (s *Store) ListUserGrants(ctx context.Context, realm, userID string) ([]store.Grant, error) {
	grants, err := queryAll(ctx, s.reader, scanGrant,
		grantSelect+` WHERE realm = ? AND user_id = ? ORDER BY created_at DESC, id DESC`, realm, userID)
	if err != nil {
		return nil, wrapErr(ctx, err, "list grants of user %q in realm %q", userID, realm)
	}
	return grants, nil
}

// RevokeUserGrants revokes the user's unrevoked grants, only those of sessionID when it
// is not empty, and returns how many it revoked.
func (s *Store) RevokeUserGrants(ctx context.Context, realm, userID, sessionID, reason string, at time.Time) (int, error) {
	query := `UPDATE grants SET revoked_at = ?, revoked_reason = ?, version = version + 1
		WHERE realm = ? AND user_id = ? AND revoked_at IS NULL`
	args := []any{nanos(store.RevocationTime(at, s.now())), reason, realm, userID}
	if sessionID != "" {
		query += ` AND session_id = ?`
		args = append(args, sessionID)
	}
	n, err := s.exec(ctx, query, args...)
	return n, wrapErr(ctx, err, "revoke grants of user %q in realm %q", userID, realm)
}

// DeleteExpiredGrants deletes grants whose ExpiresAt is before t, in every realm.
func (s *Store) DeleteExpiredGrants(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM grants WHERE expires_at < ?`, nanos(t))
	return n, wrapErr(ctx, err, "delete expired grants")
}

// scanGrant reads one row of grantSelect.
func scanGrant(src row) (store.Grant, error) {
	var (
		g    store.Grant
		data []byte
	)
	err := src.Scan(&g.Realm, &g.ID, &g.ClientID, &g.UserID, &g.SessionID, &g.Claims, &g.RefreshHash, &g.PrevRefreshHash,
		nanoTime{&g.AuthTime}, nanoTime{&g.PrevValidUntil}, nanoTime{&g.CreatedAt}, nanoTime{&g.LastUsedAt},
		nanoTime{&g.ExpiresAt}, nanoTime{&g.RevokedAt}, &g.RevokedReason, &data, &g.Version)
	if err != nil {
		return store.Grant{}, err
	}
	return store.Scanned(g, data)
}
