package unifiedpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes fixed by RFC 8291 and RFC 8188.
const (
	// AuthSecretSize is the length of a subscription's authentication secret (RFC 8291
	// §3.2: 16 octets).
	AuthSecretSize = 16
	// SaltSize is the length of the aes128gcm salt (RFC 8188 §2.1: 16 octets).
	SaltSize = 16
	// PublicKeySize is the length of an uncompressed P-256 point (X9.62, RFC 8291 §4).
	PublicKeySize = 65
	// RecordSize is the rs field of the content coding header. RFC 8291 §4 needs it to
	// exceed plaintext + delimiter + tag; 4096 is what every Web Push library writes.
	RecordSize = 4096
	// MaxPlaintext is the longest plaintext a push message can carry: 4096 octets of body
	// a push service must accept (RFC 8030 §7.2) less the 86-octet header, the one-octet
	// padding delimiter and the 16-octet tag (RFC 8291 §4).
	MaxPlaintext = 4096 - headerSize - 1 - tagSize

	headerSize = SaltSize + 4 + 1 + PublicKeySize // salt || rs || idlen || keyid
	tagSize    = 16
)

// RFC 8291 §3.4 and RFC 8188 §2.2/§2.3: the HKDF info strings, NUL included.
const (
	keyInfoPrefix = "WebPush: info\x00"
	cekInfo       = "Content-Encoding: aes128gcm\x00"
	nonceInfo     = "Content-Encoding: nonce\x00"
)

// Encrypt encrypts plaintext for the user agent whose subscription holds uaPublic and
// authSecret, as the application server key asPrivate with salt, and returns the whole
// aes128gcm message body (RFC 8291 §3.4, RFC 8188 §2): the header salt || rs ||
// idlen || keyid(as_public) followed by one record holding plaintext || 0x02 and the tag.
//
// asPrivate and salt must be fresh for every message; the sender generates them. They are
// arguments so that the example of RFC 8291 Appendix A can be reproduced byte for byte.
func Encrypt(plaintext []byte, uaPublic *ecdh.PublicKey, authSecret []byte, asPrivate *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	switch {
	case uaPublic == nil || uaPublic.Curve() != ecdh.P256():
		return nil, errors.New("encrypt: user agent key is not a P-256 key")
	case asPrivate == nil || asPrivate.Curve() != ecdh.P256():
		return nil, errors.New("encrypt: application server key is not a P-256 key")
	case len(authSecret) != AuthSecretSize:
		return nil, fmt.Errorf("encrypt: auth secret is %d bytes, want %d", len(authSecret), AuthSecretSize)
	case len(salt) != SaltSize:
		return nil, fmt.Errorf("encrypt: salt is %d bytes, want %d", len(salt), SaltSize)
	case len(plaintext) > MaxPlaintext:
		return nil, fmt.Errorf("encrypt: plaintext is %d bytes, at most %d fit in one push message", len(plaintext), MaxPlaintext)
	}
	asPublic := asPrivate.PublicKey().Bytes()
	cek, nonce, err := deriveKeys(asPrivate, uaPublic, uaPublic.Bytes(), asPublic, authSecret, salt)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}

	out := make([]byte, 0, headerSize+len(plaintext)+1+tagSize)
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, RecordSize)
	out = append(out, PublicKeySize)
	out = append(out, asPublic...) // RFC 8291 §4: keyid is the whole as_public
	record := make([]byte, 0, len(plaintext)+1)
	record = append(record, plaintext...)
	record = append(record, 0x02) // RFC 8188 §2: delimiter of the last (here only) record, no padding
	// RFC 8291 §3.4: one record, sequence number 0, so the nonce is NONCE itself.
	return aead.Seal(out, nonce, record, nil), nil
}

// deriveKeys runs the key schedule of RFC 8291 §3.4 (the summary in §3.4's pseudocode):
// ECDH, the auth secret combined through HKDF into IKM, then RFC 8188's CEK and NONCE.
// private is the local key, peer the other side's.
func deriveKeys(private *ecdh.PrivateKey, peer *ecdh.PublicKey, uaPublic, asPublic, authSecret, salt []byte) (cek, nonce []byte, err error) {
	ecdhSecret, err := private.ECDH(peer)
	if err != nil {
		return nil, nil, fmt.Errorf("ECDH: %w", err)
	}
	keyInfo := make([]byte, 0, len(keyInfoPrefix)+2*PublicKeySize)
	keyInfo = append(keyInfo, keyInfoPrefix...)
	keyInfo = append(keyInfo, uaPublic...)
	keyInfo = append(keyInfo, asPublic...)
	// RFC 8291 §3.3: HKDF(salt=auth_secret, IKM=ecdh_secret, info=key_info, L=32).
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, authSecret, string(keyInfo), 32)
	if err != nil {
		return nil, nil, fmt.Errorf("derive IKM: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, fmt.Errorf("derive PRK: %w", err)
	}
	if cek, err = hkdf.Expand(sha256.New, prk, cekInfo, 16); err != nil {
		return nil, nil, fmt.Errorf("derive CEK: %w", err)
	}
	if nonce, err = hkdf.Expand(sha256.New, prk, nonceInfo, 12); err != nil {
		return nil, nil, fmt.Errorf("derive nonce: %w", err)
	}
	return cek, nonce, nil
}
