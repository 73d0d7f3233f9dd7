package sigma

import (
	"bytes"
	"crypto"
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

// ServerConfig is the server side's configuration.
type ServerConfig struct {
	// Keys are the server's static keys, each an ECDSA P-256 signer; ClientHello names
	// the one the device pinned by its fingerprint, so old and new keys can overlap
	// during a rotation.
	Keys []crypto.Signer
	// LookupDevice returns a registered device's public key, or an error (unknown,
	// locked, revoked) to refuse it; Complete wraps that error with ErrUnknownDevice.
	LookupDevice func(id [16]byte) (*ecdsa.PublicKey, error)
	// Rand is the randomness for the ephemeral key and nonce, also handed to the key's
	// Sign; nil means crypto/rand.
	Rand io.Reader
	// MaxPlaintext bounds one frame's plaintext in both directions; 0 means
	// DefaultMaxPlaintext.
	MaxPlaintext int
}

// ServerHandshake is the server's side of one handshake: Respond, then Complete. It is
// not safe for concurrent use and is spent after Complete, whatever the outcome.
type ServerHandshake struct {
	keys         []serverKey
	lookup       func(id [16]byte) (*ecdsa.PublicKey, error)
	rand         io.Reader
	maxPlaintext int

	state      handshakeState
	transcript hash.Hash
	hs         handshakeKeys
}

type serverKey struct {
	signer      crypto.Signer
	point       []byte
	fingerprint [32]byte
}

// NewServer checks cfg and returns a handshake ready to Respond.
func NewServer(cfg ServerConfig) (*ServerHandshake, error) {
	if len(cfg.Keys) == 0 {
		return nil, errors.New("sigma: ServerConfig.Keys is empty")
	}
	if cfg.LookupDevice == nil {
		return nil, errors.New("sigma: ServerConfig.LookupDevice is nil")
	}
	limit, err := maxPlaintext(cfg.MaxPlaintext)
	if err != nil {
		return nil, err
	}
	s := &ServerHandshake{
		keys:         make([]serverKey, len(cfg.Keys)),
		lookup:       cfg.LookupDevice,
		rand:         cfg.Rand,
		maxPlaintext: limit,
		transcript:   sha256.New(),
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	for i, k := range cfg.Keys {
		if k == nil {
			return nil, fmt.Errorf("sigma: server key %d is nil", i)
		}
		_, point, err := p256Key(k.Public())
		if err != nil {
			return nil, fmt.Errorf("sigma: server key %d: %w", i, err)
		}
		s.keys[i] = serverKey{signer: k, point: point, fingerprint: sha256.Sum256(point)}
	}
	return s, nil
}

// Respond checks the ClientHello and returns the ServerHello.
func (s *ServerHandshake) Respond(clientHello []byte) ([]byte, error) {
	if s.state != stateNew {
		return nil, fmt.Errorf("respond: %w", ErrState)
	}
	s.state = stateSpent
	m := clientHello
	if err := checkHeader(m, typeClientHello); err != nil {
		return nil, fmt.Errorf("client hello: %w", err)
	}
	if len(m) != ClientHelloSize {
		return nil, fmt.Errorf("client hello of %d bytes: %w", len(m), ErrMalformed)
	}
	key := s.pick(m[2+pointLen+nonceLen:])
	if key == nil {
		return nil, fmt.Errorf("client hello: %w", ErrServerKey)
	}
	peer, err := parsePoint(m[2 : 2+pointLen])
	if err != nil {
		return nil, fmt.Errorf("client hello: %w", err)
	}
	eph, header, err := ephemeralHeader(s.rand, typeServerHello, MaxServerHelloSize)
	if err != nil {
		return nil, err
	}
	shared, err := sharedSecret(eph, peer)
	if err != nil {
		return nil, fmt.Errorf("client hello: %w", err)
	}
	s.transcript.Write(m)
	s.transcript.Write(header)
	th1 := s.transcript.Sum(nil)
	s.hs = handshakeSchedule(shared, th1)

	sig, err := key.signer.Sign(s.rand, signedDigest(labelServerSignature, th1), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sigma: server signature: %w", err)
	}
	hello, err := sealSigned(header, &s.hs.s2d, key.point, sig, identityMAC(&s.hs.serverMAC, key.point))
	if err != nil {
		return nil, fmt.Errorf("sigma: server hello: %w", err)
	}
	s.transcript.Write(hello[serverHelloHeaderLen:])
	s.state = stateStarted
	return hello, nil
}

// pick returns the key with the given fingerprint, looking at every key so the time
// taken does not depend on which one matched.
func (s *ServerHandshake) pick(fingerprint []byte) *serverKey {
	var found *serverKey
	for i := range s.keys {
		if subtle.ConstantTimeCompare(s.keys[i].fingerprint[:], fingerprint) == 1 && found == nil {
			found = &s.keys[i]
		}
	}
	return found
}

// Complete checks the ClientFinish (MAC, device key, signature) and returns the session
// and who the device is. An enrollment session (DeviceIdentity.Enrolling) has proved
// possession of its key but nothing else.
func (s *ServerHandshake) Complete(clientFinish []byte) (*Session, DeviceIdentity, error) {
	if s.state != stateStarted {
		return nil, DeviceIdentity{}, fmt.Errorf("complete: %w", ErrState)
	}
	s.state = stateSpent
	m := clientFinish
	if err := checkHeader(m, typeClientFinish); err != nil {
		return nil, DeviceIdentity{}, fmt.Errorf("client finish: %w", err)
	}
	if len(m) < MinClientFinishSize || len(m) > MaxClientFinishSize {
		return nil, DeviceIdentity{}, fmt.Errorf("client finish of %d bytes: %w", len(m), ErrMalformed)
	}
	identity, sig, mac, err := openSigned(m, 2, identityLen, &s.hs.d2s)
	if err != nil {
		return nil, DeviceIdentity{}, fmt.Errorf("client finish: %w", err)
	}
	if !hmac.Equal(mac, identityMAC(&s.hs.deviceMAC, identity)) {
		return nil, DeviceIdentity{}, fmt.Errorf("client finish: device identity: %w", ErrMAC)
	}
	who, pub, err := s.device(identity)
	if err != nil {
		return nil, DeviceIdentity{}, fmt.Errorf("client finish: %w", err)
	}
	th2 := s.transcript.Sum(nil)
	if !ecdsa.VerifyASN1(pub, signedDigest(labelDeviceSignature, th2), sig) {
		return nil, DeviceIdentity{}, fmt.Errorf("client finish: %w", ErrSignature)
	}
	s.transcript.Write(m)
	app := applicationSchedule(s.hs.prk, s.transcript.Sum(nil))
	return newSession(&app.s2d, &app.d2s, app.binding, s.maxPlaintext), who, nil
}

// device decodes the device identity and returns the key its signature must verify
// under: the registered key from LookupDevice, or the enrolling key it carries.
func (s *ServerHandshake) device(identity []byte) (DeviceIdentity, *ecdsa.PublicKey, error) {
	var who DeviceIdentity
	switch identity[0] {
	case identityRegistered:
		copy(who.ID[:], identity[1:1+deviceIDLen])
		if who.ID == [16]byte{} || !allZero(identity[1+deviceIDLen:]) {
			return who, nil, fmt.Errorf("device id: %w", ErrMalformed)
		}
		pub, err := s.lookup(who.ID)
		if err != nil {
			return who, nil, fmt.Errorf("%w: %w", ErrUnknownDevice, err)
		}
		if !verifiable(pub) {
			return who, nil, fmt.Errorf("%w: registered key is not an ECDSA P-256 key", ErrUnknownDevice)
		}
		return who, pub, nil
	case identityEnroll:
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), identity[1:])
		if err != nil {
			return who, nil, fmt.Errorf("enrolling device key: %w", ErrMalformed)
		}
		who.PublicKey = pub
		return who, pub, nil
	}
	return who, nil, fmt.Errorf("device identity kind %#x: %w", identity[0], ErrMalformed)
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
