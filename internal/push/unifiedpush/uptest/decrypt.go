package uptest

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

// Decrypt opens an aes128gcm push message body as a user agent does (RFC 8291 §3.4 with
// RFC 8188 §2), with the subscription's private key and auth secret, and returns the
// plaintext without its padding. It is written apart from the sender's Encrypt so that
// a mistake in one is not mirrored in the other.
func Decrypt(body []byte, uaPrivate *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	// RFC 8188 §2.1: salt (16) || rs (4) || idlen (1) || keyid (idlen).
	if len(body) < 21 {
		return nil, errors.New("decrypt: body shorter than the content coding header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if rs < 18 { // RFC 8188 §2.1: smaller record sizes are invalid
		return nil, fmt.Errorf("decrypt: record size %d is below 18", rs)
	}
	// RFC 8291 §4: keyid is the sender's uncompressed P-256 point, 65 octets.
	if idlen != 65 {
		return nil, fmt.Errorf("decrypt: keyid is %d octets, want 65", idlen)
	}
	if len(body) < 21+idlen {
		return nil, errors.New("decrypt: body shorter than its keyid")
	}
	asPublicBytes := body[21 : 21+idlen]
	record := body[21+idlen:]
	// RFC 8291 §4: one record only, which must fit the record size.
	if len(record) > int(rs) {
		return nil, fmt.Errorf("decrypt: %d octets of records exceed one record of %d", len(record), rs)
	}
	if len(record) < 16+1 {
		return nil, errors.New("decrypt: record shorter than tag and delimiter")
	}
	// RFC 8291 §7: check the point is on the curve; NewPublicKey does.
	asPublic, err := ecdh.P256().NewPublicKey(asPublicBytes)
	if err != nil {
		return nil, fmt.Errorf("decrypt: keyid is not a P-256 point: %w", err)
	}
	if len(authSecret) != 16 {
		return nil, fmt.Errorf("decrypt: auth secret is %d octets, want 16", len(authSecret))
	}

	ecdhSecret, err := uaPrivate.ECDH(asPublic)
	if err != nil {
		return nil, fmt.Errorf("decrypt: ECDH: %w", err)
	}
	// RFC 8291 §3.3: key_info = "WebPush: info" || 0x00 || ua_public || as_public.
	keyInfo := append([]byte("WebPush: info\x00"), uaPrivate.PublicKey().Bytes()...)
	keyInfo = append(keyInfo, asPublicBytes...)
	prkKey, err := hkdf.Extract(sha256.New, ecdhSecret, authSecret)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	ikm, err := hkdf.Expand(sha256.New, prkKey, string(keyInfo), 32)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// RFC 8188 §2.2 and §2.3.
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	padded, err := aead.Open(nil, nonce, record, nil) // sequence number 0: nonce unchanged
	if err != nil {
		return nil, errors.New("decrypt: authentication failed")
	}
	// RFC 8188 §2: the last record's delimiter is 0x02 followed by zero padding; RFC
	// 8291 §4: any other delimiter means the message is discarded.
	end := len(padded) - 1
	for end >= 0 && padded[end] == 0 {
		end--
	}
	if end < 0 || padded[end] != 0x02 {
		return nil, errors.New("decrypt: padding delimiter is not 0x02")
	}
	return padded[:end], nil
}
