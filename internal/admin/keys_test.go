package admin

import (
	"testing"

	"github.com/signet-auth/signet/internal/rest"
)

// TestKeys: a realm's keys are listed with their states; rotation makes a new active key
// and keeps the old one published as retired.
func TestKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	var before rest.Page[Key]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/keys"}).json(t, &before)
	if len(before.Items) != 0 {
		t.Fatalf("a new realm has keys: %+v", before)
	}
	var first rest.Page[Key]
	e.call(t, 200, request{method: "POST", path: "/realms/acme/keys/rotate", body: map[string]any{"alg": "ES256"}}).json(t, &first)
	active := activeKey(t, first, "ES256")
	var second rest.Page[Key]
	e.call(t, 200, request{method: "POST", path: "/realms/acme/keys/rotate"}).json(t, &second)
	if activeKey(t, second, "ES256").KID == active.KID {
		t.Fatal("rotation kept the active key")
	}
	var retired bool
	for _, k := range second.Items {
		retired = retired || k.KID == active.KID && k.State == "retired"
	}
	if !retired {
		t.Fatalf("the old key is not kept as retired: %+v", second)
	}
	var listed rest.Page[Key]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/keys"}).json(t, &listed)
	if len(listed.Items) != len(second.Items) {
		t.Fatalf("listed %d keys, rotation returned %d", len(listed.Items), len(second.Items))
	}
	e.call(t, 200, request{method: "POST", path: "/realms/acme/keys/rotate", body: map[string]any{"alg": "EdDSA"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/keys/rotate", body: map[string]any{"alg": "HS256"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/keys/rotate", body: map[string]any{"alg": "none"}})
	e.problem(t, 404, request{method: "GET", path: "/realms/nope/keys"})
	e.problem(t, 404, request{method: "POST", path: "/realms/nope/keys/rotate"})
}

func activeKey(t *testing.T, p rest.Page[Key], alg string) Key {
	t.Helper()
	for _, k := range p.Items {
		if k.Alg == alg && k.State == "active" {
			if len(k.PublicJWK) == 0 || string(k.PublicJWK) == "null" {
				t.Fatalf("key %s has no public JWK", k.KID)
			}
			return k
		}
	}
	t.Fatalf("no active %s key in %+v", alg, p)
	return Key{}
}
