package sqlstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/signet-auth/signet/internal/store"
)

const userColumns = `realm, id, username, email, totp_secret, locked_until, password_changed_at, data, created_at, updated_at, version`

// CreateUser stores a new user; ErrConflict if the ID, username or email is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	u, data, err := store.PrepareCreate(u, s.now())
	if err != nil {
		return store.User{}, err
	}
	_, err = s.writer.Exec(ctx,
		`INSERT INTO users (`+userColumns+`, username_lower, email_lower) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		u.Realm, u.ID, u.Username, u.Email, u.TOTPSecret, s.timeValue(u.LockedUntil), s.timeValue(u.PasswordChangedAt),
		string(data), s.timeValue(u.CreatedAt), s.timeValue(u.UpdatedAt), u.Version, store.LowerKey(u.Username), store.LowerKey(u.Email))
	if err != nil {
		return store.User{}, s.wrapErr(ctx, err, "create user %q in realm %q", u.ID, u.Realm)
	}
	return u, nil
}

// GetUser returns the user or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, realm, id string) (store.User, error) {
	return s.getUser(ctx, fmt.Sprintf("get user %q in realm %q", id, realm), `id = $2`, realm, id)
}

// GetUserByUsername returns the user whose username matches, case-insensitively.
func (s *Store) GetUserByUsername(ctx context.Context, realm, username string) (store.User, error) {
	return s.getUser(ctx, fmt.Sprintf("get user by username %q in realm %q", username, realm),
		`username_lower = $2`, realm, store.LowerKey(username))
}

// GetUserByEmail returns the user whose email matches, case-insensitively.
func (s *Store) GetUserByEmail(ctx context.Context, realm, email string) (store.User, error) {
	return s.getUser(ctx, fmt.Sprintf("get user by email %q in realm %q", email, realm),
		`email_lower = $2 AND email_lower <> ''`, realm, store.LowerKey(email))
}

func (s *Store) getUser(ctx context.Context, op, where, realm, value string) (store.User, error) {
	u, err := s.scanUser(s.reader.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE realm = $1 AND `+where, realm, value))
	if err != nil {
		return store.User{}, s.wrapErr(ctx, err, "%s", op)
	}
	return u, nil
}

// ListUsers returns users ordered by lower-cased username, those whose username or email
// starts with f.Search when it is set.
func (s *Store) ListUsers(ctx context.Context, realm string, f store.UserFilter, opts store.ListOptions) (store.Page[store.User], error) {
	after, limit, err := store.PageRequest("user", opts)
	if err != nil {
		return store.Page[store.User]{}, s.wrapErr(ctx, err, "list users in realm %q", realm)
	}
	query := `SELECT ` + userColumns + ` FROM users WHERE realm = $1 AND username_lower > $2`
	args := []any{realm, after}
	if f.Search != "" {
		query += ` AND (username_lower LIKE $3 ESCAPE '\' OR email_lower LIKE $3 ESCAPE '\')`
		args = append(args, store.LikePrefix(f.Search))
	}
	args = append(args, limit+1)
	users, err := queryAll(ctx, s.reader, s.scanUser, query+` ORDER BY username_lower LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return store.Page[store.User]{}, s.wrapErr(ctx, err, "list users in realm %q", realm)
	}
	return store.NewPage("user", users, limit, func(u store.User) string { return store.LowerKey(u.Username) }), nil
}

// userChange is what UpdateUser writes beside the user: its document, and the
// "user.locked" event when the update locks or disables an active user.
type userChange struct {
	data   []byte
	locked *store.ChangeEvent
}

// UpdateUser applies fn to the stored user in one locking transaction (see update).
func (s *Store) UpdateUser(ctx context.Context, realm, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	return update(ctx, s, fmt.Sprintf("update user %q in realm %q", id, realm),
		func(tx Tx) (store.User, error) {
			return s.scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE realm = $1 AND id = $2`+s.dialect.RowLock, realm, id))
		},
		func(old store.User) (store.User, userChange, error) {
			now := s.now()
			u, data, err := store.PrepareUpdate(old, fn, now)
			if err != nil {
				return u, userChange{}, err
			}
			c := userChange{data: data}
			if e, ok := store.UserLockEvent(old, u, now); ok {
				c.locked = &e
			}
			return u, c, nil
		},
		func(tx Tx, u store.User, c userChange) error {
			_, err := tx.Exec(ctx, `UPDATE users SET username = $1, username_lower = $2, email = $3, email_lower = $4,
				totp_secret = $5, locked_until = $6, password_changed_at = $7, data = $8, updated_at = $9, version = $10
				WHERE realm = $11 AND id = $12`,
				u.Username, store.LowerKey(u.Username), u.Email, store.LowerKey(u.Email),
				u.TOTPSecret, s.timeValue(u.LockedUntil), s.timeValue(u.PasswordChangedAt), string(c.data), s.timeValue(u.UpdatedAt), u.Version,
				realm, id)
			if err != nil || c.locked == nil {
				return err
			}
			return s.writeChange(ctx, tx, *c.locked)
		})
}

// DeleteUser removes the user with their sessions, grants and consents.
func (s *Store) DeleteUser(ctx context.Context, realm, id string) error {
	return s.execOne(ctx, fmt.Sprintf("delete user %q in realm %q", id, realm),
		`DELETE FROM users WHERE realm = $1 AND id = $2`, realm, id)
}

// scanUser reads one row of userColumns.
func (s *Store) scanUser(src Row) (store.User, error) {
	var us userScan
	if err := src.Scan(us.dests(s)...); err != nil {
		return store.User{}, err
	}
	return us.done()
}

// userScan is a user being read from userColumns, as deviceScan is a device.
type userScan struct {
	u    store.User
	data []byte
}

func (us *userScan) dests(s *Store) []any {
	u := &us.u
	return []any{&u.Realm, &u.ID, &u.Username, &u.Email, &u.TOTPSecret, s.timeDest(&u.LockedUntil), s.timeDest(&u.PasswordChangedAt),
		&us.data, s.timeDest(&u.CreatedAt), s.timeDest(&u.UpdatedAt), &u.Version}
}

func (us *userScan) done() (store.User, error) { return store.Scanned(us.u, us.data) }
