package unifiedpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"strings"
	"testing"
)

// The example of RFC 8291 §5 with its intermediate values from Appendix A (read from the
// webpush-wg/webpush-encryption draft source that became the RFC). Both key pairs and the
// salt are fixed there, so the body can be reproduced byte for byte.
const (
	rfcPlaintext = "When I grow up, I want to be a watermelon"
	rfcASPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfcASPublic  = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
	rfcUAPublic  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcSalt      = "DGv6ra1nlYgDCS1FRnbzlw"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcCEK       = "oIhVW04MRdy2XN9CiKLxTg"
	rfcNonce     = "4h_95klXJ5E_qnoN"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func rfcKeys(t *testing.T) (*ecdh.PrivateKey, *ecdh.PublicKey) {
	t.Helper()
	as, err := ecdh.P256().NewPrivateKey(b64(t, rfcASPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(as.PublicKey().Bytes()); got != rfcASPublic {
		t.Fatalf("as_public from the RFC's as_private = %s, want %s", got, rfcASPublic)
	}
	ua, err := ecdh.P256().NewPublicKey(b64(t, rfcUAPublic))
	if err != nil {
		t.Fatal(err)
	}
	return as, ua
}

func TestEncryptRFC8291AppendixA(t *testing.T) {
	t.Parallel()
	as, ua := rfcKeys(t)

	cek, nonce, err := deriveKeys(as, ua, ua.Bytes(), as.PublicKey().Bytes(), b64(t, rfcAuth), b64(t, rfcSalt))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(cek); got != rfcCEK {
		t.Errorf("CEK = %s, want %s", got, rfcCEK)
	}
	if got := base64.RawURLEncoding.EncodeToString(nonce); got != rfcNonce {
		t.Errorf("NONCE = %s, want %s", got, rfcNonce)
	}

	got, err := Encrypt([]byte(rfcPlaintext), ua, b64(t, rfcAuth), as, b64(t, rfcSalt))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if want := b64(t, rfcBody); !bytes.Equal(got, want) {
		t.Fatalf("body differs from RFC 8291 Appendix A\n got %s\nwant %s",
			base64.RawURLEncoding.EncodeToString(got), rfcBody)
	}
}

func TestEncryptRefusesBadInput(t *testing.T) {
	t.Parallel()
	as, ua := rfcKeys(t)
	auth, salt := b64(t, rfcAuth), b64(t, rfcSalt)
	if MaxPlaintext != 3993 { // RFC 8291 §4: "at most 3993 octets of plaintext"
		t.Fatalf("MaxPlaintext = %d, want 3993", MaxPlaintext)
	}
	tests := []struct {
		name      string
		plaintext []byte
		ua        *ecdh.PublicKey
		auth      []byte
		as        *ecdh.PrivateKey
		salt      []byte
		want      string
	}{
		{"short auth", nil, ua, auth[:15], as, salt, "auth secret is 15 bytes"},
		{"long salt", nil, ua, auth, as, append(salt, 0), "salt is 17 bytes"},
		{"too long", make([]byte, MaxPlaintext+1), ua, auth, as, salt, "at most 3993"},
		{"no UA key", nil, nil, auth, as, salt, "user agent key"},
		{"no AS key", nil, ua, auth, nil, salt, "application server key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Encrypt(tt.plaintext, tt.ua, tt.auth, tt.as, tt.salt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The longest plaintext still fits the 4096 octets a push service must take.
	body, err := Encrypt(make([]byte, MaxPlaintext), ua, auth, as, salt)
	if err != nil || len(body) != 4096 {
		t.Fatalf("Encrypt(MaxPlaintext) = %d bytes, %v; want 4096", len(body), err)
	}
}
