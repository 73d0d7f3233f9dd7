// Package account is the account console of every realm, at {prefix}/realms/{realm}/account
// on the PUBLIC listener: server-rendered pages where signed-in users see and edit their
// profile, change their password, set up or remove TOTP, manage their phones (rename,
// lock a lost one, remove, add one after a fresh sign-in), end their sessions and read
// their recent sign-in requests.
//
// The console signs users in as a relying party of Signet's own OpenID provider: the
// realm's built-in public client (authorization code with PKCE, the ID token checked with
// go-oidc), its token and key calls served in process (oidc.Provider.LocalClient). Its own
// session is a __Host- cookie naming a record in the ephemeral store, and lives no longer
// than the SSO session it came from: every request checks that the browser's SSO session
// is still the one signed in, and that the user may still sign in.
package account

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/totp"
	"github.com/signet-auth/signet/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

// DefaultClientID is the realm's built-in client the console signs in with.
const DefaultClientID = "signet-account"

// Path is where realm's account console starts, below the path prefix.
func Path(prefix, realm string) string { return prefix + "/realms/" + realm + "/account/" }

// Limits of the console.
const (
	// freshApproval is how recent a sign-in must be to add a phone.
	freshApproval = 5 * time.Minute
	// formAge bounds how long a page's forms stay valid.
	formAge = time.Hour
	// maxForm bounds a form's body.
	maxForm = 64 << 10
)

// Config is what the console needs.
type Config struct {
	// Prefix is the configured path prefix the routes live under.
	Prefix string
	Store  store.Store
	// Ephemeral keeps sign-ins under way and the console's sessions.
	Ephemeral ephemeral.Store
	// Provider is the realm's OpenID provider: its issuer, its endpoints called in
	// process, its SSO sessions and its CSRF tokens.
	Provider  *oidc.Provider
	Passwords *password.Hasher
	// Keyring seals TOTP secrets.
	Keyring *keys.Keyring
	Catalog *web.Catalog
	// Dev puts the development-mode notice on every page.
	Dev bool
	// Enrollment makes activation codes with the values the admin and REST APIs use. It
	// is asked when a code is made (the DEVICE listener's URL is known once it is bound);
	// nil, or a nil answer: this node adds no phones.
	Enrollment func() *rest.Enrollment
	// ClientID is the realm's built-in public client (DefaultClientID when empty).
	ClientID string
	Log      *slog.Logger
	Now      func() time.Time
}

// Console serves the account console of every realm.
type Console struct {
	prefix     string
	st         store.Store
	eph        ephemeral.Store
	provider   *oidc.Provider
	sessions   *session.Manager
	csrf       *web.CSRF
	passwords  *password.Hasher
	creds      login.Credentials
	otp        *totp.Verifier
	ring       *keys.Keyring
	render     *web.Renderer
	enrollment func() *rest.Enrollment
	clientID   string
	log        *slog.Logger
	now        func() time.Time

	mu        sync.Mutex
	verifiers map[string]*gooidc.IDTokenVerifier // by realm
}

// New returns the console.
func New(c Config) (*Console, error) {
	switch {
	case c.Store == nil, c.Ephemeral == nil, c.Provider == nil, c.Passwords == nil, c.Keyring == nil, c.Catalog == nil:
		return nil, errors.New("account console: store, ephemeral store, provider, password hasher, keyring and catalog are required")
	}
	render, err := web.NewRendererFS(c.Dev, c.Prefix, c.Catalog, templateFS)
	if err != nil {
		return nil, fmt.Errorf("account console: %w", err)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	enrollment := c.Enrollment
	if enrollment == nil {
		enrollment = func() *rest.Enrollment { return nil }
	}
	clientID := c.ClientID
	if clientID == "" {
		clientID = DefaultClientID
	}
	return &Console{
		prefix: c.Prefix, st: c.Store, eph: c.Ephemeral, provider: c.Provider,
		sessions: c.Provider.Sessions(), csrf: c.Provider.CSRF(), passwords: c.Passwords,
		creds: login.Credentials{Store: c.Store, Passwords: c.Passwords, Now: now},
		otp:   totp.NewVerifier(c.Ephemeral, totp.WithClock(now)), ring: c.Keyring,
		render: render, enrollment: enrollment, clientID: clientID, log: log, now: now,
		verifiers: map[string]*gooidc.IDTokenVerifier{},
	}, nil
}

// Routes mounts the console under {prefix}/realms/{realm}/account.
func (c *Console) Routes(mux *http.ServeMux) {
	base := c.prefix + "/realms/{realm}/account"
	mux.HandleFunc("GET "+base, c.landing)
	mux.HandleFunc("GET "+base+"/", c.notFound)
	mux.HandleFunc("GET "+base+"/callback", c.callback)
	mux.HandleFunc("GET "+base+"/{$}", c.authed(c.profile))
	mux.HandleFunc("POST "+base+"/profile", c.authed(c.saveProfile))
	mux.HandleFunc("GET "+base+"/security", c.authed(c.security))
	mux.HandleFunc("POST "+base+"/password", c.authed(c.changePassword))
	mux.HandleFunc("POST "+base+"/totp/setup", c.authed(c.setupTOTP))
	mux.HandleFunc("GET "+base+"/totp", c.authed(c.showTOTP))
	mux.HandleFunc("POST "+base+"/totp/confirm", c.authed(c.confirmTOTP))
	mux.HandleFunc("POST "+base+"/totp/remove", c.authed(c.removeTOTP))
	mux.HandleFunc("GET "+base+"/devices", c.authed(c.devices))
	mux.HandleFunc("GET "+base+"/devices/enroll", c.authed(c.enroll))
	mux.HandleFunc("POST "+base+"/devices/{device}/rename", c.authed(c.renameDevice))
	mux.HandleFunc("POST "+base+"/devices/{device}/lock", c.authed(c.lockDevice))
	mux.HandleFunc("POST "+base+"/devices/{device}/remove", c.authed(c.removeDevice))
	mux.HandleFunc("GET "+base+"/sessions", c.authed(c.listSessions))
	mux.HandleFunc("POST "+base+"/sessions/end", c.authed(c.endSession))
	mux.HandleFunc("POST "+base+"/sessions/end-others", c.authed(c.endOtherSessions))
	mux.HandleFunc("GET "+base+"/activity", c.authed(c.activity))
	mux.HandleFunc("POST "+base+"/logout", c.authed(c.logout))
}

// landing sends /account to the console's first page, /account/.
func (c *Console) landing(w http.ResponseWriter, r *http.Request) {
	realm, ok := c.realm(w, r)
	if !ok {
		return
	}
	http.Redirect(w, r, c.base(realm.Name)+"/", http.StatusSeeOther)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.realm(w, r); !ok {
		return
	}
	c.fail(w, r, nil, http.StatusNotFound, "account.error.not_found", nil)
}

// base is the console's path in realm.
func (c *Console) base(realm string) string { return c.prefix + "/realms/" + realm + "/account" }

// realm loads the realm of the path; a missing or disabled one is a 404 page.
func (c *Console) realm(w http.ResponseWriter, r *http.Request) (store.Realm, bool) {
	realm, err := c.st.GetRealm(r.Context(), r.PathValue("realm"))
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid), err == nil && !realm.Enabled:
		c.fail(w, r, nil, http.StatusNotFound, "error.realm_not_found", nil)
		return store.Realm{}, false
	case err != nil:
		c.fail(w, r, nil, http.StatusServiceUnavailable, "error.unavailable", err)
		return store.Realm{}, false
	}
	return realm, true
}

// request is one page request of a signed-in user.
type request struct {
	realm  store.Realm
	user   store.User
	sess   record
	id     string // the console session's id (its cookie's value)
	locale string
	base   string
	// done names the flash message the page shows (?done=).
	done string
}

// authed runs h for a signed-in user whose SSO session still lives; anyone else is sent
// to sign in. A POST must carry the page's CSRF token.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		realm, ok := c.realm(w, r)
		if !ok {
			return
		}
		q, ok := c.current(w, r, realm)
		if !ok {
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, q, http.StatusBadRequest, "error.bad_request", err)
				return
			}
			if err := c.csrf.VerifyForm(r, csrfBinding(q.id), formAge); err != nil {
				c.fail(w, r, q, http.StatusForbidden, "account.error.form_expired", err)
				return
			}
		}
		h(w, r, q)
	}
}

func csrfBinding(id string) string { return "account:" + id }

// common is what every page shows besides its own data.
type common struct {
	// Nav is the navigation of a signed-in user; nil on pages outside a session.
	Nav *nav
	// Error and Notice are catalog keys.
	Error, Notice string
}

type nav struct {
	Base, Active, CSRF, Username, Realm string
}

func (c *Console) common(q *request, active string) common {
	realm := q.realm.DisplayName
	if realm == "" {
		realm = q.realm.Name
	}
	n := &nav{Base: q.base, Active: active, CSRF: c.csrf.Token(csrfBinding(q.id)), Username: q.user.Username, Realm: realm}
	cm := common{Nav: n}
	if k, ok := flashes[q.done]; ok {
		if k.err {
			cm.Error = k.key
		} else {
			cm.Notice = k.key
		}
	}
	return cm
}

// flash is a message a redirect after a change asks the next page to show (?done=...).
type flash struct {
	key string
	err bool
}

// flashes are the only messages ?done= can name: nothing of the query reaches a page.
var flashes = map[string]flash{
	"profile":          {key: "account.notice.profile_saved"},
	"password":         {key: "account.notice.password_changed"},
	"totp_enabled":     {key: "account.notice.totp_enabled"},
	"totp_removed":     {key: "account.notice.totp_removed"},
	"renamed":          {key: "account.notice.device_renamed"},
	"locked":           {key: "account.notice.device_locked"},
	"removed":          {key: "account.notice.device_removed"},
	"session_ended":    {key: "account.notice.session_ended"},
	"others_ended":     {key: "account.notice.others_ended"},
	"enroll_not_fresh": {key: "account.error.enroll_not_fresh", err: true},
	"enroll_failed":    {key: "account.error.enroll_failed", err: true},
}

// show renders a page of the console.
func (c *Console) show(w http.ResponseWriter, q *request, status int, page, titleKey string, data any) {
	if err := c.render.RenderView(w, status, web.View{Name: page, Locale: q.locale, TitleKey: titleKey, Data: data}); err != nil {
		c.log.Error("render account page", "page", page, "err", err)
	}
}

// redirect answers a change with the page to show next (303: a reload does not post again).
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, q *request, page, done string) {
	to := q.base + "/" + page
	if done != "" {
		to += "?done=" + done
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

type errorView struct {
	common
	Message string
	// SignIn links to a new sign-in, for errors outside a session.
	SignIn string
}

// fail renders the error page with a catalog message; the cause is logged, never shown.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, q *request, status int, key string, cause error) {
	if cause != nil {
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		c.log.Log(r.Context(), level, "account console error", "error", key, "cause", cause)
	}
	v := errorView{Message: key}
	locale := ""
	if q != nil {
		v.common, locale = c.common(q, ""), q.locale
		v.Notice, v.Error = "", ""
	} else {
		locale = c.render.Catalog().Negotiate("", r.Header.Get("Accept-Language"))
		if name := r.PathValue("realm"); name != "" && status != http.StatusNotFound {
			v.SignIn = c.base(name) + "/"
		}
	}
	if err := c.render.RenderView(w, status, web.View{Name: "error", Locale: locale, TitleKey: "error.title", Data: v}); err != nil {
		c.log.Error("render account error page", "err", err)
	}
}

// storeFailure renders a store error: a record gone (or an id no record can have) is
// key's 404, an outage 503.
func (c *Console) storeFailure(w http.ResponseWriter, r *http.Request, q *request, key string, err error) {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		c.fail(w, r, q, http.StatusNotFound, key, err)
		return
	}
	c.fail(w, r, q, http.StatusServiceUnavailable, "error.unavailable", err)
}

// formatTime is how pages show a time: UTC, to the minute.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// timeView is a time for a <time> element.
type timeView struct{ Machine, Human string }

func timeOf(t time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	return timeView{Machine: t.UTC().Format(time.RFC3339), Human: formatTime(t)}
}

// actor names the user in the audit log of their devices.
func actor(q *request) string { return "user:" + q.user.ID }

// oneLine shortens s (a user agent) for display.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
