package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

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
	_, err = s.writer.ExecContext(ctx,
		`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.Realm, sess.ID, sess.UserID, sess.SecretHash, nanos(sess.AuthTime), nanos(sess.CreatedAt),
		nanos(sess.LastSeenAt), nanos(sess.ExpiresAt), string(data), sess.Version)
	if err != nil {
		return store.Session{}, wrapErr(ctx, err, "create session %q in realm %q", sess.ID, sess.Realm)
	}
	return sess, nil
}

// GetSession returns the session or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, realm, id string) (store.Session, error) {
	sess, err := scanSession(s.reader.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE realm = ? AND id = ?`, realm, id))
	if err != nil {
		return store.Session{}, wrapErr(ctx, err, "get session %q in realm %q", id, realm)
	}
	return sess, nil
}

// ListUserSessions returns a user's sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, realm, userID string) ([]store.Session, error) {
	sessions, err := queryAll(ctx, s.reader, scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE realm = ? AND user_id = ? ORDER BY created_at DESC, id DESC`, realm, userID)
	if err != nil {
		return nil, wrapErr(ctx, err, "list sessions of user %q in realm %q", userID, realm)
	}
	return sessions, nil
}

// UpdateSession applies fn to the stored session inside one write transaction.
func (s *Store) UpdateSession(ctx context.Context, realm, id string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	return update(ctx, s, fmt.Sprintf("update session %q in realm %q", id, realm),
		func(tx *sql.Tx) (store.Session, error) {
			return scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE realm = ? AND id = ?`, realm, id))
		},
		func(old store.Session) (store.Session, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx *sql.Tx, sess store.Session, data []byte) error {
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET user_id = ?, secret_hash = ?, auth_time = ?, last_seen_at = ?,
				expires_at = ?, data = ?, version = ? WHERE realm = ? AND id = ?`,
				sess.UserID, sess.SecretHash, nanos(sess.AuthTime), nanos(sess.LastSeenAt), nanos(sess.ExpiresAt),
				string(data), sess.Version, realm, id)
			return err
		})
}

// DeleteSession removes the session or returns ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, realm, id string) error {
	return s.deleteOne(ctx, fmt.Sprintf("delete session %q in realm %q", id, realm),
		`DELETE FROM sessions WHERE realm = ? AND id = ?`, realm, id)
}

// DeleteUserSessions deletes every session of a user and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, realm, userID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE realm = ? AND user_id = ?`, realm, userID)
	return n, wrapErr(ctx, err, "delete sessions of user %q in realm %q", userID, realm)
}

// DeleteExpiredSessions deletes sessions whose ExpiresAt is before t, in every realm.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < ?`, nanos(t))
	return n, wrapErr(ctx, err, "delete expired sessions")
}

// scanSession reads one row of sessionColumns.
func scanSession(src row) (store.Session, error) {
	var (
		sess store.Session
		data []byte
	)
	err := src.Scan(&sess.Realm, &sess.ID, &sess.UserID, &sess.SecretHash, nanoTime{&sess.AuthTime}, nanoTime{&sess.CreatedAt},
		nanoTime{&sess.LastSeenAt}, nanoTime{&sess.ExpiresAt}, &data, &sess.Version)
	if err != nil {
		return store.Session{}, err
	}
	return store.Scanned(sess, data)
}
