package console

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/rest"
)

// usersPage lists a realm's users, searched by name or email, with a form to create one.
func (c *Console) usersPage(q *req) error {
	search := q.r.URL.Query().Get("search")
	v := url.Values{"limit": {"100"}}
	if search != "" {
		v.Set("search", search)
	}
	if cur := q.r.URL.Query().Get("cursor"); cur != "" {
		v.Set("cursor", cur)
	}
	var users rest.Page[admin.User]
	if err := q.call("GET", q.apiRealm("users")+"?"+v.Encode(), nil, &users); err != nil {
		return err
	}
	next := ""
	if users.Next != "" {
		nv := url.Values{"cursor": {users.Next}}
		if search != "" {
			nv.Set("search", search)
		}
		next = "?" + nv.Encode()
	}
	return q.show(http.StatusOK, "users", "Users of "+q.managed, "users", struct {
		Users  []admin.User
		Search string
		Next   string
		Base   string
	}{users.Items, search, next, q.realmURL("users")})
}

func (c *Console) createUser(q *req) error {
	in := map[string]any{"username": q.form("username"), "email": q.form("email"),
		"profile": map[string]any{"given_name": q.form("given_name"), "family_name": q.form("family_name")}}
	if pw := q.r.PostForm.Get("password"); pw != "" {
		in["password"], in["password_temporary"] = pw, q.form("temporary") == "on"
	}
	var u admin.User
	if err := q.call("POST", q.apiRealm("users"), in, &u); err != nil {
		return q.refused(q.realmURL("users"), err)
	}
	return q.done(q.realmURL("users", u.ID), "User "+u.Username+" created.")
}

// userView is the user page's data.
type userView struct {
	User        admin.User
	Sessions    []admin.Session
	Devices     []deviceRow
	Activations []admin.Activation
	IsAdmin     bool
	CanBeAdmin  bool
	Base        string
}

// userPage shows a user: profile, state, password, sessions, devices and activation
// codes, and whether they administer the realm.
func (c *Console) userPage(q *req) error {
	id := q.r.PathValue("user")
	var d userView
	if err := q.call("GET", q.apiRealm("users", id), nil, &d.User); err != nil {
		return err
	}
	var sessions rest.Page[admin.Session]
	if err := q.call("GET", q.apiRealm("users", id, "sessions"), nil, &sessions); err != nil {
		return err
	}
	var devices rest.Page[admin.Device]
	if err := q.call("GET", q.apiRealm("devices")+"?"+url.Values{"user": {id}}.Encode(), nil, &devices); err != nil {
		return err
	}
	var acts rest.Page[admin.Activation]
	if err := q.call("GET", q.apiRealm("users", id, "activations"), nil, &acts); err != nil {
		return err
	}
	d.Sessions, d.Activations = sessions.Items, acts.Items
	d.Base = q.realmURL("users", id)
	d.Devices = q.deviceRows(devices.Items, d.Base, false)
	if q.managed != admin.MasterRealm {
		var admins rest.Page[admin.User]
		if err := q.call("GET", q.apiRealm("admins"), nil, &admins); err != nil {
			return err
		}
		d.CanBeAdmin = true
		d.IsAdmin = slices.ContainsFunc(admins.Items, func(u admin.User) bool { return u.ID == id })
	}
	return q.show(http.StatusOK, "user", d.User.Username, "users", d)
}

// updateUser saves the profile form, and enables or disables the user.
func (c *Console) updateUser(q *req) error {
	id := q.r.PathValue("user")
	back := q.realmURL("users", id)
	in := map[string]any{
		"email": q.form("email"), "enabled": q.form("enabled") == "on",
		"profile": map[string]any{"given_name": q.form("given_name"), "family_name": q.form("family_name"), "name": q.form("name")},
	}
	if err := q.call("PATCH", q.apiRealm("users", id), in, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "User saved.")
}

func (c *Console) unlockUser(q *req) error {
	id := q.r.PathValue("user")
	back := q.realmURL("users", id)
	if err := q.call("PATCH", q.apiRealm("users", id), map[string]any{"locked": false}, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "User unlocked.")
}

// setPassword resets the user's password; all their sessions and grants end.
func (c *Console) setPassword(q *req) error {
	id := q.r.PathValue("user")
	back := q.realmURL("users", id)
	in := admin.PasswordSet{Password: q.r.PostForm.Get("password"), Temporary: q.form("temporary") == "on"}
	if err := q.call("PUT", q.apiRealm("users", id, "password"), in, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "Password set. The user's sessions have ended.")
}

func (c *Console) endSessions(q *req) error {
	id := q.r.PathValue("user")
	back := q.realmURL("users", id)
	if err := q.call("DELETE", q.apiRealm("users", id, "sessions"), nil, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "Signed out everywhere.")
}

func (c *Console) endSession(q *req) error {
	id := q.r.PathValue("user")
	back := q.realmURL("users", id)
	if err := q.call("DELETE", q.apiRealm("users", id, "sessions", q.r.PathValue("session")), nil, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, "Session ended.")
}

// createActivation makes a one-time activation code and shows its QR code at once: the
// code is in this answer only, so the page is not a redirect.
func (c *Console) createActivation(q *req) error {
	id := q.r.PathValue("user")
	var u admin.User
	if err := q.call("GET", q.apiRealm("users", id), nil, &u); err != nil {
		return err
	}
	var a admin.Activation
	if err := q.call("POST", q.apiRealm("users", id, "activations"), map[string]any{}, &a); err != nil {
		return q.refused(q.realmURL("users", id), err)
	}
	return q.show(http.StatusOK, "activation", "Activate a phone for "+u.Username, "users", struct {
		User       admin.User
		Activation admin.Activation
		Back       string
	}{u, a, q.realmURL("users", id)})
}

// setRealmAdmin names the user an administrator of the realm, or stops naming them.
func (c *Console) setRealmAdmin(q *req) error {
	id := q.r.PathValue("user")
	back := q.realmURL("users", id)
	method, msg := "DELETE", "The user no longer administers this realm."
	if q.form("admin") == "on" {
		method, msg = "PUT", "The user now administers this realm."
	}
	if err := q.call(method, q.apiRealm("admins", id), nil, nil); err != nil {
		return q.refused(back, err)
	}
	return q.done(back, msg)
}
