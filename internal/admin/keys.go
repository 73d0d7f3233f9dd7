package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// Key is the JSON representation of a realm signing key: its state and public JWK. The
// sealed private key never leaves the store.
type Key struct {
	KID         string          `json:"kid"`
	Alg         string          `json:"alg"`
	State       string          `json:"state"`
	PublicJWK   json.RawMessage `json:"public_jwk"`
	CreatedAt   time.Time       `json:"created_at"`
	ActivatedAt time.Time       `json:"activated_at,omitzero"`
	RetiredAt   time.Time       `json:"retired_at,omitzero"`
}

// KeyRotate is the body of POST /realms/{realm}/keys/rotate; an empty body rotates ES256.
type KeyRotate struct {
	Alg string `json:"alg"`
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	return a.writeKeys(w, r, realm.Name)
}

func (a *API) writeKeys(w http.ResponseWriter, r *http.Request, realm string) error {
	ks, err := a.st.ListSigningKeys(r.Context(), realm)
	if err != nil {
		return rest.StoreError(err, realmWhat(realm))
	}
	out := rest.Page[Key]{Items: make([]Key, 0, len(ks))}
	for _, k := range ks {
		out.Items = append(out.Items, keyJSON(k))
	}
	return rest.WriteJSON(w, http.StatusOK, out)
}

func keyJSON(k store.SigningKey) Key {
	jwk := json.RawMessage(k.PublicJWK)
	if !json.Valid(jwk) {
		jwk = json.RawMessage("null")
	}
	return Key{
		KID: k.KID, Alg: k.Alg, State: k.State, PublicJWK: jwk,
		CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt,
	}
}

// rotateKeys rotates one algorithm's keys now: the next key starts signing, the active
// one retires and stays published, so tokens already issued keep verifying.
func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	in := KeyRotate{Alg: string(keys.ES256)}
	if err := rest.Decode(w, r, &in, true); err != nil {
		return err
	}
	alg, err := keys.ParseAlg(in.Alg)
	if err != nil {
		return rest.BadRequest("alg must be one of %v", keys.Algs())
	}
	if err := a.keys.Rotate(r.Context(), realm.Name, alg); err != nil {
		return rest.StoreError(err, realmWhat(realm.Name))
	}
	return a.writeKeys(w, r, realm.Name)
}
