package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// CompactSigner produces compact JWS (RFC 7515 §7.1) for one key and one "typ" with the
// protected header encoded once, instead of marshalling it for every token: the token
// endpoint signs on every request. Its output verifies with any JOSE library (the tests
// check it with go-jose through Verify). Safe for concurrent use.
type CompactSigner struct {
	key    *Key
	header string // base64url of the protected header, then "."
}

// NewCompactSigner prepares a signer for k; typ may be empty.
func NewCompactSigner(k *Key, typ string) (*CompactSigner, error) {
	if k == nil {
		return nil, fmt.Errorf("signer: %w: nil key", ErrInvalidKey)
	}
	if err := checkPrivate(k.Alg, k.Private); err != nil {
		return nil, fmt.Errorf("signer for %s: %w", k.KID, err)
	}
	h := struct {
		Alg string `json:"alg"`
		KID string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{string(k.Alg), k.KID, typ}
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("signer for %s: %w", k.KID, err)
	}
	return &CompactSigner{key: k, header: base64.RawURLEncoding.EncodeToString(raw) + "."}, nil
}

// KID names the signing key.
func (s *CompactSigner) KID() string { return s.key.KID }

// Sign returns header.payload.signature for payload.
func (s *CompactSigner) Sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(s.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, s.header...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.signature(buf)
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", s.key.KID, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// signature signs the JWS signing input with the key's algorithm (RFC 7518 §3).
func (s *CompactSigner) signature(input []byte) ([]byte, error) {
	switch s.key.Alg {
	case ES256:
		digest := sha256.Sum256(input)
		r, sv, err := ecdsa.Sign(rand.Reader, s.key.Private.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			return nil, err
		}
		// RFC 7518 §3.4: R and S as 32-byte big-endian integers, concatenated.
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		sv.FillBytes(out[32:])
		return out, nil
	case RS256:
		digest := sha256.Sum256(input)
		return rsa.SignPKCS1v15(rand.Reader, s.key.Private.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	case PS256:
		digest := sha256.Sum256(input)
		return rsa.SignPSS(rand.Reader, s.key.Private.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case EdDSA:
		return ed25519.Sign(s.key.Private.(ed25519.PrivateKey), input), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedAlg, s.key.Alg)
}
