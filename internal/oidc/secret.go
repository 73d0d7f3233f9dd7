package oidc

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"sync"
)

// SecretHasher hashes client secrets with HMAC-SHA256 under a server-side pepper.
//
// Client secrets are random with 256 bits of entropy, so a slow password hash adds nothing
// against guessing and would cap the token endpoint at a few dozen requests per second;
// the keyed hash keeps a stolen database useless without the pepper.
type SecretHasher struct {
	pepper []byte
	// macs holds keyed HMACs for reuse: keying one costs two extra SHA-256 blocks and
	// several allocations on every token request otherwise.
	macs sync.Pool
}

// secretMAC is a keyed HMAC-SHA256 with its buffers; pooled, so it holds key material
// only as long as the hasher does.
type secretMAC struct {
	h   hash.Hash
	buf [64]byte
	sum [sha256.Size]byte
}

// NewSecretHasher returns a hasher; the pepper must have at least 32 bytes.
func NewSecretHasher(pepper []byte) (*SecretHasher, error) {
	if len(pepper) < 32 {
		return nil, errors.New("client secret pepper must have at least 32 bytes")
	}
	h := &SecretHasher{pepper: append([]byte(nil), pepper...)}
	h.macs.New = func() any {
		m := &secretMAC{h: hmac.New(sha256.New, h.pepper)}
		m.h.Reset() // keeps the keyed state, so later resets restore it instead of rehashing
		return m
	}
	return h, nil
}

// mac returns HMAC-SHA256(pepper, secret) in m's buffer.
func (m *secretMAC) mac(secret string) []byte {
	m.h.Reset()
	for len(secret) > 0 {
		n := copy(m.buf[:], secret)
		m.h.Write(m.buf[:n])
		secret = secret[n:]
	}
	clear(m.buf[:])
	return m.h.Sum(m.sum[:0])
}

// Hash returns the stored form of secret.
func (h *SecretHasher) Hash(secret string) []byte {
	m := h.macs.Get().(*secretMAC)
	defer h.macs.Put(m)
	return bytes.Clone(m.mac(secret))
}

// Verify compares secret with a stored hash over the full length in constant time
// (CONFORMANCE §4.15: truncated or bit-flipped values never match).
func (h *SecretHasher) Verify(secret string, stored []byte) bool {
	m := h.macs.Get().(*secretMAC)
	defer h.macs.Put(m)
	return hmac.Equal(m.mac(secret), stored) && len(stored) == sha256.Size
}

// NewSecret returns a random client secret: 32 bytes (256 bits), base64url.
func NewSecret() string { return RandomToken(32) }

// NewIdentifier is a random 128-bit identifier for a record people name on command
// lines (users, registered clients): lower-case hex, so it never starts with '-' the
// way a base64url token can, which a command line would read as a flag.
func NewIdentifier() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// RandomToken returns n random bytes, base64url without padding. Every code, token and id
// Signet hands out is at least 16 bytes (128 bits) of it.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
