// Package admin is Signet's admin API: a JSON API under {prefix}/admin/api/ on the ADMIN
// listener for realms, users, clients, signing keys, sessions, devices and push
// credentials, with its own OpenAPI document. Callers present an access token of the
// master realm carrying the signet.admin scope; errors are RFC 9457 problem JSON.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/store"
)

// Names the admin API depends on.
const (
	// MasterRealm issues the tokens the admin API accepts; it cannot be deleted.
	MasterRealm = "master"
	// Scope is the scope an access token needs to call the admin API.
	Scope = "signet.admin"
	// BasePath is where the API is mounted, below the path prefix.
	BasePath = "/admin/api"
	// ReservedPrefix starts the attribute names Signet keeps for itself (the client
	// secret pepper, the temporary-password mark). They are neither shown nor accepted.
	ReservedPrefix = "signet."
	// PasswordTemporaryAttribute marks a user whose password must be changed at the next
	// sign-in (an administrator set it, or it is the bootstrap password).
	PasswordTemporaryAttribute = login.AttrPasswordTemporary
)

// API serves the admin API.
type API struct {
	adminURL  string
	prefix    string
	st        store.Store
	provider  *oidc.Provider
	keys      *keys.Manager
	passwords *password.Hasher
	ring      *keys.Keyring
	log       *slog.Logger
	now       func() time.Time
	openAPI   []byte
	devices   *Devices
	push      *Push
}

// Option adjusts an API (test seams).
type Option func(*API)

// WithKeyring lets the API seal TOTP secrets (the server always sets it).
func WithKeyring(ring *keys.Keyring) Option { return func(a *API) { a.ring = ring } }

// WithClock sets the API's clock.
func WithClock(now func() time.Time) Option { return func(a *API) { a.now = now } }

// New creates the admin API. adminURL is the ADMIN listener's public base URL with the
// path prefix (the OpenAPI document names it); prefix is the path prefix routes are
// mounted under. provider verifies bearer tokens of the master realm and hashes client
// secrets; km rotates signing keys; passwords hashes user passwords.
func New(adminURL, prefix string, st store.Store, provider *oidc.Provider, km *keys.Manager, passwords *password.Hasher, log *slog.Logger, opts ...Option) (*API, error) {
	a := &API{adminURL: adminURL, prefix: prefix, st: st, provider: provider, keys: km, passwords: passwords, log: log, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	doc, err := openAPIDocument(adminURL+BasePath, provider.Issuer(MasterRealm))
	if err != nil {
		return nil, err
	}
	a.openAPI = doc
	return a, nil
}

// route is one operation of the API; the OpenAPI document lists exactly these.
type route struct {
	method string
	// path is relative to BasePath, with ServeMux (and OpenAPI) wildcards.
	path string
	h    func(w http.ResponseWriter, r *http.Request) error
	// public routes need no token (the OpenAPI document).
	public bool
}

func (a *API) routes() []route {
	const (
		realm   = "/realms/{realm}"
		user    = realm + "/users/{user}"
		client  = realm + "/clients/{client}"
		session = user + "/sessions/{session}"
		dev     = realm + "/devices/{device}"
		pushes  = realm + "/push"
	)
	return []route{
		{method: "GET", path: "/openapi.json", h: a.serveOpenAPI, public: true},
		{method: "GET", path: "/realms", h: a.listRealms},
		{method: "POST", path: "/realms", h: a.createRealm},
		{method: "GET", path: realm, h: a.getRealm},
		{method: "PATCH", path: realm, h: a.updateRealm},
		{method: "DELETE", path: realm, h: a.deleteRealm},
		{method: "POST", path: realm + "/registration-token", h: a.newRegistrationToken},
		{method: "GET", path: realm + "/users", h: a.listUsers},
		{method: "POST", path: realm + "/users", h: a.createUser},
		{method: "GET", path: user, h: a.getUser},
		{method: "PATCH", path: user, h: a.updateUser},
		{method: "DELETE", path: user, h: a.deleteUser},
		{method: "PUT", path: user + "/password", h: a.setPassword},
		{method: "POST", path: user + "/totp", h: a.enrollTOTP},
		{method: "DELETE", path: user + "/totp", h: a.removeTOTP},
		{method: "GET", path: user + "/sessions", h: a.listSessions},
		{method: "DELETE", path: user + "/sessions", h: a.revokeSessions},
		{method: "DELETE", path: session, h: a.revokeSession},
		{method: "GET", path: realm + "/clients", h: a.listClients},
		{method: "POST", path: realm + "/clients", h: a.createClient},
		{method: "GET", path: client, h: a.getClient},
		{method: "PATCH", path: client, h: a.updateClient},
		{method: "DELETE", path: client, h: a.deleteClient},
		{method: "POST", path: client + "/secret", h: a.regenerateSecret},
		{method: "GET", path: realm + "/keys", h: a.listKeys},
		{method: "POST", path: realm + "/keys/rotate", h: a.rotateKeys},
		{method: "POST", path: user + "/activations", h: a.createActivation},
		{method: "GET", path: user + "/activations", h: a.listActivations},
		{method: "DELETE", path: realm + "/activations/{activation}", h: a.deleteActivation},
		{method: "GET", path: realm + "/devices", h: a.listDevices},
		{method: "GET", path: dev, h: a.getDevice},
		{method: "PATCH", path: dev, h: a.updateDevice},
		{method: "DELETE", path: dev, h: a.deleteDevice},
		{method: "POST", path: dev + "/test-push", h: a.testPush},
		{method: "GET", path: pushes, h: a.listPushCredentials},
		{method: "GET", path: pushes + "/{provider}", h: a.getPushCredential},
		{method: "PUT", path: pushes + "/{provider}", h: a.setPushCredential},
		{method: "DELETE", path: pushes + "/{provider}", h: a.deletePushCredential},
		{method: "GET", path: realm + "/audit", h: a.listAudit},
		{method: "GET", path: realm + "/receipts/{receipt}", h: a.getReceipt},
	}
}

// Routes mounts the API on mux, each operation under its own pattern so that metrics
// and logs name it. Other methods on a known path get a 405 problem, unknown paths
// below the API a 404 problem.
func (a *API) Routes(mux *http.ServeMux) {
	base := a.prefix + BasePath
	allowed := map[string][]string{}
	var paths []string
	for _, rt := range a.routes() {
		h := a.authenticated(rt.h)
		if rt.public {
			h = a.handler(rt.h)
		}
		mux.Handle(rt.method+" "+base+rt.path, h)
		if _, ok := allowed[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := allowed[p]
		if slices.Contains(methods, "GET") {
			methods = append(methods, "HEAD")
		}
		allow := strings.Join(methods, ", ")
		mux.Handle(base+p, a.handler(func(w http.ResponseWriter, r *http.Request) error {
			return &Problem{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here; use " + allow,
				header: http.Header{"Allow": {allow}}}
		}))
	}
	mux.Handle(base+"/", a.handler(func(w http.ResponseWriter, r *http.Request) error {
		return problemf(http.StatusNotFound, "no admin API resource at this path")
	}))
}

// handler adapts an operation: its error is written as a problem.
func (a *API) handler(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeProblem(w, r, a.log, err)
		}
	})
}

type bearerKey struct{}

// authenticated requires a master-realm access token with the admin scope, then runs h.
// Every change is logged with who made it (the audit trail until the audit log exists).
func (a *API) authenticated(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return a.handler(func(w http.ResponseWriter, r *http.Request) error {
		b, err := a.authenticate(r)
		if err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), bearerKey{}, b))
		err = h(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			outcome := "done"
			if err != nil {
				outcome = "refused: " + http.StatusText(asProblem(err).Status)
			}
			a.log.LogAttrs(r.Context(), slog.LevelInfo, "admin change",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("outcome", outcome),
				slog.String("subject", b.Subject), slog.String("client_id", b.ClientID))
		}
		return err
	})
}

// authenticate checks the bearer token (RFC 6750): missing or not valid is 401 with a
// challenge, valid without the admin scope 403. The token's client must still exist
// and be enabled, so disabling a client cuts its admin access at once.
func (a *API) authenticate(r *http.Request) (oidc.Bearer, error) {
	challenge := func(status int, detail, params string) error {
		h := `Bearer realm="signet-admin"`
		if params != "" {
			h += ", " + params
		}
		return &Problem{Status: status, Detail: detail, header: http.Header{"Www-Authenticate": {h}}}
	}
	tok, ok := oidc.BearerToken(r)
	if !ok {
		return oidc.Bearer{}, challenge(http.StatusUnauthorized, "an access token of the master realm is required (Authorization: Bearer)", "")
	}
	b, err := a.provider.VerifyBearer(r.Context(), MasterRealm, tok)
	if errors.Is(err, oidc.ErrInvalidBearer) {
		return oidc.Bearer{}, challenge(http.StatusUnauthorized, "the access token is not valid", `error="invalid_token"`)
	}
	if err != nil {
		return oidc.Bearer{}, err
	}
	c, err := a.st.GetClient(r.Context(), MasterRealm, b.ClientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !c.Enabled {
		return oidc.Bearer{}, challenge(http.StatusUnauthorized, "the access token is not valid", `error="invalid_token"`)
	}
	if err != nil {
		return oidc.Bearer{}, err
	}
	if !b.HasScope(Scope) {
		return oidc.Bearer{}, challenge(http.StatusForbidden, "the access token lacks the "+Scope+" scope",
			`error="insufficient_scope", scope="`+Scope+`"`)
	}
	return b, nil
}
