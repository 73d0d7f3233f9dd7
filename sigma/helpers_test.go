package sigma

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"sync"
	"testing"
)

// stream is a deterministic randomness source: SHA-256(seed || counter) blocks, so two
// streams with the same seed yield the same ephemeral keys and nonces.
type stream struct {
	seed string
	ctr  uint64
	buf  []byte
}

func newStream(seed string) *stream { return &stream{seed: seed} }

func (s *stream) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(s.buf) == 0 {
			h := sha256.New()
			h.Write([]byte(s.seed))
			h.Write(binary.BigEndian.AppendUint64(nil, s.ctr))
			s.ctr++
			s.buf = h.Sum(nil)
		}
		c := copy(p[n:], s.buf)
		s.buf = s.buf[c:]
		n += c
	}
	return len(p), nil
}

// memoSigner signs each digest once with key and returns that signature again for the
// same digest, so repeated handshakes over the same transcript produce the same bytes.
type memoSigner struct {
	key  *ecdsa.PrivateKey
	mu   sync.Mutex
	sigs map[string][]byte
}

func newMemoSigner(key *ecdsa.PrivateKey) *memoSigner {
	return &memoSigner{key: key, sigs: map[string][]byte{}}
}

func (m *memoSigner) Public() crypto.PublicKey { return m.key.Public() }

func (m *memoSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sig, ok := m.sigs[string(digest)]; ok {
		return sig, nil
	}
	sig, err := m.key.Sign(r, digest, opts)
	m.sigs[string(digest)] = sig
	return sig, err
}

// replaySigner returns a recorded signature whatever it is asked to sign.
type replaySigner struct {
	pub *ecdsa.PublicKey
	sig []byte
}

func (r replaySigner) Public() crypto.PublicKey { return r.pub }

func (r replaySigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return r.sig, nil
}

// impostor claims one public key and signs with another key.
type impostor struct {
	claimed *ecdsa.PublicKey
	key     *ecdsa.PrivateKey
}

func (i impostor) Public() crypto.PublicKey { return i.claimed }

func (i impostor) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return i.key.Sign(r, digest, opts)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyFromHex(t testing.TB, scalar string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), unhex(t, scalar))
	if err != nil {
		t.Fatalf("key %s: %v", scalar, err)
	}
	return k
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func pointOf(t testing.TB, pub *ecdsa.PublicKey) []byte {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rewrite decrypts the handshake payload after headerLen under k, lets edit change the
// plaintext, and encrypts it again: a peer that holds the handshake keys but misbehaves.
func rewrite(t testing.TB, msg []byte, headerLen int, k *trafficKey, edit func(pt []byte) []byte) []byte {
	t.Helper()
	n := nonce(&k.iv, 0)
	aead := newAEAD(k.key[:])
	pt, err := aead.Open(nil, n[:], msg[headerLen:], msg[:headerLen])
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	header := append([]byte(nil), msg[:headerLen]...)
	return aead.Seal(header, n[:], edit(pt), header)
}
