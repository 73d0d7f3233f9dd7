// Package login serves the hosted login pages of every realm: username, then password,
// then a TOTP code when the user has one; consent; and the errors between them. It
// authenticates users (Argon2id passwords, TOTP, lockout after repeated failures, no
// account enumeration) and starts SSO sessions; the protocol side (Flow) then answers
// the client. Every page works without JavaScript.
package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/totp"
	"github.com/signet-auth/signet/internal/web"
)

// AttrPasswordTemporary marks a user (attribute "true") whose password must be changed at
// the next sign-in: an administrator set it, or it is the bootstrap password.
const AttrPasswordTemporary = "signet.password_temporary"

// Realm attributes of the lockout policy.
const (
	AttrLockoutThreshold = "signet.lockout_threshold"
	AttrLockoutDuration  = "signet.lockout_duration"
)

// Lockout defaults: a short lock, so guessing is slowed to a crawl while an attacker
// cannot keep a victim out for long (ASVS 5.0 V6.3).
const (
	DefaultLockoutThreshold = 10
	DefaultLockoutDuration  = 5 * time.Minute
)

// Authentication methods (RFC 8176) and the acr values they give (Keycloak's levels).
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	ACRSingle   = "1"
	ACRMulti    = "2"
)

const (
	stateTTL = 30 * time.Minute
	formAge  = 30 * time.Minute
)

// Pages serves the login pages.
type Pages struct {
	prefix    string
	st        store.Store
	eph       ephemeral.Store
	ring      *keys.Keyring
	passwords *password.Hasher
	creds     Credentials
	otp       *totp.Verifier
	sessions  *session.Manager
	render    *web.Renderer
	csrf      *web.CSRF
	flow      Flow
	log       *slog.Logger
	now       func() time.Time
	requests  *authn.Service
	deviceURL func() string
	// decoyKey derives the user id of phone requests for names that are no usable user.
	decoyKey []byte
	// attempts hears of the passwords and codes typed (Config.Attempts); nil: nobody.
	attempts func(context.Context, Attempt)
	// status counts the open status channels; stopping ends them (Shutdown).
	status   statusChannels
	stopping context.Context
	stop     context.CancelFunc
}

// Config is what Pages needs.
type Config struct {
	Prefix    string
	Store     store.Store
	Ephemeral ephemeral.Store
	Keyring   *keys.Keyring
	Passwords *password.Hasher
	Sessions  *session.Manager
	Renderer  *web.Renderer
	CSRF      *web.CSRF
	Flow      Flow
	Log       *slog.Logger
	Now       func() time.Time
	// Requests, when set, lets users sign in by approving on their phone.
	Requests *authn.Service
	// DeviceURL returns the DEVICE listener's public URL, which QR login codes carry;
	// nil: no QR login.
	DeviceURL func() string
	// Attempts, when set, hears of every sign-in completed with a password (and a code)
	// and of every password or code refused: for the metrics and the event log.
	Attempts func(context.Context, Attempt)
}

// New returns the login pages.
func New(c Config) *Pages {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	stopping, stop := context.WithCancel(context.Background())
	return &Pages{
		stopping: stopping, stop: stop,
		prefix: c.Prefix, st: c.Store, eph: c.Ephemeral, ring: c.Keyring, passwords: c.Passwords,
		otp: totp.NewVerifier(c.Ephemeral, totp.WithClock(now)), sessions: c.Sessions,
		creds:  Credentials{Store: c.Store, Passwords: c.Passwords, Now: now},
		render: c.Renderer, csrf: c.CSRF, flow: c.Flow, log: c.Log, now: now,
		requests: c.Requests, deviceURL: c.DeviceURL, decoyKey: c.Keyring.Primary().DeriveKey("login phone decoys"),
		attempts: c.Attempts,
	}
}

// Routes mounts the pages under {prefix}/realms/{realm}/login-actions/.
func (p *Pages) Routes(mux *http.ServeMux) {
	base := p.prefix + "/realms/{realm}/login-actions"
	mux.HandleFunc("GET "+base+"/authenticate", p.authenticate)
	mux.HandleFunc("POST "+base+"/authenticate", p.authenticate)
	mux.HandleFunc("GET "+base+"/phone", p.phonePage)
	mux.HandleFunc("GET "+base+"/phone/status", p.phoneStatus)
	mux.HandleFunc("GET "+base+"/consent", p.consent)
	mux.HandleFunc("POST "+base+"/consent", p.consent)
}

// state is a login in progress, kept per pending request.
type state struct {
	Username string `json:"username,omitempty"`
	// UserID is set once the password was right and a second factor or a new password
	// is due.
	UserID string `json:"user_id,omitempty"`
	// MustChange: the password was right but temporary; a new one comes next.
	MustChange bool `json:"must_change,omitempty"`
	// PhoneRequest is the phone sign-in request waiting for the user's approval; QR, that
	// it is a QR login's (which names no user until a phone claims it).
	PhoneRequest string `json:"phone_request,omitempty"`
	QR           bool   `json:"qr,omitempty"`
	// Second: the phone request is the second factor after the password; PhoneDone: the
	// phone approved first and the password follows (two factors asked).
	Second    bool `json:"second,omitempty"`
	PhoneDone bool `json:"phone_done,omitempty"`
	// PasswordOK: the password was right in this login, so a second factor may follow.
	PasswordOK bool `json:"password_ok,omitempty"`
}

func stateKey(realm, id string) string { return "login:" + realm + ":" + id }

// view is the data of every login page.
type view struct {
	Action    string
	CSRF      string
	Client    clientView
	Username  string
	Error     string
	Scopes    []string
	RestartTo string
	// Phone: the page offers signing in with the phone. Password: it offers the password.
	Phone, Password bool
	// A phone sign-in: the number to match, whether it still waits, its status channel
	// and the page to load once it has an outcome.
	Number       string
	Waiting      bool
	Status, Next string
	// PhoneAlt: the TOTP page offers the phone instead.
	PhoneAlt bool
	// A QR login: its code as an image, and the code's payload; QRClaimed, a phone has
	// claimed it and the number to pick shows.
	QR, QRClaimed bool
	QRImage       template.URL
	Payload       string
}

type clientView struct {
	Name, LogoURI, PolicyURI, TOSURI, ClientURI string
}

func newClientView(c store.Client) clientView {
	name := c.Name
	if name == "" {
		name = c.ID
	}
	return clientView{Name: name, LogoURI: httpsOnly(c.LogoURI), PolicyURI: httpsOnly(c.PolicyURI), TOSURI: httpsOnly(c.TOSURI), ClientURI: httpsOnly(c.ClientURI)}
}

// httpsOnly keeps a client-supplied link only if it is an absolute https URL.
func httpsOnly(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return s
}

// request is one page request's context.
type request struct {
	realm  store.Realm
	ix     Interaction
	locale string
	action string
}

// begin loads the realm and the pending request, answering with an error page when
// either is gone.
func (p *Pages) begin(w http.ResponseWriter, r *http.Request, page string) (*request, bool) {
	ctx := r.Context()
	realm, err := p.st.GetRealm(ctx, r.PathValue("realm"))
	if err != nil || !realm.Enabled {
		p.fail(w, r, "", http.StatusNotFound, "error.realm_not_found", err)
		return nil, false
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			p.fail(w, r, "", http.StatusBadRequest, "error.bad_request", err)
			return nil, false
		}
	}
	id := r.URL.Query().Get("authz")
	ix, err := p.flow.Interaction(ctx, r, realm, id)
	if err != nil {
		p.failGone(w, r, "", err, ErrInteractionGone)
		return nil, false
	}
	locale := p.render.Catalog().Negotiate(ix.UILocales, r.Header.Get("Accept-Language"))
	action := p.prefix + "/realms/" + realm.Name + "/login-actions/" + page + "?authz=" + url.QueryEscape(id)
	return &request{realm: realm, ix: ix, locale: locale, action: action}, true
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, locale string, status int, key string, cause error) {
	if cause != nil {
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		p.log.Log(r.Context(), level, "login page error", "error", key, "cause", cause)
	}
	if locale == "" {
		locale = p.render.Catalog().Negotiate("", r.Header.Get("Accept-Language"))
	}
	msg := p.render.Catalog().T(locale, key)
	if err := p.render.RenderView(w, status, web.View{Name: "error", Locale: locale, TitleKey: "error.title",
		Data: struct{ Code, Message string }{"", msg}}); err != nil {
		p.log.Error("render error page", "err", err)
	}
}

func (p *Pages) show(w http.ResponseWriter, q *request, status int, page, titleKey string, v view) {
	v.Action, v.CSRF, v.Client = q.action, p.csrf.Token("login:"+q.ix.ID), newClientView(q.ix.Client)
	v.Phone = v.Phone || p.requests != nil && offers(q, FactorPhone)
	v.Password = offers(q, FactorPassword)
	view := web.View{Name: page, Locale: q.locale, TitleKey: titleKey, Data: v, FormActions: []string{q.ix.RedirectOrigin}}
	if v.Waiting {
		// The status channel's script; without it the page offers a Continue link.
		view.Script = "phone.js"
	}
	if err := p.render.RenderView(w, status, view); err != nil {
		p.log.Error("render login page", "page", page, "err", err)
	}
}

// authenticate runs the login steps: GET shows the username form; each POST carries a
// step (username, password, otp, restart, cancel) and a CSRF token bound to the request.
func (p *Pages) authenticate(w http.ResponseWriter, r *http.Request) {
	q, ok := p.begin(w, r, "authenticate")
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		p.show(w, q, http.StatusOK, "login_username", "login.title", view{Username: q.ix.LoginHint})
		return
	}
	if !p.formOK(w, r, q) {
		return
	}
	ctx := r.Context()
	switch r.PostForm.Get("step") {
	case "cancel":
		p.phoneCancel(ctx, q)
		p.finishFlow(w, r, q, func() error { return p.flow.Deny(w, r, q.realm, q.ix.ID) })
	case "restart":
		p.phoneCancel(ctx, q)
		_ = p.eph.Delete(ctx, stateKey(q.realm.Name, q.ix.ID))
		p.show(w, q, http.StatusOK, "login_username", "login.title", view{})
	case "qr":
		p.qrStart(w, r, q)
	case "phone_retry":
		s, ok := p.loadState(ctx, q)
		if ok && s.QR {
			p.qrStart(w, r, q)
			return
		}
		if !ok || s.Username == "" {
			p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
			return
		}
		p.phoneStart(w, r, q, s.Username)
	case "username":
		name := strings.TrimSpace(r.PostForm.Get("username"))
		if name == "" || len(name) > 255 {
			p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.username_required"})
			return
		}
		if r.PostForm.Get("method") == FactorPhone || !offers(q, FactorPassword) {
			p.phoneStart(w, r, q, name)
			return
		}
		if !p.saveState(w, r, q, state{Username: name}) {
			return
		}
		// Every username, known or not, gets the password page (no enumeration).
		p.show(w, q, http.StatusOK, "login_password", "login.title", view{Username: name})
	case "password":
		p.password(w, r, q)
	case "otp":
		p.secondFactor(w, r, q)
	case "phone_second":
		// The TOTP page's "use your phone instead": only after a right password.
		s, ok := p.loadState(ctx, q)
		if !ok || !s.secondDue() || p.requests == nil || !asksSecond(q, FactorPhone) {
			p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
			return
		}
		p.phoneSecond(w, r, q, state{Username: s.Username, UserID: s.UserID, PasswordOK: true})
	case "update_password":
		p.updatePassword(w, r, q)
	default:
		p.fail(w, r, q.locale, http.StatusBadRequest, "error.bad_request", nil)
	}
}

// formOK checks the CSRF token of a POST, bound to the pending request.
func (p *Pages) formOK(w http.ResponseWriter, r *http.Request, q *request) bool {
	if err := p.csrf.VerifyForm(r, "login:"+q.ix.ID, formAge); err != nil {
		p.fail(w, r, q.locale, http.StatusBadRequest, "error.form_expired", err)
		return false
	}
	return true
}

// failGone shows "start again" when err means the request (or session) is gone, and
// "unavailable" for anything else.
func (p *Pages) failGone(w http.ResponseWriter, r *http.Request, locale string, err error, gone ...error) {
	for _, g := range gone {
		if errors.Is(err, g) {
			p.fail(w, r, locale, http.StatusBadRequest, "error.login_expired", err)
			return
		}
	}
	p.fail(w, r, locale, http.StatusServiceUnavailable, "error.unavailable", err)
}

func (p *Pages) saveState(w http.ResponseWriter, r *http.Request, q *request, s state) bool {
	raw, _ := json.Marshal(s)
	if _, err := p.eph.Set(r.Context(), stateKey(q.realm.Name, q.ix.ID), raw, stateTTL); err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return false
	}
	return true
}

func (p *Pages) loadState(ctx context.Context, q *request) (state, bool) {
	e, err := p.eph.Get(ctx, stateKey(q.realm.Name, q.ix.ID))
	if err != nil {
		return state{}, false
	}
	var s state
	return s, json.Unmarshal(e.Value, &s) == nil
}

// password checks the password of the username entered before. Unknown users, wrong
// passwords, and locked or disabled users all get the same answer after the same work.
func (p *Pages) password(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	s, ok := p.loadState(ctx, q)
	if !ok || s.Username == "" {
		p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
		return
	}
	pw := r.PostForm.Get("password")
	u, err := p.findUser(ctx, q.realm.Name, s.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	bad := func() {
		p.show(w, q, http.StatusUnauthorized, "login_password", "login.title", view{Username: s.Username, Error: "login.error.invalid_credentials"})
	}
	if err != nil {
		p.passwords.VerifyDummy(ctx, pw)
		p.attempt(ctx, r, q, "", MethodPassword, RefusedInvalid, nil)
		bad()
		return
	}
	refused, err := p.creds.CheckPassword(ctx, q.realm, u, pw)
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if refused != "" {
		p.attempt(ctx, r, q, u.ID, MethodPassword, refused, nil)
		bad()
		return
	}
	if s.PhoneDone && s.UserID != u.ID {
		// The name typed is not the phone's user: start again.
		p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
		return
	}
	if u.Attributes[AttrPasswordTemporary] == "true" {
		if !p.saveState(w, r, q, state{Username: s.Username, UserID: u.ID, MustChange: true, PhoneDone: s.PhoneDone}) {
			return
		}
		p.show(w, q, http.StatusOK, "login_update_password", "login.title", view{Username: s.Username})
		return
	}
	p.afterPassword(w, r, q, s, u)
}

// afterPassword finishes a right password: after an approval on the phone it is the
// second factor; else the second factor the user has and the policy asks for (TOTP,
// else the phone) follows; a client that asks for two factors of a user without one is
// refused; else the user is logged in.
func (p *Pages) afterPassword(w http.ResponseWriter, r *http.Request, q *request, s state, u store.User) {
	if s.PhoneDone && s.UserID == u.ID {
		p.loggedIn(w, r, q, session.Auth{UserID: u.ID, AMR: []string{AMRPhone, AMRPassword}, ACR: ACRMulti})
		return
	}
	s = state{Username: s.Username, UserID: u.ID, PasswordOK: true}
	totp := len(u.TOTPSecret) > 0 && asksSecond(q, FactorTOTP)
	phone := false
	if p.requests != nil && asksSecond(q, FactorPhone) {
		var err error
		if phone, err = p.hasPhone(r.Context(), q, u.ID); err != nil {
			p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
			return
		}
	}
	switch {
	case totp:
		if !p.saveState(w, r, q, s) {
			return
		}
		p.show(w, q, http.StatusOK, "login_totp", "login.title", view{Username: s.Username, PhoneAlt: phone})
	case phone:
		p.phoneSecond(w, r, q, s)
	case q.ix.ACR == ACRMulti:
		p.show(w, q, http.StatusForbidden, "login_password", "login.title", view{Username: s.Username, Error: "login.error.second_factor_missing"})
	default:
		p.loggedIn(w, r, q, session.Auth{UserID: u.ID, AMR: []string{AMRPassword}, ACR: ACRSingle})
	}
}

// updatePassword replaces a temporary password (Keycloak's "update password" required
// action): the new one must follow the policy and be typed twice. Like every password
// change it revokes the user's earlier grants.
func (p *Pages) updatePassword(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	s, ok := p.loadState(ctx, q)
	if !ok || !s.MustChange || s.UserID == "" {
		p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
		return
	}
	pw, again := r.PostForm.Get("new_password"), r.PostForm.Get("confirm_password")
	again2 := func(key string) {
		p.show(w, q, http.StatusBadRequest, "login_update_password", "login.title", view{Username: s.Username, Error: key})
	}
	if pw != again {
		again2("login.error.passwords_differ")
		return
	}
	if err := password.ValidatePolicy(pw); err != nil {
		again2("login.error.password_policy")
		return
	}
	hash, err := p.passwords.Hash(ctx, pw)
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	now := p.now()
	u, err := p.st.UpdateUser(ctx, q.realm.Name, s.UserID, func(u store.User) (store.User, error) {
		u.PasswordHash, u.PasswordChangedAt = hash, now
		delete(u.Attributes, AttrPasswordTemporary)
		return u, nil
	})
	if err == nil {
		_, err = p.st.RevokeUserGrants(ctx, q.realm.Name, u.ID, "", "password changed", now)
	}
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	p.afterPassword(w, r, q, s, u)
}

// secondDue reports whether the login is at its second factor: the password was right,
// no new password is owed, and the phone did not come first (then the password is the
// second factor, and nothing else may stand in for it).
func (s state) secondDue() bool {
	return s.UserID != "" && s.PasswordOK && !s.MustChange && !s.PhoneDone
}

// secondFactor checks a TOTP code after a correct password.
func (p *Pages) secondFactor(w http.ResponseWriter, r *http.Request, q *request) {
	ctx := r.Context()
	s, ok := p.loadState(ctx, q)
	if !ok || !s.secondDue() || !asksSecond(q, FactorTOTP) {
		p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
		return
	}
	u, err := p.st.GetUser(ctx, q.realm.Name, s.UserID)
	if err != nil || len(u.TOTPSecret) == 0 {
		p.show(w, q, http.StatusBadRequest, "login_username", "login.title", view{Error: "login.error.start_again"})
		return
	}
	refused, err := p.creds.Reserve(ctx, q.realm, u.ID)
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if refused != "" {
		p.attempt(ctx, r, q, u.ID, MethodTOTP, refused, nil)
		p.show(w, q, http.StatusUnauthorized, "login_totp", "login.title", view{Username: s.Username, Error: "login.error.invalid_code"})
		return
	}
	secret, err := OpenTOTPSecret(p.ring, q.realm.Name, u.ID, u.TOTPSecret)
	if err != nil {
		p.fail(w, r, q.locale, http.StatusInternalServerError, "error.unavailable", err)
		return
	}
	err = p.otp.Verify(ctx, q.realm.Name+":"+u.ID, secret, strings.TrimSpace(r.PostForm.Get("otp")))
	switch {
	case errors.Is(err, totp.ErrInvalidCode):
		p.attempt(ctx, r, q, u.ID, MethodTOTP, RefusedInvalid, nil)
		p.show(w, q, http.StatusUnauthorized, "login_totp", "login.title", view{Username: s.Username, Error: "login.error.invalid_code"})
		return
	case err != nil:
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	p.loggedIn(w, r, q, session.Auth{UserID: u.ID, AMR: []string{AMRPassword, AMROTP}, ACR: ACRMulti})
}

// loggedIn starts (or rotates) the session, then asks for consent or completes the flow.
func (p *Pages) loggedIn(w http.ResponseWriter, r *http.Request, q *request, a session.Auth) {
	ctx := r.Context()
	_ = p.eph.Delete(ctx, stateKey(q.realm.Name, q.ix.ID))
	// Every factor passed: only now the failure count starts again (a right password
	// must not wipe out wrong TOTP codes).
	if err := p.creds.ResetFailures(ctx, q.realm.Name, a.UserID); err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	s, err := p.sessions.Start(ctx, w, r, q.realm, a)
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	method := MethodPassword
	if slices.Contains(a.AMR, AMROTP) {
		method = MethodTOTP
	}
	p.attempt(ctx, r, q, a.UserID, method, "", a.AMR)
	need, err := p.needsConsent(ctx, q, s.UserID)
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if need {
		q.action = p.prefix + "/realms/" + q.realm.Name + "/login-actions/consent?authz=" + url.QueryEscape(q.ix.ID)
		p.show(w, q, http.StatusOK, "consent", "consent.title", view{Scopes: q.ix.Scopes})
		return
	}
	p.finishFlow(w, r, q, func() error { return p.flow.Complete(w, r, q.realm, q.ix.ID, s) })
}

func (p *Pages) finishFlow(w http.ResponseWriter, r *http.Request, q *request, f func() error) {
	if err := f(); err != nil {
		p.failGone(w, r, q.locale, err, ErrInteractionGone)
	}
}

func (p *Pages) needsConsent(ctx context.Context, q *request, userID string) (bool, error) {
	if q.ix.ForceConsent {
		return true, nil
	}
	if !q.ix.Client.ConsentRequired {
		return false, nil
	}
	c, err := p.st.GetConsent(ctx, q.realm.Name, userID, q.ix.Client.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range q.ix.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// consent shows the scopes a client asks for and records the user's answer. It needs a
// live session (the user logged in just before, or already was).
func (p *Pages) consent(w http.ResponseWriter, r *http.Request) {
	q, ok := p.begin(w, r, "consent")
	if !ok {
		return
	}
	ctx := r.Context()
	s, err := p.sessions.Current(ctx, r, q.realm)
	if err != nil {
		p.failGone(w, r, q.locale, err, session.ErrNoSession)
		return
	}
	if q.ix.ForceLogin && s.AuthTime.Before(q.ix.CreatedAt) {
		// The request demands a fresh login; consent alone does not answer it.
		http.Redirect(w, r, Path(p.prefix, q.realm.Name, q.ix.ID), http.StatusSeeOther)
		return
	}
	if r.Method == http.MethodGet {
		p.show(w, q, http.StatusOK, "consent", "consent.title", view{Scopes: q.ix.Scopes})
		return
	}
	if !p.formOK(w, r, q) {
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		p.finishFlow(w, r, q, func() error { return p.flow.Deny(w, r, q.realm, q.ix.ID) })
		return
	}
	scopes := slices.Clone(q.ix.Scopes)
	if old, err := p.st.GetConsent(ctx, q.realm.Name, s.UserID, q.ix.Client.ID); err == nil {
		scopes = append(scopes, old.Scopes...)
	}
	slices.Sort(scopes)
	err = p.st.PutConsent(ctx, store.Consent{Realm: q.realm.Name, UserID: s.UserID, ClientID: q.ix.Client.ID, Scopes: slices.Compact(scopes)})
	if err != nil {
		p.fail(w, r, q.locale, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	p.finishFlow(w, r, q, func() error { return p.flow.Complete(w, r, q.realm, q.ix.ID, s) })
}

func (p *Pages) findUser(ctx context.Context, realm, name string) (store.User, error) {
	if strings.Contains(name, "@") {
		u, err := p.st.GetUserByEmail(ctx, realm, name)
		if !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	return p.st.GetUserByUsername(ctx, realm, name)
}

// LockoutPolicy returns the realm's failure threshold and lock duration.
func LockoutPolicy(realm store.Realm) (threshold int, lock time.Duration) {
	threshold, lock = DefaultLockoutThreshold, DefaultLockoutDuration
	if n, err := strconv.Atoi(realm.Attributes[AttrLockoutThreshold]); err == nil && n > 0 {
		threshold = n
	}
	if d, err := time.ParseDuration(realm.Attributes[AttrLockoutDuration]); err == nil && d > 0 {
		lock = d
	}
	return threshold, lock
}

// totpAAD binds a sealed TOTP secret to its realm and user.
func totpAAD(realm, userID string) []byte {
	return []byte("signet totp v1\x00" + realm + "\x00" + userID)
}

// SealTOTPSecret encrypts a user's TOTP secret (base32) for storage in User.TOTPSecret.
func SealTOTPSecret(ring *keys.Keyring, realm, userID, secret string) ([]byte, error) {
	return ring.Seal([]byte(secret), totpAAD(realm, userID))
}

// OpenTOTPSecret decrypts a stored TOTP secret.
func OpenTOTPSecret(ring *keys.Keyring, realm, userID string, sealed []byte) (string, error) {
	b, err := ring.Open(sealed, totpAAD(realm, userID))
	if err != nil {
		return "", fmt.Errorf("open totp secret: %w", err)
	}
	return string(b), nil
}
