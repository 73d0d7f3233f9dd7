package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/store"
)

// PasswordTemporaryAttribute marks a user whose password must be changed at the next
// sign-in (an administrator set it, or it is the bootstrap password).
const PasswordTemporaryAttribute = login.AttrPasswordTemporary

// User is the JSON representation of a user. It never carries the password hash or the
// sealed TOTP secret, only whether they exist.
type User struct {
	ID                string            `json:"id"`
	Username          string            `json:"username"`
	Email             string            `json:"email"`
	EmailVerified     bool              `json:"email_verified"`
	Enabled           bool              `json:"enabled"`
	Locked            bool              `json:"locked"`
	LockedUntil       time.Time         `json:"locked_until,omitzero"`
	FailedLogins      int               `json:"failed_logins"`
	Profile           store.Profile     `json:"profile"`
	HasPassword       bool              `json:"has_password"`
	PasswordTemporary bool              `json:"password_temporary"`
	PasswordChangedAt time.Time         `json:"password_changed_at,omitzero"`
	TOTPEnabled       bool              `json:"totp_enabled"`
	Attributes        map[string]string `json:"attributes"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	Version           int64             `json:"version"`
}

// UserJSON is the representation of u at now (which tells whether u is locked).
func UserJSON(u store.User, now time.Time) User {
	return User{
		ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Enabled: u.Enabled,
		Locked: now.Before(u.LockedUntil), LockedUntil: u.LockedUntil, FailedLogins: u.FailedLogins,
		Profile: u.Profile, HasPassword: u.PasswordHash != "", PasswordTemporary: u.Attributes[PasswordTemporaryAttribute] == "true",
		PasswordChangedAt: u.PasswordChangedAt, TOTPEnabled: len(u.TOTPSecret) > 0,
		Attributes: PublicAttributes(u.Attributes), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Version: u.Version,
	}
}

// UserCreate is the body of a user's creation.
type UserCreate struct {
	Username      string            `json:"username"`
	Email         string            `json:"email"`
	EmailVerified bool              `json:"email_verified"`
	Enabled       *bool             `json:"enabled"`
	Profile       store.Profile     `json:"profile"`
	Attributes    map[string]string `json:"attributes"`
	// Password, when set, is the initial password; PasswordTemporary makes the user
	// change it at the next sign-in.
	Password          string `json:"password"`
	PasswordTemporary bool   `json:"password_temporary"`
}

// UserPatch is the body of a user's update: only the fields present change. Locked may
// only be set to false (unlock); failed logins lock a user, an administrator disables
// one.
type UserPatch struct {
	Username      *string           `json:"username"`
	Email         *string           `json:"email"`
	EmailVerified *bool             `json:"email_verified"`
	Enabled       *bool             `json:"enabled"`
	Locked        *bool             `json:"locked"`
	Profile       *store.Profile    `json:"profile"`
	Attributes    map[string]string `json:"attributes"`
}

// UserWhat names a user in messages.
func UserWhat(realm, id string) string { return fmt.Sprintf("user %q in realm %q", id, realm) }

// Users serves the user operations of an API.
type Users struct {
	Store store.Store
	// Passwords hashes initial passwords; nil refuses them.
	Passwords *password.Hasher
	Now       func() time.Time
	// Location is the path a created user is found at.
	Location func(realm, id string) string
}

// User loads the realm and the user named in the path.
func (us Users) User(r *http.Request) (store.User, error) {
	return InRealm(r, us.Store, "user", us.Store.GetUser, UserWhat)
}

func (us Users) json(u store.User) User { return UserJSON(u, us.Now()) }

// List answers GET .../users: ?username= looks one user up exactly (case-insensitive),
// ?search= narrows the listing.
func (us Users) List(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, us.Store)
	if err != nil {
		return err
	}
	opts, err := ListOptions(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if name := q.Get("username"); name != "" {
		// An exact, case-insensitive lookup: what a CLI needs to address a user by name.
		u, err := us.Store.GetUserByUsername(r.Context(), realm.Name, name)
		items := []User{}
		switch {
		case err == nil:
			items = append(items, us.json(u))
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid):
			return StoreError(err, "user listing")
		}
		return WriteJSON(w, http.StatusOK, Page[User]{Items: items})
	}
	p, err := us.Store.ListUsers(r.Context(), realm.Name, store.UserFilter{Search: q.Get("search")}, opts)
	if err != nil {
		return StoreError(err, "user listing")
	}
	return WriteJSON(w, http.StatusOK, PageOf(p, us.json))
}

// Create answers POST .../users with the created user, its Location and ETag.
func (us Users) Create(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, us.Store)
	if err != nil {
		return err
	}
	var in UserCreate
	if err := Decode(w, r, &in, false); err != nil {
		return err
	}
	if err := CheckProfile(in.Profile); err != nil {
		return err
	}
	if err := CheckAttributes(in.Attributes); err != nil {
		return err
	}
	u := store.User{
		Realm: realm.Name, ID: oidc.NewIdentifier(), Username: in.Username, Email: in.Email,
		EmailVerified: in.EmailVerified, Enabled: in.Enabled == nil || *in.Enabled,
		Profile: in.Profile, Attributes: in.Attributes,
	}
	if in.Password != "" {
		if u, err = us.WithPassword(r.Context(), u, in.Password, in.PasswordTemporary); err != nil {
			return err
		}
	} else if in.PasswordTemporary {
		return BadRequest("password_temporary needs a password")
	}
	created, err := us.Store.CreateUser(r.Context(), u)
	if err != nil {
		return StoreError(err, fmt.Sprintf("user %q in realm %q", in.Username, realm.Name))
	}
	w.Header().Set("Location", us.Location(realm.Name, created.ID))
	w.Header().Set("ETag", ETag(created.Version))
	return WriteJSON(w, http.StatusCreated, us.json(created))
}

// WithPassword checks pw against the password policy and sets its Argon2id hash on u.
func (us Users) WithPassword(ctx context.Context, u store.User, pw string, temporary bool) (store.User, error) {
	if us.Passwords == nil {
		return u, BadRequest("this API sets no passwords")
	}
	if err := password.ValidatePolicy(pw); err != nil {
		return u, BadRequest("%v", err)
	}
	hash, err := us.Passwords.Hash(ctx, pw)
	if err != nil {
		return u, err
	}
	return SetPasswordHash(u, hash, temporary, us.Now()), nil
}

// SetPasswordHash sets a new password hash on u, marked temporary or not.
func SetPasswordHash(u store.User, hash string, temporary bool, now time.Time) store.User {
	u.PasswordHash, u.PasswordChangedAt, u.FailedLogins = hash, now, 0
	attrs := make(map[string]string, len(u.Attributes)+1)
	for k, v := range u.Attributes {
		attrs[k] = v
	}
	delete(attrs, PasswordTemporaryAttribute)
	if temporary {
		attrs[PasswordTemporaryAttribute] = "true"
	}
	u.Attributes = attrs
	return u
}

// Get answers GET .../users/{user} with its ETag.
func (us Users) Get(w http.ResponseWriter, r *http.Request) error {
	u, err := us.User(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", ETag(u.Version))
	return WriteJSON(w, http.StatusOK, us.json(u))
}

// Update answers PATCH .../users/{user}; If-Match is checked inside the update.
func (us Users) Update(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, us.Store)
	if err != nil {
		return err
	}
	var in UserPatch
	if err := Decode(w, r, &in, false); err != nil {
		return err
	}
	if in.Locked != nil && *in.Locked {
		return BadRequest("locked can only be set to false (unlock); disable the user to keep them out")
	}
	if in.Profile != nil {
		if err := CheckProfile(*in.Profile); err != nil {
			return err
		}
	}
	if err := CheckAttributes(in.Attributes); err != nil {
		return err
	}
	updated, err := us.change(r, realm.Name, func(u store.User) store.User {
		if in.Username != nil {
			u.Username = *in.Username
		}
		if in.Email != nil && *in.Email != u.Email {
			// A new address is not verified unless the caller says so.
			u.Email, u.EmailVerified = *in.Email, false
		}
		if in.EmailVerified != nil {
			u.EmailVerified = *in.EmailVerified
		}
		if in.Enabled != nil {
			u.Enabled = *in.Enabled
		}
		if in.Locked != nil {
			u.LockedUntil, u.FailedLogins = time.Time{}, 0
		}
		if in.Profile != nil {
			u.Profile = *in.Profile
		}
		if in.Attributes != nil {
			u.Attributes = ReplaceAttributes(u.Attributes, in.Attributes)
		}
		return u
	})
	if err != nil {
		return err
	}
	if in.Enabled != nil && !updated.Enabled {
		// Disabling ends every session and token (CONFORMANCE §3). Done on every
		// disabling request, not only on the change, so a retry after an outage
		// finishes the job.
		if err := us.SignOut(r.Context(), updated, "user disabled"); err != nil {
			return err
		}
	}
	return us.answer(w, updated)
}

// Lock answers POST .../users/{user}/lock: the user is locked until the body's "until"
// (absent: until unlocked) and signed out everywhere.
func (us Users) Lock(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, us.Store)
	if err != nil {
		return err
	}
	var in UserLock
	if err := Decode(w, r, &in, true); err != nil {
		return err
	}
	until := in.Until
	switch {
	case until.IsZero():
		until = LockedIndefinitely
	case !until.After(us.Now()):
		return BadRequest("until must be in the future")
	case until.After(LockedIndefinitely):
		until = LockedIndefinitely
	}
	updated, err := us.change(r, realm.Name, func(u store.User) store.User {
		u.LockedUntil = until.UTC()
		return u
	})
	if err != nil {
		return err
	}
	// Done on every lock, not only on the change, so a retry after an outage finishes.
	if err := us.SignOut(r.Context(), updated, "user locked"); err != nil {
		return err
	}
	return us.answer(w, updated)
}

// Unlock answers POST .../users/{user}/unlock: the lock and the failed sign-ins are
// cleared.
func (us Users) Unlock(w http.ResponseWriter, r *http.Request) error {
	realm, err := Realm(r, us.Store)
	if err != nil {
		return err
	}
	updated, err := us.change(r, realm.Name, func(u store.User) store.User {
		u.LockedUntil, u.FailedLogins = time.Time{}, 0
		return u
	})
	if err != nil {
		return err
	}
	return us.answer(w, updated)
}

// UserLock is the (optional) body of a lock.
type UserLock struct {
	// Until is when the lock ends; zero: not before an unlock.
	Until time.Time `json:"until,omitzero"`
}

// LockedIndefinitely is the lock of a user locked until unlocked.
var LockedIndefinitely = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC) // within what the store keeps (year 2262)

// change applies fn to the user of the path, after If-Match.
func (us Users) change(r *http.Request, realm string, fn func(store.User) store.User) (store.User, error) {
	id, match := r.PathValue("user"), IfMatch(r)
	u, err := us.Store.UpdateUser(r.Context(), realm, id, func(u store.User) (store.User, error) {
		if err := match(u.Version); err != nil {
			return u, err
		}
		return fn(u), nil
	})
	return u, StoreError(err, UserWhat(realm, id))
}

func (us Users) answer(w http.ResponseWriter, u store.User) error {
	w.Header().Set("ETag", ETag(u.Version))
	return WriteJSON(w, http.StatusOK, us.json(u))
}

// SignOut revokes every grant of u (so its refresh and access tokens stop working) and
// deletes its sessions.
func (us Users) SignOut(ctx context.Context, u store.User, reason string) error {
	if _, err := us.Store.RevokeUserGrants(ctx, u.Realm, u.ID, "", reason, time.Time{}); err != nil {
		return StoreError(err, UserWhat(u.Realm, u.ID))
	}
	if _, err := us.Store.DeleteUserSessions(ctx, u.Realm, u.ID); err != nil {
		return StoreError(err, UserWhat(u.Realm, u.ID))
	}
	return nil
}

// Delete answers DELETE .../users/{user}: sessions, grants and consents go with the user.
func (us Users) Delete(w http.ResponseWriter, r *http.Request) error {
	u, err := us.User(r)
	if err != nil {
		return err
	}
	return Deleted(w, r, u.Version, UserWhat(u.Realm, u.ID), func(ctx context.Context) error {
		return us.Store.DeleteUser(ctx, u.Realm, u.ID)
	})
}
