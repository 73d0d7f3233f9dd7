package oidc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// SecretHasher hashes client secrets with HMAC-SHA256 under a server-side pepper.
//
// Client secrets are random with 256 bits of entropy, so a slow password hash adds nothing
// against guessing and would cap the token endpoint at a few dozen requests per second;
// the keyed hash keeps a stolen database useless without the pepper.
type SecretHasher struct {
	pepper []byte
}

// NewSecretHasher returns a hasher; the pepper must have at least 32 bytes.
func NewSecretHasher(pepper []byte) (*SecretHasher, error) {
	if len(pepper) < 32 {
		return nil, errors.New("client secret pepper must have at least 32 bytes")
	}
	return &SecretHasher{pepper: append([]byte(nil), pepper...)}, nil
}

// Hash returns the stored form of secret.
func (h *SecretHasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Verify compares secret with a stored hash over the full length in constant time
// (CONFORMANCE §4.15: truncated or bit-flipped values never match).
func (h *SecretHasher) Verify(secret string, stored []byte) bool {
	return len(stored) == sha256.Size && hmac.Equal(h.Hash(secret), stored)
}

// NewSecret returns a random client secret: 32 bytes (256 bits), base64url.
func NewSecret() string { return RandomToken(32) }

// RandomToken returns n random bytes, base64url without padding. Every code, token and id
// Signet hands out is at least 16 bytes (128 bits) of it.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
