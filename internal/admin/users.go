package admin

import (
	"net/http"

	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// User is the JSON representation of a user.
type User = rest.User

// UserCreate is the body of POST /realms/{realm}/users.
type UserCreate = rest.UserCreate

// UserPatch is the body of PATCH /realms/{realm}/users/{user}.
type UserPatch = rest.UserPatch

// PasswordSet is the body of PUT /realms/{realm}/users/{user}/password.
type PasswordSet struct {
	Password  string `json:"password"`
	Temporary bool   `json:"temporary"`
}

// users serves the user operations the admin API shares with the business API.
func (a *API) users() rest.Users {
	return rest.Users{Store: a.st, Passwords: a.passwords, Now: a.now, Location: func(realm, id string) string {
		return a.prefix + BasePath + "/realms/" + realm + "/users/" + id
	}}
}

// user loads the realm and the user named in the path.
func (a *API) user(r *http.Request) (store.User, error) { return a.users().User(r) }

// setPassword replaces the user's password; like disabling, it ends every session and
// token of the user (CONFORMANCE §2: refresh tokens are revoked on password change).
func (a *API) setPassword(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	var in PasswordSet
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	if err := password.ValidatePolicy(in.Password); err != nil {
		return rest.BadRequest("%v", err)
	}
	// Hashed outside the update: the update may hold the only write connection.
	hash, err := a.passwords.Hash(r.Context(), in.Password)
	if err != nil {
		return err
	}
	match := rest.IfMatch(r)
	updated, err := a.st.UpdateUser(r.Context(), u.Realm, u.ID, func(cur store.User) (store.User, error) {
		if err := match(cur.Version); err != nil {
			return cur, err
		}
		return rest.SetPasswordHash(cur, hash, in.Temporary, a.now()), nil
	})
	if err != nil {
		return rest.StoreError(err, rest.UserWhat(u.Realm, u.ID))
	}
	if err := a.users().SignOut(r.Context(), updated, "password changed"); err != nil {
		return err
	}
	w.Header().Set("ETag", rest.ETag(updated.Version))
	return rest.WriteJSON(w, http.StatusNoContent, nil)
}
