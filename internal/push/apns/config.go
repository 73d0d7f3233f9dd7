package apns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Environment names an APNs server: tokens from development builds work only on the
// sandbox, tokens from TestFlight and App Store builds only in production.
type Environment string

// The APNs environments.
const (
	Production Environment = "production"
	Sandbox    Environment = "sandbox"
)

// Hosts and ports of APNs ("Sending notification requests to APNs", Establish a
// connection to APNs).
const (
	ProductionHost = "api.push.apple.com"
	SandboxHost    = "api.sandbox.push.apple.com"
	// DefaultPort is HTTPS; AlternativePort is for networks that block 443 outbound.
	DefaultPort     = 443
	AlternativePort = 2197
)

// Config is one app's APNs credentials, as Apple's developer account hands them out.
type Config struct {
	// Key is the token signing key: the .p8 file, a PEM "PRIVATE KEY" block holding a
	// PKCS#8 ECDSA P-256 key.
	Key []byte
	// KeyID is the key's 10-character identifier (the JWT's kid).
	KeyID string
	// TeamID is the 10-character team identifier (the JWT's iss).
	TeamID string
	// Topic is the app's bundle id, sent as apns-topic.
	Topic string
	// Environment chooses the server; required unless BaseURL is set.
	Environment Environment
	// Port is DefaultPort (also when 0) or AlternativePort.
	Port int
	// BaseURL overrides Environment and Port, e.g. "https://127.0.0.1:8443" for a
	// test server or a TLS-terminating proxy that speaks HTTP/2. It must be https.
	BaseURL string
}

// String describes c without its key, so a configuration that reaches a log or an
// error message (%v, %+v, %s) does not carry the signing key along.
func (c Config) String() string {
	return fmt.Sprintf("apns.Config{KeyID:%q TeamID:%q Topic:%q Environment:%q Port:%d BaseURL:%q Key:[%d bytes, redacted]}",
		c.KeyID, c.TeamID, c.Topic, c.Environment, c.Port, c.BaseURL, len(c.Key))
}

// GoString is String, so %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	_, err := c.parse()
	return err
}

// Endpoint is the base URL notifications are posted under (without /3/device/...).
// It is meaningful only for a valid Config.
func (c Config) Endpoint() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	host := ProductionHost
	if c.Environment == Sandbox {
		host = SandboxHost
	}
	if c.Port == 0 || c.Port == DefaultPort {
		return "https://" + host
	}
	return fmt.Sprintf("https://%s:%d", host, c.Port)
}

// parse validates c and returns its signing key, parsed once for the sender's life.
func (c Config) parse() (*ecdsa.PrivateKey, error) {
	var errs []error
	key, err := parseKey(c.Key)
	if err != nil {
		errs = append(errs, err)
	}
	if !isAppleID(c.KeyID) {
		errs = append(errs, errors.New("apns: key id must be 10 letters or digits"))
	}
	if !isAppleID(c.TeamID) {
		errs = append(errs, errors.New("apns: team id must be 10 letters or digits"))
	}
	if !isTopic(c.Topic) {
		errs = append(errs, errors.New("apns: topic must be the app's bundle id (letters, digits, '.', '-')"))
	}
	switch c.Environment {
	case Production, Sandbox:
	case "":
		if c.BaseURL == "" {
			errs = append(errs, errors.New(`apns: environment is required: "production" or "sandbox"`))
		}
	default:
		errs = append(errs, fmt.Errorf(`apns: environment %q is neither "production" nor "sandbox"`, c.Environment))
	}
	switch {
	case c.Port != 0 && c.BaseURL != "":
		errs = append(errs, errors.New("apns: set either port or base URL, not both"))
	case c.Port != 0 && c.Port != DefaultPort && c.Port != AlternativePort:
		errs = append(errs, fmt.Errorf("apns: port %d is neither %d nor %d", c.Port, DefaultPort, AlternativePort))
	}
	if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return key, nil
}

// parseKey reads a .p8 file. Its errors never quote the key.
func parseKey(p8 []byte) (*ecdsa.PrivateKey, error) {
	if len(p8) == 0 {
		return nil, errors.New("apns: key is required (the .p8 file)")
	}
	block, _ := pem.Decode(p8)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New(`apns: key is not a PEM "PRIVATE KEY" block`)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("apns: key is not a PKCS#8 private key")
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("apns: key is not an ECDSA P-256 key (ES256 needs one)")
	}
	return key, nil
}

// isAppleID reports whether s looks like a key or team id: 10 ASCII letters or digits.
func isAppleID(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) {
			return false
		}
	}
	return true
}

func isTopic(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '.' && r != '-' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("apns: base URL does not parse")
	case u.Scheme != "https":
		// Apple: HTTP/2 and TLS 1.2 or later; the transport speaks nothing else.
		return errors.New("apns: base URL must be https")
	case u.Host == "":
		return errors.New("apns: base URL has no host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("apns: base URL must not carry user info, query or fragment")
	}
	return nil
}
