package server

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/api"
	"github.com/signet-auth/signet/internal/callers"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/h1"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/tlsconf"
	"github.com/signet-auth/signet/internal/version"
	"github.com/signet-auth/signet/internal/web"
	"github.com/signet-auth/signet/sigma"
)

// listener is one endpoint: its own http.Server, TLS source and router.
type listener struct {
	ep  config.Endpoint
	cfg config.Listener
	mux *http.ServeMux
	srv *http.Server
	// own serves the listener instead of srv: the fast HTTP/1.1 path in front of srv on
	// PUBLIC, the device channel on DEVICE.
	own       servable
	tls       *tlsconf.Source
	ln        net.Listener
	publicURL string
	served    chan error
	exited    atomic.Bool
	// onShutdown runs when the listener starts shutting down (http.Server.RegisterOnShutdown).
	onShutdown []func()
}

func (s *Server) newListener(ep config.Endpoint) (*listener, error) {
	lc := *s.cfg.Listener(ep)
	l := &listener{ep: ep, cfg: lc, mux: http.NewServeMux(), served: make(chan error, 1)}
	if lc.TLSEnabled() {
		opts, err := tlsOptions(lc, s.log.With("listener", string(ep)))
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", ep, err)
		}
		if ep == config.Device {
			// WebSocket (RFC 6455) runs over HTTP/1.1; offering h2 would strand clients.
			opts.NextProtos = []string{"http/1.1"}
		}
		src, err := tlsconf.New(opts)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", ep, err)
		}
		l.tls = src
	}
	// Bind before routing: routes build links from the listener's public URL, which
	// depends on the bound port when the configuration does not name one.
	lcfg := listenConfig(ep)
	ln, err := lcfg.Listen(context.Background(), "tcp", lc.Addr)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", ep, err)
	}
	l.ln = ln
	l.publicURL = publicURL(s.cfg, lc, ln.Addr())
	if err := s.routes(ep, l); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("listener %s: %w", ep, err)
	}
	for _, fn := range s.extraRoutes {
		fn(ep, l.mux)
	}
	l.srv = &http.Server{
		Handler:           s.metrics.Instrument(strings.ToLower(string(ep)), s.log, l.mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverErrorLog{s.log.With("listener", string(ep))}, "", 0),
	}
	for _, f := range l.onShutdown {
		l.srv.RegisterOnShutdown(f)
	}
	if l.tls != nil {
		l.srv.TLSConfig = l.tls.Config()
	} else if ep == config.GRPC {
		// gRPC needs HTTP/2; without TLS that is h2c (prior knowledge).
		l.srv.Protocols = new(http.Protocols)
		l.srv.Protocols.SetHTTP1(true)
		l.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	switch {
	case ep == config.Public && s.provider != nil:
		cfg := h1.Config{HTTP: l.srv, Simple: s.provider.SimpleRoute}
		if l.tls != nil {
			cfg.TLS = l.srv.TLSConfig
		}
		l.own = h1.New(cfg)
	case ep == config.Device:
		trustedProxies, _ := config.ParsePrefixes(s.cfg.Device.TrustedProxies) // validated at load
		cfg := device.Config{
			Store: s.store, Ephemeral: s.eph, Requests: s.requests, Receipts: s.receipts(), Keys: s.channelKeys, Pepper: s.devicePepper,
			Log: s.log.With("component", "device"), Prefix: s.cfg.PathPrefix,
			HandshakeTimeout: s.cfg.Device.HandshakeTimeout, IdleTimeout: s.cfg.Device.IdleTimeout,
			MaxMessage:      s.cfg.Device.MaxMessageBytes,
			HandshakesPerIP: s.cfg.Device.HandshakesPerIPPerMinute, EnrollmentsPerIP: s.cfg.Device.EnrollmentsPerIPPerMinute,
			TrustedProxies: trustedProxies, MaxConnections: s.cfg.Device.MaxConnections,
		}
		if l.tls != nil {
			cfg.TLS = l.srv.TLSConfig
		}
		dev, err := device.New(cfg)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listener %s: %w", ep, err)
		}
		l.own, s.devices = dev, dev
		if err := s.metrics.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "signet_device_connections",
			Help: "Devices connected to this node's device channel now.",
		}, func() float64 { return float64(dev.Connections()) })); err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("listener %s: %w", ep, err)
		}
	}
	return l, nil
}

// servable is a server that takes the listener over from the http.Server.
type servable interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// serve serves the bound listener in the background. If serving ends other than by
// stop, the error goes to died.
func (l *listener) serve(died chan<- error) {
	ln := l.ln
	go func() {
		var err error
		if l.own != nil {
			err = l.own.Serve(ln)
		} else if l.tls != nil {
			err = l.srv.ServeTLS(ln, "", "")
		} else {
			err = l.srv.Serve(ln)
		}
		l.exited.Store(true)
		if !errors.Is(err, http.ErrServerClosed) {
			select {
			case died <- fmt.Errorf("listener %s: %w", l.ep, err):
			default:
			}
		}
		l.served <- err
	}()
}

// check fails once the listener has stopped serving, so /readyz turns 503.
func (l *listener) check(context.Context) error {
	if l.exited.Load() {
		return errors.New("not serving")
	}
	return nil
}

// stop stops accepting, drains in-flight requests until ctx ends, then closes what is left.
func (l *listener) stop(ctx context.Context) error {
	var err error
	if l.own != nil {
		if err = l.own.Shutdown(ctx); err != nil {
			_ = l.own.Close()
		}
	} else if err = l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	if serveErr := <-l.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

func (l *listener) addr() string { return l.ln.Addr().String() }

func (l *listener) describe() string {
	mode := "TLS 1.3, client auth " + l.cfg.TLSClientAuth
	if l.tls == nil {
		mode = "plain HTTP"
	}
	return l.publicURL + " (" + mode + ")"
}

// routes mounts what the foundation serves on each listener. Role packages add theirs.
func (s *Server) routes(ep config.Endpoint, l *listener) error {
	mux := l.mux
	p := s.cfg.PathPrefix
	switch ep {
	case config.Ops:
		mux.Handle("GET "+p+"/metrics", s.metrics.Handler())
		mux.HandleFunc("GET "+p+"/livez", s.health.Livez)
		mux.HandleFunc("GET "+p+"/readyz", s.health.Readyz)
		mux.HandleFunc("GET "+p+"/health", s.health.Page)
		mux.Handle("GET "+p+web.StaticPath, http.StripPrefix(p, web.Static()))
	case config.Public:
		s.provider = oidc.New(l.publicURL, p, s.store, s.eph, s.keys, s.keyring, s.log.With("component", "oidc"), oidc.WithRenderer(s.render), oidc.WithRequests(s.requests), oidc.WithOutbound(s.outboundClient()), oidc.WithReceipts(s.receipts()))
		s.provider.Routes(mux)
		pages := login.New(login.Config{
			Prefix: p, Store: s.store, Ephemeral: s.eph, Keyring: s.keyring, Passwords: s.passwords,
			Sessions: s.provider.Sessions(), Renderer: s.render, CSRF: s.provider.CSRF(), Flow: s.provider,
			Log: s.log.With("component", "login"), Requests: s.requests, DeviceURL: func() string { return s.endpointURL(config.Device) },
			Attempts: s.recordAttempt,
		})
		pages.Routes(mux)
		if err := s.accountConsole(mux); err != nil {
			return err
		}
		// The pages' status channels wait for phones; a shutdown must not wait for them.
		l.onShutdown = append(l.onShutdown, pages.Shutdown)
		mux.HandleFunc("GET "+p+"/{$}", s.landing)
		mux.Handle("GET "+p+web.StaticPath, http.StripPrefix(p, web.Static()))
	case config.API:
		a, err := s.businessAPI(l.publicURL)
		if err != nil {
			return err
		}
		a.Routes(mux)
		mux.HandleFunc(p+"/", problemNotFound)
	case config.GRPC:
		api := s.messagingAPI()
		api.Routes(mux, p)
		// Event streams wait for events, not for their callers: end them as the
		// listener drains.
		l.onShutdown = append(l.onShutdown, api.Shutdown)
	case config.Admin:
		api, err := s.adminAPI(l.publicURL)
		if err != nil {
			return err
		}
		api.Routes(mux)
		if err := s.adminConsole(mux, l.publicURL, api); err != nil {
			return err
		}
	}
	return nil
}

// bearerProvider is the provider that verifies bearer tokens on this node: the PUBLIC
// listener's when this node runs it (PUBLIC starts first), else one of the node's own
// whose issuer is the PUBLIC listener's configured URL, as on the nodes that issue them.
func (s *Server) bearerProvider() *oidc.Provider {
	if s.provider != nil {
		return s.provider
	}
	return oidc.New(s.endpointURL(config.Public), s.cfg.PathPrefix, s.store, s.eph, s.keys, s.keyring, s.log.With("component", "oidc"))
}

// verifyCaller verifies an API client's access token for the messaging and REST APIs.
func (s *Server) verifyCaller(provider *oidc.Provider) callers.Verify {
	return func(ctx context.Context, realm, token string) (callers.Caller, error) {
		b, err := provider.VerifyBearer(ctx, realm, token)
		if errors.Is(err, oidc.ErrInvalidBearer) {
			return callers.Caller{}, callers.ErrInvalidToken
		}
		if err != nil {
			return callers.Caller{}, err
		}
		// The machine APIs act for the client itself: a token a user was issued through
		// it (a grant or a session behind it) does not call them, whatever its scopes.
		if b.GrantID != "" || b.SessionID != "" {
			return callers.Caller{}, callers.ErrInvalidToken
		}
		// The token's client must still exist and be enabled: disabling a client cuts
		// it off at once.
		c, err := s.store.GetClient(ctx, realm, b.ClientID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Enabled) {
			return callers.Caller{}, callers.ErrInvalidToken
		}
		if err != nil {
			return callers.Caller{}, err
		}
		return callers.Caller{Realm: realm, ClientID: b.ClientID, Scopes: b.Scopes}, nil
	}
}

// messagingAPI builds the gRPC messaging API.
func (s *Server) messagingAPI() *messaging.API {
	return messaging.NewAPI(messaging.APIConfig{Store: s.store, Ephemeral: s.eph, Log: s.log.With("component", "grpc"),
		MaxMessageBytes: s.cfg.Device.MaxMessageBytes, Verify: s.verifyCaller(s.bearerProvider())})
}

// businessAPI builds the REST API of the API listener.
func (s *Server) businessAPI(publicURL string) (*api.API, error) {
	fp := sigma.Fingerprint(s.channelKeys[0].Public().(*ecdsa.PublicKey))
	public := s.endpointURL(config.Public)
	return api.New(api.Config{
		PublicURL: publicURL, Prefix: s.cfg.PathPrefix, Store: s.store, Ephemeral: s.eph,
		Requests: s.requests, Receipts: s.receipts(), Keyring: s.keyring, Passwords: s.passwords,
		Log:    s.log.With("component", "api"),
		Issuer: func(realm string) string { return public + "/realms/" + realm },
		Verify: s.verifyCaller(s.bearerProvider()),
		Enrollment: &rest.Enrollment{PublicURL: s.endpointURL(config.Device), Pepper: s.devicePepper,
			Fingerprint: func() ([32]byte, error) { return fp, nil }},
	})
}

// adminAPI builds the admin API. It verifies master-realm tokens with the PUBLIC
// listener's provider when this node runs it (PUBLIC starts first), else with one of its
// own whose issuer is the PUBLIC listener's configured URL, as on the nodes that issue
// the tokens.
func (s *Server) adminAPI(adminURL string) (*admin.API, error) {
	provider := s.bearerProvider()
	fp := sigma.Fingerprint(s.channelKeys[0].Public().(*ecdsa.PublicKey))
	// Push credentials are editable on every admin node; the cached sender is dropped
	// and test pushes sent only where the messaging role runs.
	pushAPI := admin.Push{Credentials: s.pushCreds}
	if s.senders != nil {
		pushAPI.Changed = s.senders.Forget
	}
	if s.deliverer != nil {
		pushAPI.Test = s.deliverer.TestPush
	}
	return admin.New(adminURL, s.cfg.PathPrefix, s.store, provider, s.keys, s.passwords, s.log.With("component", "admin"),
		admin.WithKeyring(s.keyring), admin.WithDevices(admin.Devices{
			PublicURL: s.endpointURL(config.Device), Pepper: s.devicePepper,
			Fingerprint: func() ([32]byte, error) { return fp, nil },
		}), admin.WithPush(pushAPI), admin.WithRealmCreated(s.ensureBuiltinClients),
		admin.WithRequestPolicy(s.authnLimits().Defaults()))
}

func (s *Server) landing(w http.ResponseWriter, _ *http.Request) {
	if err := s.render.Render(w, http.StatusOK, "landing", "Signet", struct{ Version string }{version.String()}); err != nil {
		s.log.Error("render landing page", "err", err)
	}
}

// problemNotFound answers unknown API paths with RFC 9457 problem JSON.
func problemNotFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": "Not Found", "status": http.StatusNotFound,
		"detail": "no API resource at this path",
	})
}

// serverErrorLog receives net/http's own messages. TLS handshake failures (scanners, clients
// refused for TLS 1.2 or a bad certificate) are routine and go to debug; anything else is a
// warning worth seeing.
type serverErrorLog struct{ log *slog.Logger }

func (w serverErrorLog) Write(b []byte) (int, error) {
	msg := strings.TrimSpace(string(b))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, "http server: "+msg)
	return len(b), nil
}

// listenConfig is how an endpoint's socket is opened. Device connections get no TCP
// keepalive: the channel has its own (the app's pings and the idle timeout), at a pace the
// app chooses for the phone's radio and battery, where Go's default would wake the phone
// every 15 s and cost four socket options on every accept.
func listenConfig(ep config.Endpoint) net.ListenConfig {
	var lc net.ListenConfig
	if ep == config.Device {
		lc.KeepAlive = -1
	}
	return lc
}
