package keys

import (
	"bytes"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TestCompactSignerInterop: for every algorithm, the compact signer's tokens verify with
// go-jose (through Verify) against the published key, carry kid and typ, and a second
// signer of the same key produces a token of the same header.
func TestCompactSignerInterop(t *testing.T) {
	t.Parallel()
	for _, alg := range Algs() {
		k := fixture(t, alg)
		s, err := NewCompactSigner(k, TypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		payload := []byte(`{"sub":"x","n":1}`)
		tok, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		got, h, err := Verify(tok, JWKS([]*Key{k}), []Alg{alg})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if !bytes.Equal(got, payload) || h.KeyID != k.KID || !TypeIs(h, TypeAccessToken) || h.Algorithm != string(alg) {
			t.Fatalf("%s: payload %s header %+v", alg, got, h)
		}
		parts := strings.Split(tok, ".")
		if sig, _ := base64.RawURLEncoding.DecodeString(parts[2]); alg == ES256 && len(sig) != 64 {
			t.Fatalf("ES256 signature of %d bytes, want 64 (R||S)", len(sig))
		}
		// Tampering with the payload breaks the signature.
		bad := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"y","n":1}`)) + "." + parts[2]
		if _, _, err := Verify(bad, JWKS([]*Key{k}), []Alg{alg}); err == nil {
			t.Fatalf("%s: a changed payload verified", alg)
		}
	}
	if _, err := NewCompactSigner(nil, ""); err == nil {
		t.Fatal("nil key accepted")
	}
}

func BenchmarkCompactSignES256(b *testing.B) {
	k := fixture(b, ES256)
	s, err := NewCompactSigner(k, TypeAccessToken)
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"https://127.0.0.1:8443/realms/demo","sub":"demo-app","aud":["https://127.0.0.1:8443/realms/demo"],"client_id":"demo-app","exp":1790000000,"iat":1789999700,"jti":"AAAAAAAAAAAAAAAAAAAAAA"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAppendRawECDSA: R and S shorter than the field (leading zero bytes, about one
// signature in 128) are left-padded; malformed or oversized DER is refused.
func TestAppendRawECDSA(t *testing.T) {
	t.Parallel()
	der := func(r, s []byte) []byte {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1BigInt(new(big.Int).SetBytes(r))
			b.AddASN1BigInt(new(big.Int).SetBytes(s))
		})
		return b.BytesOrPanic()
	}
	full := bytes.Repeat([]byte{0xff}, 32)
	got, err := appendRawECDSA([]byte("x"), der([]byte{0x01, 0x02}, full), 32)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte("x"), make([]byte, 30)...), 0x01, 0x02), full...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	for name, bad := range map[string][]byte{
		"too long":      der(bytes.Repeat([]byte{0x01}, 33), full),
		"trailing data": append(der(full, full), 0),
		"not DER":       []byte("not a signature"),
	} {
		if _, err := appendRawECDSA(nil, bad, 32); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
