package admin

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// RealmAdminsAttribute lists, space-separated, the ids of a realm's users who administer
// it: they sign in to the admin console at /admin/{realm}/console and call the admin API
// for that realm only. Every enabled user of the master realm is a platform
// administrator instead. The attribute is reserved: the API neither shows nor takes it.
const RealmAdminsAttribute = ReservedPrefix + "realm_admins"

// MaxRealmAdmins bounds a realm's administrators.
const MaxRealmAdmins = 100

// RealmAdmins returns the ids of realm's administrators.
func RealmAdmins(realm store.Realm) []string {
	return strings.Fields(realm.Attributes[RealmAdminsAttribute])
}

// IsRealmAdmin reports whether user id administers realm.
func IsRealmAdmin(realm store.Realm, id string) bool {
	return id != "" && slices.Contains(RealmAdmins(realm), id)
}

func (a *API) listRealmAdmins(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	out := rest.Page[User]{Items: []User{}}
	for _, id := range RealmAdmins(realm) {
		u, err := a.st.GetUser(r.Context(), realm.Name, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since: its id is never reused
		}
		if err != nil {
			return rest.StoreError(err, "realm administrators")
		}
		out.Items = append(out.Items, rest.UserJSON(u, a.now()))
	}
	return rest.WriteJSON(w, http.StatusOK, out)
}

func (a *API) addRealmAdmin(w http.ResponseWriter, r *http.Request) error {
	return a.changeRealmAdmins(w, r, true)
}

func (a *API) removeRealmAdmin(w http.ResponseWriter, r *http.Request) error {
	return a.changeRealmAdmins(w, r, false)
}

// changeRealmAdmins names the user in the path an administrator of the realm, or stops
// naming it. Adding one twice or removing one that is not is not an error.
func (a *API) changeRealmAdmins(w http.ResponseWriter, r *http.Request, add bool) error {
	name, id := r.PathValue("realm"), r.PathValue("user")
	if name == MasterRealm {
		return rest.Conflict("every enabled user of the master realm is a platform administrator")
	}
	ctx := r.Context()
	if add {
		if _, err := a.st.GetUser(ctx, name, id); err != nil {
			return rest.StoreError(err, "user "+id)
		}
	}
	_, err := a.st.UpdateRealm(ctx, name, func(cur store.Realm) (store.Realm, error) {
		ids := RealmAdmins(cur)
		switch has := slices.Contains(ids, id); {
		case add && !has:
			if len(ids) >= MaxRealmAdmins {
				return cur, rest.Conflict("a realm has at most %d administrators", MaxRealmAdmins)
			}
			ids = append(ids, id)
		case !add && has:
			ids = slices.DeleteFunc(ids, func(s string) bool { return s == id })
		default:
			return cur, errUnchanged
		}
		cur.Attributes = maps.Clone(cur.Attributes)
		if cur.Attributes == nil {
			cur.Attributes = map[string]string{}
		}
		if len(ids) == 0 {
			delete(cur.Attributes, RealmAdminsAttribute)
		} else {
			cur.Attributes[RealmAdminsAttribute] = strings.Join(ids, " ")
		}
		return cur, nil
	})
	var p *rest.Problem
	switch {
	case errors.Is(err, errUnchanged):
	case errors.As(err, &p):
		return p
	case err != nil:
		return rest.StoreError(err, realmWhat(name))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errUnchanged stops an update that would change nothing.
var errUnchanged = errors.New("unchanged")
