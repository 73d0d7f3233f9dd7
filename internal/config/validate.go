package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/internal/tlsconf"
)

// problemList collects problems naming both the YAML key and the environment variable.
type problemList struct{ ps Problems }

func (l *problemList) add(yamlKey, env, format string, args ...any) {
	l.ps = append(l.ps, Problem{Key: yamlKey + " (" + env + ")", Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the whole configuration and returns every problem at once, each naming
// its YAML key and environment variable. Listeners of roles the node does not run are not
// checked.
func (c *Config) Validate() error {
	var l problemList
	c.validateStorage(&l)
	c.validateNode(&l)
	c.validateListeners(&l)
	return l.ps.Err()
}

// ValidateStorage checks only what opening the stores needs (for `signet migrate`).
func (c *Config) ValidateStorage() error {
	var l problemList
	c.validateStorage(&l)
	return l.ps.Err()
}

func (c *Config) validateStorage(l *problemList) {
	add := l.add
	if c.DataDir == "" {
		add("data_dir", "SIGNET_DATA_DIR", "must not be empty")
	}
	if err := validateDatabaseURL(c.DatabaseURL()); err != nil {
		add("database.url", "SIGNET_DATABASE_URL", "%v", err)
	}
}

func (c *Config) validateNode(l *problemList) {
	add := l.add
	if c.Keys.EncryptionKey == "" && !c.Dev { // dev mode creates one
		add("keys.encryption_key", "SIGNET_KEYS_ENCRYPTION_KEY", "is required: it seals the signing keys at rest; generate one with `signet keys generate-kek`")
	}

	if len(c.Roles) == 0 {
		add("roles", "SIGNET_ROLES", "names no role; use any of %s", strings.Join(AllRoles, ", "))
	}
	seenRole := map[string]bool{}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			add("roles", "SIGNET_ROLES", "unknown role %q; roles are %s", r, strings.Join(AllRoles, ", "))
		} else if seenRole[r] {
			add("roles", "SIGNET_ROLES", "role %q listed twice", r)
		}
		seenRole[r] = true
	}
	if p := c.PathPrefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#% ")) {
		add("path_prefix", "SIGNET_PATH_PREFIX", "must start with / and not end with / (like /auth), got %q", p)
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		add("log.format", "SIGNET_LOG_FORMAT", "must be json or text, got %q", c.Log.Format)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		add("log.level", "SIGNET_LOG_LEVEL", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout", "SIGNET_SHUTDOWN_TIMEOUT", "must be positive")
	}
	if c.HasRole(RoleDevice) {
		c.validateDevice(l)
	}
	c.validateAuthn(l)
	if c.HasRole(RoleMessaging) {
		c.validateMessaging(l)
	}
	if _, err := ParsePrefixes(c.Outbound.AllowedCIDRs); err != nil {
		l.add("outbound.allowed_cidrs", "SIGNET_OUTBOUND_ALLOWED_CIDRS", "%v", err)
	}
}

func (c *Config) validateDevice(l *problemList) {
	d := c.Device
	if d.HandshakesPerIPPerMinute <= 0 {
		l.add("device.handshakes_per_ip_per_minute", "SIGNET_DEVICE_HANDSHAKES_PER_IP_PER_MINUTE", "must be positive")
	}
	if d.EnrollmentsPerIPPerMinute <= 0 {
		l.add("device.enrollments_per_ip_per_minute", "SIGNET_DEVICE_ENROLLMENTS_PER_IP_PER_MINUTE", "must be positive")
	}
	if d.HandshakeTimeout <= 0 {
		l.add("device.handshake_timeout", "SIGNET_DEVICE_HANDSHAKE_TIMEOUT", "must be positive")
	}
	if d.IdleTimeout <= 0 {
		l.add("device.idle_timeout", "SIGNET_DEVICE_IDLE_TIMEOUT", "must be positive")
	}
	// Messages must fit a request with its display text; one connection must not be able
	// to make the server hold a buffer of more than a few MiB.
	if d.MaxMessageBytes < 1<<10 || d.MaxMessageBytes > 4<<20 {
		l.add("device.max_message_bytes", "SIGNET_DEVICE_MAX_MESSAGE_BYTES", "must be between 1024 and 4194304, got %d", d.MaxMessageBytes)
	}
	if d.MaxConnections <= 0 {
		l.add("device.max_connections", "SIGNET_DEVICE_MAX_CONNECTIONS", "must be positive")
	}
	if _, err := ParsePrefixes(d.TrustedProxies); err != nil {
		l.add("device.trusted_proxies", "SIGNET_DEVICE_TRUSTED_PROXIES", "%v", err)
	}
}

func (c *Config) validateAuthn(l *problemList) {
	a := c.Authn
	for _, f := range []struct {
		key string
		v   int
	}{{"max_pending", a.MaxPending}, {"max_created", a.MaxCreated}, {"denials_before_cooldown", a.DenialsBeforeCooldown}} {
		if f.v <= 0 {
			l.add("authn."+f.key, "SIGNET_AUTHN_"+strings.ToUpper(f.key), "must be positive")
		}
	}
	for _, f := range []struct {
		key string
		v   time.Duration
	}{{"created_window", a.CreatedWindow}, {"denial_window", a.DenialWindow}, {"cooldown", a.Cooldown}} {
		if f.v <= 0 {
			l.add("authn."+f.key, "SIGNET_AUTHN_"+strings.ToUpper(f.key), "must be positive")
		}
	}
	if a.MaxPending > a.MaxCreated {
		l.add("authn.max_pending", "SIGNET_AUTHN_MAX_PENDING", "must not exceed authn.max_created (%d)", a.MaxCreated)
	}
}

func (c *Config) validateMessaging(l *problemList) {
	m := c.Messaging
	for _, f := range []struct{ key, env, v string }{
		{"messaging.apns_url", "SIGNET_MESSAGING_APNS_URL", m.APNsURL}, {"messaging.fcm_url", "SIGNET_MESSAGING_FCM_URL", m.FCMURL},
	} {
		if f.v == "" {
			continue
		}
		if u, err := url.Parse(f.v); err != nil || u.Scheme != "https" || u.Host == "" {
			l.add(f.key, f.env, "must be an https URL, got %q", f.v)
		}
	}
	if strings.TrimSpace(m.Title) == "" || len(m.Title) > 64 {
		l.add("messaging.title", "SIGNET_MESSAGING_TITLE", "must have 1 to 64 characters")
	}
	if m.ReminderAfter < 0 {
		l.add("messaging.reminder_after", "SIGNET_MESSAGING_REMINDER_AFTER", "must not be negative")
	}
	if m.SendTimeout <= 0 {
		l.add("messaging.send_timeout", "SIGNET_MESSAGING_SEND_TIMEOUT", "must be positive")
	}
}

// ParsePrefixes reads addresses and CIDR ranges; an address is a range of one.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (c *Config) validateListeners(pl *problemList) {
	add := pl.add
	type bind struct {
		host string
		ep   Endpoint
	}
	bound := map[string][]bind{}
	for _, ep := range Endpoints {
		if !c.HasRole(ep.Role()) {
			continue
		}
		l := c.Listener(ep)
		key := func(k string) (string, string) {
			return ep.Key() + "." + k, "SIGNET_" + string(ep) + "_" + strings.ToUpper(k)
		}
		kAddr, eAddr := key("addr")
		if port, err := validateAddr(l.Addr); err != nil {
			add(kAddr, eAddr, "%v", err)
		} else if port != "0" {
			host, _, _ := net.SplitHostPort(l.Addr)
			for _, other := range bound[port] {
				// Two listeners clash on one port when they share a host or either binds every interface.
				if host == other.host || unspecifiedHost(host) || unspecifiedHost(other.host) {
					add(kAddr, eAddr, "%s is also used by listeners.%s", l.Addr, strings.ToLower(string(other.ep)))
					break
				}
			}
			bound[port] = append(bound[port], bind{host, ep})
		}
		if l.PublicURL != "" {
			kURL, eURL := key("public_url")
			if err := validatePublicURL(l.PublicURL); err != nil {
				add(kURL, eURL, "%v", err)
			}
		}
		if l.TLS != "on" && l.TLS != "off" {
			kTLS, eTLS := key("tls")
			add(kTLS, eTLS, "must be on or off, got %q", l.TLS)
			continue
		}
		for _, p := range c.validateTLS(l) {
			k, e := key(p.field)
			add(k, e, "%s", p.msg)
		}
	}
}

type tlsProblem struct{ field, msg string }

// validateTLS checks which TLS keys go together. Whether files parse and keys match their
// certificates is checked by building the listener's TLS (server.Check), once, in one place.
func (c *Config) validateTLS(l *Listener) []tlsProblem {
	var ps []tlsProblem
	hasKey := l.TLSKey != "" || l.TLSKeyFile != ""
	hasCert := l.TLSCertificate != "" || l.TLSCertificateFile != ""
	hasCA := l.TLSClientCA != "" || l.TLSClientCAFile != ""
	auth, authErr := tlsconf.ParseClientAuth(l.TLSClientAuth)
	if !l.TLSEnabled() {
		// Plain HTTP cannot check client certificates; refuse settings that suggest it does.
		if hasKey || hasCert || hasCA || authErr != nil || auth != tlsconf.None {
			ps = append(ps, tlsProblem{"tls", "is off, but TLS keys, certificates or client authentication are set; remove them or turn TLS on"})
		}
		return ps
	}
	for _, both := range []struct{ field, inline, file string }{
		{"tls_key", l.TLSKey, l.TLSKeyFile},
		{"tls_certificate", l.TLSCertificate, l.TLSCertificateFile},
		{"tls_client_ca", l.TLSClientCA, l.TLSClientCAFile},
	} {
		if both.inline != "" && both.file != "" {
			ps = append(ps, tlsProblem{both.field, "set together with " + both.field + "_file; use one"})
		}
	}
	switch {
	case hasKey && !hasCert:
		ps = append(ps, tlsProblem{"tls_certificate", "a TLS key is set without its certificate"})
	case hasCert && !hasKey:
		ps = append(ps, tlsProblem{"tls_key", "a TLS certificate is set without its key"})
	case !hasKey && !hasCert && !c.Dev: // dev mode issues development certificates
		ps = append(ps, tlsProblem{"tls_certificate", "TLS is on but no certificate and key are set; set them, use --dev, or set tls: off behind a TLS-terminating proxy"})
	}
	switch {
	case authErr != nil:
		ps = append(ps, tlsProblem{"tls_client_auth", authErr.Error()})
	case auth == tlsconf.Verify && !hasCA:
		ps = append(ps, tlsProblem{"tls_client_ca", "tls_client_auth is verify but no client CA is set"})
	case (auth == tlsconf.None || auth == tlsconf.Require) && hasCA:
		ps = append(ps, tlsProblem{"tls_client_ca", fmt.Sprintf("a client CA is set but tls_client_auth is %s, so it would never be checked; use optional or verify", auth)})
	}
	return ps
}

func unspecifiedHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "" || ip != nil && ip.IsUnspecified()
}

func validateAddr(addr string) (port string, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("not a host:port address: %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return "", fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return strconv.Itoa(n), nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

func validatePublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %q", raw)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("must be an absolute http or https URL, got %q", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/") {
		return fmt.Errorf("must be scheme://host[:port][/path] without user, query, fragment or trailing slash, got %q", raw)
	}
	return nil
}

func validateDatabaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("malformed URL: %v", redactURLError(err))
	}
	switch u.Scheme {
	case "sqlite":
		_, err := SQLitePath(raw)
		return err
	case "postgres", "postgresql":
		if u.Host == "" {
			return fmt.Errorf("postgres URL needs a host, like postgres://user@host:5432/db")
		}
		if strings.Trim(u.Path, "/") == "" {
			return fmt.Errorf("postgres URL needs a database name, like postgres://user@host:5432/db")
		}
		return nil
	case "":
		return fmt.Errorf("malformed URL: no scheme; use sqlite:///path/signet.db or postgres://user@host/db")
	default:
		return fmt.Errorf("unsupported scheme %q; use sqlite or postgres", u.Scheme)
	}
}

// redactURLError drops the URL (which may hold a password) from a parse error.
func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
