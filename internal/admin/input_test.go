package admin

import (
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/rest"
)

// TestBadInput: malformed bodies, unknown fields, wrong types, oversized bodies, wrong
// media types, unknown paths and methods all get a problem document with a 4xx status,
// never a 500.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	for _, c := range []struct {
		name   string
		req    request
		status int
		detail string
	}{
		{"malformed JSON", request{method: "POST", path: "/realms", body: `{"name": "x"`}, 400, "not valid JSON"},
		{"not JSON", request{method: "POST", path: "/realms", body: `name=x`}, 400, "not valid JSON"},
		{"empty body", request{method: "POST", path: "/realms", body: ``}, 400, "empty"},
		{"array", request{method: "POST", path: "/realms", body: `[]`}, 400, "object"},
		{"unknown field", request{method: "POST", path: "/realms", body: `{"name": "x", "nmae": "y"}`}, 400, `"nmae"`},
		{"unknown nested field", request{method: "POST", path: "/realms/acme/users", body: `{"username": "x", "profile": {"shoe_size": 9}}`}, 400, "shoe_size"},
		{"wrong type", request{method: "POST", path: "/realms", body: `{"name": 7}`}, 400, `"name"`},
		{"wrong type bool", request{method: "PATCH", path: "/realms/acme", body: `{"enabled": "yes"}`}, 400, `"enabled"`},
		{"two values", request{method: "POST", path: "/realms", body: `{"name": "x"} {"name": "y"}`}, 400, "exactly one"},
		{"too large", request{method: "POST", path: "/realms", body: `{"name": "` + strings.Repeat("a", rest.MaxBodyBytes) + `"}`}, 413, "larger"},
		{"media type", request{method: "POST", path: "/realms", body: `{"name": "x"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "application/json"},
		{"unknown path", request{method: "GET", path: "/nothing/here"}, 404, "no admin API resource"},
		{"method", request{method: "PUT", path: "/realms/acme"}, 405, "not allowed"},
		{"overlong user id", request{method: "GET", path: "/realms/acme/users/" + strings.Repeat("x", 200)}, 404, "not found"},
		{"invalid realm name", request{method: "GET", path: "/realms/Not%20A%20Name/users"}, 404, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.problem(t, c.status, c.req)
			if d, _ := p["detail"].(string); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q, want it to mention %q", d, c.detail)
			}
		})
	}
	resp := e.do(t, request{method: "PUT", path: "/realms/acme"})
	if allow := resp.header.Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "GET") {
		t.Errorf("405 Allow %q", allow)
	}
	// Nothing refused was stored.
	var p rest.Page[Realm]
	e.call(t, 200, request{method: "GET", path: "/realms"}).json(t, &p)
	if len(p.Items) != 2 {
		t.Fatalf("realms after refused input: %+v", p.Items)
	}
}
