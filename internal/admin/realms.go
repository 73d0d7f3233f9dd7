package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Realm is the JSON representation of a realm.
type Realm struct {
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name"`
	Enabled     bool              `json:"enabled"`
	Attributes  map[string]string `json:"attributes"`
	Settings    RealmSettings     `json:"settings"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	Version     int64             `json:"version"`
}

func (a *API) realmJSON(r store.Realm) Realm {
	return Realm{
		Name: r.Name, DisplayName: r.DisplayName, Enabled: r.Enabled, Attributes: rest.PublicAttributes(r.Attributes),
		Settings: realmSettings(r, a.requestPolicy), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Version: r.Version,
	}
}

// RealmCreate is the body of POST /realms. Settings left out take their defaults.
type RealmCreate struct {
	Name        string              `json:"name"`
	DisplayName string              `json:"display_name"`
	Enabled     *bool               `json:"enabled"`
	Attributes  map[string]string   `json:"attributes"`
	Settings    *RealmSettingsPatch `json:"settings"`
}

// RealmPatch is the body of PATCH /realms/{realm}: only the fields present change,
// within settings too.
type RealmPatch struct {
	DisplayName *string             `json:"display_name"`
	Enabled     *bool               `json:"enabled"`
	Attributes  map[string]string   `json:"attributes"`
	Settings    *RealmSettingsPatch `json:"settings"`
}

func realmWhat(name string) string { return fmt.Sprintf("realm %q", name) }

func (a *API) listRealms(w http.ResponseWriter, r *http.Request) error {
	opts, err := rest.ListOptions(r)
	if err != nil {
		return err
	}
	// A realm administrator sees its own realm only.
	if c, ok := CallerOf(r.Context()); ok && !c.Platform() {
		realm, err := a.st.GetRealm(r.Context(), c.ManagedRealm)
		if err != nil {
			return rest.StoreError(err, realmWhat(c.ManagedRealm))
		}
		return rest.WriteJSON(w, http.StatusOK, rest.Page[Realm]{Items: []Realm{a.realmJSON(realm)}})
	}
	p, err := a.st.ListRealms(r.Context(), opts)
	if err != nil {
		return rest.StoreError(err, "realm listing")
	}
	return rest.WriteJSON(w, http.StatusOK, rest.PageOf(p, a.realmJSON))
}

// ReservedRealmName reports whether a new realm may not take name: "api", whose admin
// console path ({prefix}/admin/api/) is the admin API's.
func ReservedRealmName(name string) bool { return name == "api" }

func (a *API) createRealm(w http.ResponseWriter, r *http.Request) error {
	var in RealmCreate
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	if err := rest.CheckText("display_name", in.DisplayName, rest.MaxTextLen); err != nil {
		return err
	}
	if ReservedRealmName(in.Name) {
		return rest.BadRequest("name %q is reserved: the admin API is served at its console's path", in.Name)
	}
	if err := rest.CheckAttributes(in.Attributes); err != nil {
		return err
	}
	if err := in.Settings.check(); err != nil {
		return err
	}
	realm := store.Realm{Name: in.Name, DisplayName: in.DisplayName, Enabled: in.Enabled == nil || *in.Enabled, Attributes: in.Attributes}
	if err := in.Settings.apply(&realm); err != nil {
		return err
	}
	created, err := a.st.CreateRealm(r.Context(), realm)
	if err != nil {
		return rest.StoreError(err, realmWhat(in.Name))
	}
	// A realm of the same name may have existed before: forget what was cached of it.
	a.forgetRealm(created.Name)
	if a.realmCreated != nil {
		if err := a.realmCreated(r.Context(), created.Name); err != nil {
			a.log.Warn("realm created without its built-in clients; the next start adds them", "realm", created.Name, "err", err)
		}
	}
	w.Header().Set("Location", a.prefix+BasePath+"/realms/"+created.Name)
	w.Header().Set("ETag", rest.ETag(created.Version))
	return rest.WriteJSON(w, http.StatusCreated, a.realmJSON(created))
}

func (a *API) getRealm(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rest.ETag(realm.Version))
	return rest.WriteJSON(w, http.StatusOK, a.realmJSON(realm))
}

func (a *API) updateRealm(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("realm")
	var in RealmPatch
	if err := rest.Decode(w, r, &in, false); err != nil {
		return err
	}
	if in.DisplayName != nil {
		if err := rest.CheckText("display_name", *in.DisplayName, rest.MaxTextLen); err != nil {
			return err
		}
	}
	if err := rest.CheckAttributes(in.Attributes); err != nil {
		return err
	}
	if err := in.Settings.check(); err != nil {
		return err
	}
	if name == MasterRealm && in.Enabled != nil && !*in.Enabled {
		return rest.Conflict("the master realm cannot be disabled: its tokens are how administrators sign in")
	}
	match := rest.IfMatch(r)
	updated, err := a.st.UpdateRealm(r.Context(), name, func(cur store.Realm) (store.Realm, error) {
		if err := match(cur.Version); err != nil {
			return cur, err
		}
		if in.DisplayName != nil {
			cur.DisplayName = *in.DisplayName
		}
		if in.Enabled != nil {
			cur.Enabled = *in.Enabled
		}
		if in.Attributes != nil {
			cur.Attributes = rest.ReplaceAttributes(cur.Attributes, in.Attributes)
		}
		err := in.Settings.apply(&cur)
		return cur, err
	})
	if err != nil {
		return rest.StoreError(err, realmWhat(name))
	}
	w.Header().Set("ETag", rest.ETag(updated.Version))
	return rest.WriteJSON(w, http.StatusOK, a.realmJSON(updated))
}

func (a *API) deleteRealm(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("realm")
	if name == MasterRealm {
		return rest.Conflict("the master realm cannot be deleted")
	}
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	return rest.Deleted(w, r, realm.Version, realmWhat(name), func(ctx context.Context) error {
		if err := a.st.DeleteRealm(ctx, name); err != nil {
			return err
		}
		a.forgetRealm(name)
		return nil
	})
}

// forgetRealm drops what this node caches of a realm that is gone or new: its signing
// keys and its client-secret pepper.
func (a *API) forgetRealm(name string) {
	a.keys.Forget(name)
	a.provider.ForgetRealm(name)
}
