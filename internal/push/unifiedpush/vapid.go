package unifiedpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is what a Sender needs from the configuration.
type Config struct {
	// VAPIDPrivateKey is the application server's P-256 signing key (RFC 8292 §2) as
	// web-push libraries store it: the raw 32-byte private scalar, base64url with or
	// without padding (the "privateKey" of `web-push generate-vapid-keys`). The public
	// key is derived from it; see GenerateVAPIDKey and Sender.ApplicationServerKey.
	VAPIDPrivateKey string
	// Subject is the contact the push service may use (RFC 8292 §2.1): a "mailto:" or an
	// "https:" URI.
	Subject string
}

// String describes c without its private key, so a configuration that reaches a log or
// an error message does not carry the key along.
func (c Config) String() string {
	return fmt.Sprintf("unifiedpush.Config{Subject:%q VAPIDPrivateKey:[redacted]}", c.Subject)
}

// GoString is String, so %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseVAPIDKey(c.VAPIDPrivateKey); err != nil {
		errs = append(errs, err)
	}
	if err := checkSubject(c.Subject); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseVAPIDKey decodes the base64url raw scalar. Errors never echo the key.
func parseVAPIDKey(s string) (*ecdsa.PrivateKey, error) {
	if s == "" {
		return nil, errors.New("VAPID private key is required")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
	if err != nil {
		return nil, errors.New("VAPID private key is not base64url")
	}
	if len(raw) != 32 {
		return nil, fmt.Errorf("VAPID private key is %d bytes, want the 32-byte P-256 scalar", len(raw))
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, errors.New("VAPID private key is not a valid P-256 private key")
	}
	return key, nil
}

// checkSubject applies RFC 8292 §2.1: a mailto: or https: contact URI.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("VAPID subject is required (a mailto: or https: contact URI)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("VAPID subject %q is not a URI", s)
	}
	switch u.Scheme {
	case "mailto":
		if !strings.Contains(u.Opaque, "@") {
			return fmt.Errorf("VAPID subject %q is not a mailto: address", s)
		}
	case "https":
		if u.Host == "" {
			return fmt.Errorf("VAPID subject %q has no host", s)
		}
	default:
		return fmt.Errorf("VAPID subject %q must be a mailto: or https: URI", s)
	}
	return nil
}

// GenerateVAPIDKey makes a new VAPID key pair. privateKey goes into
// Config.VAPIDPrivateKey; applicationServerKey (the public key, an uncompressed P-256
// point in base64url) is what the phone app passes to its distributor when it subscribes
// (Push API §7.2, RFC 8292 §4), so the subscription only accepts this server's pushes.
func GenerateVAPIDKey() (privateKey, applicationServerKey string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate VAPID key: %w", err)
	}
	priv, err := key.Bytes()
	if err != nil {
		return "", "", fmt.Errorf("generate VAPID key: %w", err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		return "", "", fmt.Errorf("generate VAPID key: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(priv), base64.RawURLEncoding.EncodeToString(pub), nil
}

// VAPID token lifetimes. RFC 8292 §2 allows at most 24 hours; 12 leaves room for clock
// skew at the push service, and renewing an hour before expiry keeps a token in flight
// from expiring on the way.
const (
	tokenLifetime   = 12 * time.Hour
	tokenRenewAhead = time.Hour
	// maxCachedTokens bounds the per-origin cache: endpoints are chosen by devices, so
	// the number of origins is not ours to bound.
	maxCachedTokens = 1024
)

// jwtHeader is the JOSE header RFC 8292 §2 shows, base64url-encoded once.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))

type vapidToken struct {
	jwt string
	exp time.Time
}

// authorization returns the Authorization value for a push to origin (RFC 8292 §3:
// "vapid t=<JWT>, k=<public key>"), reusing the origin's token until it is within
// tokenRenewAhead of expiry.
func (s *Sender) authorization(origin string) (string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[origin]
	if !ok || t.exp.Sub(now) <= tokenRenewAhead {
		var err error
		if t, err = s.signToken(origin, now); err != nil {
			return "", err
		}
		s.storeToken(origin, t, now)
	}
	return "vapid t=" + t.jwt + ", k=" + s.publicKey, nil
}

// storeToken caches t; with the cache full it first drops tokens due for renewal, then,
// if still full, one arbitrary entry. Callers hold s.mu.
func (s *Sender) storeToken(origin string, t vapidToken, now time.Time) {
	if _, ok := s.tokens[origin]; !ok && len(s.tokens) >= maxCachedTokens {
		for o, old := range s.tokens {
			if old.exp.Sub(now) <= tokenRenewAhead {
				delete(s.tokens, o)
			}
		}
		for o := range s.tokens {
			if len(s.tokens) < maxCachedTokens {
				break
			}
			delete(s.tokens, o)
		}
	}
	s.tokens[origin] = t
}

// signToken makes the ES256 JWT of RFC 8292 §2: aud is the push resource's origin, exp
// at most 24 hours ahead, sub the contact.
func (s *Sender) signToken(origin string, now time.Time) (vapidToken, error) {
	exp := now.Add(tokenLifetime).Unix()
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{origin, exp, s.subject})
	if err != nil {
		return vapidToken{}, fmt.Errorf("VAPID claims: %w", err)
	}
	input := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(input))
	r, sv, err := ecdsa.Sign(rand.Reader, s.signer, digest[:])
	if err != nil {
		return vapidToken{}, fmt.Errorf("sign VAPID token: %w", err)
	}
	// RFC 7518 §3.4: the JWS signature is R || S, each 32 octets, not ASN.1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return vapidToken{
		jwt: input + "." + base64.RawURLEncoding.EncodeToString(sig),
		exp: time.Unix(exp, 0),
	}, nil
}

// Origin is the RFC 6454 §6.1 serialization of u's origin, which RFC 8292 §2 makes the
// token's audience: lower-case scheme and host, and the port only when it is not the
// scheme's default.
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" || scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		if strings.Contains(host, ":") {
			return scheme + "://[" + host + "]"
		}
		return scheme + "://" + host
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
