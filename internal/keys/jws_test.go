package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var testPayload = []byte(`{"iss":"https://id.example/realms/demo","sub":"u1","aud":"app","exp":1900000000}`)

// allSet is the JWKS of every fixture key as a relying party sees it: parsed from JSON.
func allSet(t testing.TB) jose.JSONWebKeySet {
	t.Helper()
	var ks []*Key
	for _, a := range Algs() {
		ks = append(ks, fixture(t, a))
	}
	return reparse(t, JWKS(ks))
}

func reparse(t testing.TB, set jose.JSONWebKeySet) jose.JSONWebKeySet {
	t.Helper()
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var out jose.JSONWebKeySet
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// joseToken signs payload with go-jose directly, for tokens Signer would never make.
func joseToken(t testing.TB, alg jose.SignatureAlgorithm, key any, opts *jose.SignerOptions) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(testPayload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken assembles a compact JWS from a header and a signature, for malformed tokens.
func rawToken(t testing.TB, header map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(testPayload) + "." + enc(sig)
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	set := allSet(t)
	for _, alg := range Algs() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := fixture(t, alg)
			tok, err := Sign(k, TypeAccessToken, testPayload)
			if err != nil {
				t.Fatal(err)
			}
			payload, h, err := Verify(tok, set, []Alg{alg})
			if err != nil {
				t.Fatal(err)
			}
			if string(payload) != string(testPayload) {
				t.Errorf("payload = %s", payload)
			}
			if h.KeyID != k.KID || h.Algorithm != string(alg) {
				t.Errorf("header kid %q alg %q, want %q %q", h.KeyID, h.Algorithm, k.KID, alg)
			}
			if !TypeIs(h, TypeAccessToken) || !TypeIs(h, "application/AT+JWT") || TypeIs(h, TypeJWT) || TypeIs(h, "") {
				t.Errorf("typ = %v", h.ExtraHeaders[jose.HeaderType])
			}
			if h.JSONWebKey != nil {
				t.Error("token embeds its key")
			}
			// Every allow-list containing the alg accepts it; one without refuses it.
			if _, _, err := Verify(tok, set, Algs()); err != nil {
				t.Errorf("all algs allowed: %v", err)
			}
			var others []Alg
			for _, a := range Algs() {
				if a != alg {
					others = append(others, a)
				}
			}
			if _, _, err := Verify(tok, set, others); !errors.Is(err, ErrAlgNotAllowed) {
				t.Errorf("alg outside allow-list = %v, want ErrAlgNotAllowed", err)
			}
		})
	}
}

// TestSignerConcurrent backs the promise that one Signer serves concurrent requests.
func TestSignerConcurrent(t *testing.T) {
	t.Parallel()
	k := fixture(t, ES256)
	s, err := Signer(k, TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	set := JWKS([]*Key{k})
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				jws, err := s.Sign(testPayload)
				if err != nil {
					errs <- err
					return
				}
				tok, err := jws.CompactSerialize()
				if err == nil {
					_, _, err = Verify(tok, set, []Alg{ES256})
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSignerWithoutTyp(t *testing.T) {
	t.Parallel()
	k := fixture(t, ES256)
	tok, err := Sign(k, "", testPayload)
	if err != nil {
		t.Fatal(err)
	}
	_, h, err := Verify(tok, JWKS([]*Key{k}), []Alg{ES256})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.ExtraHeaders[jose.HeaderType]; ok || !TypeIs(h, "") || TypeIs(h, TypeJWT) {
		t.Errorf("typ = %v, want none", h.ExtraHeaders[jose.HeaderType])
	}
}

func TestSignerRefusesBadKeys(t *testing.T) {
	t.Parallel()
	es := fixture(t, ES256)
	for _, k := range []*Key{
		nil,
		{KID: "x", Alg: "none", Private: es.Private},
		{KID: "x", Alg: "HS256", Private: es.Private},
		{KID: "x", Alg: RS256, Private: es.Private},
		{KID: "x", Alg: ES256},
	} {
		if _, err := Signer(k, TypeJWT); err == nil {
			t.Errorf("Signer(%v) succeeded", k)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	set := allSet(t)
	es, rs := fixture(t, ES256), fixture(t, RS256)

	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	attackerKID, err := Thumbprint(attacker.Public())
	if err != nil {
		t.Fatal(err)
	}
	rsaPub := rs.Private.(*rsa.PrivateKey).Public()
	der, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	rsaJWK, err := json.Marshal(PublicJWK(rs))
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(kv ...string) *jose.SignerOptions {
		o := &jose.SignerOptions{}
		for i := 0; i < len(kv); i += 2 {
			o = o.WithHeader(jose.HeaderKey(kv[i]), kv[i+1])
		}
		return o
	}
	embed := func(o *jose.SignerOptions) *jose.SignerOptions { o.EmbedJWK = true; return o }
	goodES, err := Sign(es, TypeJWT, testPayload)
	if err != nil {
		t.Fatal(err)
	}
	esParts := strings.Split(goodES, ".")

	tests := []struct {
		name    string
		token   string
		allowed []Alg
		want    error
		has     string // the header must contain this, so the case tests what it says
	}{
		{"alg none", rawToken(t, map[string]any{"alg": "none", "kid": es.KID}, nil), Algs(), ErrAlgNotAllowed, ""},
		{"alg None", rawToken(t, map[string]any{"alg": "None", "kid": es.KID}, nil), Algs(), ErrAlgNotAllowed, ""},
		{"alg missing", rawToken(t, map[string]any{"kid": es.KID}, []byte("sig")), Algs(), ErrAlgNotAllowed, ""},
		{"alg none with good signature", rawToken(t, map[string]any{"alg": "none", "kid": es.KID}, []byte("x")), Algs(), ErrAlgNotAllowed, ""},
		// Alg confusion: HMAC keyed with the RSA public key in its usual encodings.
		{"HS256 keyed with RSA PEM", joseToken(t, jose.HS256, rsaPEM, hdr("kid", rs.KID)), Algs(), ErrAlgNotAllowed, `"HS256"`},
		{"HS256 keyed with RSA DER", joseToken(t, jose.HS256, der, hdr("kid", rs.KID)), []Alg{RS256}, ErrAlgNotAllowed, ""},
		{"HS256 keyed with RSA JWK", joseToken(t, jose.HS256, rsaJWK, hdr("kid", rs.KID)), Algs(), ErrAlgNotAllowed, ""},
		{"HS512 keyed with RSA PEM", joseToken(t, jose.HS512, rsaPEM, hdr("kid", rs.KID)), Algs(), ErrAlgNotAllowed, ""},
		// The RS256 key signs PS256 (and the reverse would be the same): the JWK pins RS256.
		{"PS256 by the RS256 key", joseToken(t, jose.PS256, rs.Private, hdr("kid", rs.KID)), Algs(), ErrKeyMismatch, ""},
		{"ES256 claiming an RSA kid", joseToken(t, jose.ES256, es.Private, hdr("kid", rs.KID)), Algs(), ErrKeyMismatch, ""},
		// A token cannot bring its own key.
		{"embedded jwk, victim kid", joseToken(t, jose.ES256, attacker, embed(hdr("kid", es.KID))), Algs(), ErrBadSignature, `"jwk"`},
		{"embedded jwk, no kid", joseToken(t, jose.ES256, attacker, embed(hdr())), Algs(), ErrUnknownKID, `"jwk"`},
		{"embedded jwk, own kid", joseToken(t, jose.ES256, attacker, embed(hdr("kid", attackerKID))), Algs(), ErrUnknownKID, `"jwk"`},
		{"jku and x5u", joseToken(t, jose.ES256, attacker, hdr("kid", es.KID, "jku", "https://evil.example/jwks", "x5u", "https://evil.example/cert")), Algs(), ErrBadSignature, `"x5u"`},
		{"unknown kid", joseToken(t, jose.ES256, attacker, hdr("kid", attackerKID)), Algs(), ErrUnknownKID, ""},
		{"no kid, several keys", joseToken(t, jose.ES256, es.Private, nil), Algs(), ErrUnknownKID, ""},
		{"signature of another token", esParts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + esParts[2], Algs(), ErrBadSignature, ""},
		{"crit", joseToken(t, jose.ES256, es.Private, hdr("kid", es.KID).WithCritical("exp").WithHeader("exp", "1")), Algs(), ErrMalformedToken, `"crit"`},
		{"b64 false", joseToken(t, jose.ES256, jose.JSONWebKey{Key: es.Private, KeyID: es.KID}, (&jose.SignerOptions{}).WithBase64(false)), Algs(), ErrMalformedToken, `"b64"`},
		{"empty", "", Algs(), ErrMalformedToken, ""},
		{"two parts", esParts[0] + "." + esParts[1], Algs(), ErrMalformedToken, ""},
		{"four parts", goodES + ".", Algs(), ErrMalformedToken, ""},
		{"JSON serialization", `{"payload":"e30","protected":"` + esParts[0] + `","signature":"` + esParts[2] + `"}`, Algs(), ErrMalformedToken, ""},
		{"padding", esParts[0] + "=." + esParts[1] + "." + esParts[2], Algs(), ErrMalformedToken, ""},
		{"line break", esParts[0] + "\n." + esParts[1] + "." + esParts[2], Algs(), ErrMalformedToken, ""},
		{"space", " " + goodES, Algs(), ErrMalformedToken, ""},
		{"std alphabet", esParts[0] + "." + esParts[1] + ".+" + esParts[2][1:], Algs(), ErrMalformedToken, ""},
		{"std alphabet slash", esParts[0] + "." + esParts[1] + "./" + esParts[2][1:], Algs(), ErrMalformedToken, ""},
		// The caller's allow-list itself is checked.
		{"allow-list names HS256", goodES, []Alg{ES256, "HS256"}, ErrUnsupportedAlg, ""},
		{"allow-list names none", goodES, []Alg{"none"}, ErrUnsupportedAlg, ""},
		{"empty allow-list", goodES, nil, ErrAlgNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tt.token, ".")[0]); !strings.Contains(string(h), tt.has) {
				t.Fatalf("header %s lacks %s", h, tt.has)
			}
			payload, _, err := Verify(tt.token, set, tt.allowed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if payload != nil {
				t.Fatal("payload returned with an error")
			}
		})
	}
}

// TestVerifyKeySelection covers the set side: which keys may verify what.
func TestVerifyKeySelection(t *testing.T) {
	t.Parallel()
	es, rs := fixture(t, ES256), fixture(t, RS256)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	esNoKID := joseToken(t, jose.ES256, es.Private, nil)
	psByRS := joseToken(t, jose.PS256, rs.Private, (&jose.SignerOptions{}).WithHeader("kid", rs.KID))
	weak := joseToken(t, jose.RS256, rsa1024, (&jose.SignerOptions{}).WithHeader("kid", "weak"))
	esTok, err := Sign(es, TypeJWT, testPayload)
	if err != nil {
		t.Fatal(err)
	}
	jwk := func(k *Key, mod func(*jose.JSONWebKey)) jose.JSONWebKey {
		j := PublicJWK(k)
		mod(&j)
		return j
	}
	set := func(keys ...jose.JSONWebKey) jose.JSONWebKeySet { return jose.JSONWebKeySet{Keys: keys} }

	tests := []struct {
		name  string
		token string
		set   jose.JSONWebKeySet
		want  error
	}{
		{"no kid, one key", esNoKID, set(PublicJWK(es)), nil},
		{"no kid, one signing and one encryption key", esNoKID, set(PublicJWK(es), jwk(rs, func(j *jose.JSONWebKey) { j.Use = "enc" })), nil},
		{"no kid, two keys", esNoKID, set(PublicJWK(es), PublicJWK(rs)), ErrUnknownKID},
		{"no kid, empty set", esNoKID, set(), ErrUnknownKID},
		{"kid, empty set", esTok, set(), ErrUnknownKID},
		{"RSA key without alg verifies PS256", psByRS, set(jwk(rs, func(j *jose.JSONWebKey) { j.Algorithm = "" })), nil},
		{"RSA key pinned to RS256 refuses PS256", psByRS, set(PublicJWK(rs)), ErrKeyMismatch},
		{"key without use", esTok, set(jwk(es, func(j *jose.JSONWebKey) { j.Use = "" })), nil},
		{"encryption key", esTok, set(jwk(es, func(j *jose.JSONWebKey) { j.Use = "enc" })), ErrKeyMismatch},
		{"private JWK in set is used as public", esTok, set(jose.JSONWebKey{Key: es.Private, KeyID: es.KID}), nil},
		{"symmetric key under the kid", esTok, set(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: es.KID}), ErrKeyMismatch},
		{"RSA-1024", weak, set(jose.JSONWebKey{Key: rsa1024.Public(), KeyID: "weak", Algorithm: "RS256"}), ErrKeyMismatch},
		{"duplicate kid, first does not fit", esTok, set(jose.JSONWebKey{Key: rs.Private.Public(), KeyID: es.KID}, PublicJWK(es)), nil},
		{"duplicate kid, wrong key first", esTok, set(jwk(fixture(t, EdDSA), func(j *jose.JSONWebKey) { j.Key = mustP256(t); j.KeyID = es.KID }), PublicJWK(es)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Verify(tt.token, tt.set, Algs())
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func mustP256(t testing.TB) any {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// TestVerifyRefusesDamagedTokens: every truncation and every single-character change of
// a valid token is refused, for every algorithm (CONFORMANCE.md §4.15).
func TestVerifyRefusesDamagedTokens(t *testing.T) {
	t.Parallel()
	set := allSet(t)
	for _, alg := range Algs() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			tok, err := Sign(fixture(t, alg), TypeAccessToken, testPayload)
			if err != nil {
				t.Fatal(err)
			}
			for n := range len(tok) {
				if _, _, err := Verify(tok[:n], set, Algs()); err == nil {
					t.Fatalf("token truncated to %d of %d bytes verifies", n, len(tok))
				}
			}
			for i := range len(tok) {
				if tok[i] == '.' {
					continue
				}
				for _, delta := range []int{1, 32} { // neighbour, and a flip of the top alphabet bit
					b := []byte(tok)
					b[i] = b64url[(strings.IndexByte(b64url, b[i])+delta)%64]
					if _, _, err := Verify(string(b), set, Algs()); err == nil {
						t.Fatalf("token with byte %d changed to %q verifies", i, b[i])
					}
				}
			}
			// Flipping the low bits of the last character, which a lax decoder drops.
			for bit := 1; bit < 16; bit++ {
				b := []byte(tok)
				b[len(b)-1] = b64url[strings.IndexByte(b64url, b[len(b)-1])^bit]
				if _, _, err := Verify(string(b), set, Algs()); err == nil && string(b) != tok {
					t.Fatalf("last character changed to %q verifies", b[len(b)-1])
				}
			}
		})
	}
}

func TestTypeIs(t *testing.T) {
	t.Parallel()
	h := func(typ any) jose.Header {
		if typ == nil {
			return jose.Header{}
		}
		return jose.Header{ExtraHeaders: map[jose.HeaderKey]any{jose.HeaderType: typ}}
	}
	for _, tt := range []struct {
		typ  any
		want string
		ok   bool
	}{
		{"at+jwt", "at+jwt", true},
		{"application/at+jwt", "at+jwt", true},
		{"AT+JWT", "application/at+jwt", true},
		{"JWT", "jwt", true},
		{"jwt", "at+jwt", false},
		{"at+jwt", "JWT", false},
		{"application/x/at+jwt", "x/at+jwt", false},
		{nil, "", true},
		{nil, "JWT", false},
		{42, "42", false},
		{"dpop+jwt", TypeDPoP, true},
	} {
		if got := TypeIs(h(tt.typ), tt.want); got != tt.ok {
			t.Errorf("TypeIs(typ %v, %q) = %v, want %v", tt.typ, tt.want, got, tt.ok)
		}
	}
}
