// Package server wires a Signet node: it opens the stores, builds the six listeners for
// the selected roles, starts components in dependency order and stops them in reverse.
package server

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/ephemeral"
	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/outbound"
	"github.com/signet-auth/signet/internal/password"
	"github.com/signet-auth/signet/internal/receipt"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/cached"
	"github.com/signet-auth/signet/internal/version"
	"github.com/signet-auth/signet/internal/web"
)

// openTimeout bounds connecting to the stores and migrating at start, so an unreachable
// database fails the start with a clear error instead of hanging.
const openTimeout = time.Minute

// component is one part of the lifecycle: started in order, stopped in reverse.
type component struct {
	name string
	stop func(ctx context.Context) error
}

// Option adjusts a Server; options are test seams and embedding hooks.
type Option func(*Server)

// WithRoutes lets the caller add routes to a listener's router before it starts.
func WithRoutes(fn func(ep config.Endpoint, mux *http.ServeMux)) Option {
	return func(s *Server) { s.extraRoutes = append(s.extraRoutes, fn) }
}

// WithRootCAs trusts pool instead of the system roots for the calls Signet makes to
// other servers (push providers, CIBA notifications, jwks_uri, …): for tests against
// local servers.
func WithRootCAs(pool *x509.CertPool) Option { return func(s *Server) { s.pushRoots = pool } }

// WithLifecycleHook is told "start <name>" and "stop <name>" as components start and stop.
func WithLifecycleHook(fn func(event, name string)) Option {
	return func(s *Server) { s.hook = fn }
}

// Server is one running node.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	started time.Time
	store   store.Store
	eph     ephemeral.Store
	metrics *ops.Metrics
	// outcomesSeen counts the outcomes of authentication requests recorded on this node.
	outcomesSeen *prometheus.CounterVec
	health       *ops.Health
	render       *web.Renderer
	listeners    map[config.Endpoint]*listener
	components   []component
	extraRoutes  []func(config.Endpoint, *http.ServeMux)
	hook         func(event, name string)
	// died receives the error of a listener that stopped serving on its own.
	died chan error
	// keyring seals secrets at rest; keys keeps the realms' signing keys.
	keyring  *keys.Keyring
	keys     *keys.Manager
	provider *oidc.Provider
	// channelKeys are the device channel's keys (current first), devicePepper keys the
	// hash of activation codes; both are loaded when the node runs the device, admin or api role.
	channelKeys  []crypto.Signer
	devicePepper []byte
	devices      *device.Server
	// requests are the authentication requests (push and QR login, CIBA, transactions),
	// their events written to the outbox.
	requests *authn.Service
	outbox   *events.Outbox
	// webhooks posts the event log's deliveries to subscriptions and callbacks (the
	// events role).
	webhooks *events.Deliverer
	// The messaging role: push credentials, the senders built from them and the
	// delivery policy; pushRoots replaces the system roots for APNs (tests).
	pushCreds messaging.Credentials
	senders   *messaging.Senders
	deliverer *messaging.Deliverer
	pushRoots *x509.CertPool
	// passwords hashes user passwords (Argon2id) for the seeds and the admin API.
	passwords *password.Hasher
	// adminPassword is the master administrator's one-time password while it waits to
	// be printed: set only by the start that created the administrator.
	adminPassword string
	// Dev mode: the demo realm's client and user, and the admin bootstrap secret.
	demo            *DemoClient
	demoUser        *DemoUser
	bootstrapSecret string
}

// New prepares a node from a validated configuration; Start brings it up.
func New(cfg config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := Check(&cfg); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	render, err := web.NewRenderer(cfg.Dev, cfg.PathPrefix)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, started: time.Now(), render: render,
		metrics:   ops.NewMetrics(version.String()),
		listeners: map[config.Endpoint]*listener{},
		hook:      func(string, string) {},
		died:      make(chan error, len(config.Endpoints)),
	}
	s.health = ops.NewHealth(version.String(), cfg.Dev, s.started, 2*time.Second, render, log)
	s.metrics.Registry.MustRegister(s.health.Collector())
	s.outcomesSeen = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_authn_outcomes_total",
		Help: "Outcomes of authentication requests and of passwords and codes typed at the login pages on this node, by kind (push_login, qr_login, ciba, transaction; password, totp) and outcome (approved, denied, expired, cancelled; locked).",
	}, []string{"kind", "outcome"})
	s.metrics.Registry.MustRegister(s.outcomesSeen)
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Start opens the stores and starts every listener of the configured roles. On error,
// whatever already started is stopped again.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
			defer cancel()
			_ = s.stopAll(stopCtx)
		}
	}()
	if err := PrepareDev(&s.cfg); err != nil {
		return err
	}
	if s.cfg.Dev {
		s.log.Warn("development mode: self-signed development certificates, listeners on loopback; never use in production",
			"data_dir", s.cfg.DataDir)
	}

	openCtx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	st, err := OpenStore(openCtx, s.cfg)
	if err != nil {
		return err
	}
	s.store = st
	s.add("store", func(context.Context) error { return st.Close() })
	if err := s.migrate(openCtx); err != nil {
		return err
	}
	s.health.Add(ops.Component{Name: "database", Detail: st.Backend(), Check: st.Ping})

	eph, err := OpenEphemeral(openCtx, s.cfg)
	if err != nil {
		return err
	}
	s.eph = eph
	s.add("ephemeral", func(context.Context) error { return eph.Close() })
	s.health.Add(ops.Component{Name: "ephemeral store", Detail: eph.Backend(), Check: eph.Ping})

	// Realms and clients are read on every protocol request; keep them in memory, with
	// changes on any node announced through the ephemeral store.
	cache, err := cached.New(st, eph, cached.WithLogger(s.log.With("component", "store cache")))
	if err != nil {
		return err
	}
	if err := cache.Start(openCtx); err != nil {
		return fmt.Errorf("start store cache: %w", err)
	}
	s.store = cache
	s.add("store cache", func(context.Context) error { cache.Stop(); return nil })
	// Every node reports the cluster's enrolled devices, counted at most once per TTL.
	if err := s.metrics.Registry.Register(ops.NewEnrolledDevices(cache.CountDevices, ops.DefaultDeviceCountTTL, nil)); err != nil {
		return fmt.Errorf("register the enrolled devices metric: %w", err)
	}

	if s.keyring, err = Keyring(s.cfg.Keys); err != nil {
		return fmt.Errorf("key-encryption key: %w", err)
	}
	if s.keys, err = keys.NewManager(s.store, s.keyring, KeyPolicy(s.cfg.Keys)); err != nil {
		return err
	}
	if s.passwords, err = password.New(password.DefaultParams()); err != nil {
		return err
	}
	if s.cfg.HasRole(config.RoleDevice) || s.cfg.HasRole(config.RoleAdmin) || s.cfg.HasRole(config.RoleAPI) {
		if s.channelKeys, err = device.LoadChannelKeys(openCtx, s.store, s.keyring); err != nil {
			return fmt.Errorf("device channel keys: %w", err)
		}
		s.devicePepper = s.keyring.Primary().DeriveKey("device activation codes")
	}
	if s.cfg.HasRole(config.RoleEvents) {
		if err := s.startWebhooks(); err != nil {
			return err
		}
	}
	if s.cfg.HasRole(config.RoleDevice) || s.cfg.HasRole(config.RoleIdP) || s.cfg.HasRole(config.RoleMessaging) || s.cfg.HasRole(config.RoleAPI) {
		if err := s.startRequests(openCtx); err != nil {
			return err
		}
	}
	s.pushCreds = messaging.Credentials{Store: s.store, Ring: s.keyring}
	if s.cfg.HasRole(config.RoleMessaging) {
		if err := s.startMessaging(openCtx); err != nil {
			return err
		}
	}
	if err := s.seedMaster(openCtx); err != nil {
		return fmt.Errorf("seed the master realm: %w", err)
	}
	if s.cfg.Dev {
		if s.demo, s.demoUser, err = s.seedDev(openCtx); err != nil {
			return fmt.Errorf("seed development data: %w", err)
		}
		if s.bootstrapSecret, err = s.seedAdminBootstrap(openCtx); err != nil {
			return fmt.Errorf("seed development data: %w", err)
		}
	}
	// Stopped right after the listeners: CIBA's waits for outcomes (ping, push) end, and
	// the notifications under way finish while the stores are still open.
	s.add("ciba notifications", func(context.Context) error {
		if s.provider != nil {
			s.provider.Close()
		}
		return nil
	})
	if err := s.startListeners(); err != nil {
		return err
	}
	if err := s.seedBuiltinClients(openCtx); err != nil {
		return fmt.Errorf("seed the built-in clients: %w", err)
	}
	if s.cfg.Dev {
		if err := s.writeAdminBootstrap(); err != nil {
			return fmt.Errorf("write %s: %w", BootstrapFile, err)
		}
	}
	s.health.SetReady(true)
	s.log.Info("signet started", "version", version.String(), "roles", strings.Join(s.cfg.Roles, ","),
		"startup", time.Since(s.started).Round(time.Millisecond).String())
	return nil
}

// startRequests starts the authentication requests over the ephemeral store, with their
// events going to the store's event log through the outbox. Stopped after the listeners
// (in reverse order), so no change is made once the outbox has drained.
func (s *Server) startRequests(ctx context.Context) error {
	opts := []events.Option{events.WithLogger(s.log.With("component", "events"))}
	if s.webhooks != nil {
		// What a batch commits goes out at once on this node, not at the next poll.
		opts = append(opts, events.WithOnWrite(s.webhooks.Nudge))
	}
	s.outbox = events.NewOutbox(s.store, opts...)
	cfg := s.authnLimits()
	cfg.Store, cfg.Log = s.eph, s.log.With("component", "authn")
	cfg.Events = authn.SinkFunc(func(_ context.Context, e authn.Event) error { return s.outbox.Post(e.Record()) })
	cfg.Outcomes = outcomes{s}
	reqs, err := authn.New(ctx, cfg)
	if err != nil {
		return err
	}
	s.requests = reqs
	s.add("authentication requests", func(ctx context.Context) error {
		err := reqs.Close()
		return errors.Join(err, s.outbox.Close(ctx))
	})
	return nil
}

// authnLimits is the node's limits on the phone requests made for one user (the authn
// settings): the requests enforce them, the admin API shows them where a realm's
// settings set none.
func (s *Server) authnLimits() authn.Config {
	a := s.cfg.Authn
	return authn.Config{MaxPending: a.MaxPending, MaxCreated: a.MaxCreated, CreatedWindow: a.CreatedWindow,
		DenialsBeforeCooldown: a.DenialsBeforeCooldown, DenialWindow: a.DenialWindow, Cooldown: a.Cooldown}
}

// outcomes keeps the outcome of every request with its events (a transaction's with its
// record and, when it was answered, its receipt) in one transaction, in its batch of the
// outbox (after the request's earlier events, sharing their commit), before the outcome
// is made: an authentication finished, or a transaction signed or denied, and the event
// that tells of it are never one without the other, and the first outcome kept is the
// request's on every node.
type outcomes struct{ s *Server }

func (outcomes) Keeps(*authn.Request) bool { return true }

func (o outcomes) Record(ctx context.Context, r authn.Request, events []authn.Event) (authn.State, error) {
	state, err := o.s.receipts().Record(ctx, r, events, o.s.outbox.Keep)
	if err == nil {
		o.s.outcomesSeen.WithLabelValues(string(r.Kind), string(state)).Inc()
	}
	return state, err
}

// recordAttempt counts the outcome of a password or code typed at the login pages with
// the phone's (kind password or totp), and posts its event to the event log when it is
// about a user. The sign-in stands whatever becomes of the event, as with Outbox.Post.
func (s *Server) recordAttempt(_ context.Context, a login.Attempt) {
	s.outcomesSeen.WithLabelValues(a.Method, a.Outcome()).Inc()
	e, ok := a.Record()
	if !ok || s.outbox == nil {
		return
	}
	if err := s.outbox.Post(e); err != nil {
		s.log.Warn("sign-in event not written", "type", e.Type, "realm", e.Realm, "err", err)
	}
}

// webhookRetention is how long settled webhook deliveries stay listed.
const webhookRetention = 30 * 24 * time.Hour

// startWebhooks starts posting the event log's webhook and callback deliveries, through
// the outbound policy, callbacks signed with their realm's callback secret. Stopped after
// the authentication requests (in reverse order): their outbox drains first.
func (s *Server) startWebhooks() error {
	st, ring := s.store, s.keyring
	d, err := events.NewDeliverer(st, ring, s.outboundClient(), s.log.With("component", "webhooks"),
		events.WithMetrics(events.NewMetrics(s.metrics.Registry)), events.WithRetention(webhookRetention),
		events.WithCallbackKeys(func(ctx context.Context, realm string, now time.Time) ([][]byte, error) {
			return events.CallbackSigningKeys(ctx, st, ring, realm, now)
		}))
	if err != nil {
		return err
	}
	d.Start()
	s.webhooks = d
	s.add("webhooks", d.Close)
	return nil
}

// startMessaging starts the push senders and the delivery policy. Stopped before the
// authentication requests (in reverse order), so no wake-up reads a closed service.
func (s *Server) startMessaging(ctx context.Context) error {
	m := s.cfg.Messaging
	metrics := messaging.NewMetrics(s.metrics.Registry)
	s.senders = messaging.NewSenders(s.pushCreds, messaging.SenderOptions{
		Endpoints: messaging.Endpoints{APNs: m.APNsURL, FCM: m.FCMURL},
		Outbound:  s.outboundClient(), RootCAs: s.pushRoots, Timeout: m.SendTimeout,
	}, metrics)
	reminder := m.ReminderAfter
	if reminder == 0 {
		reminder = -1 // off
	}
	d, err := messaging.NewDeliverer(ctx, messaging.Config{Store: s.store, Ephemeral: s.eph, Requests: s.requests,
		Senders: s.senders, Metrics: metrics, Log: s.log.With("component", "messaging"), Title: m.Title, ReminderAfter: reminder})
	if err != nil {
		return err
	}
	s.deliverer = d
	s.add("messaging", func(context.Context) error {
		d.Close()
		s.senders.Close()
		return nil
	})
	return nil
}

// outboundClient makes the calls to targets others name, under the configured policy.
func (s *Server) outboundClient() *outbound.Client {
	p := outbound.DefaultPolicy()
	p.AllowPrivate = s.cfg.Outbound.AllowPrivate
	p.AllowedCIDRs, _ = config.ParsePrefixes(s.cfg.Outbound.AllowedCIDRs) // validated at load
	p.AllowedHosts = s.cfg.Outbound.AllowedHosts
	var opts []outbound.Option
	if s.pushRoots != nil {
		opts = append(opts, outbound.WithRootCAs(s.pushRoots))
	}
	return outbound.New(p, opts...)
}

// receipts makes the receipts of answered transactions, signed with the realms' keys
// under the issuer their tokens carry.
func (s *Server) receipts() receipt.Issuer {
	return receipt.Issuer{Store: s.store, Keys: s.keys, IssuerURL: func(realm string) string {
		return s.endpointURL(config.Public) + "/realms/" + realm
	}}
}

// startListeners binds every listener of the node's roles, OPS first, and registers them
// as one component: at shutdown they stop accepting and drain together, so one long
// request on one listener does not eat the others' share of the shutdown timeout.
func (s *Server) startListeners() error {
	var started []*listener
	s.add("listeners", func(ctx context.Context) error {
		var wg sync.WaitGroup
		errs := make([]error, len(started))
		for i, l := range started {
			wg.Go(func() { errs[i] = l.stop(ctx) })
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	for _, ep := range startOrder() {
		if !s.cfg.HasRole(ep.Role()) {
			continue
		}
		l, err := s.newListener(ep)
		if err != nil {
			return err
		}
		l.serve(s.died)
		started = append(started, l)
		s.listeners[ep] = l
		s.health.Add(ops.Component{Name: "listener " + string(ep), Detail: l.describe(), Check: l.check})
		if l.tls != nil {
			src := l.tls
			if err := s.metrics.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "signet_tls_certificate_expiry_timestamp_seconds",
				Help:        "When the certificate the listener serves expires, in Unix seconds (it follows a reloaded certificate).",
				ConstLabels: prometheus.Labels{"listener": strings.ToLower(string(ep))},
			}, func() float64 { return float64(src.Certificate().NotAfter.Unix()) })); err != nil {
				return err
			}
		}
		if !l.cfg.TLSEnabled() {
			s.log.Warn("listener serves plain HTTP; only run it behind a TLS-terminating proxy",
				"listener", string(ep), "addr", l.addr())
		}
	}
	return nil
}

// startOrder brings OPS up first (so probes answer while the rest starts) and the
// public-facing listeners after it.
func startOrder() []config.Endpoint {
	// DEVICE before API and ADMIN: their activation codes name its public URL, known
	// once it is bound.
	return []config.Endpoint{config.Ops, config.Public, config.Device, config.API, config.Admin, config.GRPC}
}

func (s *Server) add(name string, stop func(context.Context) error) {
	s.components = append(s.components, component{name: name, stop: stop})
	s.hook("start", name)
}

func (s *Server) migrate(ctx context.Context) error {
	status, err := s.store.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	// An older binary must not run against a schema a newer one migrated.
	if err := store.CheckSchemaNotNewer(status); err != nil {
		return err
	}
	pending := 0
	for _, m := range status {
		if !m.Applied {
			pending++
		}
	}
	if pending == 0 {
		return nil
	}
	if !s.cfg.Database.AutoMigrate {
		return fmt.Errorf("%d schema migrations are pending and database.auto_migrate is false; run `signet migrate up`", pending)
	}
	applied, err := s.store.MigrateUp(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, m := range applied {
		s.log.Info("applied migration", "version", m.Version, "name", m.Name)
	}
	return nil
}

// Shutdown marks the node not ready, drains in-flight requests and stops every component
// in reverse start order, all within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.SetReady(false)
	err := s.stopAll(ctx)
	if err != nil {
		return err
	}
	s.log.Info("signet stopped")
	return nil
}

func (s *Server) stopAll(ctx context.Context) error {
	var errs []error
	for i := len(s.components) - 1; i >= 0; i-- {
		c := s.components[i]
		s.hook("stop", c.name)
		s.log.Debug("stopping", "component", c.name)
		if err := c.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.name, err))
		}
	}
	s.components = nil
	return errors.Join(errs...)
}

// Run starts the node, prints its URLs to out, serves until ctx ends (SIGTERM), then
// shuts down within the configured timeout. reload is signalled (SIGHUP) to re-read
// certificate files at once.
func (s *Server) Run(ctx context.Context, out io.Writer, reload <-chan struct{}) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.PrintURLs(out)
	var failure error
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case failure = <-s.died:
			s.log.Error("a listener stopped serving; shutting down", "err", failure)
			done = true
		case <-reload:
			s.ReloadCertificates()
		}
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(failure, s.Shutdown(stopCtx))
}

// ReloadCertificates re-reads every listener's certificate files now.
func (s *Server) ReloadCertificates() {
	for ep, l := range s.listeners {
		if l.tls == nil {
			continue
		}
		if err := l.tls.Reload(); err != nil {
			s.log.Warn("certificate reload failed; still serving the previous certificate", "listener", string(ep), "err", err)
		}
	}
}

// PrintURLs writes where each listener can be reached, and the dev CA to trust.
func (s *Server) PrintURLs(out io.Writer) {
	mode := ""
	if s.cfg.Dev {
		mode = " in development mode"
	}
	fmt.Fprintf(out, "Signet %s is running%s.\n", version.String(), mode)
	for _, ep := range config.Endpoints {
		if l, ok := s.listeners[ep]; ok {
			fmt.Fprintf(out, "  %-7s %s\n", ep, l.publicURL)
		}
	}
	if s.cfg.Dev {
		fmt.Fprintf(out, "  CA certificate: %s\n  (trust it, for example: curl --cacert %s %s/health)\n",
			DevCAFile(s.cfg), DevCAFile(s.cfg), s.URL(config.Ops))
	}
	if s.demo != nil && s.provider != nil {
		fmt.Fprintf(out, "Demo realm %q: issuer %s\n  client %s, secret %s\n  (for example: curl --cacert %s -u %s:%s -d grant_type=client_credentials %s/protocol/openid-connect/token)\n",
			s.demo.Realm, s.provider.Issuer(s.demo.Realm), s.demo.ClientID, s.demo.Secret,
			DevCAFile(s.cfg), s.demo.ClientID, s.demo.Secret, s.provider.Issuer(s.demo.Realm))
	}
	if s.demoUser != nil {
		fmt.Fprintf(out, "  user %s, password %s\n", s.demoUser.Username, s.demoUser.Password)
	}
	if l, ok := s.listeners[config.Admin]; ok {
		fmt.Fprintf(out, "Admin API: %s/admin/api (OpenAPI document at %s/admin/api/openapi.json)\n", l.publicURL, l.publicURL)
		if s.cfg.Dev {
			fmt.Fprintf(out, "  dev credentials in %s; try: signet admin realm list\n", filepath.Join(s.cfg.DataDir, BootstrapFile))
		}
	}
	if s.adminPassword != "" {
		fmt.Fprintf(out, "Master realm administrator %q created with the one-time password %s\n"+
			"  (printed only now; sign in with `signet admin login` and change it)\n", AdminUsername, s.adminPassword)
		s.adminPassword = ""
	}
}

// endpointURL returns the public base URL of ep's listener: the bound one if it runs
// on this node, else the one its configuration gives, so that a node running some roles
// names the others' URLs as the nodes running them do.
func (s *Server) endpointURL(ep config.Endpoint) string {
	if l, ok := s.listeners[ep]; ok {
		return l.publicURL
	}
	lc := *s.cfg.Listener(ep)
	_, port, _ := net.SplitHostPort(lc.Addr)
	p, _ := net.LookupPort("tcp", port)
	return publicURL(s.cfg, lc, &net.TCPAddr{Port: p})
}

// Addr returns the bound address of ep's listener, or "" if it is not running.
func (s *Server) Addr(ep config.Endpoint) string {
	if l, ok := s.listeners[ep]; ok {
		return l.addr()
	}
	return ""
}

// URL returns the public base URL of ep's listener, or "" if it is not running.
func (s *Server) URL(ep config.Endpoint) string {
	if l, ok := s.listeners[ep]; ok {
		return l.publicURL
	}
	return ""
}

// Store returns the durable store, for components wired on top of the server.
func (s *Server) Store() store.Store { return s.store }

// Requests returns the node's authentication requests, once Start has made them (nil
// before, and on a node without the roles that use them).
func (s *Server) Requests() *authn.Service { return s.requests }

// Ephemeral returns the ephemeral store.
func (s *Server) Ephemeral() ephemeral.Store { return s.eph }

// publicURL derives a listener's base URL from its configuration or bound address. The
// result never depends on a request header (PRODUCT.md: links use the configured URL).
func publicURL(cfg config.Config, l config.Listener, bound net.Addr) string {
	if l.PublicURL != "" {
		return l.PublicURL
	}
	scheme := "https"
	if !l.TLSEnabled() {
		scheme = "http"
	}
	_, port, _ := net.SplitHostPort(bound.String())
	host, _, _ := net.SplitHostPort(l.Addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + cfg.PathPrefix
}
