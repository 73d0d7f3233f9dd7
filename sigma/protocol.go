package sigma

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version1 is the only protocol version: P-256 ECDH and ECDSA-SHA256, HKDF-SHA256,
// AES-256-GCM. It is the first byte of every handshake message and frame.
const Version1 byte = 1

// Message type, the second byte of every message.
const (
	typeClientHello  byte = 0x01
	typeServerHello  byte = 0x02
	typeClientFinish byte = 0x03
	typeData         byte = 0x17
)

// Field sizes in bytes (docs/device-protocol.md).
const (
	pointLen       = 65 // uncompressed P-256 point: 0x04 || X || Y
	nonceLen       = 32
	fingerprintLen = sha256.Size
	macLen         = sha256.Size
	tagLen         = 16 // AES-GCM tag
	ivLen          = 12
	keyLen         = 32
	deviceIDLen    = 16
	minSigLen      = 8  // smallest DER ECDSA signature (two one-byte INTEGERs)
	maxSigLen      = 72 // largest DER ECDSA P-256 signature

	// Device identity: a kind byte, then 65 bytes (the device id padded with zeros, or
	// the enrolling key's point), so registered and enrolling devices look alike on the
	// wire.
	identityLen = 1 + pointLen

	serverHelloHeaderLen = 2 + pointLen + nonceLen
	signedMinLen         = 1 + minSigLen + macLen
	signedMaxLen         = 1 + maxSigLen + macLen
)

// Device identity kinds, the first byte of the encoded device identity.
const (
	identityRegistered byte = 0x01
	identityEnroll     byte = 0x02
)

// Sizes of the handshake messages and the frame overhead, for transports that bound
// what they read.
const (
	ClientHelloSize     = 2 + pointLen + nonceLen + fingerprintLen
	MinServerHelloSize  = serverHelloHeaderLen + pointLen + signedMinLen + tagLen
	MaxServerHelloSize  = serverHelloHeaderLen + pointLen + signedMaxLen + tagLen
	MinClientFinishSize = 2 + identityLen + signedMinLen + tagLen
	MaxClientFinishSize = 2 + identityLen + signedMaxLen + tagLen
	FrameHeaderSize     = 2 + 8
	FrameOverhead       = FrameHeaderSize + tagLen
)

// DefaultMaxPlaintext bounds a frame's plaintext when the configuration sets no limit.
const DefaultMaxPlaintext = 64 << 10

// Signature contexts: each side signs label || transcript hash, so a signature made for
// one role or purpose never verifies for another.
const (
	labelServerSignature = "signet sigma v1 server signature"
	labelDeviceSignature = "signet sigma v1 device signature"
)

// HKDF-Expand info strings of the key schedule. Each phase expands one key block and
// splits it (one HMAC setup per phase instead of one per key).
const (
	infoHandshake   = "signet sigma v1 handshake"
	infoApplication = "signet sigma v1 application"
)

// trafficKey is one direction's AES-256-GCM key and IV.
type trafficKey struct {
	key [keyLen]byte
	iv  [ivLen]byte
}

// handshakeKeys protect the identity payloads of ServerHello and ClientFinish.
type handshakeKeys struct {
	prk       []byte
	d2s, s2d  trafficKey
	serverMAC [macLen]byte
	deviceMAC [macLen]byte
}

// handshakeSchedule derives the handshake keys from the ECDH secret, salted with TH1:
// the key block is d2s key || d2s IV || s2d key || s2d IV || server MAC key || device
// MAC key.
func handshakeSchedule(shared, th1 []byte) handshakeKeys {
	k := handshakeKeys{prk: extract(th1, shared)}
	block := expand(k.prk, infoHandshake, 2*(keyLen+ivLen)+2*macLen)
	block = k.d2s.take(block)
	block = k.s2d.take(block)
	block = block[copy(k.serverMAC[:], block):]
	copy(k.deviceMAC[:], block)
	return k
}

// applicationKeys are the record layer's keys and the session binding.
type applicationKeys struct {
	prk      []byte
	d2s, s2d trafficKey
	binding  [32]byte
}

// applicationSchedule derives the traffic keys from the handshake PRK, salted with TH3:
// the key block is d2s key || d2s IV || s2d key || s2d IV || binding.
func applicationSchedule(handshakePRK, th3 []byte) applicationKeys {
	k := applicationKeys{prk: extract(th3, handshakePRK)}
	block := expand(k.prk, infoApplication, 2*(keyLen+ivLen)+len(k.binding))
	block = k.d2s.take(block)
	block = k.s2d.take(block)
	copy(k.binding[:], block)
	return k
}

// take fills the key and IV from the start of block and returns the rest.
func (t *trafficKey) take(block []byte) []byte {
	block = block[copy(t.key[:], block):]
	return block[copy(t.iv[:], block):]
}

func extract(salt, ikm []byte) []byte {
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic("sigma: hkdf extract: " + err.Error()) // unreachable: no length limits apply
	}
	return prk
}

func expand(prk []byte, info string, n int) []byte {
	b, err := hkdf.Expand(sha256.New, prk, info, n)
	if err != nil {
		panic("sigma: hkdf expand: " + err.Error()) // unreachable: fixed short lengths
	}
	return b
}

func newAEAD(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("sigma: aes: " + err.Error()) // unreachable: keys are always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("sigma: gcm: " + err.Error()) // unreachable: standard nonce and tag sizes
	}
	return aead
}

// nonce is the per-direction IV with the sequence number XORed into its last 8 bytes.
func nonce(iv *[ivLen]byte, seq uint64) [ivLen]byte {
	n := *iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	subtle.XORBytes(n[4:], n[4:], s[:])
	return n
}

// checkHeader reports whether msg starts with version 1 and the given type.
func checkHeader(msg []byte, typ byte) error {
	switch {
	case len(msg) == 0:
		return fmt.Errorf("empty message: %w", ErrMalformed)
	case msg[0] != Version1:
		return fmt.Errorf("version %d: %w", msg[0], ErrVersion)
	case len(msg) < 2 || msg[1] != typ:
		return fmt.Errorf("not the expected message type: %w", ErrMalformed)
	}
	return nil
}

// signedDigest is the SHA-256 digest an ECDSA-P256-SHA256 signature over label || th
// signs; a keystore that hashes for itself signs the message label || th instead.
func signedDigest(label string, th []byte) []byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write(th)
	return h.Sum(nil)
}

func identityMAC(key *[macLen]byte, identity []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(identity)
	return m.Sum(nil)
}

// sealSigned appends to header (also the AEAD's additional data) the encryption of
// identity || len(sig) || sig || mac under the one-use handshake key k.
func sealSigned(header []byte, k *trafficKey, identity, sig, mac []byte) ([]byte, error) {
	if len(sig) < minSigLen || len(sig) > maxSigLen {
		return nil, fmt.Errorf("signer returned a %d-byte signature, not a DER ECDSA P-256 signature: %w", len(sig), ErrSignature)
	}
	pt := make([]byte, 0, len(identity)+1+len(sig)+macLen)
	pt = append(pt, identity...)
	pt = append(pt, byte(len(sig)))
	pt = append(pt, sig...)
	pt = append(pt, mac...)
	n := nonce(&k.iv, 0)
	// Seal appends after header and only reads it as additional data (crypto/tls
	// seals TLS 1.3 records the same way).
	return newAEAD(k.key[:]).Seal(header, n[:], pt, header), nil
}

// openSigned decrypts the part of msg after headerLen and splits it into identity
// (identityLen bytes), signature and MAC.
func openSigned(msg []byte, headerLen, identityLen int, k *trafficKey) (identity, sig, mac []byte, err error) {
	n := nonce(&k.iv, 0)
	pt, err := newAEAD(k.key[:]).Open(nil, n[:], msg[headerLen:], msg[:headerLen])
	if err != nil {
		return nil, nil, nil, fmt.Errorf("decrypt handshake payload: %w", ErrMAC)
	}
	if len(pt) < identityLen+1 {
		return nil, nil, nil, fmt.Errorf("handshake payload of %d bytes: %w", len(pt), ErrMalformed)
	}
	identity, rest := pt[:identityLen], pt[identityLen:]
	sigLen := int(rest[0])
	if sigLen < minSigLen || sigLen > maxSigLen || len(rest) != 1+sigLen+macLen {
		return nil, nil, nil, fmt.Errorf("signature length %d: %w", sigLen, ErrMalformed)
	}
	return identity, rest[1 : 1+sigLen], rest[1+sigLen:], nil
}

// p256Key returns pub as a P-256 ECDSA key and its uncompressed point.
func p256Key(pub crypto.PublicKey) (*ecdsa.PublicKey, []byte, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k == nil || k.Curve != elliptic.P256() {
		return nil, nil, fmt.Errorf("key is %T, not an ECDSA P-256 public key", pub)
	}
	b, err := k.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("encode public key: %w", err)
	}
	return k, b, nil
}

// verifiable reports whether pub can be handed to ecdsa.VerifyASN1 as a P-256 key. It
// checks only what keeps VerifyASN1 from panicking (an invalid point then fails the
// signature), so verification does no second encoding of the key.
func verifiable(pub *ecdsa.PublicKey) bool {
	//lint:ignore SA1019 read only: nil coordinates make VerifyASN1 panic
	return pub != nil && pub.Curve == elliptic.P256() && pub.X != nil && pub.Y != nil
}

// Fingerprint is the SHA-256 of pub's uncompressed point: what the activation QR payload
// carries and ClientHello names. It is all zeros for a key that is not on P-256.
func Fingerprint(pub *ecdsa.PublicKey) [32]byte {
	_, b, err := p256Key(pub)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(b)
}

// newEphemeral draws a P-256 scalar from r: 32 bytes as a big-endian integer, drawn
// again in the negligible case it is zero or not below the group order. Reading r
// directly (rather than ecdh.GenerateKey, which ignores its reader) keeps test vectors
// reproducible.
func newEphemeral(r io.Reader) (*ecdh.PrivateKey, error) {
	var d [32]byte
	// A uniform 256-bit value is out of range with probability about 2^-32, so 16
	// draws failing means a broken source, not bad luck.
	for range 16 {
		if _, err := io.ReadFull(r, d[:]); err != nil {
			return nil, fmt.Errorf("sigma: read randomness: %w", err)
		}
		if k, err := ecdh.P256().NewPrivateKey(d[:]); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("sigma: randomness source yields no valid P-256 scalar")
}

// parsePoint validates a peer's ephemeral public key: an uncompressed point on P-256,
// not the point at infinity.
func parsePoint(b []byte) (*ecdh.PublicKey, error) {
	pub, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", ErrMalformed)
	}
	return pub, nil
}

// sharedSecret is the ECDH shared secret: the x-coordinate of the shared point.
func sharedSecret(priv *ecdh.PrivateKey, peer *ecdh.PublicKey) ([]byte, error) {
	z, err := priv.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("ecdh: %w", ErrMalformed)
	}
	return z, nil
}

// ephemeralHeader draws an ephemeral key and a nonce from r and returns the key and the
// message start both hellos share: version || type || public key || nonce, in a slice
// with room for size bytes.
func ephemeralHeader(r io.Reader, typ byte, size int) (*ecdh.PrivateKey, []byte, error) {
	eph, err := newEphemeral(r)
	if err != nil {
		return nil, nil, err
	}
	m := make([]byte, 2+pointLen+nonceLen, size)
	m[0], m[1] = Version1, typ
	copy(m[2:], eph.PublicKey().Bytes())
	if _, err := io.ReadFull(r, m[2+pointLen:]); err != nil {
		return nil, nil, fmt.Errorf("sigma: read randomness: %w", err)
	}
	return eph, m, nil
}

func maxPlaintext(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("sigma: negative MaxPlaintext %d", n)
	case n == 0:
		return DefaultMaxPlaintext, nil
	}
	return n, nil
}
