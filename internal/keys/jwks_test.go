package keys

import (
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func TestPublicJWK(t *testing.T) {
	t.Parallel()
	wantKty := map[Alg]string{ES256: "EC", RS256: "RSA", PS256: "RSA", EdDSA: "OKP"}
	for _, alg := range Algs() {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := fixture(t, alg)
			b, err := json.Marshal(PublicJWK(k))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for member, want := range map[string]string{"kty": wantKty[alg], "use": "sig", "alg": string(alg), "kid": k.KID} {
				if m[member] != want {
					t.Errorf("%q = %v, want %q in %s", member, m[member], want, b)
				}
			}
			for _, member := range privateMembers {
				if _, ok := m[member]; ok {
					t.Errorf("public JWK has private member %q: %s", member, b)
				}
			}
			// What relying parties parse back is a public key with the same thumbprint.
			var back jose.JSONWebKey
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !back.IsPublic() {
				t.Fatalf("parsed JWK is not public: %T", back.Key)
			}
			if kid, err := Thumbprint(back.Key); err != nil || kid != k.KID {
				t.Errorf("thumbprint of published key = %q, %v; want %q", kid, err, k.KID)
			}
		})
	}
}

func TestJWKSHasNoPrivateMembers(t *testing.T) {
	t.Parallel()
	var ks []*Key
	for _, alg := range Algs() {
		ks = append(ks, fixture(t, alg))
	}
	b, err := json.Marshal(JWKS(ks))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != len(ks) {
		t.Fatalf("JWKS has %d keys, want %d: %s", len(doc.Keys), len(ks), b)
	}
	for i, m := range doc.Keys {
		if m["kid"] != ks[i].KID || m["alg"] != string(ks[i].Alg) {
			t.Errorf("key %d = %v %v, want %s", i, m["kid"], m["alg"], ks[i])
		}
		for _, member := range privateMembers {
			if _, ok := m[member]; ok {
				t.Errorf("JWKS key %s has private member %q", ks[i], member)
			}
		}
	}
	if b, _ := json.Marshal(JWKS(nil)); string(b) != `{"keys":[]}` {
		t.Errorf("empty JWKS = %s, want {\"keys\":[]}", b)
	}
}
