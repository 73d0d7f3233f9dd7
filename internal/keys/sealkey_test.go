package keys

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
	"time"
)

func TestSealKeyRoundTrip(t *testing.T) {
	t.Parallel()
	r := mustKeyring(t, mustKEK(t))
	for _, alg := range Algs() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := fixture(t, alg)
			sealed, err := r.SealKey(k, "demo")
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.OpenKey(sealed, "demo", k.KID)
			if err != nil {
				t.Fatal(err)
			}
			if got.KID != k.KID || got.Alg != alg || !got.CreatedAt.Equal(k.CreatedAt) {
				t.Errorf("opened %v created %v, want %v created %v", got, got.CreatedAt, k, k.CreatedAt)
			}
			eq, ok := got.Private.(interface{ Equal(crypto.PrivateKey) bool })
			if !ok || !eq.Equal(k.Private) {
				t.Error("opened private key differs")
			}
		})
	}
}

// TestSealKeyBinding: a sealed key copied onto another realm or another kid row does not
// open, and neither does one sealed for a realm/kid pair whose concatenation collides.
func TestSealKeyBinding(t *testing.T) {
	t.Parallel()
	r := mustKeyring(t, mustKEK(t))
	k, other := fixture(t, ES256), fixture(t, EdDSA)
	sealed, err := r.SealKey(k, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ realm, kid string }{
		{"other", k.KID},
		{"Demo", k.KID},
		{"", k.KID},
		{"demo", other.KID},
		{"demo", ""},
		{"demo" + k.KID[:1], k.KID[1:]},
	} {
		if _, err := r.OpenKey(sealed, tt.realm, tt.kid); !errors.Is(err, ErrDecrypt) {
			t.Errorf("OpenKey(realm %q, kid %q) = %v, want ErrDecrypt", tt.realm, tt.kid, err)
		}
	}
	if bytes.Equal(keyAAD("ab", "c"), keyAAD("a", "bc")) {
		t.Error("associated data is ambiguous")
	}
}

func TestSealKeyAcrossKEKRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := mustKEK(t), mustKEK(t)
	k := fixture(t, EdDSA)
	sealed, err := mustKeyring(t, k1).SealKey(k, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustKeyring(t, k2, k1).OpenKey(sealed, "demo", k.KID); err != nil {
		t.Errorf("open with old KEK configured: %v", err)
	}
	if _, err := mustKeyring(t, k2).OpenKey(sealed, "demo", k.KID); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("open without old KEK = %v, want ErrWrongKEK", err)
	}
}

func TestSealKeyRefusesInconsistentKey(t *testing.T) {
	t.Parallel()
	r := mustKeyring(t, mustKEK(t))
	es, ed := fixture(t, ES256), fixture(t, EdDSA)
	for _, k := range []*Key{
		nil,
		{KID: ed.KID, Alg: ES256, Private: es.Private, CreatedAt: time.Now()}, // kid of another key
		{KID: es.KID, Alg: EdDSA, Private: es.Private, CreatedAt: time.Now()}, // alg does not fit
		{KID: es.KID, Alg: "HS256", Private: es.Private},
	} {
		if _, err := r.SealKey(k, "demo"); err == nil {
			t.Errorf("SealKey(%v) succeeded", k)
		}
	}
}

// TestOpenKeyChecksContent seals well-authenticated but wrong content under the signing
// key AAD: OpenKey must still refuse it.
func TestOpenKeyChecksContent(t *testing.T) {
	t.Parallel()
	r := mustKeyring(t, mustKEK(t))
	k := fixture(t, ES256)
	for _, pt := range []string{
		"not json",
		`{"v":2,"alg":"ES256","pkcs8":""}`,
		`{"v":1,"alg":"ES256","pkcs8":"AAAA"}`,
	} {
		sealed, err := r.Seal([]byte(pt), keyAAD("demo", k.KID))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.OpenKey(sealed, "demo", k.KID); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("OpenKey(%s) = %v, want ErrInvalidKey", pt, err)
		}
	}
	// A valid key sealed under another key's kid (by someone holding the KEK) is refused.
	other := fixture(t, EdDSA)
	sealed, err := r.SealKey(other, "demo")
	if err != nil {
		t.Fatal(err)
	}
	pt, err := r.Open(sealed, keyAAD("demo", other.KID))
	if err != nil {
		t.Fatal(err)
	}
	resealed, err := r.Seal(pt, keyAAD("demo", k.KID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.OpenKey(resealed, "demo", k.KID); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("key under a foreign kid = %v, want ErrInvalidKey", err)
	}
}
