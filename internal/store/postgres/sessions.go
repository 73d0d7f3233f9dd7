package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-auth/signet/internal/store"
)

const sessionColumns = `realm, id, user_id, secret_hash, auth_time, created_at, last_seen_at, expires_at, data, version`

// CreateSession stores a new session; ErrConflict if the ID exists, ErrNotFound if the
// realm or user is missing.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) (store.Session, error) {
	sess, data, err := store.PrepareCreate(sess, s.now())
	if err != nil {
		return store.Session{}, err
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		sess.Realm, sess.ID, sess.UserID, sess.SecretHash, tstz(sess.AuthTime), sess.CreatedAt,
		tstz(sess.LastSeenAt), tstz(sess.ExpiresAt), string(data), sess.Version)
	if err != nil {
		return store.Session{}, wrapErr(ctx, err, "create session %q in realm %q", sess.ID, sess.Realm)
	}
	return sess, nil
}

// GetSession returns the session or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, realm, id string) (store.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND id = $2`, realm, id))
	if err != nil {
		return store.Session{}, wrapErr(ctx, err, "get session %q in realm %q", id, realm)
	}
	return sess, nil
}

// ListUserSessions returns a user's sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, realm, userID string) ([]store.Session, error) {
	sessions, err := queryAll(ctx, s.pool, scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC`, realm, userID)
	if err != nil {
		return nil, wrapErr(ctx, err, "list sessions of user %q in realm %q", userID, realm)
	}
	return sessions, nil
}

// UpdateSession applies fn to the stored session in a transaction that holds the row lock.
func (s *Store) UpdateSession(ctx context.Context, realm, id string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	return update(ctx, s, fmt.Sprintf("update session %q in realm %q", id, realm),
		func(tx pgx.Tx) (store.Session, error) {
			return scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND id = $2 FOR NO KEY UPDATE`, realm, id))
		},
		func(old store.Session) (store.Session, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx pgx.Tx, sess store.Session, data []byte) error {
			_, err := tx.Exec(ctx, `UPDATE sessions SET user_id = $1, secret_hash = $2, auth_time = $3, last_seen_at = $4,
				expires_at = $5, data = $6, version = $7 WHERE realm = $8 AND id = $9`,
				sess.UserID, sess.SecretHash, tstz(sess.AuthTime), tstz(sess.LastSeenAt), tstz(sess.ExpiresAt),
				string(data), sess.Version, realm, id)
			return err
		})
}

// DeleteSession removes the session or returns ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, realm, id string) error {
	return s.deleteOne(ctx, fmt.Sprintf("delete session %q in realm %q", id, realm),
		`DELETE FROM sessions WHERE realm = $1 AND id = $2`, realm, id)
}

// DeleteUserSessions deletes every session of a user and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, realm, userID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE realm = $1 AND user_id = $2`, realm, userID)
	return n, wrapErr(ctx, err, "delete sessions of user %q in realm %q", userID, realm)
}

// DeleteExpiredSessions deletes sessions whose ExpiresAt is before t, in every realm.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, tstz(t))
	return n, wrapErr(ctx, err, "delete expired sessions")
}

// scanSession reads one row of sessionColumns.
func scanSession(row pgx.Row) (store.Session, error) {
	var (
		sess store.Session
		data []byte
	)
	err := row.Scan(&sess.Realm, &sess.ID, &sess.UserID, &sess.SecretHash, pgTime{&sess.AuthTime}, pgTime{&sess.CreatedAt},
		pgTime{&sess.LastSeenAt}, pgTime{&sess.ExpiresAt}, &data, &sess.Version)
	if err != nil {
		return store.Session{}, err
	}
	return store.Scanned(sess, data)
}
