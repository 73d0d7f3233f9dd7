package oidc

import (
	"bytes"
	"testing"
)

func TestSecretHasher(t *testing.T) {
	t.Parallel()
	if _, err := NewSecretHasher(make([]byte, 31)); err == nil {
		t.Fatal("a short pepper was accepted")
	}
	h, err := NewSecretHasher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	secret := NewSecret()
	if len(secret) != 43 {
		t.Fatalf("secret %q is not 256 bits", secret)
	}
	stored := h.Hash(secret)
	if !h.Verify(secret, stored) {
		t.Fatal("right secret refused")
	}
	other, _ := NewSecretHasher(bytes.Repeat([]byte{8}, 32))
	flipped := append([]byte(nil), stored...)
	flipped[len(flipped)-1] ^= 1
	for name, ok := range map[string]bool{
		"wrong secret":    h.Verify(secret+"x", stored),
		"truncated input": h.Verify(secret[:len(secret)-1], stored),
		"empty secret":    h.Verify("", stored),
		"truncated hash":  h.Verify(secret, stored[:16]),
		"bit-flipped":     h.Verify(secret, flipped),
		"other pepper":    other.Verify(secret, stored),
		"no hash":         h.Verify(secret, nil),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if a, b := RandomToken(16), RandomToken(16); a == b || len(a) != 22 {
		t.Fatal("random tokens repeat")
	}
}
