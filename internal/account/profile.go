package account

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/totp"
)

type profileView struct {
	common
	Username, Email string
	EmailVerified   bool
	Profile         store.Profile
}

func (c *Console) profile(w http.ResponseWriter, _ *http.Request, q *request) {
	u := q.user
	c.show(w, q, http.StatusOK, "profile", "account.profile.title",
		profileView{common: c.common(q, "profile"), Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Profile: u.Profile})
}

// saveProfile stores the profile form. The username stays; a new e-mail address or phone
// number is no longer verified.
func (c *Console) saveProfile(w http.ResponseWriter, r *http.Request, q *request) {
	f := r.PostForm
	field := func(name string) string { return strings.TrimSpace(f.Get(name)) }
	in := store.Profile{
		Name: field("name"), GivenName: field("given_name"), FamilyName: field("family_name"), MiddleName: field("middle_name"),
		Nickname: field("nickname"), Picture: field("picture"), Website: field("website"), Gender: field("gender"),
		Birthdate: field("birthdate"), Zoneinfo: field("zoneinfo"), Locale: field("locale"), PhoneNumber: field("phone_number"),
		Address: store.Address{
			Formatted: strings.TrimSpace(strings.ReplaceAll(f.Get("formatted"), "\r\n", "\n")), StreetAddress: field("street_address"),
			Locality: field("locality"), Region: field("region"), PostalCode: field("postal_code"), Country: field("country"),
		},
	}
	email := field("email")
	again := func(status int, key string) {
		v := profileView{common: c.common(q, "profile"), Username: q.user.Username, Email: email, Profile: in,
			EmailVerified: q.user.EmailVerified && email == q.user.Email}
		v.Error, v.Notice = key, ""
		c.show(w, q, status, "profile", "account.profile.title", v)
	}
	switch {
	case rest.CheckProfile(in) != nil || rest.CheckText("email", email, rest.MaxTextLen) != nil:
		again(http.StatusBadRequest, "account.error.profile_invalid")
		return
	case !webURL(in.Website) || !webURL(in.Picture):
		again(http.StatusBadRequest, "account.error.url_invalid")
		return
	case !birthdate(in.Birthdate):
		again(http.StatusBadRequest, "account.error.birthdate_invalid")
		return
	}
	_, err := c.st.UpdateUser(r.Context(), q.realm.Name, q.user.ID, func(u store.User) (store.User, error) {
		if email != u.Email {
			u.Email, u.EmailVerified = email, false
		}
		if in.PhoneNumber != u.Profile.PhoneNumber {
			in.PhoneNumberVerified = false
		} else {
			in.PhoneNumberVerified = u.Profile.PhoneNumberVerified
		}
		u.Profile = in
		return u, nil
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		again(http.StatusConflict, "account.error.email_taken")
	case errors.Is(err, store.ErrInvalid):
		again(http.StatusBadRequest, "account.error.email_invalid")
	case err != nil:
		c.storeFailure(w, r, q, "account.error.not_found", err)
	default:
		c.redirect(w, r, q, "", "profile")
	}
}

// webURL accepts an empty value or an absolute http(s) URL: profile links end up in
// tokens and on other sites' pages, where javascript: and data: must not.
func webURL(s string) bool {
	if s == "" {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// birthdate accepts OIDC Core §5.1's forms: YYYY-MM-DD, or a year alone.
func birthdate(s string) bool {
	if s == "" {
		return true
	}
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return true
	}
	_, err := time.Parse("2006", s)
	return err == nil && len(s) == 4
}

type securityView struct {
	common
	HasPassword, HasTOTP bool
	PasswordChanged      timeView
}

func (c *Console) securityView(q *request) securityView {
	return securityView{common: c.common(q, "security"), HasPassword: q.user.PasswordHash != "", HasTOTP: len(q.user.TOTPSecret) > 0,
		PasswordChanged: timeOf(q.user.PasswordChangedAt)}
}

func (c *Console) security(w http.ResponseWriter, _ *http.Request, q *request) {
	c.show(w, q, http.StatusOK, "security", "account.security.title", c.securityView(q))
}

// changePassword sets a new password after the current one (a user without a password
// sets a first one): the new one follows the password policy, and the current one is
// checked as the login pages check it, counting towards the realm's lockout. Like every
// password change it revokes the user's grants (CONFORMANCE §2) and ends the user's other
// sessions; this one goes on.
func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	f := r.PostForm
	again := func(status int, key string) {
		v := c.securityView(q)
		v.Error, v.Notice = key, ""
		c.show(w, q, status, "security", "account.security.title", v)
	}
	pw := f.Get("new_password")
	if pw != f.Get("confirm_password") {
		again(http.StatusBadRequest, "login.error.passwords_differ")
		return
	}
	if err := password.ValidatePolicy(pw); err != nil {
		again(http.StatusBadRequest, "login.error.password_policy")
		return
	}
	// The current password last: only a change that would go through spends an attempt.
	if q.user.PasswordHash != "" {
		ok, err := c.creds.VerifyPassword(ctx, q.realm, q.user, f.Get("current_password"))
		if err != nil {
			c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
			return
		}
		if !ok {
			again(http.StatusBadRequest, "account.error.current_password")
			return
		}
	}
	// Hashed outside the update: the update may hold the only write connection.
	hash, err := c.passwords.Hash(ctx, pw)
	if err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	now := c.now()
	if _, err := c.st.UpdateUser(ctx, q.realm.Name, q.user.ID, func(u store.User) (store.User, error) {
		return rest.SetPasswordHash(u, hash, false, now), nil
	}); err != nil {
		c.storeFailure(w, r, q, "account.error.not_found", err)
		return
	}
	if err := c.endOthers(r, q, "password changed"); err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if _, err := c.st.RevokeUserGrants(ctx, q.realm.Name, q.user.ID, "", "password changed", now); err != nil {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	c.redirect(w, r, q, "security", "password")
}

type totpView struct {
	common
	QRImage template.URL
	Secret  string
	Replace bool
}

// setupTOTP makes a new TOTP key and keeps it, sealed, in the console session until the
// user confirms a code from the app: a key the app never got is never stored.
func (c *Console) setupTOTP(w http.ResponseWriter, r *http.Request, q *request) {
	key, sealed, err := login.NewTOTPKey(c.ring, q.realm, q.user)
	if err != nil {
		c.fail(w, r, q, http.StatusInternalServerError, "error.generic", err)
		return
	}
	sealedURL, err := c.ring.Seal([]byte(key.URL), totpURLAAD(q))
	if err != nil {
		c.fail(w, r, q, http.StatusInternalServerError, "error.generic", err)
		return
	}
	ok, err := c.update(r.Context(), q, func(rec *record) { rec.TOTPSecret, rec.TOTPURL = sealed, sealedURL })
	if err != nil || !ok {
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	c.redirect(w, r, q, "totp", "")
}

func totpURLAAD(q *request) []byte {
	return []byte("signet account totp url v1\x00" + q.realm.Name + "\x00" + q.user.ID + "\x00" + q.id)
}

// showTOTP shows the key being set up as a QR code and as text, with the form that
// confirms it.
func (c *Console) showTOTP(w http.ResponseWriter, r *http.Request, q *request) {
	c.totpPage(w, r, q, http.StatusOK, "")
}

func (c *Console) totpPage(w http.ResponseWriter, r *http.Request, q *request, status int, errKey string) {
	if len(q.sess.TOTPURL) == 0 {
		c.redirect(w, r, q, "security", "")
		return
	}
	raw, err := c.ring.Open(q.sess.TOTPURL, totpURLAAD(q))
	if err != nil {
		c.fail(w, r, q, http.StatusInternalServerError, "error.generic", err)
		return
	}
	png, err := device.QRPNG(string(raw), 240)
	if err != nil {
		c.fail(w, r, q, http.StatusInternalServerError, "error.generic", err)
		return
	}
	secret := ""
	if u, err := url.Parse(string(raw)); err == nil {
		secret = u.Query().Get("secret")
	}
	v := totpView{common: c.common(q, "security"), Secret: secret, Replace: len(q.user.TOTPSecret) > 0,
		// A data: URL of our own PNG; html/template would refuse it as a plain string.
		QRImage: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}
	v.Error = errKey
	c.show(w, q, status, "totp", "account.totp.title", v)
}

// confirmTOTP stores the key being set up once the user proves the app has it with a
// code (each code once, as at login).
func (c *Console) confirmTOTP(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	if len(q.sess.TOTPSecret) == 0 {
		c.redirect(w, r, q, "security", "")
		return
	}
	secret, err := login.OpenTOTPSecret(c.ring, q.realm.Name, q.user.ID, q.sess.TOTPSecret)
	if err != nil {
		c.fail(w, r, q, http.StatusInternalServerError, "error.generic", err)
		return
	}
	err = c.otp.Verify(ctx, q.realm.Name+":"+q.user.ID, secret, strings.TrimSpace(r.PostForm.Get("otp")))
	switch {
	case errors.Is(err, totp.ErrInvalidCode):
		c.totpPage(w, r, q, http.StatusBadRequest, "login.error.invalid_code")
		return
	case err != nil:
		c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	sealed := q.sess.TOTPSecret
	if _, err := c.st.UpdateUser(ctx, q.realm.Name, q.user.ID, func(u store.User) (store.User, error) {
		u.TOTPSecret = sealed
		return u, nil
	}); err != nil {
		c.storeFailure(w, r, q, "account.error.not_found", err)
		return
	}
	if _, err := c.update(ctx, q, func(rec *record) { rec.TOTPSecret, rec.TOTPURL = nil, nil }); err != nil {
		c.log.Warn("account console: forget the TOTP key set up", "err", err)
	}
	c.redirect(w, r, q, "security", "totp_enabled")
}

// removeTOTP takes the user's TOTP key away; the password alone signs in again.
func (c *Console) removeTOTP(w http.ResponseWriter, r *http.Request, q *request) {
	if _, err := c.st.UpdateUser(r.Context(), q.realm.Name, q.user.ID, func(u store.User) (store.User, error) {
		u.TOTPSecret = nil
		return u, nil
	}); err != nil {
		c.storeFailure(w, r, q, "account.error.not_found", err)
		return
	}
	c.redirect(w, r, q, "security", "totp_removed")
}
