package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Envelope layout of a sealed value:
//
//	version (1) | KEK id (8) | nonce (12) | AES-256-GCM ciphertext and tag (16)
//
// The version and KEK id are authenticated too (they prefix the GCM additional data), so
// a sealed value cannot be relabelled to another KEK or format.
const (
	envelopeV1  = 1
	kekSize     = 32
	kekIDSize   = 8
	nonceSize   = 12
	headerSize  = 1 + kekIDSize
	overhead    = headerSize + nonceSize + 16
	kekIDPrefix = "kek:"
)

// KEK is an AES-256 key-encryption key. Its id, the first 8 bytes of SHA-256 of the key,
// is written into every sealed value so that opening with the wrong KEK is reported as
// ErrWrongKEK instead of an anonymous authentication failure.
type KEK struct {
	aead cipher.AEAD
	id   [kekIDSize]byte
	// derive is HMAC-SHA256(key, deriveLabel): the root of DeriveKey, so the KEK itself
	// is never used for anything but sealing.
	derive [32]byte
}

const deriveLabel = "signet kek derive v1"

// ParseKEK decodes a KEK from base64: standard encoding with padding, or unpadded URL-safe
// encoding (what GenerateKEK and `openssl rand -base64 32` print). Surrounding whitespace
// is ignored, so a key read from a file with a trailing newline works. Anything that does
// not decode to exactly 32 bytes, or decodes to 32 zero bytes, is ErrInvalidKEK.
func ParseKEK(b64 string) (*KEK, error) {
	s := strings.TrimSpace(b64)
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		raw, err = base64.RawURLEncoding.Strict().DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not base64 (standard or raw URL)", ErrInvalidKEK)
	}
	defer clear(raw)
	if len(raw) != kekSize {
		return nil, fmt.Errorf("%w: %d bytes, need %d", ErrInvalidKEK, len(raw), kekSize)
	}
	if subtle.ConstantTimeCompare(raw, make([]byte, kekSize)) == 1 {
		return nil, fmt.Errorf("%w: all zero bytes", ErrInvalidKEK)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKEK, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKEK, err)
	}
	k := &KEK{aead: aead}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte(deriveLabel))
	copy(k.derive[:], m.Sum(nil))
	sum := sha256.Sum256(raw)
	copy(k.id[:], sum[:kekIDSize])
	return k, nil
}

// GenerateKEK returns 32 random bytes in standard base64, ready for the configuration.
func GenerateKEK() (string, error) {
	raw := make([]byte, kekSize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate key-encryption key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// ID names the KEK for logs and operations ("kek:" and 16 hex digits). It reveals
// nothing about the key.
func (k *KEK) ID() string { return kekIDPrefix + hex.EncodeToString(k.id[:]) }

// String is ID, so printing a KEK never prints key material.
func (k *KEK) String() string { return k.ID() }

// GoString is String for %#v.
func (k *KEK) GoString() string { return "keys.KEK{" + k.ID() + "}" }

// Seal encrypts and authenticates plaintext, binding aad (which is not stored: Open must
// be given the same aad).
func (k *KEK) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, headerSize+nonceSize, overhead+len(plaintext))
	out[0] = envelopeV1
	copy(out[1:headerSize], k.id[:])
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	nonce := out[headerSize : headerSize+nonceSize]
	return k.aead.Seal(out, nonce, plaintext, gcmAAD(out[:headerSize], aad)), nil
}

// Open authenticates and decrypts a value from Seal. A value sealed by another KEK is
// ErrWrongKEK; a malformed or tampered value, or a different aad, is ErrDecrypt.
func (k *KEK) Open(sealed, aad []byte) ([]byte, error) {
	id, err := envelopeKEKID(sealed)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if id != k.id {
		return nil, fmt.Errorf("open: sealed by kek:%x, have %s: %w", id, k.ID(), ErrWrongKEK)
	}
	return k.open(sealed, aad)
}

func (k *KEK) open(sealed, aad []byte) ([]byte, error) {
	nonce := sealed[headerSize : headerSize+nonceSize]
	pt, err := k.aead.Open(nil, nonce, sealed[headerSize+nonceSize:], gcmAAD(sealed[:headerSize], aad))
	if err != nil {
		return nil, fmt.Errorf("open with %s: %w", k.ID(), ErrDecrypt)
	}
	return pt, nil
}

// envelopeKEKID checks the envelope's shape and version and returns the KEK id it names.
func envelopeKEKID(sealed []byte) ([kekIDSize]byte, error) {
	var id [kekIDSize]byte
	if len(sealed) < overhead {
		return id, fmt.Errorf("%w: %d bytes is shorter than an envelope", ErrDecrypt, len(sealed))
	}
	if sealed[0] != envelopeV1 {
		return id, fmt.Errorf("%w: unknown envelope version %d", ErrDecrypt, sealed[0])
	}
	copy(id[:], sealed[1:headerSize])
	return id, nil
}

// gcmAAD is the envelope header followed by the caller's aad; the header has a fixed
// length, so the concatenation is unambiguous.
func gcmAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

// Keyring seals with a primary KEK and opens with whichever configured KEK sealed the
// value, so the KEK can be rotated: configure the new KEK as primary and the old one as
// old, re-seal the stored keys (Open then Seal), then drop the old KEK.
type Keyring struct {
	primary *KEK
	byID    map[[kekIDSize]byte]*KEK
}

// NewKeyring returns a keyring that seals with primary and opens with primary or any of
// old. Nil KEKs are refused; listing the same KEK twice is harmless.
func NewKeyring(primary *KEK, old ...*KEK) (*Keyring, error) {
	if primary == nil {
		return nil, fmt.Errorf("new keyring: %w: no primary key-encryption key", ErrInvalidKEK)
	}
	r := &Keyring{primary: primary, byID: map[[kekIDSize]byte]*KEK{primary.id: primary}}
	for i, k := range old {
		if k == nil {
			return nil, fmt.Errorf("new keyring: %w: old key-encryption key %d is nil", ErrInvalidKEK, i)
		}
		if _, dup := r.byID[k.id]; !dup {
			r.byID[k.id] = k
		}
	}
	return r, nil
}

// DeriveKey returns a 32-byte key for purpose (such as CSRF tokens), the same on every
// node that has the same primary KEK: HMAC-SHA256 of purpose under a key derived from the
// KEK (RFC 5869's extract-then-expand in one step, as the input is already uniform).
func (k *KEK) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, k.derive[:])
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Primary returns the KEK that seals.
func (r *Keyring) Primary() *KEK { return r.primary }

// Seal seals with the primary KEK.
func (r *Keyring) Seal(plaintext, aad []byte) ([]byte, error) { return r.primary.Seal(plaintext, aad) }

// Open opens with the KEK the envelope names: ErrWrongKEK if none is configured,
// ErrDecrypt if the value is malformed or tampered with.
func (r *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, err := envelopeKEKID(sealed)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	k, ok := r.byID[id]
	if !ok {
		return nil, fmt.Errorf("open: sealed by kek:%x, not configured: %w", id, ErrWrongKEK)
	}
	return k.open(sealed, aad)
}

// NeedsReseal reports whether sealed was sealed by a KEK other than the primary, so a
// KEK rotation job knows which stored values still need Open and Seal.
func (r *Keyring) NeedsReseal(sealed []byte) bool {
	id, err := envelopeKEKID(sealed)
	return err != nil || id != r.primary.id
}
