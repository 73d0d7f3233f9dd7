package sqlstore

import (
	"context"
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
	_, err = s.writer.Exec(ctx,
		`INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		sess.Realm, sess.ID, sess.UserID, sess.SecretHash, s.timeValue(sess.AuthTime), s.timeValue(sess.CreatedAt),
		s.timeValue(sess.LastSeenAt), s.timeValue(sess.ExpiresAt), string(data), sess.Version)
	if err != nil {
		return store.Session{}, s.wrapErr(ctx, err, "create session %q in realm %q", sess.ID, sess.Realm)
	}
	return sess, nil
}

// GetSession returns the session or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, realm, id string) (store.Session, error) {
	sess, err := s.scanSession(s.reader.QueryRow(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND id = $2`, realm, id))
	if err != nil {
		return store.Session{}, s.wrapErr(ctx, err, "get session %q in realm %q", id, realm)
	}
	return sess, nil
}

// ListUserSessions returns a user's sessions, newest first.
func (s *Store) ListUserSessions(ctx context.Context, realm, userID string) ([]store.Session, error) {
	sessions, err := queryAll(ctx, s.reader, s.scanSession,
		`SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC`, realm, userID)
	if err != nil {
		return nil, s.wrapErr(ctx, err, "list sessions of user %q in realm %q", userID, realm)
	}
	return sessions, nil
}

// UpdateSession applies fn to the stored session in one locking transaction (see update).
func (s *Store) UpdateSession(ctx context.Context, realm, id string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	return update(ctx, s, fmt.Sprintf("update session %q in realm %q", id, realm),
		func(tx Tx) (store.Session, error) {
			return s.scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, id))
		},
		func(old store.Session) (store.Session, []byte, error) { return store.PrepareUpdate(old, fn, s.now()) },
		func(tx Tx, sess store.Session, data []byte) error {
			_, err := tx.Exec(ctx, `UPDATE sessions SET user_id = $1, secret_hash = $2, auth_time = $3, last_seen_at = $4,
				expires_at = $5, data = $6, version = $7 WHERE realm = $8 AND id = $9`,
				sess.UserID, sess.SecretHash, s.timeValue(sess.AuthTime), s.timeValue(sess.LastSeenAt), s.timeValue(sess.ExpiresAt),
				string(data), sess.Version, realm, id)
			return err
		})
}

// DeleteSession removes the session or returns ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, realm, id string) error {
	return s.execOne(ctx, fmt.Sprintf("delete session %q in realm %q", id, realm),
		`DELETE FROM sessions WHERE realm = $1 AND id = $2`, realm, id)
}

// DeleteUserSessions deletes every session of a user and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, realm, userID string) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE realm = $1 AND user_id = $2`, realm, userID)
	return n, s.wrapErr(ctx, err, "delete sessions of user %q in realm %q", userID, realm)
}

// DeleteExpiredSessions deletes sessions whose ExpiresAt is before t, in every realm.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	n, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, s.timeValue(t))
	return n, s.wrapErr(ctx, err, "delete expired sessions")
}

// scanSession reads one row of sessionColumns.
func (s *Store) scanSession(src Row) (store.Session, error) {
	var (
		sess store.Session
		data []byte
	)
	err := src.Scan(&sess.Realm, &sess.ID, &sess.UserID, &sess.SecretHash, s.timeDest(&sess.AuthTime), s.timeDest(&sess.CreatedAt),
		s.timeDest(&sess.LastSeenAt), s.timeDest(&sess.ExpiresAt), &data, &sess.Version)
	if err != nil {
		return store.Session{}, err
	}
	return store.Scanned(sess, data)
}
