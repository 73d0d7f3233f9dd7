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
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
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
	// A typical token is built on the stack; only the returned string is allocated.
	var stack [1024]byte
	buf := append(stack[:0], s.header...)
	buf = enc.AppendEncode(buf, payload)
	var sigBuf [64]byte
	sig, err := s.signature(sigBuf[:0], buf)
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", s.key.KID, err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// signature appends to dst the signature of the JWS signing input with the key's
// algorithm (RFC 7518 §3).
func (s *CompactSigner) signature(dst, input []byte) ([]byte, error) {
	switch s.key.Alg {
	case ES256:
		digest := sha256.Sum256(input)
		// SignASN1 rather than Sign: the DER form is parsed straight into R||S, without
		// the big.Int round trip of Sign.
		der, err := ecdsa.SignASN1(rand.Reader, s.key.Private.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			return nil, err
		}
		return appendRawECDSA(dst, der, 32)
	case RS256:
		digest := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, s.key.Private.(*rsa.PrivateKey), crypto.SHA256, digest[:])
		return append(dst, sig...), err
	case PS256:
		digest := sha256.Sum256(input)
		sig, err := rsa.SignPSS(rand.Reader, s.key.Private.(*rsa.PrivateKey), crypto.SHA256, digest[:],
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		return append(dst, sig...), err
	case EdDSA:
		return append(dst, ed25519.Sign(s.key.Private.(ed25519.PrivateKey), input)...), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedAlg, s.key.Alg)
}

// appendRawECDSA appends an ASN.1 DER ECDSA signature as R||S, each a big-endian
// integer of size bytes (RFC 7518 §3.4).
func appendRawECDSA(dst, der []byte, size int) ([]byte, error) {
	var inner cryptobyte.String
	var r, sv []byte
	in := cryptobyte.String(der)
	if !in.ReadASN1(&inner, asn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(&r) || !inner.ReadASN1Integer(&sv) || !inner.Empty() ||
		len(r) > size || len(sv) > size {
		return nil, errors.New("malformed ECDSA signature")
	}
	for _, v := range [2][]byte{r, sv} {
		for range size - len(v) {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst, nil
}
