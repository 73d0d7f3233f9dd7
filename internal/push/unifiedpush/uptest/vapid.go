package uptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Claims are the VAPID token claims the receiver read (RFC 8292 §2).
type Claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// vapidAuth is a parsed "vapid" Authorization header (RFC 8292 §3).
type vapidAuth struct {
	token string // t=
	key   string // k=
}

// errNoAuth means the request carried no "vapid" authorization at all.
var errNoAuth = errors.New("no vapid authorization")

// parseAuthorization reads `vapid t=<jwt>, k=<key>` (RFC 8292 §3; the scheme name is
// case-insensitive, RFC 9110 §11.1; parameter values may be quoted, RFC 9110 §11.2).
func parseAuthorization(h string) (vapidAuth, error) {
	if h == "" {
		return vapidAuth{}, errNoAuth
	}
	scheme, params, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "vapid") {
		return vapidAuth{}, errNoAuth
	}
	var a vapidAuth
	for p := range strings.SplitSeq(params, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return vapidAuth{}, fmt.Errorf("malformed auth-param %q", p)
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "t":
			a.token = value
		case "k":
			a.key = value
		}
	}
	if a.token == "" {
		return vapidAuth{}, errors.New(`vapid authorization has no "t" parameter`)
	}
	if a.key == "" {
		return vapidAuth{}, errors.New(`vapid authorization has no "k" parameter`) // RFC 8292 §3.2
	}
	return a, nil
}

// verifyToken checks the JWT as a push service does (RFC 8292 §2, §3): k is an
// uncompressed P-256 point, the JWS is ES256 and verifies with it, aud is origin, exp is
// in the future and at most 24 hours ahead, and sub is a mailto: or https: contact.
func verifyToken(a vapidAuth, origin string, now time.Time) (Claims, error) {
	rawKey, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(a.key, "="))
	if err != nil {
		return Claims{}, errors.New("k is not base64url")
	}
	// RFC 8292 §3.2: the key is the uncompressed point, as the Push API's
	// applicationServerKey (W3C Push API §7.2).
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return Claims{}, errors.New("k is not an uncompressed P-256 point")
	}

	parts := strings.Split(a.token, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("t is not a compact JWS")
	}
	var header struct {
		Typ string `json:"typ"`
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return Claims{}, fmt.Errorf("JWT header: %w", err)
	}
	if header.Alg != "ES256" { // RFC 8292 §2: ECDSA on P-256, "ES256"
		return Claims{}, fmt.Errorf("JWT alg %q, want ES256", header.Alg)
	}
	if header.Typ != "" && !strings.EqualFold(header.Typ, "JWT") {
		return Claims{}, fmt.Errorf("JWT typ %q, want JWT", header.Typ)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 { // RFC 7518 §3.4: R || S, 32 octets each
		return Claims{}, errors.New("JWT signature is not a 64-octet ES256 signature")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return Claims{}, errors.New("JWT signature does not verify with k")
	}

	var c Claims
	if err := decodeSegment(parts[1], &c); err != nil {
		return Claims{}, fmt.Errorf("JWT claims: %w", err)
	}
	if c.Aud != origin { // RFC 8292 §2: the origin of the push resource
		return c, fmt.Errorf("JWT aud %q is not this push service's origin %q", c.Aud, origin)
	}
	exp := time.Unix(c.Exp, 0)
	switch {
	case c.Exp == 0:
		return c, errors.New("JWT has no exp")
	case !exp.After(now):
		return c, errors.New("JWT has expired")
	case exp.After(now.Add(24 * time.Hour)): // RFC 8292 §2: no more than 24 hours
		return c, errors.New("JWT exp is more than 24 hours ahead")
	}
	if !strings.HasPrefix(c.Sub, "mailto:") && !strings.HasPrefix(c.Sub, "https://") {
		// RFC 8292 §2.1; autopush refuses a token without a usable contact.
		return c, errors.New("JWT sub is not a mailto: or https: contact")
	}
	return c, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("not a JSON object")
	}
	return nil
}
