package admin

import (
	"errors"
	"net/http"

	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// TOTPEnrollment is the answer to an enrollment: shown once, to hand to the user (the URL
// as a QR code for an authenticator app). Only the sealed secret is stored.
type TOTPEnrollment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
}

// enrollTOTP gives the user a new TOTP key, replacing any earlier one. From the next
// sign-in the login pages ask for a code after the password.
func (a *API) enrollTOTP(w http.ResponseWriter, r *http.Request) error {
	if a.ring == nil {
		return errors.New("admin API built without a keyring")
	}
	u, err := a.user(r)
	if err != nil {
		return err
	}
	realm, err := a.realm(r)
	if err != nil {
		return err
	}
	key, sealed, err := login.NewTOTPKey(a.ring, realm, u)
	if err != nil {
		return err
	}
	if err := a.setTOTP(w, r, u, sealed, "totp enrolled"); err != nil {
		return err
	}
	return rest.WriteJSON(w, http.StatusCreated, TOTPEnrollment{Secret: key.Secret, URL: key.URL})
}

// removeTOTP takes the user's TOTP key away; the password alone signs in again.
func (a *API) removeTOTP(w http.ResponseWriter, r *http.Request) error {
	u, err := a.user(r)
	if err != nil {
		return err
	}
	if err := a.setTOTP(w, r, u, nil, "totp removed"); err != nil {
		return err
	}
	return rest.WriteJSON(w, http.StatusNoContent, nil)
}

// setTOTP stores the user's sealed TOTP secret (nil: none) under If-Match, logs the
// change and sets the new ETag.
func (a *API) setTOTP(w http.ResponseWriter, r *http.Request, u store.User, sealed []byte, what string) error {
	match := rest.IfMatch(r)
	updated, err := a.st.UpdateUser(r.Context(), u.Realm, u.ID, func(cur store.User) (store.User, error) {
		if err := match(cur.Version); err != nil {
			return cur, err
		}
		cur.TOTPSecret = sealed
		return cur, nil
	})
	if err != nil {
		return rest.StoreError(err, rest.UserWhat(u.Realm, u.ID))
	}
	a.log.Info("admin change", "what", what, "realm", u.Realm, "user", u.ID)
	w.Header().Set("ETag", rest.ETag(updated.Version))
	return nil
}
