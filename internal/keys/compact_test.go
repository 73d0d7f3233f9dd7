package keys

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
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
