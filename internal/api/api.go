// Package api is Signet's business REST API, mounted under {prefix}/api/v1 on the API
// listener: users, activation codes, devices, authentication ("provoke login") and
// transaction-signing requests with their signed receipts and per-request callbacks,
// the event log, and webhook subscriptions with their deliveries and the realm's
// callback secret, with its own OpenAPI 3.1 document. Callers are API clients of the
// realm (package callers) holding the scopes of scopes.go; errors are RFC 9457 problem
// JSON; every POST honours Idempotency-Key, updates honour If-Match, and each client is
// rate-limited.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/callers"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// BasePath is where the API is mounted, below the path prefix.
const BasePath = "/api/v1"

// Receipts makes (or finds) the receipt of an answered transaction (package receipt).
type Receipts interface {
	Issue(ctx context.Context, r authn.Request) (string, error)
}

// Config is what the API needs. Store, Ephemeral, Verify and Issuer are required;
// without Requests the authentication and transaction endpoints answer 503, without
// Enrollment activation codes 501, without Keyring callbacks with headers, webhook
// creation and secret rotations 501.
type Config struct {
	// PublicURL is the API listener's public base URL with the path prefix: the
	// document's server URL is PublicURL + BasePath.
	PublicURL string
	// Prefix is the path prefix routes are mounted under.
	Prefix    string
	Store     store.Store
	Ephemeral ephemeral.Store
	Requests  *authn.Service
	Receipts  Receipts
	// Keyring seals callback headers, webhook secrets and the realms' callback secrets.
	Keyring *keys.Keyring
	// Issuer is a realm's issuer URL; the document names Issuer("{realm}")'s token
	// endpoint for the client credentials grant.
	Issuer func(realm string) string
	// Verify checks a bearer token of a realm (callers.ErrInvalidToken when it is not
	// valid, or its client is gone or disabled).
	Verify     callers.Verify
	Enrollment *rest.Enrollment
	// Passwords hashes initial passwords of created users; nil refuses them.
	Passwords *password.Hasher
	Log       *slog.Logger
}

// API serves the business REST API.
type API struct {
	cfg     Config
	callers *callers.Identifier
	now     func() time.Time
	openAPI []byte
	limit   rateLimit
	users   rest.Users
	devices rest.Devices
}

// Option adjusts an API.
type Option func(*API)

// WithClock sets the API's clock.
func WithClock(now func() time.Time) Option { return func(a *API) { a.now = now } }

// WithRateLimit lets each API client of a realm make at most n calls per window
// (default: DefaultRateLimit per minute); more get 429 with Retry-After.
func WithRateLimit(n int, window time.Duration) Option {
	return func(a *API) { a.limit = rateLimit{n: n, window: window} }
}

// DefaultRateLimit is how many calls an API client makes per minute by default.
const DefaultRateLimit = 600

// New creates the API.
func New(cfg Config, opts ...Option) (*API, error) {
	if cfg.Store == nil || cfg.Ephemeral == nil || cfg.Verify == nil || cfg.Issuer == nil {
		return nil, errors.New("api: a store, an ephemeral store, a token verifier and the realms' issuer are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, callers: callers.New(cfg.Store, cfg.Verify), now: time.Now,
		limit: rateLimit{n: DefaultRateLimit, window: time.Minute}}
	for _, o := range opts {
		o(a)
	}
	if a.limit.n < 1 || a.limit.window < time.Second {
		return nil, errors.New("api: the rate limit must allow at least one call per window of a second or more")
	}
	doc, err := openAPIDocument(strings.TrimSuffix(cfg.PublicURL, "/")+BasePath, cfg.Issuer("{realm}"))
	if err != nil {
		return nil, err
	}
	a.openAPI = doc
	a.users = rest.Users{Store: cfg.Store, Passwords: cfg.Passwords, Now: a.now, Location: func(realm, id string) string {
		return a.location("/realms/" + realm + "/users/" + id)
	}}
	a.devices = rest.Devices{Store: cfg.Store, Enrollment: cfg.Enrollment, Now: a.now, Actor: actor}
	return a, nil
}

// path is the absolute path of a resource below the API.
func (a *API) path(p string) string { return a.cfg.Prefix + BasePath + p }

func (a *API) routes() []rest.Route {
	const (
		realm = "/realms/{realm}"
		user  = realm + "/users/{user}"
		dev   = realm + "/devices/{device}"
		auths = realm + "/authentications"
		tx    = realm + "/transactions"
	)
	us, ds := a.users, a.devices
	usersRead, usersWrite := []string{ScopeUsersRead, ScopeUsersWrite}, []string{ScopeUsersWrite}
	devRead, devWrite := []string{ScopeDevicesRead, ScopeDevicesWrite}, []string{ScopeDevicesWrite}
	act := []string{ScopeActivationsWrite}
	auth, txs := []string{ScopeAuthenticationsCreate}, []string{ScopeTransactionsCreate}
	hooks := []string{ScopeWebhooksManage}
	return append([]rest.Route{
		{Method: "GET", Path: "/openapi.json", Handler: rest.ServeDocument(a.openAPI)},
		{Method: "GET", Path: realm + "/users", Handler: us.List, Scopes: usersRead},
		{Method: "POST", Path: realm + "/users", Handler: us.Create, Scopes: usersWrite},
		{Method: "GET", Path: user, Handler: us.Get, Scopes: usersRead},
		{Method: "PATCH", Path: user, Handler: us.Update, Scopes: usersWrite},
		{Method: "DELETE", Path: user, Handler: us.Delete, Scopes: usersWrite},
		{Method: "POST", Path: user + "/lock", Handler: us.Lock, Scopes: usersWrite},
		{Method: "POST", Path: user + "/unlock", Handler: us.Unlock, Scopes: usersWrite},
		{Method: "POST", Path: user + "/activations", Handler: ds.CreateActivation, Scopes: act},
		{Method: "GET", Path: user + "/activations", Handler: ds.ListActivations, Scopes: []string{ScopeActivationsWrite, ScopeDevicesRead}},
		{Method: "DELETE", Path: realm + "/activations/{activation}", Handler: ds.DeleteActivation, Scopes: act},
		{Method: "GET", Path: user + "/devices", Handler: a.listUserDevices, Scopes: devRead},
		{Method: "GET", Path: dev, Handler: ds.GetDevice, Scopes: devRead},
		{Method: "PATCH", Path: dev, Handler: ds.UpdateDevice, Scopes: devWrite},
		{Method: "DELETE", Path: dev, Handler: ds.DeleteDevice, Scopes: devWrite},
		{Method: "POST", Path: dev + "/lock", Handler: a.setDeviceState(store.DeviceLocked), Scopes: devWrite},
		{Method: "POST", Path: dev + "/unlock", Handler: a.setDeviceState(store.DeviceActive), Scopes: devWrite},
		{Method: "POST", Path: auths, Handler: a.createAuthentication, Scopes: auth},
		{Method: "GET", Path: auths + "/{id}", Handler: a.getAuthentication, Scopes: auth},
		{Method: "POST", Path: auths + "/{id}/cancel", Handler: a.cancelAuthentication, Scopes: auth},
		{Method: "POST", Path: tx, Handler: a.createTransaction, Scopes: txs},
		{Method: "GET", Path: tx + "/{id}", Handler: a.getTransaction, Scopes: txs},
		{Method: "POST", Path: tx + "/{id}/cancel", Handler: a.cancelTransaction, Scopes: txs},
		{Method: "GET", Path: realm + "/events", Handler: rest.ListEvents(a.cfg.Store), Scopes: []string{ScopeEventsRead}},
	}, a.webhooks().Routes(realm, hooks)...)
}

// Routes mounts the API on mux, each operation under its own pattern so that metrics
// and logs name it. Other methods on a known path get a 405 problem, unknown paths
// below the API a 404 problem.
func (a *API) Routes(mux *http.ServeMux) {
	rest.Mount(mux, a.path(""), a.routes(), a.authorized, a.cfg.Log, "API")
}

type callerKey struct{}

// caller is who calls, as authorized.
func caller(r *http.Request) callers.Caller {
	c, _ := r.Context().Value(callerKey{}).(callers.Caller)
	return c
}

// actor names the caller in the audit log.
func actor(r *http.Request) string { return "client:" + caller(r).ClientID }

// authorized identifies the caller of the path's realm and checks it holds one of
// scopes, counts the call against the client's rate limit, and runs h, once per
// Idempotency-Key for a POST.
func (a *API) authorized(scopes []string, h rest.HandlerFunc) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		realm := r.PathValue("realm")
		c, err := a.callers.Authorize(r.Context(), realm, r.TLS, r.Header, scopes...)
		if err != nil {
			return authError(err, scopes)
		}
		if err := a.limit.allow(r.Context(), a.cfg.Ephemeral, a.now(), realm, c.ClientID); err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		err = a.idempotent(w, r, h)
		if r.Method != http.MethodGet {
			outcome := "done"
			if err != nil {
				outcome = "refused: " + http.StatusText(rest.AsProblem(err).Status)
			}
			a.cfg.Log.LogAttrs(r.Context(), slog.LevelInfo, "API change",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("outcome", outcome),
				slog.String("realm", realm), slog.String("client_id", c.ClientID), slog.Bool("certificate", c.Certificate))
		}
		return err
	}
}

// authError answers a caller who may not call: without credentials or with a token
// that is not valid 401 with a challenge (RFC 6750 §3), with an unregistered
// certificate or without the scope 403.
func authError(err error, scopes []string) error {
	challenge := func(status int, detail, params string) error {
		h := `Bearer realm="signet-api"`
		if params != "" {
			h += ", " + params
		}
		return &rest.Problem{Status: status, Detail: detail, Cause: err, Header: http.Header{"Www-Authenticate": {h}}}
	}
	var scope *callers.ScopeError
	switch {
	case errors.Is(err, callers.ErrNoCredentials):
		return challenge(http.StatusUnauthorized,
			"an access token of the realm (Authorization: Bearer) or a client certificate registered for a client of the realm is required", "")
	case errors.Is(err, callers.ErrInvalidToken):
		return challenge(http.StatusUnauthorized, "the access token is not valid for this realm", `error="invalid_token"`)
	case errors.Is(err, callers.ErrUnregisteredCertificate):
		return &rest.Problem{Status: http.StatusForbidden, Detail: "the client certificate is not registered for an enabled client of this realm", Cause: err}
	case errors.As(err, &scope):
		return challenge(http.StatusForbidden, "the client lacks the scope "+strings.Join(scopes, " or "),
			`error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`)
	}
	return err
}

// rateLimit is a fixed window per API client of a realm, counted in the ephemeral store
// so that every node counts together. The window is in the key, so Retry-After is the
// time to the next one.
type rateLimit struct {
	n      int
	window time.Duration
}

func (l rateLimit) allow(ctx context.Context, eph ephemeral.Store, now time.Time, realm, client string) error {
	slot := now.UnixNano() / int64(l.window)
	n, err := eph.Incr(ctx, "api:rate:"+realm+"\x00"+client+"\x00"+strconv.FormatInt(slot, 10), l.window)
	if err != nil {
		return fmt.Errorf("api: count the call: %w", err)
	}
	if n <= int64(l.n) {
		return nil
	}
	wait := time.Unix(0, (slot+1)*int64(l.window)).Sub(now)
	secs := max(1, int64((wait+time.Second-1)/time.Second))
	return &rest.Problem{Status: http.StatusTooManyRequests,
		Detail: fmt.Sprintf("this client made more than %d calls in %v; try again in %d s", l.n, l.window, secs),
		Header: http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}}
}
