package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"
)

// benchPayload is a typical access token body.
var benchPayload = []byte(`{"iss":"https://id.example.com/realms/demo","sub":"7f3c2a9e-5b1d-4c8e-9a2f-1e6d3b4c5a7f",` +
	`"aud":"https://api.example.com","client_id":"web-app","scope":"openid profile email",` +
	`"iat":1767225600,"exp":1767225900,"jti":"b3J0aG9nb25hbGl0eS1pcy1ub3QtYS10b2tlbg"}`)

// benchSign measures one compact token per iteration (sign and serialize), on one
// goroutine, and reports tokens per second.
func benchSign(b *testing.B, k *Key) {
	s, err := Signer(k, TypeAccessToken)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		jws, err := s.Sign(benchPayload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
}

func BenchmarkSignES256(b *testing.B) { benchSign(b, fixture(b, ES256)) }
func BenchmarkSignRS256(b *testing.B) { benchSign(b, fixture(b, RS256)) }
func BenchmarkSignPS256(b *testing.B) { benchSign(b, fixture(b, PS256)) }
func BenchmarkSignEdDSA(b *testing.B) { benchSign(b, fixture(b, EdDSA)) }

// BenchmarkSignRS256Bits3072 is the figure RSABits = 2048 is weighed against.
func BenchmarkSignRS256Bits3072(b *testing.B) {
	priv, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		b.Fatal(err)
	}
	k, err := NewKey(RS256, priv, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	benchSign(b, k)
}

// BenchmarkVerifyES256 measures Verify against a three-key JWKS, what the resource
// server side of token introspection pays.
func BenchmarkVerifyES256(b *testing.B) {
	k := fixture(b, ES256)
	tok, err := Sign(k, TypeAccessToken, benchPayload)
	if err != nil {
		b.Fatal(err)
	}
	set := JWKS([]*Key{fixture(b, EdDSA), k, fixture(b, RS256)})
	allowed := []Alg{ES256}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Verify(tok, set, allowed); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}
