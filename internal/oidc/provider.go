package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/web"
)

// Provider serves the OpenID Connect and OAuth endpoints of every realm under
// {prefix}/realms/{realm}/..., with Keycloak's paths so applications switch by host.
type Provider struct {
	publicURL string
	prefix    string
	st        store.Store
	eph       ephemeral.Store
	keys      *keys.Manager
	peppers   *Peppers
	sessions  *session.Manager
	render    *web.Renderer
	csrf      *web.CSRF
	log       *slog.Logger
	now       func() time.Time

	// out makes every call to a client's servers (jwks_uri, sector_identifier_uri).
	out        *outbound.Client
	clientJWKS *clientJWKS
	// requests are the phone requests behind CIBA; nil: no CIBA on this node.
	requests *authn.Service
	receipts Receipts
	// bg runs the waits for CIBA outcomes (ping, push) until Close.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgStop   context.CancelFunc
	bgMu     sync.Mutex
	bgClosed bool

	localOnce sync.Once
	local     *http.Client // LocalClient
}

// Option adjusts a Provider (test seams).
type Option func(*Provider)

// WithClock sets the provider's clock.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithRenderer sets the page renderer (the server's, with its dev-mode footer).
func WithRenderer(r *web.Renderer) Option { return func(p *Provider) { p.render = r } }

// WithRequests serves CIBA with the phone requests of s.
func WithRequests(s *authn.Service) Option { return func(p *Provider) { p.requests = s } }

// Receipts makes (or finds) the receipt of an answered transaction (package receipt).
type Receipts interface {
	Issue(ctx context.Context, r authn.Request) (string, error)
}

// WithReceipts hands CIBA transactions their receipts in the token response.
func WithReceipts(r Receipts) Option { return func(p *Provider) { p.receipts = r } }

// New creates a provider. publicURL is the PUBLIC listener's configured base URL with the
// path prefix (issuers and links are built from it, never from request headers); prefix
// is the path prefix its routes are mounted under.
func New(publicURL, prefix string, st store.Store, eph ephemeral.Store, km *keys.Manager, ring *keys.Keyring, log *slog.Logger, opts ...Option) *Provider {
	p := &Provider{publicURL: publicURL, prefix: prefix, st: st, eph: eph, keys: km, peppers: NewPeppers(st, ring), log: log, now: time.Now}
	p.bgCtx, p.bgStop = context.WithCancel(context.Background())
	for _, o := range opts {
		o(p)
	}
	if p.render == nil {
		r, err := web.NewRenderer(false, prefix)
		if err != nil {
			panic(fmt.Sprintf("embedded page templates: %v", err)) // a build defect, caught by every test
		}
		p.render = r
	}
	// Every node with the same KEK derives the same CSRF key.
	csrf, err := web.NewCSRF(ring.Primary().DeriveKey("signet csrf v1"))
	if err != nil {
		panic(err) // DeriveKey returns 32 bytes, always enough
	}
	p.csrf = csrf
	p.sessions = session.New(st, session.WithClock(p.now))
	if p.out == nil {
		p.out = outbound.New(outbound.DefaultPolicy())
	}
	p.clientJWKS = newClientJWKS()
	return p
}

// Sessions returns the SSO session manager the provider and the login pages share.
func (p *Provider) Sessions() *session.Manager { return p.sessions }

// CSRF returns the CSRF token issuer the provider and the login pages share.
func (p *Provider) CSRF() *web.CSRF { return p.csrf }

// Renderer returns the page renderer.
func (p *Provider) Renderer() *web.Renderer { return p.render }

// PathPrefix is the configured path prefix the provider's routes live under.
func (p *Provider) PathPrefix() string { return p.prefix }

// SecretHasher returns the client-secret hasher of realm (for creating clients).
func (p *Provider) SecretHasher(ctx context.Context, realm string) (*SecretHasher, error) {
	return p.peppers.Hasher(ctx, realm)
}

// Issuer returns the issuer identifier of realm.
func (p *Provider) Issuer(realm string) string { return p.publicURL + "/realms/" + realm }

func (p *Provider) endpoint(realm, path string) string {
	return p.Issuer(realm) + "/protocol/openid-connect/" + path
}

// Routes mounts the provider's endpoints on mux.
func (p *Provider) Routes(mux *http.ServeMux) {
	r := p.prefix + "/realms/{realm}"
	oc := r + "/protocol/openid-connect"
	mux.Handle("GET "+r+"/.well-known/openid-configuration", p.jsonEndpoint(p.discovery))
	mux.Handle("GET "+r+"/.well-known/oauth-authorization-server", p.jsonEndpoint(p.discovery))
	mux.Handle("GET "+oc+"/certs", p.jsonEndpoint(p.certs))
	mux.Handle("POST "+oc+"/token", p.jsonEndpoint(p.token))
	mux.Handle("POST "+oc+"/token/introspect", p.jsonEndpoint(p.introspect))
	mux.Handle("POST "+oc+"/revoke", p.jsonEndpoint(p.revoke))
	mux.Handle("POST "+oc+"/ext/ciba/auth", p.jsonEndpoint(p.backchannelAuth))
	mux.HandleFunc("GET "+oc+"/auth", p.authorize)
	mux.HandleFunc("POST "+oc+"/auth", p.authorize)
	mux.Handle("GET "+oc+"/userinfo", p.jsonEndpoint(p.userinfo))
	mux.Handle("POST "+oc+"/userinfo", p.jsonEndpoint(p.userinfo))
	mux.HandleFunc("GET "+oc+"/login-status-iframe.html", p.checkSession)
	mux.HandleFunc("GET "+oc+"/logout", p.logout)
	mux.HandleFunc("POST "+oc+"/logout", p.logout)
	p.registrationRoutes(mux, r) // register.go
}

// SimpleRoute reports whether a request goes to one of the JSON protocol endpoints,
// whose handlers read a small form and answer with a small body written in full: the
// requests the listener may serve on its fast HTTP/1.1 path (internal/h1).
func (p *Provider) SimpleRoute(method, path string) bool {
	rest, ok := strings.CutPrefix(path, p.prefix+"/realms/")
	if !ok {
		return false
	}
	realm, endpoint, ok := strings.Cut(rest, "/")
	if !ok || realm == "" {
		return false
	}
	switch endpoint {
	case "protocol/openid-connect/token", "protocol/openid-connect/token/introspect", "protocol/openid-connect/revoke":
		return method == http.MethodPost
	case "protocol/openid-connect/userinfo":
		return method == http.MethodPost || method == http.MethodGet
	case "protocol/openid-connect/certs", ".well-known/openid-configuration", ".well-known/oauth-authorization-server":
		return method == http.MethodGet
	}
	return false
}

func (p *Provider) jsonEndpoint(h HandlerFunc) http.Handler { return JSONHandler(p.log, h) }

// realm loads the realm named in the path; a missing or disabled realm is a 404 with an
// OAuth-shaped body, so nothing tells a disabled realm from an absent one.
func (p *Provider) realm(ctx context.Context, r *http.Request) (store.Realm, error) {
	name := r.PathValue("realm")
	realm, err := p.st.GetRealm(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid), err == nil && !realm.Enabled:
		return store.Realm{}, &Error{Code: "invalid_request", Description: "realm not found", Status: http.StatusNotFound}
	case err != nil:
		return store.Realm{}, fmt.Errorf("load realm: %w", err)
	}
	return realm, nil
}
