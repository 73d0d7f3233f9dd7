package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/rest"
)

// TestUsers: a user is created (Location, ETag), read, listed a page at a time, changed
// under If-Match (a stale tag is 412), locked (signed out, refused as locked) and
// unlocked, and deleted; bad input is a 400 problem.
func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	created := e.call(t, 201, request{method: "POST", path: "/realms/acme/users",
		body: map[string]any{"username": "alice", "email": "alice@example.com", "profile": map[string]any{"given_name": "Alice"}}})
	var u rest.User
	created.json(t, &u)
	if loc := created.header.Get("Location"); loc != e.srv.URL+BasePath+"/realms/acme/users/"+u.ID {
		t.Errorf("Location %q", loc)
	}
	path := "/realms/acme/users/" + u.ID
	got := e.call(t, 200, request{method: "GET", path: path})
	tag := got.header.Get("ETag")
	if tag == "" || tag != created.header.Get("ETag") {
		t.Errorf("ETag %q, at creation %q", tag, created.header.Get("ETag"))
	}
	e.newUser(t, "bob")
	e.newUser(t, "carol")

	var first rest.Page[rest.User]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?limit=2"}).json(t, &first)
	if len(first.Items) != 2 || first.Next == "" {
		t.Fatalf("first page %+v", first)
	}
	var second rest.Page[rest.User]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?limit=2&cursor=" + first.Next}).json(t, &second)
	if len(second.Items) != 1 || second.Next != "" || second.Items[0].Username != "carol" {
		t.Fatalf("second page %+v", second)
	}
	// A cursor is typed: the users' cursor is no cursor of the events or the devices.
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/events?cursor=" + first.Next})
	e.problem(t, 400, request{method: "GET", path: path + "/devices?cursor=" + first.Next})
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/users?cursor=garbage"})
	var byName rest.Page[rest.User]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?username=ALICE"}).json(t, &byName)
	if len(byName.Items) != 1 || byName.Items[0].ID != u.ID {
		t.Errorf("lookup by username: %+v", byName)
	}

	e.problem(t, 412, request{method: "PATCH", path: path, body: map[string]any{"email": "a@example.org"}, header: map[string]string{"If-Match": `"99"`}})
	changed := e.call(t, 200, request{method: "PATCH", path: path, body: map[string]any{"email": "a@example.org"}, header: map[string]string{"If-Match": tag}})
	var after rest.User
	changed.json(t, &after)
	if after.Email != "a@example.org" || changed.header.Get("ETag") == tag {
		t.Errorf("after PATCH: %+v, ETag %s", after, changed.header.Get("ETag"))
	}
	// The old tag no longer matches.
	e.problem(t, 412, request{method: "POST", path: path + "/lock", header: map[string]string{"If-Match": tag}})

	e.enroll(t, u.ID)
	var locked rest.User
	e.call(t, 200, request{method: "POST", path: path + "/lock"}).json(t, &locked)
	if !locked.Locked || !locked.LockedUntil.Equal(rest.LockedIndefinitely) {
		t.Errorf("locked user %+v", locked)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	e.call(t, 200, request{method: "POST", path: path + "/lock", body: map[string]any{"until": until}}).json(t, &locked)
	if !locked.Locked || !locked.LockedUntil.Equal(until) {
		t.Errorf("user locked for an hour: %+v", locked)
	}
	e.problem(t, 400, request{method: "POST", path: path + "/lock", body: map[string]any{"until": "2001-01-01T00:00:00Z"}})
	// A locked user is asked nothing.
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID}})
	var unlocked rest.User
	e.call(t, 200, request{method: "POST", path: path + "/unlock"}).json(t, &unlocked)
	if unlocked.Locked || !unlocked.LockedUntil.IsZero() {
		t.Errorf("unlocked user %+v", unlocked)
	}
	stored, err := e.st.GetUser(ctx, realmName, u.ID)
	if err != nil || stored.Email != "a@example.org" || !stored.LockedUntil.IsZero() {
		t.Errorf("stored user %+v, %v", stored, err)
	}

	// Bad input.
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": ""}})
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "bob"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "x", "attributes": map[string]any{"signet.x": "y"}}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "x", "password": "correct horse battery"}})
	e.problem(t, 400, request{method: "PATCH", path: path, body: map[string]any{"locked": true}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "x", "role": "admin"}, breaks: true})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/users/nobody"})
	// A token of the realm is no token of another.
	e.problem(t, 401, request{method: "GET", path: "/realms/nowhere/users/nobody"})

	e.problem(t, 412, request{method: "DELETE", path: path, header: map[string]string{"If-Match": tag}})
	e.call(t, 204, request{method: "DELETE", path: path})
	e.problem(t, 404, request{method: "GET", path: path})
	if _, err := e.st.GetUser(ctx, realmName, u.ID); err == nil {
		t.Error("the deleted user is still stored")
	}
}

// TestBadRequests: unknown paths and methods, bodies that are not JSON, of another media
// type, too large or with unknown fields, all get problems, never a 500.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/nothing"})
	e.problem(t, 404, request{method: "GET", path: "/nothing", token: "-"})
	resp := e.do(t, request{method: "PUT", path: "/realms/acme/users"})
	if resp.status != 405 || resp.header.Get("Allow") != "GET, POST, HEAD" {
		t.Errorf("PUT on users: %d, Allow %q", resp.status, resp.header.Get("Allow"))
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: `{"username": `, breaks: true})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: `{"username": "a"} {}`})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: `{"username": 7}`, breaks: true})
	e.problem(t, 415, request{method: "POST", path: "/realms/acme/users", body: `{"username": "a"}`, header: map[string]string{"Content-Type": "text/plain"}, breaks: true})
	big := `{"username": "` + strings.Repeat("a", rest.MaxBodyBytes) + `"}`
	e.problem(t, 413, request{method: "POST", path: "/realms/acme/users", body: big, breaks: true})
	e.problem(t, 413, request{method: "POST", path: "/realms/acme/users", body: big, header: map[string]string{"Idempotency-Key": "k"}, breaks: true})
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/users?limit=0", breaks: true})
	u := e.newUser(t, "dora")
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/users/" + u.ID + "/devices?state=lost", breaks: true})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "a"},
		header: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, breaks: true})
	if _, err := e.st.GetUserByUsername(context.Background(), realmName, "a"); err == nil {
		t.Error("a refused request made a user")
	}
}
