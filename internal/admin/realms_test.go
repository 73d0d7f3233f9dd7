package admin

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/rest"
)

// TestRealms: create, read, list page by page, change with and without If-Match, delete;
// the master realm stays.
func TestRealms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{
		"name": "acme", "display_name": "ACME", "attributes": map[string]string{"theme": "dark"},
	}})
	var r Realm
	resp.json(t, &r)
	if r.Name != "acme" || r.DisplayName != "ACME" || !r.Enabled || r.Attributes["theme"] != "dark" || r.Version != 1 || r.CreatedAt.IsZero() {
		t.Fatalf("created %+v", r)
	}
	if resp.header.Get("Location") != "/admin/api/realms/acme" || resp.header.Get("ETag") != `"1"` {
		t.Fatalf("Location %q, ETag %q", resp.header.Get("Location"), resp.header.Get("ETag"))
	}
	e.problem(t, 409, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})
	for _, bad := range []string{"", "Acme", "-acme", "a/b", "a b", strings.Repeat("a", 65)} {
		e.problem(t, 400, request{method: "POST", path: "/realms", body: map[string]any{"name": bad}})
	}
	e.problem(t, 400, request{method: "POST", path: "/realms", body: map[string]any{"name": "x", "attributes": map[string]string{"signet.client_secret_pepper": "x"}}})
	e.problem(t, 400, request{method: "POST", path: "/realms", body: map[string]any{"name": "x", "display_name": "a\x00b"}})
	if p := e.problem(t, 400, request{method: "POST", path: "/realms", body: map[string]any{"name": "api"}}); !strings.Contains(p["detail"].(string), "reserved") {
		t.Errorf("a realm named api: %v", p)
	}

	got := e.call(t, 200, request{method: "GET", path: "/realms/acme"})
	if got.header.Get("ETag") != `"1"` || got.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET headers %v", got.header)
	}
	e.problem(t, 404, request{method: "GET", path: "/realms/nope"})

	// Pagination: master, acme, b1, b2 in name order, two per page.
	for _, n := range []string{"b1", "b2"} {
		e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": n, "enabled": false}})
	}
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		var p rest.Page[Realm]
		e.call(t, 200, request{method: "GET", path: "/realms?limit=2&cursor=" + cursor}).json(t, &p)
		for _, it := range p.Items {
			names = append(names, it.Name)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(names, ",") != "acme,b1,b2,master" {
		t.Fatalf("listed %v", names)
	}
	e.problem(t, 400, request{method: "GET", path: "/realms?cursor=garbage"})
	e.problem(t, 400, request{method: "GET", path: "/realms?limit=0"})
	e.problem(t, 400, request{method: "GET", path: "/realms?limit=ten"})

	// Update: only the fields given change; If-Match guards against lost updates.
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"display_name": "Acme Inc."}, header: map[string]string{"If-Match": `"1"`}}).json(t, &r)
	if r.DisplayName != "Acme Inc." || r.Attributes["theme"] != "dark" || r.Version != 2 {
		t.Fatalf("updated %+v", r)
	}
	e.problem(t, 412, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"enabled": false}, header: map[string]string{"If-Match": `"1"`}})
	r = Realm{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"enabled": false, "attributes": map[string]string{}}}).json(t, &r)
	if r.Enabled || len(r.Attributes) != 0 {
		t.Fatalf("updated %+v", r)
	}
	e.problem(t, 404, request{method: "PATCH", path: "/realms/nope", body: map[string]any{"enabled": false}})
	e.problem(t, 409, request{method: "PATCH", path: "/realms/master", body: map[string]any{"enabled": false}})

	// The master realm's reserved attributes (its client-secret pepper) are never shown,
	// and a change to the others keeps them.
	stored, err := e.st.GetRealm(context.Background(), MasterRealm)
	if err != nil || len(stored.Attributes) == 0 {
		t.Fatalf("master realm has no pepper: %v %v", stored.Attributes, err)
	}
	r = Realm{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/master", body: map[string]any{"attributes": map[string]string{"a": "b"}}}).json(t, &r)
	if len(r.Attributes) != 1 || r.Attributes["a"] != "b" {
		t.Fatalf("master attributes %v", r.Attributes)
	}
	after, _ := e.st.GetRealm(context.Background(), MasterRealm)
	for k, v := range stored.Attributes {
		if after.Attributes[k] != v {
			t.Fatalf("reserved attribute %s lost in an update", k)
		}
		for _, body := range []response{e.call(t, 200, request{method: "GET", path: "/realms/master"}), e.call(t, 200, request{method: "GET", path: "/realms"})} {
			if strings.Contains(string(body.body), v) || strings.Contains(string(body.body), k) {
				t.Fatalf("reserved attribute %s shown: %s", k, body.body)
			}
		}
	}

	e.problem(t, 412, request{method: "DELETE", path: "/realms/acme", header: map[string]string{"If-Match": `"1"`}})
	e.call(t, 204, request{method: "DELETE", path: "/realms/acme"})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme"})
	e.problem(t, 404, request{method: "DELETE", path: "/realms/acme"})
	e.problem(t, 409, request{method: "DELETE", path: "/realms/master"})
	e.call(t, 200, request{method: "GET", path: "/realms/master"})
}

// TestRecreatedRealmGetsItsOwnPepper: a realm deleted and created again under the same
// name hashes client secrets under a new pepper that is stored with it, so a secret the
// API hands out keeps working after a restart (a fresh provider).
func TestRecreatedRealmGetsItsOwnPepper(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	create := func() string {
		e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "again"}})
		var c ClientWithSecret
		e.call(t, 201, request{method: "POST", path: "/realms/again/clients", body: map[string]any{
			"client_id": "svc", "grant_types": []string{"client_credentials"}, "scopes": []string{"x"},
		}}).json(t, &c)
		return c.ClientSecret
	}
	create()
	e.call(t, 204, request{method: "DELETE", path: "/realms/again"})
	secret := create()
	stored, err := e.st.GetClient(context.Background(), "again", "svc")
	if err != nil {
		t.Fatal(err)
	}
	// Peppers that have cached nothing stand for another node or a restart.
	hasher, err := oidc.NewPeppers(e.st, e.ring).Hasher(context.Background(), "again")
	if err != nil || !hasher.Verify(secret, stored.SecretHash) {
		t.Fatalf("the secret does not verify on a fresh node (%v)", err)
	}
}
