package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// sealedKey is the plaintext inside a sealed signing key. The algorithm travels with the
// PKCS#8 key because PKCS#8 cannot tell an RS256 key from a PS256 one.
type sealedKey struct {
	V         int       `json:"v"`
	Alg       Alg       `json:"alg"`
	CreatedAt time.Time `json:"created_at"`
	PKCS8     []byte    `json:"pkcs8"`
}

const sealedKeyV1 = 1

// keyAAD binds a sealed signing key to its realm and key id, length-prefixed so that no
// two (realm, kid) pairs share an encoding, under a label that keeps sealed signing keys
// apart from anything else the same KEK may seal.
func keyAAD(realm, kid string) []byte {
	const label = "signet/keys/signing-key/v1\x00"
	b := make([]byte, 0, len(label)+2*binary.MaxVarintLen64+len(realm)+len(kid))
	b = append(b, label...)
	b = binary.AppendUvarint(b, uint64(len(realm)))
	b = append(b, realm...)
	b = binary.AppendUvarint(b, uint64(len(kid)))
	return append(b, kid...)
}

// SealKey encrypts k's private key (PKCS#8) with the primary KEK, bound to realm and
// k.KID: a sealed key copied onto another realm or key id does not open.
func (r *Keyring) SealKey(k *Key, realm string) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("seal key: %w: nil key", ErrInvalidKey)
	}
	if err := checkPrivate(k.Alg, k.Private); err != nil {
		return nil, fmt.Errorf("seal key %s: %w", k.KID, err)
	}
	if kid, err := Thumbprint(k.Private.Public()); err != nil || kid != k.KID {
		return nil, fmt.Errorf("seal key %s: %w: kid is not the key's thumbprint", k.KID, ErrInvalidKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w: %v", k.KID, ErrInvalidKey, err)
	}
	defer clear(der)
	pt, err := json.Marshal(sealedKey{V: sealedKeyV1, Alg: k.Alg, CreatedAt: k.CreatedAt.UTC(), PKCS8: der})
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w", k.KID, err)
	}
	defer clear(pt)
	out, err := r.Seal(pt, keyAAD(realm, k.KID))
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w", k.KID, err)
	}
	return out, nil
}

// OpenKey decrypts a key sealed by SealKey for the same realm and kid, and checks that
// the key inside is a valid key for its algorithm whose thumbprint is kid.
func (r *Keyring) OpenKey(sealed []byte, realm, kid string) (*Key, error) {
	pt, err := r.Open(sealed, keyAAD(realm, kid))
	if err != nil {
		return nil, fmt.Errorf("open key %s of realm %q: %w", kid, realm, err)
	}
	defer clear(pt)
	var sk sealedKey
	if err := json.Unmarshal(pt, &sk); err != nil {
		return nil, fmt.Errorf("open key %s: %w: %v", kid, ErrInvalidKey, err)
	}
	defer clear(sk.PKCS8)
	if sk.V != sealedKeyV1 {
		return nil, fmt.Errorf("open key %s: %w: unknown format version %d", kid, ErrInvalidKey, sk.V)
	}
	priv, err := x509.ParsePKCS8PrivateKey(sk.PKCS8)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w: %v", kid, ErrInvalidKey, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("open key %s: %w: %T cannot sign", kid, ErrInvalidKey, priv)
	}
	k, err := NewKey(sk.Alg, signer, sk.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", kid, err)
	}
	if k.KID != kid {
		return nil, fmt.Errorf("open key %s: %w: sealed key has thumbprint %s", kid, ErrInvalidKey, k.KID)
	}
	return k, nil
}
