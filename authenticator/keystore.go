package authenticator

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
)

// KeyStore keeps device keys: ECDSA P-256, each under an alias. Android Keystore and
// the iOS Secure Enclave implement it with keys that never leave the hardware;
// FileKeyStore keeps them in files encrypted under a passphrase.
type KeyStore interface {
	// GenerateKey creates a new P-256 key under alias and returns its public key as an
	// uncompressed point (65 bytes).
	GenerateKey(alias string) ([]byte, error)
	// PublicKey returns the public key of alias as an uncompressed point.
	PublicKey(alias string) ([]byte, error)
	// SignDigest signs a SHA-256 digest with the key of alias and returns the ASN.1 DER
	// ECDSA signature (Android: NONEwithECDSA; iOS: ecdsaSignatureDigestX962SHA256).
	SignDigest(alias string, digest []byte) ([]byte, error)
	// DeleteKey removes the key of alias.
	DeleteKey(alias string) error
}

// ErrNoKey is returned by a KeyStore for an alias it does not hold.
var ErrNoKey = errors.New("authenticator: no key under this alias")

// storeSigner is a crypto.Signer over one KeyStore key.
type storeSigner struct {
	ks    KeyStore
	alias string
	pub   *ecdsa.PublicKey
}

func newStoreSigner(ks KeyStore, alias string) (*storeSigner, error) {
	point, err := ks.PublicKey(alias)
	if err != nil {
		return nil, err
	}
	pub, err := parsePoint(point)
	if err != nil {
		return nil, err
	}
	return &storeSigner{ks: ks, alias: alias, pub: pub}, nil
}

func (s *storeSigner) Public() crypto.PublicKey { return s.pub }

func (s *storeSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != sha256.Size {
		return nil, errors.New("authenticator: device keys sign SHA-256 digests only")
	}
	return s.ks.SignDigest(s.alias, digest)
}

// parsePoint reads an uncompressed P-256 point.
func parsePoint(b []byte) (*ecdsa.PublicKey, error) {
	if _, err := ecdh.P256().NewPublicKey(b); err != nil {
		return nil, fmt.Errorf("authenticator: not a P-256 public key: %w", err)
	}
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
}

// MemoryKeyStore keeps keys in memory only: for tests and for keys that live as long
// as the process.
type MemoryKeyStore struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
}

// NewMemoryKeyStore returns an empty MemoryKeyStore.
func NewMemoryKeyStore() *MemoryKeyStore {
	return &MemoryKeyStore{keys: map[string]*ecdsa.PrivateKey{}}
}

func (m *MemoryKeyStore) GenerateKey(alias string) ([]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.keys[alias] = k
	m.mu.Unlock()
	return k.PublicKey.Bytes()
}

func (m *MemoryKeyStore) key(alias string) (*ecdsa.PrivateKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[alias]
	if !ok {
		return nil, ErrNoKey
	}
	return k, nil
}

func (m *MemoryKeyStore) PublicKey(alias string) ([]byte, error) {
	k, err := m.key(alias)
	if err != nil {
		return nil, err
	}
	return k.PublicKey.Bytes()
}

func (m *MemoryKeyStore) SignDigest(alias string, digest []byte) ([]byte, error) {
	k, err := m.key(alias)
	if err != nil {
		return nil, err
	}
	return ecdsa.SignASN1(rand.Reader, k, digest)
}

func (m *MemoryKeyStore) DeleteKey(alias string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, alias)
	return nil
}
