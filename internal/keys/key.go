package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Alg is a JWS signature algorithm Signet signs with (RFC 7518 §3.1, RFC 8037 §3.1).
type Alg string

// The supported algorithms. "none" and the HMAC algorithms are deliberately absent: a
// provider never signs with a shared secret, and accepting one invites alg confusion.
const (
	// ES256 is ECDSA P-256 with SHA-256, the default for access tokens: small, fast, and
	// the curve the phones' hardware keystores use.
	ES256 Alg = "ES256"
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, the default ID token algorithm of OpenID
	// Connect (Core §3.1.3.7) and the one every client library supports.
	RS256 Alg = "RS256"
	// PS256 is RSASSA-PSS with SHA-256 (FAPI 2.0 allows PS256 and ES256).
	PS256 Alg = "PS256"
	// EdDSA is Ed25519 (RFC 8037).
	EdDSA Alg = "EdDSA"
)

// Algs lists the supported algorithms in a stable order.
func Algs() []Alg { return []Alg{ES256, RS256, PS256, EdDSA} }

// RSABits is the modulus size of newly generated RSA keys. 2048 bits (112-bit strength,
// NIST SP 800-57 Pt. 1) is ample for a signing key that signs for one rotation period and
// is deleted RetainFor later: a forgery has to succeed within months, and nothing signed
// can be "harvested now and broken later" the way a ciphertext can. 3072 bits sign about
// three times slower (BenchmarkSignRS256 vs BenchmarkSignRS256Bits3072), and RS256 signs
// every ID token, also on each refresh. 2048 is also what Keycloak generates and what
// Google and Microsoft publish.
// Raising it (before NIST retires 112-bit strength after 2030) is this one constant: keys
// of any size from MinRSABits up keep opening, signing and verifying, and later
// rotations bring the larger size.
const RSABits = 2048

// MinRSABits is the smallest RSA modulus accepted anywhere: imported keys, sealed keys
// and keys that verify tokens (RFC 7518 §3.3, §3.5).
const MinRSABits = 2048

// ParseAlg returns the Alg named s, or ErrUnsupportedAlg. Names are case-sensitive
// (RFC 7515 §4.1.1).
func ParseAlg(s string) (Alg, error) {
	a := Alg(s)
	if !a.Valid() {
		return "", fmt.Errorf("parse algorithm %q: %w", s, ErrUnsupportedAlg)
	}
	return a, nil
}

// Valid reports whether a is one of the supported algorithms.
func (a Alg) Valid() bool {
	switch a {
	case ES256, RS256, PS256, EdDSA:
		return true
	}
	return false
}

// Key is a private signing key with its identity.
type Key struct {
	// KID is the base64url (unpadded) RFC 7638 JWK thumbprint (SHA-256) of the public key.
	KID string
	// Alg is the one algorithm this key signs with. A key is never used with two
	// algorithms, so an RSA key is either RS256 or PS256.
	Alg Alg
	// Private is *ecdsa.PrivateKey (P-256), *rsa.PrivateKey or ed25519.PrivateKey.
	Private crypto.Signer
	// CreatedAt is when the key was generated; a next key is published from then on.
	CreatedAt time.Time
}

// String names the key without its private part, so printing or logging a Key never
// leaks it.
func (k Key) String() string { return string(k.Alg) + " key " + k.KID }

// GoString is String for %#v.
func (k Key) GoString() string { return "keys.Key{" + k.String() + "}" }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// Generate creates a new key for alg, stamped with the current time.
func Generate(alg Alg) (*Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256, PS256:
		priv, err = rsa.GenerateKey(rand.Reader, RSABits)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("generate %q key: %w", alg, ErrUnsupportedAlg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return NewKey(alg, priv, time.Now().UTC())
}

// NewKey wraps existing key material (an imported key, or one just opened from storage)
// after checking that it fits alg, and computes its KID.
func NewKey(alg Alg, priv crypto.Signer, createdAt time.Time) (*Key, error) {
	if !alg.Valid() {
		return nil, fmt.Errorf("new %q key: %w", alg, ErrUnsupportedAlg)
	}
	if err := checkPrivate(alg, priv); err != nil {
		return nil, fmt.Errorf("new %s key: %w", alg, err)
	}
	kid, err := Thumbprint(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("new %s key: %w", alg, err)
	}
	return &Key{KID: kid, Alg: alg, Private: priv, CreatedAt: createdAt}, nil
}

// Thumbprint returns the base64url RFC 7638 SHA-256 thumbprint of a public key: the KID
// Signet gives its keys, and the value RFC 9449 (DPoP) uses for "jkt".
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: thumbprint: %v", ErrInvalidKey, err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// checkPrivate checks that priv is a concrete key type that fits alg. Concrete types are
// required because they are what PKCS#8 sealing and go-jose's native signers handle.
func checkPrivate(alg Alg, priv crypto.Signer) error {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if p == nil {
			return fmt.Errorf("%w: nil key", ErrInvalidKey)
		}
	case *rsa.PrivateKey:
		if p == nil {
			return fmt.Errorf("%w: nil key", ErrInvalidKey)
		}
	case ed25519.PrivateKey:
		if len(p) != ed25519.PrivateKeySize {
			return fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidKey, len(p))
		}
	case nil:
		return fmt.Errorf("%w: nil key", ErrInvalidKey)
	default:
		return fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, priv)
	}
	return checkPublic(alg, priv.Public())
}

// checkPublic checks that pub can verify alg: P-256 for ES256, RSA of at least
// MinRSABits for RS256 and PS256, Ed25519 for EdDSA.
func checkPublic(alg Alg, pub crypto.PublicKey) error {
	switch alg {
	case ES256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok || p == nil || p.Curve != elliptic.P256() {
			return fmt.Errorf("%w: %s needs a P-256 key, got %s", ErrInvalidKey, alg, describe(pub))
		}
	case RS256, PS256:
		p, ok := pub.(*rsa.PublicKey)
		if !ok || p == nil || p.N == nil {
			return fmt.Errorf("%w: %s needs an RSA key, got %s", ErrInvalidKey, alg, describe(pub))
		}
		if bits := p.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits, need at least %d", ErrInvalidKey, bits, MinRSABits)
		}
	case EdDSA:
		p, ok := pub.(ed25519.PublicKey)
		if !ok || len(p) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: %s needs an Ed25519 key, got %s", ErrInvalidKey, alg, describe(pub))
		}
	default:
		return fmt.Errorf("%q: %w", alg, ErrUnsupportedAlg)
	}
	return nil
}

func describe(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p != nil && p.Curve != nil {
			return "ECDSA " + p.Curve.Params().Name
		}
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "no key"
	}
	return fmt.Sprintf("%T", pub)
}
