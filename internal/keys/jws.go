package keys

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// Common "typ" header values (RFC 8725 §3.11: explicit typing keeps one kind of token
// from being accepted as another).
const (
	TypeJWT           = "JWT"                     // ID tokens (OIDC Core does not type them further)
	TypeAccessToken   = "at+jwt"                  // RFC 9068 §2.1
	TypeLogoutToken   = "logout+jwt"              // OIDC Back-Channel Logout §2.4
	TypeDPoP          = "dpop+jwt"                // RFC 9449 §4.2
	TypeRequestObject = "oauth-authz-req+jwt"     // RFC 9101
	TypeIntrospection = "token-introspection+jwt" // RFC 9701
)

// Signer returns a go-jose signer for k that puts "alg", "kid" (k.KID) and, unless typ is
// empty, "typ" into the protected header; serialize its output with CompactSerialize.
// One Signer may be shared by concurrent requests.
func Signer(k *Key, typ string) (jose.Signer, error) {
	if k == nil {
		return nil, fmt.Errorf("signer: %w: nil key", ErrInvalidKey)
	}
	if err := checkPrivate(k.Alg, k.Private); err != nil {
		return nil, fmt.Errorf("signer for %s: %w", k.KID, err)
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Alg),
		Key:       jose.JSONWebKey{Key: k.Private, KeyID: k.KID, Algorithm: string(k.Alg)},
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("signer for %s: %w", k.KID, err)
	}
	return s, nil
}

// Sign signs payload with k as a compact JWS of type typ. Hot paths keep a Signer per key
// instead.
func Sign(k *Key, typ string, payload []byte) (string, error) {
	s, err := Signer(k, typ)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", k.KID, err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", k.KID, err)
	}
	return tok, nil
}

// Verify checks a compact JWS against set and returns its payload and protected header.
// It checks the signature only: claims (iss, aud, exp, ...) and "typ" (see TypeIs) are
// the caller's.
//
//   - The "alg" must be in allowed, which may name only supported algorithms: "none" and
//     HMAC are refused, whatever the caller passes (ErrAlgNotAllowed).
//   - Only set is used: "jku", "x5u", "x5c" and an embedded "jwk" are ignored, so a token
//     cannot bring its own key (RFC 8725 §3.10).
//   - The key is chosen by "kid"; ErrUnknownKID when no key has it, so a caller can
//     re-fetch a client's JWKS once. A token without kid is accepted only when set holds
//     exactly one signing key (OIDC Core §10.1).
//   - The chosen key must fit the algorithm: its "use" is "sig" or absent, its "alg" is
//     the token's or absent, and its type fits (P-256, RSA of at least 2048 bits,
//     Ed25519); otherwise ErrKeyMismatch. This is what stops alg confusion.
//   - The token must be canonically encoded: three base64url parts without padding,
//     line breaks or stray bits. (That removes encoding malleability only: an ECDSA
//     signature (r, s) can still be rewritten as (r, n-s), so replay caches key on "jti",
//     never on the token string.)
//   - "crit" and "b64" headers are refused: Signet implements no critical extension, and
//     JWTs never use unencoded payloads (RFC 7797 §7).
func Verify(token string, set jose.JSONWebKeySet, allowed []Alg) (payload []byte, header jose.Header, err error) {
	algs := make([]jose.SignatureAlgorithm, 0, len(allowed))
	for _, a := range allowed {
		if !a.Valid() {
			return nil, jose.Header{}, fmt.Errorf("verify: allow-list names %q: %w", a, ErrUnsupportedAlg)
		}
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	if len(algs) == 0 {
		return nil, jose.Header{}, fmt.Errorf("verify: empty allow-list: %w", ErrAlgNotAllowed)
	}

	if err := checkCompact(token); err != nil {
		return nil, jose.Header{}, fmt.Errorf("verify: %w", err)
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil {
		if unexpected, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, jose.Header{}, fmt.Errorf("verify: alg %q: %w", unexpected.Got, ErrAlgNotAllowed)
		}
		return nil, jose.Header{}, fmt.Errorf("verify: %w: %v", ErrMalformedToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, jose.Header{}, fmt.Errorf("verify: %w: %d signatures", ErrMalformedToken, len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return nil, jose.Header{}, fmt.Errorf("verify: %w: %q header", ErrMalformedToken, name)
		}
	}
	alg := Alg(h.Algorithm)

	candidates, err := verificationKeys(set, h.KeyID, alg)
	if err != nil {
		return nil, jose.Header{}, fmt.Errorf("verify: %w", err)
	}
	for _, pub := range candidates {
		// A concrete public key, never the set: go-jose then cannot pick a key itself.
		if payload, err := jws.Verify(pub); err == nil {
			return payload, h, nil
		}
	}
	return nil, jose.Header{}, fmt.Errorf("verify: kid %q: %w", h.KeyID, ErrBadSignature)
}

// checkCompact accepts only the canonical compact serialization: exactly three parts of
// unpadded base64url with zero trailing bits. Go's decoder alone would skip CR and LF and,
// outside strict mode, ignore trailing bits.
func checkCompact(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: %d parts, want 3", ErrMalformedToken, len(parts))
	}
	for i, part := range parts {
		for j := range len(part) {
			c := part[j]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: part %d: byte %d is not base64url", ErrMalformedToken, i+1, j)
			}
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(part); err != nil {
			return fmt.Errorf("%w: part %d: %v", ErrMalformedToken, i+1, err)
		}
	}
	return nil
}

// verificationKeys returns the public keys in set that may verify a token with kid and
// alg. Several keys may share a kid (RFC 7517 §4.5 only says SHOULD be distinct).
func verificationKeys(set jose.JSONWebKeySet, kid string, alg Alg) ([]crypto.PublicKey, error) {
	var pool []jose.JSONWebKey
	if kid != "" {
		pool = set.Key(kid)
		if len(pool) == 0 {
			return nil, fmt.Errorf("kid %q: %w", kid, ErrUnknownKID)
		}
	} else {
		for _, k := range set.Keys {
			if k.Use != "enc" {
				pool = append(pool, k)
			}
		}
		if len(pool) != 1 {
			return nil, fmt.Errorf("no kid and %d candidate keys: %w", len(pool), ErrUnknownKID)
		}
	}
	var out []crypto.PublicKey
	for _, k := range pool {
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != string(alg)) {
			continue
		}
		// Public drops private parts; a symmetric key becomes an empty key and fails below.
		pub := k.Public().Key
		if checkPublic(alg, pub) != nil {
			continue
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kid %q cannot verify %s: %w", kid, alg, ErrKeyMismatch)
	}
	return out, nil
}

// TypeIs reports whether header h has "typ" want, comparing as RFC 7515 §4.1.9 says:
// case-insensitively, with an omitted "application/" prefix. An absent typ matches only
// an empty want.
func TypeIs(h jose.Header, want string) bool {
	got, _ := h.ExtraHeaders[jose.HeaderType].(string)
	norm := func(s string) string {
		s = strings.ToLower(s)
		if rest, ok := strings.CutPrefix(s, "application/"); ok && !strings.Contains(rest, "/") {
			return rest
		}
		return s
	}
	return norm(got) == norm(want)
}
