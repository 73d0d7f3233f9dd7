package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	for _, alg := range Algs() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			before := time.Now()
			k := fixture(t, alg)
			if k.Alg != alg {
				t.Errorf("Alg = %q, want %q", k.Alg, alg)
			}
			kid, err := Thumbprint(k.Private.Public())
			if err != nil || kid != k.KID {
				t.Errorf("KID = %q, thumbprint = %q (%v)", k.KID, kid, err)
			}
			if raw, err := base64.RawURLEncoding.Strict().DecodeString(k.KID); err != nil || len(raw) != 32 {
				t.Errorf("KID %q is not base64url of a SHA-256 digest", k.KID)
			}
			if k.CreatedAt.IsZero() || k.CreatedAt.After(time.Now()) || k.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt = %v (test started %v)", k.CreatedAt, before)
			}
			switch p := k.Private.(type) {
			case *ecdsa.PrivateKey:
				if alg != ES256 || p.Curve != elliptic.P256() {
					t.Errorf("%s: got ECDSA %s", alg, p.Curve.Params().Name)
				}
			case *rsa.PrivateKey:
				if (alg != RS256 && alg != PS256) || p.N.BitLen() != RSABits {
					t.Errorf("%s: got RSA-%d", alg, p.N.BitLen())
				}
			case ed25519.PrivateKey:
				if alg != EdDSA {
					t.Errorf("%s: got Ed25519", alg)
				}
			default:
				t.Errorf("%s: got %T", alg, p)
			}
			// Printing a key never prints the private part.
			for _, s := range []string{fmt.Sprint(k), fmt.Sprint(*k), fmt.Sprintf("%+v", *k), fmt.Sprintf("%#v", k), fmt.Sprintf("%#v", *k)} {
				if !strings.Contains(s, k.KID) || len(s) > 100 {
					t.Errorf("printed key = %q", s)
				}
			}
		})
	}
}

func TestGenerateDistinct(t *testing.T) {
	t.Parallel()
	a, err := Generate(ES256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(ES256)
	if err != nil {
		t.Fatal(err)
	}
	if a.KID == b.KID {
		t.Fatal("two generated keys share a kid")
	}
}

func TestGenerateRefusesAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range []Alg{"", "none", "None", "HS256", "HS384", "HS512", "RS384", "RS512", "ES384", "ES512", "PS512", "es256", "Ed25519", "ES256K"} {
		if _, err := Generate(alg); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("Generate(%q) = %v, want ErrUnsupportedAlg", alg, err)
		}
		if _, err := ParseAlg(string(alg)); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("ParseAlg(%q) = %v, want ErrUnsupportedAlg", alg, err)
		}
	}
	for _, alg := range Algs() {
		if got, err := ParseAlg(string(alg)); err != nil || got != alg {
			t.Errorf("ParseAlg(%q) = %q, %v", alg, got, err)
		}
	}
}

func TestNewKeyRefusesMismatchedKeys(t *testing.T) {
	t.Parallel()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es := fixture(t, ES256).Private
	ed := fixture(t, EdDSA).Private
	rs := fixture(t, RS256).Private
	tests := []struct {
		name string
		alg  Alg
		priv crypto.Signer
		want error
	}{
		{"RSA-1024 for RS256", RS256, rsa1024, ErrInvalidKey},
		{"RSA-1024 for PS256", PS256, rsa1024, ErrInvalidKey},
		{"P-384 for ES256", ES256, p384, ErrInvalidKey},
		{"Ed25519 for ES256", ES256, ed, ErrInvalidKey},
		{"RSA for EdDSA", EdDSA, rs, ErrInvalidKey},
		{"P-256 for RS256", RS256, es, ErrInvalidKey},
		{"short Ed25519", EdDSA, ed25519.PrivateKey(make([]byte, 10)), ErrInvalidKey},
		{"nil", ES256, nil, ErrInvalidKey},
		{"HS256", "HS256", es, ErrUnsupportedAlg},
		{"none", "none", es, ErrUnsupportedAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewKey(tt.alg, tt.priv, time.Now())
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewKey = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNewKeyAcceptsLargerRSA: raising RSABits later must not strand stored keys, and
// imported keys may be larger.
func TestNewKeyAcceptsLargerRSA(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(PS256, priv, time.Now())
	if err != nil {
		t.Fatalf("RSA-3072: %v", err)
	}
	tok, err := Sign(k, TypeJWT, testPayload)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(tok, JWKS([]*Key{k}), []Alg{PS256}); err != nil {
		t.Fatalf("RSA-3072 round trip: %v", err)
	}
}

// TestThumbprintVectors checks the KID against the published RFC examples.
func TestThumbprintVectors(t *testing.T) {
	t.Parallel()
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// RFC 7638 §3.1.
	rsaPub := &rsa.PublicKey{
		N: new(big.Int).SetBytes(b64("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")),
		E: 65537,
	}
	// RFC 8037 Appendix A.3.
	edPub := ed25519.PublicKey(b64("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"))
	for _, tt := range []struct {
		name string
		pub  any
		want string
	}{
		{"RFC 7638 RSA", rsaPub, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 Ed25519", edPub, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	} {
		got, err := Thumbprint(tt.pub)
		if err != nil || got != tt.want {
			t.Errorf("%s: Thumbprint = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
