package oidc

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
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

// TestSecretHasherIsHMACSHA256: reused, concurrently used hashers still compute exactly
// HMAC-SHA256 under the pepper, for secrets shorter and longer than their buffer.
func TestSecretHasherIsHMACSHA256(t *testing.T) {
	t.Parallel()
	pepper := bytes.Repeat([]byte{9}, 32)
	h, err := NewSecretHasher(pepper)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for n := range 200 {
				secret := strings.Repeat(string(rune('a'+i)), n)
				m := hmac.New(sha256.New, pepper)
				m.Write([]byte(secret))
				want := m.Sum(nil)
				if got := h.Hash(secret); !bytes.Equal(got, want) {
					t.Errorf("secret of %d bytes: %x, want %x", n, got, want)
					return
				}
				if !h.Verify(secret, want) {
					t.Errorf("secret of %d bytes refused", n)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewIdentifier(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := NewIdentifier()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || seen[id] {
			t.Fatalf("identifier %q", id)
		}
		seen[id] = true
	}
}
