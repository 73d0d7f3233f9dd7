package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseKEK(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0x3e}, 11)[:32] // has '+', '/' or '-', '_' when encoded
	std := base64.StdEncoding.EncodeToString(raw)
	rawURL := base64.RawURLEncoding.EncodeToString(raw)
	if std == rawURL || !strings.ContainsAny(std, "+/") {
		t.Fatalf("test key does not tell the encodings apart: %s %s", std, rawURL)
	}
	var ids []string
	for _, s := range []string{std, rawURL, "  " + std + "\n", rawURL + "\r\n"} {
		k, err := ParseKEK(s)
		if err != nil {
			t.Fatalf("ParseKEK(%q) = %v", s, err)
		}
		ids = append(ids, k.ID())
	}
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("same key, different ids: %v", ids)
		}
	}

	bad := []string{
		"",
		"not base64 at all!",
		base64.StdEncoding.EncodeToString(raw[:16]),            // AES-128 key
		base64.StdEncoding.EncodeToString(raw[:31]),            // one byte short
		base64.StdEncoding.EncodeToString(append(raw, 1)),      // one byte long
		base64.StdEncoding.EncodeToString(make([]byte, 64)),    // 64 bytes
		base64.RawURLEncoding.EncodeToString(make([]byte, 32)), // all zero
		base64.StdEncoding.EncodeToString(make([]byte, 32)),    // all zero
		strings.TrimRight(std, "="),                            // std without padding and with '+'/'/'
		base64.URLEncoding.EncodeToString(raw),                 // url with padding and '-'/'_'
		hexOf(raw),                                             // hex is not base64 of 32 bytes
	}
	for _, s := range bad {
		if _, err := ParseKEK(s); !errors.Is(err, ErrInvalidKEK) {
			t.Errorf("ParseKEK(%q) = %v, want ErrInvalidKEK", s, err)
		}
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

func TestGenerateKEK(t *testing.T) {
	t.Parallel()
	a, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated KEKs are equal")
	}
	if raw, err := base64.StdEncoding.DecodeString(a); err != nil || len(raw) != 32 {
		t.Fatalf("GenerateKEK = %q: %d bytes, %v", a, len(raw), err)
	}
	k, err := ParseKEK(a)
	if err != nil {
		t.Fatal(err)
	}
	// Printing a KEK shows its id only.
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if !strings.Contains(s, k.ID()) || strings.Contains(s, a) || strings.Contains(s, "aead") {
			t.Errorf("printed KEK = %q", s)
		}
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k := mustKEK(t)
	aad := []byte("realm=demo")
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		sealed, err := k.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != overhead+len(pt) {
			t.Errorf("sealed %d bytes into %d, want %d", len(pt), len(sealed), overhead+len(pt))
		}
		if len(pt) >= 8 && bytes.Contains(sealed, pt) { // shorter ones occur in random bytes by chance
			t.Error("plaintext visible in sealed value")
		}
		got, err := k.Open(sealed, aad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open = %q, %v; want %q", got, err, pt)
		}
	}
	// A random nonce per seal: equal plaintexts do not give equal envelopes.
	a, _ := k.Seal([]byte("same"), nil)
	b, _ := k.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals of one plaintext are equal")
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	t.Parallel()
	k := mustKEK(t)
	aad := []byte("realm=demo,kid=abc")
	sealed, err := k.Seal([]byte("private key bytes"), aad)
	if err != nil {
		t.Fatal(err)
	}
	r := mustKeyring(t, k)

	// Every single-bit flip anywhere in the envelope is refused: in the KEK id as an
	// unknown KEK, everywhere else as a decryption failure.
	for i := range sealed {
		for bit := range 8 {
			bad := bytes.Clone(sealed)
			bad[i] ^= 1 << bit
			want := ErrDecrypt
			if i >= 1 && i < headerSize {
				want = ErrWrongKEK
			}
			if _, err := k.Open(bad, aad); !errors.Is(err, want) {
				t.Fatalf("KEK.Open with byte %d bit %d flipped = %v, want %v", i, bit, err, want)
			}
			if _, err := r.Open(bad, aad); !errors.Is(err, want) {
				t.Fatalf("Keyring.Open with byte %d bit %d flipped = %v, want %v", i, bit, err, want)
			}
		}
	}
	// Every truncation is refused, and so is an appended byte.
	for n := range len(sealed) {
		if _, err := k.Open(sealed[:n], aad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Open of %d-byte prefix = %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := k.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open with appended byte = %v, want ErrDecrypt", err)
	}
	// Other associated data is refused.
	for _, other := range [][]byte{nil, []byte("realm=demo,kid=abd"), append(bytes.Clone(aad), 0)} {
		if _, err := k.Open(sealed, other); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open with aad %q = %v, want ErrDecrypt", other, err)
		}
	}
}

func TestOpenWrongKEK(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKEK(t), mustKEK(t)
	sealed, err := k1.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k2.Open(sealed, nil)
	if !errors.Is(err, ErrWrongKEK) || errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open with another KEK = %v, want ErrWrongKEK only", err)
	}
	if !strings.Contains(err.Error(), k1.ID()[len(kekIDPrefix):]) {
		t.Errorf("error %q does not name the sealing KEK %s", err, k1.ID())
	}
	if _, err := mustKeyring(t, k2).Open(sealed, nil); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("Keyring.Open without the sealing KEK = %v, want ErrWrongKEK", err)
	}
}

// TestEnvelopeHeaderIsAuthenticated relabels a value sealed by one KEK with the id of
// another configured KEK: it must not open (the header is part of the GCM AAD).
func TestEnvelopeHeaderIsAuthenticated(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKEK(t), mustKEK(t)
	r := mustKeyring(t, k1, k2)
	sealed, err := k1.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(sealed)
	copy(bad[1:headerSize], k2.id[:])
	if _, err := r.Open(bad, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("relabelled envelope = %v, want ErrDecrypt", err)
	}
	bad = bytes.Clone(sealed)
	bad[0] = 2
	if _, err := r.Open(bad, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("unknown version = %v, want ErrDecrypt", err)
	}
}

func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	oldKEK, newKEK := mustKEK(t), mustKEK(t)
	before := mustKeyring(t, oldKEK)
	sealedOld, err := before.Seal([]byte("v1"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}

	during := mustKeyring(t, newKEK, oldKEK, oldKEK) // duplicates are harmless
	if during.Primary() != newKEK {
		t.Fatal("primary is not the new KEK")
	}
	if !during.NeedsReseal(sealedOld) {
		t.Error("value sealed by the old KEK does not need resealing")
	}
	pt, err := during.Open(sealedOld, []byte("aad"))
	if err != nil || string(pt) != "v1" {
		t.Fatalf("open old value during rotation = %q, %v", pt, err)
	}
	resealed, err := during.Seal(pt, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if during.NeedsReseal(resealed) {
		t.Error("resealed value still needs resealing")
	}
	if _, err := oldKEK.Open(resealed, []byte("aad")); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("resealed value opens with the old KEK: %v", err)
	}

	after := mustKeyring(t, newKEK)
	if _, err := after.Open(resealed, []byte("aad")); err != nil {
		t.Errorf("resealed value after rotation: %v", err)
	}
	if _, err := after.Open(sealedOld, []byte("aad")); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("old value after dropping the old KEK = %v, want ErrWrongKEK", err)
	}
}

func TestNewKeyringRefusesNil(t *testing.T) {
	t.Parallel()
	if _, err := NewKeyring(nil); !errors.Is(err, ErrInvalidKEK) {
		t.Errorf("NewKeyring(nil) = %v", err)
	}
	if _, err := NewKeyring(mustKEK(t), nil); !errors.Is(err, ErrInvalidKEK) {
		t.Errorf("NewKeyring(k, nil) = %v", err)
	}
}
