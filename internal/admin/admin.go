// Package admin is Signet's admin API: a JSON API under {prefix}/admin/api/ on the ADMIN
// listener for realms, users, clients, signing keys, sessions, devices, push
// credentials, webhooks and the event and audit logs, with its own OpenAPI document.
// Callers present an access token of the master realm carrying the signet.admin scope,
// or of a realm's administrator for that realm; errors are RFC 9457 problem JSON.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/rest"
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
	ReservedPrefix = rest.ReservedPrefix
	// PasswordTemporaryAttribute marks a user whose password must be changed at the next
	// sign-in (an administrator set it, or it is the bootstrap password).
	PasswordTemporaryAttribute = rest.PasswordTemporaryAttribute
	// ConsoleClientID is the built-in client of every realm the admin console signs its
	// administrators in with; AccountClientID the account console's. The server keeps
	// both; they cannot be deleted.
	ConsoleClientID = "signet-console"
	AccountClientID = "signet-account"
)

// BuiltinClient reports whether id is one of the built-in clients every realm has.
func BuiltinClient(id string) bool { return id == ConsoleClientID || id == AccountClientID }

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
	// realmCreated runs after a realm is created (the server gives it its built-in clients).
	realmCreated func(ctx context.Context, realm string) error
	// requestPolicy is the node's policy for phone requests (WithRequestPolicy).
	requestPolicy authn.Policy
}

// Option adjusts an API (test seams).
type Option func(*API)

// WithKeyring lets the API seal TOTP secrets (the server always sets it).
func WithKeyring(ring *keys.Keyring) Option { return func(a *API) { a.ring = ring } }

// WithRealmCreated runs fn after a realm is created; a failure is logged, and the realm
// stays created.
func WithRealmCreated(fn func(ctx context.Context, realm string) error) Option {
	return func(a *API) { a.realmCreated = fn }
}

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

func (a *API) routes() []rest.Route {
	const (
		realm   = "/realms/{realm}"
		user    = realm + "/users/{user}"
		client  = realm + "/clients/{client}"
		session = user + "/sessions/{session}"
		dev     = realm + "/devices/{device}"
		pushes  = realm + "/push"
	)
	us, ds := a.users(), a.deviceOps()
	admin := []string{Scope}
	return append([]rest.Route{
		{Method: "GET", Path: "/openapi.json", Handler: rest.ServeDocument(a.openAPI)},
		{Method: "GET", Path: "/realms", Handler: a.listRealms, Scopes: admin},
		{Method: "POST", Path: "/realms", Handler: platformOnly(a.createRealm), Scopes: admin},
		{Method: "GET", Path: realm, Handler: a.getRealm, Scopes: admin},
		{Method: "PATCH", Path: realm, Handler: a.updateRealm, Scopes: admin},
		{Method: "DELETE", Path: realm, Handler: platformOnly(a.deleteRealm), Scopes: admin},
		{Method: "POST", Path: realm + "/registration-token", Handler: a.newRegistrationToken, Scopes: admin},
		{Method: "GET", Path: realm + "/users", Handler: us.List, Scopes: admin},
		{Method: "POST", Path: realm + "/users", Handler: us.Create, Scopes: admin},
		{Method: "GET", Path: user, Handler: us.Get, Scopes: admin},
		{Method: "PATCH", Path: user, Handler: us.Update, Scopes: admin},
		{Method: "DELETE", Path: user, Handler: us.Delete, Scopes: admin},
		{Method: "PUT", Path: user + "/password", Handler: a.setPassword, Scopes: admin},
		{Method: "POST", Path: user + "/totp", Handler: a.enrollTOTP, Scopes: admin},
		{Method: "DELETE", Path: user + "/totp", Handler: a.removeTOTP, Scopes: admin},
		{Method: "GET", Path: user + "/sessions", Handler: a.listSessions, Scopes: admin},
		{Method: "DELETE", Path: user + "/sessions", Handler: a.revokeSessions, Scopes: admin},
		{Method: "DELETE", Path: session, Handler: a.revokeSession, Scopes: admin},
		{Method: "GET", Path: realm + "/clients", Handler: a.listClients, Scopes: admin},
		{Method: "POST", Path: realm + "/clients", Handler: a.createClient, Scopes: admin},
		{Method: "GET", Path: client, Handler: a.getClient, Scopes: admin},
		{Method: "PATCH", Path: client, Handler: a.updateClient, Scopes: admin},
		{Method: "DELETE", Path: client, Handler: a.deleteClient, Scopes: admin},
		{Method: "POST", Path: client + "/secret", Handler: a.regenerateSecret, Scopes: admin},
		{Method: "GET", Path: realm + "/keys", Handler: a.listKeys, Scopes: admin},
		{Method: "POST", Path: realm + "/keys/rotate", Handler: a.rotateKeys, Scopes: admin},
		{Method: "POST", Path: user + "/activations", Handler: ds.CreateActivation, Scopes: admin},
		{Method: "GET", Path: user + "/activations", Handler: ds.ListActivations, Scopes: admin},
		{Method: "DELETE", Path: realm + "/activations/{activation}", Handler: ds.DeleteActivation, Scopes: admin},
		{Method: "GET", Path: realm + "/devices", Handler: a.listDevices, Scopes: admin},
		{Method: "GET", Path: dev, Handler: ds.GetDevice, Scopes: admin},
		{Method: "PATCH", Path: dev, Handler: ds.UpdateDevice, Scopes: admin},
		{Method: "DELETE", Path: dev, Handler: ds.DeleteDevice, Scopes: admin},
		{Method: "POST", Path: dev + "/test-push", Handler: a.testPush, Scopes: admin},
		{Method: "GET", Path: pushes, Handler: a.listPushCredentials, Scopes: admin},
		{Method: "GET", Path: pushes + "/{provider}", Handler: a.getPushCredential, Scopes: admin},
		{Method: "PUT", Path: pushes + "/{provider}", Handler: a.setPushCredential, Scopes: admin},
		{Method: "DELETE", Path: pushes + "/{provider}", Handler: a.deletePushCredential, Scopes: admin},
		{Method: "GET", Path: realm + "/admins", Handler: a.listRealmAdmins, Scopes: admin},
		{Method: "PUT", Path: realm + "/admins/{user}", Handler: a.addRealmAdmin, Scopes: admin},
		{Method: "DELETE", Path: realm + "/admins/{user}", Handler: a.removeRealmAdmin, Scopes: admin},
		{Method: "GET", Path: realm + "/audit", Handler: a.listAudit, Scopes: admin},
		{Method: "GET", Path: realm + "/receipts/{receipt}", Handler: a.getReceipt, Scopes: admin},
		{Method: "GET", Path: realm + "/events", Handler: rest.ListEvents(a.st), Scopes: admin},
	}, a.webhooks().Routes(realm, admin)...)
}

// webhooks serves the realm's webhooks, their deliveries and its callback secret, as
// the business API does.
func (a *API) webhooks() *rest.Webhooks {
	return &rest.Webhooks{Store: a.st, Keyring: a.ring, Now: a.now,
		Location: func(p string) string { return a.adminURL + BasePath + p }}
}

// Routes mounts the API on mux, each operation under its own pattern so that metrics
// and logs name it. Other methods on a known path get a 405 problem, unknown paths
// below the API a 404 problem.
func (a *API) Routes(mux *http.ServeMux) {
	rest.Mount(mux, a.prefix+BasePath, a.routes(), a.authenticated, a.log, "admin API")
}

// Caller is who calls the admin API: a platform administrator (a token of the master
// realm) manages every realm; a realm administrator (a user of another realm, named
// among its administrators) manages that realm only.
type Caller struct {
	oidc.Bearer
	// ManagedRealm is the realm a realm administrator manages; empty for a platform
	// administrator.
	ManagedRealm string
}

// Platform reports whether the caller is a platform administrator.
func (c Caller) Platform() bool { return c.ManagedRealm == "" }

// Manages reports whether the caller may manage realm.
func (c Caller) Manages(realm string) bool { return c.Platform() || c.ManagedRealm == realm }

type callerKey struct{}

// CallerOf returns the caller of an authenticated request.
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// authenticated requires an access token with the admin scope of the master realm, or of
// a realm administrator for the realm in the path, then runs h. Every change is logged
// with who made it (the audit trail until the audit log exists).
func (a *API) authenticated(_ []string, h rest.HandlerFunc) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := a.authenticate(r)
		if err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
		err = h(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			outcome := "done"
			if err != nil {
				outcome = "refused: " + http.StatusText(rest.AsProblem(err).Status)
			}
			a.log.LogAttrs(r.Context(), slog.LevelInfo, "admin change",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("outcome", outcome),
				slog.String("realm", c.Realm), slog.String("subject", c.Subject), slog.String("client_id", c.ClientID))
		}
		return err
	}
}

// platformOnly lets only platform administrators run h: creating and deleting realms.
func platformOnly(h rest.HandlerFunc) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if c, ok := CallerOf(r.Context()); !ok || !c.Platform() {
			return rest.Problemf(http.StatusForbidden, "only platform administrators (of the %s realm) may do this", MasterRealm)
		}
		return h(w, r)
	}
}

// authenticate checks the bearer token (RFC 6750): missing or not valid is 401 with a
// challenge, valid without the admin scope or for a realm the caller does not manage
// 403. The token's client must still exist and be enabled, so disabling a client cuts
// its admin access at once; a realm administrator must still be one.
func (a *API) authenticate(r *http.Request) (Caller, error) {
	challenge := func(status int, detail, params string) error {
		h := `Bearer realm="signet-admin"`
		if params != "" {
			h += ", " + params
		}
		return &rest.Problem{Status: status, Detail: detail, Header: http.Header{"Www-Authenticate": {h}}}
	}
	invalid := challenge(http.StatusUnauthorized, "the access token is not valid", `error="invalid_token"`)
	tok, ok := oidc.BearerToken(r)
	if !ok {
		return Caller{}, challenge(http.StatusUnauthorized, "an access token of the master realm or of a realm administrator is required (Authorization: Bearer)", "")
	}
	realm, ok := a.provider.TokenRealm(tok)
	if !ok {
		return Caller{}, invalid
	}
	b, err := a.provider.VerifyBearer(r.Context(), realm, tok)
	if errors.Is(err, oidc.ErrInvalidBearer) {
		return Caller{}, invalid
	}
	if err != nil {
		return Caller{}, err
	}
	c, err := a.st.GetClient(r.Context(), realm, b.ClientID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !c.Enabled {
		return Caller{}, invalid
	}
	if err != nil {
		return Caller{}, err
	}
	if !b.HasScope(Scope) {
		return Caller{}, challenge(http.StatusForbidden, "the access token lacks the "+Scope+" scope",
			`error="insufficient_scope", scope="`+Scope+`"`)
	}
	if realm == MasterRealm {
		return Caller{Bearer: b}, nil
	}
	// A realm administrator: only its own realm, only as a signed-in user, only while
	// the realm names it.
	if path := r.PathValue("realm"); path != "" && path != realm {
		return Caller{}, rest.Problemf(http.StatusForbidden, "an administrator of realm %q manages that realm only", realm)
	}
	if b.GrantID == "" {
		return Caller{}, rest.Problemf(http.StatusForbidden, "realm administration needs a realm administrator's sign-in, not a client's token")
	}
	managed, err := a.st.GetRealm(r.Context(), realm)
	if err != nil {
		return Caller{}, rest.StoreError(err, realmWhat(realm))
	}
	if !IsRealmAdmin(managed, b.Subject) {
		return Caller{}, rest.Problemf(http.StatusForbidden, "the user is not an administrator of realm %q", realm)
	}
	return Caller{Bearer: b, ManagedRealm: realm}, nil
}
