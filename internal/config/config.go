// Package config is Signet's one typed configuration: defaults, then a YAML file, then
// SIGNET_* environment variables, then Validate, which reports every problem at once.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Roles a node can run (PRODUCT.md, Components).
const (
	RoleIdP       = "idp"
	RoleAPI       = "api"
	RoleDevice    = "device"
	RoleMessaging = "messaging"
	RoleEvents    = "events"
	RoleAdmin     = "admin"
	RoleOps       = "ops"
)

// AllRoles is every role, in start order.
var AllRoles = []string{RoleOps, RoleEvents, RoleMessaging, RoleDevice, RoleIdP, RoleAPI, RoleAdmin}

// Config is the whole configuration of one node.
type Config struct {
	DataDir    string          `yaml:"data_dir" env:"DATA_DIR" doc:"Directory for the embedded database and development certificates."`
	Roles      []string        `yaml:"roles" env:"ROLES" doc:"Roles this node runs (comma-separated in the environment): idp, api, device, messaging, events, admin, ops."`
	PathPrefix string          `yaml:"path_prefix" env:"PATH_PREFIX" doc:"Path prefix under which every HTTP route is served, for example /auth behind a reverse proxy."`
	Log        LogConfig       `yaml:"log" env:"LOG"`
	Database   DatabaseConfig  `yaml:"database" env:"DATABASE"`
	Redis      RedisConfig     `yaml:"redis" env:"REDIS"`
	Keys       KeysConfig      `yaml:"keys" env:"KEYS"`
	Listeners  Listeners       `yaml:"listeners" env:""`
	Device     DeviceConfig    `yaml:"device" env:"DEVICE"`
	Authn      AuthnConfig     `yaml:"authn" env:"AUTHN"`
	Messaging  MessagingConfig `yaml:"messaging" env:"MESSAGING"`
	Outbound   OutboundConfig  `yaml:"outbound" env:"OUTBOUND"`
	// ShutdownTimeout bounds how long in-flight requests may drain at SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" env:"SHUTDOWN_TIMEOUT" doc:"How long in-flight requests may drain at SIGTERM before connections are closed."`

	// Dev is set by `signet serve --dev`, never by the file or the environment.
	Dev bool `yaml:"-" env:"-"`
}

// OutboundConfig is the policy of every call Signet makes to targets others name
// (jwks_uri, request_uri, sector identifiers, CIBA notifications, webhooks): public https
// targets only, unless a deployment allows more.
type OutboundConfig struct {
	AllowPrivate bool     `yaml:"allow_private" env:"ALLOW_PRIVATE" doc:"Allow loopback and private (RFC 1918, fc00::/7) targets, and plain http to them, for clients on an internal network."`
	AllowedCIDRs []string `yaml:"allowed_cidrs" env:"ALLOWED_CIDRS" doc:"Address ranges allowed whatever their class (comma-separated in the environment)."`
	AllowedHosts []string `yaml:"allowed_hosts" env:"ALLOWED_HOSTS" doc:"Host names allowed whatever they resolve to (comma-separated in the environment)."`
}

// LogConfig selects the structured log output.
type LogConfig struct {
	Format string `yaml:"format" env:"FORMAT" doc:"Log format: json or text."`
	Level  string `yaml:"level" env:"LEVEL" doc:"Minimum log level: debug, info, warn or error."`
}

// DatabaseConfig selects the durable store.
type DatabaseConfig struct {
	URL         string `yaml:"url" env:"URL" secret:"true" doc:"sqlite:///path/signet.db (embedded) or postgres://user:pass@host/db. Empty means sqlite under data_dir."`
	AutoMigrate bool   `yaml:"auto_migrate" env:"AUTO_MIGRATE" doc:"Apply pending schema migrations at start; when false, run signet migrate up."`
}

// RedisConfig selects the ephemeral store.
type RedisConfig struct {
	URL       string `yaml:"url" env:"URL" secret:"true" doc:"Empty: in-process (one node only). redis://, rediss://, redis+sentinel://h1,h2/master or redis+cluster://h1,h2 for several nodes."`
	KeyPrefix string `yaml:"key_prefix" env:"KEY_PREFIX" doc:"Prefix of every Redis key and channel, so several deployments can share one Redis."`
}

// KeysConfig protects and rotates the realms' signing keys.
type KeysConfig struct {
	EncryptionKey          string        `yaml:"encryption_key" env:"ENCRYPTION_KEY" secret:"true" doc:"Key-encryption key (32 random bytes, base64) that seals signing keys and other secrets at rest; generate one with signet keys generate-kek. Dev mode creates one in data_dir."`
	PreviousEncryptionKeys []string      `yaml:"previous_encryption_keys" env:"PREVIOUS_ENCRYPTION_KEYS" secret:"true" doc:"Former key-encryption keys (comma-separated in the environment), still accepted for opening what they sealed during a KEK rotation."`
	RotationPeriod         time.Duration `yaml:"rotation_period" env:"ROTATION_PERIOD" doc:"How long a signing key signs before the next one takes over."`
	PrepublishFor          time.Duration `yaml:"prepublish_for" env:"PREPUBLISH_FOR" doc:"How long the next signing key is published in the JWKS before it signs, so relying parties have it cached."`
	RetainFor              time.Duration `yaml:"retain_for" env:"RETAIN_FOR" doc:"How long a retired signing key stays published; at least the longest token lifetime."`
}

// DeviceConfig bounds the device channel (the DEVICE listener's Mobile API).
type DeviceConfig struct {
	HandshakesPerIPPerMinute  int           `yaml:"handshakes_per_ip_per_minute" env:"HANDSHAKES_PER_IP_PER_MINUTE" doc:"Channel handshakes one IP address may start per minute, across nodes; more are refused. Phones behind one carrier NAT share an address."`
	EnrollmentsPerIPPerMinute int           `yaml:"enrollments_per_ip_per_minute" env:"ENROLLMENTS_PER_IP_PER_MINUTE" doc:"Enroll requests (activation code redemptions) one IP address may make per minute, across nodes."`
	HandshakeTimeout          time.Duration `yaml:"handshake_timeout" env:"HANDSHAKE_TIMEOUT" doc:"How long a device has from connecting to completing the channel handshake (TLS, WebSocket upgrade and SIGMA-I); also bounds each write."`
	IdleTimeout               time.Duration `yaml:"idle_timeout" env:"IDLE_TIMEOUT" doc:"How long an authenticated connection may stay silent before it is closed; devices ping within it."`
	MaxMessageBytes           int           `yaml:"max_message_bytes" env:"MAX_MESSAGE_BYTES" doc:"Largest plaintext of one channel message, in bytes; a larger message closes the connection."`
	MaxConnections            int           `yaml:"max_connections" env:"MAX_CONNECTIONS" doc:"Most device connections this node holds at once; more are closed as they arrive (devices retry, another node takes them). Each idle one costs about 17 KiB (25 KiB with TLS on the listener)."`
	TrustedProxies            []string      `yaml:"trusted_proxies" env:"TRUSTED_PROXIES" doc:"Addresses or CIDR ranges of the reverse proxies in front of the DEVICE listener (comma-separated in the environment). A connection from one of them counts against the client address its X-Forwarded-For header names, not against the proxy's. IPv6 clients are counted per /64."`
}

// AuthnConfig bounds the phone approval requests (push and QR login, CIBA, transactions)
// made for one user: the push-bombing defence. The limits hold across nodes; a realm's
// settings may set its own (authn.Policy), except max_created and created_window.
type AuthnConfig struct {
	MaxPending            int           `yaml:"max_pending" env:"MAX_PENDING" doc:"Requests one user may have waiting for an answer at once; more are refused until one ends. A realm's max_pending_per_user setting replaces it there."`
	MaxCreated            int           `yaml:"max_created" env:"MAX_CREATED" doc:"Requests that may be made for one user within created_window, cancelled ones included."`
	CreatedWindow         time.Duration `yaml:"created_window" env:"CREATED_WINDOW" doc:"The window max_created counts in."`
	DenialsBeforeCooldown int           `yaml:"denials_before_cooldown" env:"DENIALS_BEFORE_COOLDOWN" doc:"Denials (wrong numbers included) of one user's requests within denial_window that start a cooldown. A realm's denials_before_cooldown setting replaces it there."`
	DenialWindow          time.Duration `yaml:"denial_window" env:"DENIAL_WINDOW" doc:"The window denials_before_cooldown counts in. A realm's denial_window setting replaces it there."`
	Cooldown              time.Duration `yaml:"cooldown" env:"COOLDOWN" doc:"How long no request is made for a user after too many denials. A realm's cooldown setting replaces it there."`
}

// MessagingConfig shapes the push wake-ups the messaging role sends. Credentials are per
// realm (admin API); these are the node's.
type MessagingConfig struct {
	APNsURL       string        `yaml:"apns_url" env:"APNS_URL" doc:"Base URL for APNs instead of Apple's production or sandbox host (a proxy that speaks HTTP/2, or a test server)."`
	FCMURL        string        `yaml:"fcm_url" env:"FCM_URL" doc:"Base URL for FCM HTTP v1 instead of https://fcm.googleapis.com (a proxy or a test server)."`
	Title         string        `yaml:"title" env:"TITLE" doc:"The generic text of a wake-up notification; it never says what the user is asked."`
	ReminderAfter time.Duration `yaml:"reminder_after" env:"REMINDER_AFTER" doc:"How long a woken phone has to connect before it is woken once more; 0 turns reminders off."`
	SendTimeout   time.Duration `yaml:"send_timeout" env:"SEND_TIMEOUT" doc:"Longest wait for a push provider to answer one wake-up."`
}

// Listeners holds the six endpoints (PRODUCT.md, Listeners).
type Listeners struct {
	Public Listener `yaml:"public" env:"PUBLIC"`
	API    Listener `yaml:"api" env:"API"`
	Device Listener `yaml:"device" env:"DEVICE"`
	Admin  Listener `yaml:"admin" env:"ADMIN"`
	GRPC   Listener `yaml:"grpc" env:"GRPC"`
	Ops    Listener `yaml:"ops" env:"OPS"`
}

// Listener configures one http.Server.
type Listener struct {
	Addr               string `yaml:"addr" env:"ADDR" doc:"host:port to listen on."`
	PublicURL          string `yaml:"public_url" env:"PUBLIC_URL" doc:"Base URL clients use (what a reverse proxy exposes); links and issuers use it, never a request header. Empty: derived from addr."`
	TLS                string `yaml:"tls" env:"TLS" doc:"on, or off for plain HTTP behind a TLS-terminating proxy (logged as a warning)."`
	TLSKey             string `yaml:"tls_key" env:"TLS_KEY" secret:"true" doc:"PEM private key, inline."`
	TLSKeyFile         string `yaml:"tls_key_file" env:"TLS_KEY_FILE" doc:"Path to the PEM private key; re-read when it changes."`
	TLSCertificate     string `yaml:"tls_certificate" env:"TLS_CERTIFICATE" doc:"PEM certificate chain, inline."`
	TLSCertificateFile string `yaml:"tls_certificate_file" env:"TLS_CERTIFICATE_FILE" doc:"Path to the PEM certificate chain; re-read when it changes."`
	TLSClientAuth      string `yaml:"tls_client_auth" env:"TLS_CLIENT_AUTH" doc:"none, optional, require (any certificate) or verify (signed by tls_client_ca)."`
	TLSClientCA        string `yaml:"tls_client_ca" env:"TLS_CLIENT_CA" doc:"PEM CA bundle for client certificates, inline."`
	TLSClientCAFile    string `yaml:"tls_client_ca_file" env:"TLS_CLIENT_CA_FILE" doc:"Path to the PEM CA bundle for client certificates; re-read when it changes."`
}

// TLSEnabled reports whether the listener serves TLS.
func (l Listener) TLSEnabled() bool { return l.TLS != "off" }

// Endpoint names a listener, as in SIGNET_<EP>_ADDR.
type Endpoint string

// The six endpoints.
const (
	Public Endpoint = "PUBLIC"
	API    Endpoint = "API"
	Device Endpoint = "DEVICE"
	Admin  Endpoint = "ADMIN"
	GRPC   Endpoint = "GRPC"
	Ops    Endpoint = "OPS"
)

// Endpoints lists every endpoint in a fixed order.
var Endpoints = []Endpoint{Public, API, Device, Admin, GRPC, Ops}

// Listener returns a pointer to the configuration of ep.
func (c *Config) Listener(ep Endpoint) *Listener {
	switch ep {
	case Public:
		return &c.Listeners.Public
	case API:
		return &c.Listeners.API
	case Device:
		return &c.Listeners.Device
	case Admin:
		return &c.Listeners.Admin
	case GRPC:
		return &c.Listeners.GRPC
	case Ops:
		return &c.Listeners.Ops
	}
	return nil
}

// endpointRoles names the role that brings up each listener.
var endpointRoles = map[Endpoint]string{
	Public: RoleIdP, API: RoleAPI, Device: RoleDevice, Admin: RoleAdmin, GRPC: RoleMessaging, Ops: RoleOps,
}

// Role returns the role that brings up ep's listener.
func (ep Endpoint) Role() string { return endpointRoles[ep] }

// Key returns the YAML key of ep's listener section, for messages.
func (ep Endpoint) Key() string { return "listeners." + strings.ToLower(string(ep)) }

// HasRole reports whether the node runs role.
func (c *Config) HasRole(role string) bool {
	return slices.Contains(c.Roles, role)
}

// Default returns the defaults. In dev mode listeners bind to loopback only, because dev
// mode creates a demo user and an admin whose password is printed.
func Default(dev bool) Config {
	host, logFormat := "", "json"
	if dev {
		host, logFormat = "127.0.0.1", "text"
	}
	const day = 24 * time.Hour
	l := func(port int) Listener {
		return Listener{Addr: net.JoinHostPort(host, strconv.Itoa(port)), TLS: "on", TLSClientAuth: "none"}
	}
	return Config{
		DataDir:         "signet-data",
		Roles:           append([]string(nil), AllRoles...),
		Log:             LogConfig{Format: logFormat, Level: "info"},
		Database:        DatabaseConfig{AutoMigrate: true},
		Redis:           RedisConfig{KeyPrefix: "signet:"},
		Keys:            KeysConfig{RotationPeriod: 90 * day, PrepublishFor: 7 * day, RetainFor: 30 * day},
		ShutdownTimeout: 15 * time.Second,
		Device: DeviceConfig{
			HandshakesPerIPPerMinute: 120, EnrollmentsPerIPPerMinute: 10, MaxConnections: 100000,
			HandshakeTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute, MaxMessageBytes: 64 << 10,
		},
		Authn: AuthnConfig{
			MaxPending: 3, MaxCreated: 10, CreatedWindow: 10 * time.Minute,
			DenialsBeforeCooldown: 3, DenialWindow: 10 * time.Minute, Cooldown: 2 * time.Minute,
		},
		Messaging: MessagingConfig{Title: "Sign-in request", ReminderAfter: 30 * time.Second, SendTimeout: 10 * time.Second},
		Listeners: Listeners{
			Public: l(8443),
			API:    l(8445),
			Device: l(8888),
			Admin:  l(8444),
			GRPC:   l(9090),
			Ops:    l(9613),
		},
		Dev: dev,
	}
}

// DatabaseURL returns the configured database URL, or the embedded SQLite file under DataDir.
func (c *Config) DatabaseURL() string {
	if c.Database.URL != "" {
		return c.Database.URL
	}
	p, err := filepath.Abs(filepath.Join(c.DataDir, "signet.db"))
	if err != nil {
		p = filepath.Join(c.DataDir, "signet.db")
	}
	// Built as a URL, not concatenated, so '#', '?' or '%' in the directory stay in the path.
	return (&url.URL{Scheme: "sqlite", Path: filepath.ToSlash(p)}).String()
}

// SQLitePath returns the file path of a sqlite:// URL, or an error for a malformed one.
// Accepted: sqlite:///absolute/path.db and sqlite:relative/path.db.
func SQLitePath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "sqlite" {
		return "", fmt.Errorf("scheme %q is not sqlite", u.Scheme)
	}
	if u.Host != "" {
		return "", fmt.Errorf("sqlite URL has a host %q; use sqlite:///absolute/path or sqlite:relative/path", u.Host)
	}
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	if p == "" || strings.HasSuffix(p, "/") {
		return "", fmt.Errorf("sqlite URL names no file")
	}
	return filepath.FromSlash(p), nil
}

// readFile is the one place configuration reads files referenced by *_FILE keys.
func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
