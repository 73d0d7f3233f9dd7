package sigma

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
)

// DeviceIdentity is who completed a handshake: a registered device by its id, or an
// enrolling device by the public key it proved possession of.
type DeviceIdentity struct {
	ID        [16]byte         // the registered device's id; zero when enrolling
	PublicKey *ecdsa.PublicKey // the new device key; set only when enrolling
}

// Enrolling reports whether the handshake was an enrollment, which the caller must only
// let make the enroll request (with its activation code).
func (d DeviceIdentity) Enrolling() bool { return d.PublicKey != nil }

// ClientConfig is the device side's configuration.
type ClientConfig struct {
	// ServerKeyFingerprint is the pinned server key: SHA-256 of its uncompressed point
	// (see Fingerprint), as carried by the activation QR payload.
	ServerKeyFingerprint [32]byte
	// DeviceID is the id assigned at enrollment; zero (and only zero) when enrolling.
	DeviceID [16]byte
	// Signer is the device key. Its Public() must be an *ecdsa.PublicKey on P-256, and
	// Sign must return an ASN.1 DER signature of a SHA-256 digest, as hardware keystores
	// do.
	Signer crypto.Signer
	// Enroll sends the device's public key instead of an id.
	Enroll bool
	// Rand is the randomness for the ephemeral key and nonce, also handed to Signer;
	// nil means crypto/rand.
	Rand io.Reader
	// MaxPlaintext bounds one frame's plaintext in both directions; 0 means
	// DefaultMaxPlaintext.
	MaxPlaintext int
}

// ClientHandshake is the device's side of one handshake: Start, then Finish. It is not
// safe for concurrent use and is spent after Finish, whatever the outcome.
type ClientHandshake struct {
	pin          [32]byte
	signer       crypto.Signer
	identity     [identityLen]byte
	rand         io.Reader
	maxPlaintext int

	state      handshakeState
	eph        *ecdh.PrivateKey
	transcript hash.Hash
}

type handshakeState uint8

const (
	stateNew handshakeState = iota
	stateStarted
	stateSpent
)

// NewClient checks cfg and returns a handshake ready to Start.
func NewClient(cfg ClientConfig) (*ClientHandshake, error) {
	if cfg.Signer == nil {
		return nil, errors.New("sigma: ClientConfig.Signer is nil")
	}
	_, pub, err := p256Key(cfg.Signer.Public())
	if err != nil {
		return nil, fmt.Errorf("sigma: device signer: %w", err)
	}
	limit, err := maxPlaintext(cfg.MaxPlaintext)
	if err != nil {
		return nil, err
	}
	c := &ClientHandshake{
		pin:          cfg.ServerKeyFingerprint,
		signer:       cfg.Signer,
		rand:         cfg.Rand,
		maxPlaintext: limit,
		transcript:   sha256.New(),
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	switch {
	case cfg.Enroll && cfg.DeviceID != [16]byte{}:
		return nil, errors.New("sigma: an enrolling device has no DeviceID yet")
	case cfg.Enroll:
		c.identity[0] = identityEnroll
		copy(c.identity[1:], pub)
	case cfg.DeviceID == [16]byte{}:
		return nil, errors.New("sigma: ClientConfig.DeviceID is zero and Enroll is not set")
	default:
		c.identity[0] = identityRegistered
		copy(c.identity[1:], cfg.DeviceID[:])
	}
	return c, nil
}

// Start returns the ClientHello.
func (c *ClientHandshake) Start() ([]byte, error) {
	if c.state != stateNew {
		return nil, fmt.Errorf("start: %w", ErrState)
	}
	c.state = stateSpent
	eph, m, err := ephemeralHeader(c.rand, typeClientHello, ClientHelloSize)
	if err != nil {
		return nil, err
	}
	m = append(m, c.pin[:]...)
	c.eph = eph
	c.transcript.Write(m)
	c.state = stateStarted
	return m, nil
}

// Finish checks the ServerHello (pinned key, signature, MAC) and returns the
// ClientFinish to send and the session. The session may send at once: a server that
// refuses the ClientFinish closes the channel without reading further.
func (c *ClientHandshake) Finish(serverHello []byte) ([]byte, *Session, error) {
	if c.state != stateStarted {
		return nil, nil, fmt.Errorf("finish: %w", ErrState)
	}
	c.state = stateSpent
	m := serverHello
	if err := checkHeader(m, typeServerHello); err != nil {
		return nil, nil, fmt.Errorf("server hello: %w", err)
	}
	if len(m) < MinServerHelloSize || len(m) > MaxServerHelloSize {
		return nil, nil, fmt.Errorf("server hello of %d bytes: %w", len(m), ErrMalformed)
	}
	peer, err := parsePoint(m[2 : 2+pointLen])
	if err != nil {
		return nil, nil, fmt.Errorf("server hello: %w", err)
	}
	shared, err := sharedSecret(c.eph, peer)
	if err != nil {
		return nil, nil, fmt.Errorf("server hello: %w", err)
	}
	c.transcript.Write(m[:serverHelloHeaderLen])
	th1 := c.transcript.Sum(nil)
	hs := handshakeSchedule(shared, th1)

	serverKey, sig, mac, err := openSigned(m, serverHelloHeaderLen, pointLen, &hs.s2d)
	if err != nil {
		return nil, nil, fmt.Errorf("server hello: %w", err)
	}
	fp := sha256.Sum256(serverKey)
	if subtle.ConstantTimeCompare(fp[:], c.pin[:]) != 1 {
		return nil, nil, fmt.Errorf("server hello: %w", ErrServerKey)
	}
	if !hmac.Equal(mac, identityMAC(&hs.serverMAC, serverKey)) {
		return nil, nil, fmt.Errorf("server hello: server identity: %w", ErrMAC)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), serverKey)
	if err != nil {
		return nil, nil, fmt.Errorf("server hello: server key: %w", ErrMalformed)
	}
	if !ecdsa.VerifyASN1(pub, signedDigest(labelServerSignature, th1), sig) {
		return nil, nil, fmt.Errorf("server hello: %w", ErrSignature)
	}
	c.transcript.Write(m[serverHelloHeaderLen:])
	th2 := c.transcript.Sum(nil)

	devSig, err := c.signer.Sign(c.rand, signedDigest(labelDeviceSignature, th2), crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("sigma: device signature: %w", err)
	}
	finish, err := sealSigned([]byte{Version1, typeClientFinish}, &hs.d2s, c.identity[:], devSig, identityMAC(&hs.deviceMAC, c.identity[:]))
	if err != nil {
		return nil, nil, fmt.Errorf("sigma: client finish: %w", err)
	}
	c.transcript.Write(finish)
	app := applicationSchedule(hs.prk, c.transcript.Sum(nil))
	return finish, newSession(&app.d2s, &app.s2d, app.binding, c.maxPlaintext), nil
}
