package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/store"
)

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

func (a *API) userJSON(u store.User) User {
	return User{
		ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Enabled: u.Enabled,
		Locked: a.now().Before(u.LockedUntil), LockedUntil: u.LockedUntil, FailedLogins: u.FailedLogins,
		Profile: u.Profile, HasPassword: u.PasswordHash != "", PasswordTemporary: u.Attributes[PasswordTemporaryAttribute] == "true",
		PasswordChangedAt: u.PasswordChangedAt, TOTPEnabled: len(u.TOTPSecret) > 0,
		Attributes: publicAttributes(u.Attributes), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Version: u.Version,
	}
}

// UserCreate is the body of POST /realms/{realm}/users.
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

// UserPatch is the body of PATCH /realms/{realm}/users/{user}: only the fields present
// change. Locked may only be set to false (unlock); failed logins lock a user, an
// administrator disables one.
type UserPatch struct {
	Username      *string           `json:"username"`
	Email         *string           `json:"email"`
	EmailVerified *bool             `json:"email_verified"`
	Enabled       *bool             `json:"enabled"`
	Locked        *bool             `json:"locked"`
	Profile       *store.Profile    `json:"profile"`
	Attributes    map[string]string `json:"attributes"`
}

// PasswordSet is the body of PUT /realms/{realm}/users/{user}/password.
type PasswordSet struct {
	Password  string `json:"password"`
	Temporary bool   `json:"temporary"`
}

func userWhat(realm, id string) string { return fmt.Sprintf("user %q in realm %q", id, realm) }

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if name := q.Get("username"); name != "" {
		// An exact, case-insensitive lookup: what a CLI needs to address a user by name.
		u, err := a.st.GetUserByUsername(r.Context(), realm.Name, name)
		items := []User{}
		switch {
		case err == nil:
			items = append(items, a.userJSON(u))
		case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid):
			return storeError(err, "user listing")
		}
		return writeJSON(w, http.StatusOK, page[User]{Items: items})
	}
	p, err := a.st.ListUsers(r.Context(), realm.Name, store.UserFilter{Search: q.Get("search")}, opts)
	if err != nil {
		return storeError(err, "user listing")
	}
	return writeJSON(w, http.StatusOK, pageOf(p, a.userJSON))
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	var in UserCreate
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if err := checkProfile(in.Profile); err != nil {
		return err
	}
	if err := checkAttributes(in.Attributes); err != nil {
		return err
	}
	u := store.User{
		Realm: realm.Name, ID: oidc.NewIdentifier(), Username: in.Username, Email: in.Email,
		EmailVerified: in.EmailVerified, Enabled: in.Enabled == nil || *in.Enabled,
		Profile: in.Profile, Attributes: in.Attributes,
	}
	if in.Password != "" {
		if u, err = a.withPassword(r.Context(), u, in.Password, in.PasswordTemporary); err != nil {
			return err
		}
	} else if in.PasswordTemporary {
		return badRequest("password_temporary needs a password")
	}
	created, err := a.st.CreateUser(r.Context(), u)
	if err != nil {
		return storeError(err, fmt.Sprintf("user %q in realm %q", in.Username, realm.Name))
	}
	w.Header().Set("Location", a.prefix+BasePath+"/realms/"+realm.Name+"/users/"+created.ID)
	w.Header().Set("ETag", etag(created.Version))
	return writeJSON(w, http.StatusCreated, a.userJSON(created))
}

// withPassword checks pw against the password policy and sets its Argon2id hash on u.
func (a *API) withPassword(ctx context.Context, u store.User, pw string, temporary bool) (store.User, error) {
	if err := password.ValidatePolicy(pw); err != nil {
		return u, badRequest("%v", err)
	}
	hash, err := a.passwords.Hash(ctx, pw)
	if err != nil {
		return u, err
	}
	return setPasswordHash(u, hash, temporary, a.now()), nil
}

func setPasswordHash(u store.User, hash string, temporary bool, now time.Time) store.User {
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

// user loads the realm and the user named in the path.
func (a *API) user(r *http.Request) (store.User, error) {
	return inRealm(a, r, "user", a.st.GetUser, userWhat)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(u.Version))
	return writeJSON(w, http.StatusOK, a.userJSON(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	var in UserPatch
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if in.Locked != nil && *in.Locked {
		return badRequest("locked can only be set to false (unlock); disable the user to keep them out")
	}
	if in.Profile != nil {
		if err := checkProfile(*in.Profile); err != nil {
			return err
		}
	}
	if err := checkAttributes(in.Attributes); err != nil {
		return err
	}
	id, match := r.PathValue("user"), ifMatch(r)
	updated, err := a.st.UpdateUser(r.Context(), realm.Name, id, func(u store.User) (store.User, error) {
		if err := match(u.Version); err != nil {
			return u, err
		}
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
			u.Attributes = replaceAttributes(u.Attributes, in.Attributes)
		}
		return u, nil
	})
	if err != nil {
		return storeError(err, userWhat(realm.Name, id))
	}
	if in.Enabled != nil && !updated.Enabled {
		// Disabling ends every session and token (CONFORMANCE §3). Done on every
		// disabling request, not only on the change, so a retry after an outage
		// finishes the job.
		if err := a.signOut(r.Context(), updated, "user disabled"); err != nil {
			return err
		}
	}
	w.Header().Set("ETag", etag(updated.Version))
	return writeJSON(w, http.StatusOK, a.userJSON(updated))
}

// signOut revokes every grant of u (so its refresh and access tokens stop working) and
// deletes its sessions.
func (a *API) signOut(ctx context.Context, u store.User, reason string) error {
	if _, err := a.st.RevokeUserGrants(ctx, u.Realm, u.ID, "", reason, time.Time{}); err != nil {
		return storeError(err, userWhat(u.Realm, u.ID))
	}
	if _, err := a.st.DeleteUserSessions(ctx, u.Realm, u.ID); err != nil {
		return storeError(err, userWhat(u.Realm, u.ID))
	}
	return nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	// Sessions, grants and consents go with the user.
	return deleted(w, r, u.Version, userWhat(u.Realm, u.ID), func(ctx context.Context) error {
		return a.st.DeleteUser(ctx, u.Realm, u.ID)
	})
}

// setPassword replaces the user's password; like disabling, it ends every session and
// token of the user (CONFORMANCE §2: refresh tokens are revoked on password change).
func (a *API) setPassword(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	var in PasswordSet
	if err := decode(w, r, &in, false); err != nil {
		return err
	}
	if err := password.ValidatePolicy(in.Password); err != nil {
		return badRequest("%v", err)
	}
	// Hashed outside the update: the update may hold the only write connection.
	hash, err := a.passwords.Hash(r.Context(), in.Password)
	if err != nil {
		return err
	}
	match := ifMatch(r)
	updated, err := a.st.UpdateUser(r.Context(), u.Realm, u.ID, func(cur store.User) (store.User, error) {
		if err := match(cur.Version); err != nil {
			return cur, err
		}
		return setPasswordHash(cur, hash, in.Temporary, a.now()), nil
	})
	if err != nil {
		return storeError(err, userWhat(u.Realm, u.ID))
	}
	if err := a.signOut(r.Context(), updated, "password changed"); err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated.Version))
	return writeJSON(w, http.StatusNoContent, nil)
}

// checkProfile bounds the profile's free-text claims.
func checkProfile(p store.Profile) error {
	fields := map[string]string{
		"profile.name": p.Name, "profile.given_name": p.GivenName, "profile.family_name": p.FamilyName,
		"profile.middle_name": p.MiddleName, "profile.nickname": p.Nickname, "profile.gender": p.Gender,
		"profile.birthdate": p.Birthdate, "profile.zoneinfo": p.Zoneinfo, "profile.locale": p.Locale,
		"profile.phone_number":           p.PhoneNumber,
		"profile.address.street_address": p.Address.StreetAddress, "profile.address.locality": p.Address.Locality,
		"profile.address.region": p.Address.Region, "profile.address.postal_code": p.Address.PostalCode,
		"profile.address.country": p.Address.Country,
	}
	for field, v := range fields {
		if err := checkText(field, v, maxTextLen); err != nil {
			return err
		}
	}
	for field, v := range map[string]string{"profile.picture": p.Picture, "profile.website": p.Website} {
		if err := checkText(field, v, maxURILen); err != nil {
			return err
		}
	}
	// OIDC Core §5.1.1: a formatted address may span lines.
	if f := p.Address.Formatted; !utf8.ValidString(f) || len(f) > maxURILen {
		return badRequest("profile.address.formatted must be valid UTF-8 of at most %d bytes", maxURILen)
	}
	return nil
}
