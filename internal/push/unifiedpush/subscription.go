package unifiedpush

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/signet-auth/signet/internal/push"
)

// MaxTokenBytes caps a push token. A W3C PushSubscription JSON is a few hundred bytes;
// nothing legitimate comes near this.
const MaxTokenBytes = 4096

// Subscription is a parsed push token: where to POST and whom to encrypt for.
type Subscription struct {
	// Endpoint is the push resource (RFC 8030 §4): an absolute http(s) URL. Its path and
	// query address the subscription, so treat them as a secret.
	Endpoint *url.URL
	// P256DH is the user agent's ECDH key (RFC 8291 §3.1).
	P256DH *ecdh.PublicKey
	// Auth is the user agent's authentication secret (RFC 8291 §3.2), 16 bytes.
	Auth []byte
}

// subscriptionJSON is the W3C Push API PushSubscriptionJSON (§3.4, toJSON): other members
// such as expirationTime are ignored.
type subscriptionJSON struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256DH string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// ParseSubscription parses a device's push token: the W3C PushSubscription JSON
//
//	{"endpoint":"https://...","keys":{"p256dh":"<base64url>","auth":"<base64url>"}}
//
// The endpoint must be an absolute https URL, or plain http (which the outbound policy
// then allows only to explicitly permitted targets), with no user info or fragment;
// p256dh must be an uncompressed point on P-256 (65 bytes, RFC 8291 §7 requires the
// check) and auth 16 bytes, both base64url with or without padding.
//
// A malformed token is refused with an error that matches push.ErrInvalidToken, so the
// device's registration gets cleared. Errors describe the defect, never the token's
// values.
func ParseSubscription(token string) (*Subscription, error) {
	if len(token) > MaxTokenBytes {
		return nil, invalid("token is %d bytes, more than %d", len(token), MaxTokenBytes)
	}
	var raw subscriptionJSON
	dec := json.NewDecoder(strings.NewReader(token))
	if err := dec.Decode(&raw); err != nil {
		return nil, invalid("not a PushSubscription JSON object")
	}
	if dec.More() {
		return nil, invalid("trailing data after the JSON object")
	}

	endpoint, err := parseEndpoint(raw.Endpoint)
	if err != nil {
		return nil, err
	}
	p256dh, err := decodeKey("keys.p256dh", raw.Keys.P256DH, PublicKeySize)
	if err != nil {
		return nil, err
	}
	if p256dh[0] != 0x04 {
		return nil, invalid("keys.p256dh is not an uncompressed P-256 point")
	}
	// RFC 8291 §7: the key must be on the curve; NewPublicKey checks that.
	uaPublic, err := ecdh.P256().NewPublicKey(p256dh)
	if err != nil {
		return nil, invalid("keys.p256dh is not a point on P-256")
	}
	auth, err := decodeKey("keys.auth", raw.Keys.Auth, AuthSecretSize)
	if err != nil {
		return nil, err
	}
	return &Subscription{Endpoint: endpoint, P256DH: uaPublic, Auth: auth}, nil
}

func parseEndpoint(s string) (*url.URL, error) {
	if s == "" {
		return nil, invalid("endpoint is missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, invalid("endpoint is not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		// url.Parse lower-cases the scheme, so this also refuses "ftp:" or "javascript:".
		return nil, invalid("endpoint scheme %q is not https", u.Scheme)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, invalid("endpoint has no host")
	case u.User != nil:
		return nil, invalid("endpoint carries user info")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, invalid("endpoint has a fragment")
	}
	return u, nil
}

// decodeKey decodes a base64url member (padding optional, RFC 8291 and the Push API use
// none) of exactly want bytes.
func decodeKey(name, s string, want int) ([]byte, error) {
	if s == "" {
		return nil, invalid("%s is missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, invalid("%s is not base64url", name)
	}
	if len(b) != want {
		return nil, invalid("%s is %d bytes, want %d", name, len(b), want)
	}
	return b, nil
}

// invalid reports a malformed token; it matches push.ErrInvalidToken.
func invalid(format string, args ...any) error {
	return fmt.Errorf("unifiedpush: %w: %s", push.ErrInvalidToken, fmt.Sprintf(format, args...))
}
