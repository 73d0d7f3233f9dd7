package admin

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// newRealm creates a realm through the API.
func (e *env) newRealm(t *testing.T, name string) {
	t.Helper()
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": name}})
}

// newUser creates a user through the API and returns it.
func (e *env) newUser(t *testing.T, realm string, body map[string]any) User {
	t.Helper()
	var u User
	e.call(t, 201, request{method: "POST", path: "/realms/" + realm + "/users", body: body}).json(t, &u)
	return u
}

// TestUsers: create with and without a password, list with search and pages, look up
// by username, change, unlock, set a password, delete.
func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	ctx := context.Background()

	resp := e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{
		"username": "Alice", "email": "alice@example.com", "password": "correct horse battery", "password_temporary": true,
		"profile": map[string]any{"given_name": "Alice", "address": map[string]any{"country": "CH"}},
	}})
	var alice User
	resp.json(t, &alice)
	if alice.ID == "" || alice.Username != "Alice" || !alice.Enabled || !alice.HasPassword || !alice.PasswordTemporary ||
		alice.Profile.GivenName != "Alice" || alice.Profile.Address.Country != "CH" || alice.PasswordChangedAt.IsZero() {
		t.Fatalf("created %+v", alice)
	}
	stored, err := e.st.GetUser(ctx, "acme", alice.ID)
	if err != nil || !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
		t.Fatalf("stored password hash %q (%v)", stored.PasswordHash, err)
	}
	if ok, _, err := e.api.passwords.Verify(ctx, "correct horse battery", stored.PasswordHash); !ok || err != nil {
		t.Fatal("the stored hash does not verify the password")
	}
	if strings.Contains(string(resp.body), "argon2") || strings.Contains(string(resp.body), "correct horse") {
		t.Fatalf("the answer holds the password or its hash: %s", resp.body)
	}
	if resp.header.Get("Location") != "/admin/api/realms/acme/users/"+alice.ID {
		t.Fatalf("Location %q", resp.header.Get("Location"))
	}

	e.problem(t, 409, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "ALICE"}})
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "other", "email": "Alice@Example.com"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "short", "password": "1234567"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": " padded "}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "x", "email": "not-an-email"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "x", "password_temporary": true}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "x", "attributes": map[string]string{PasswordTemporaryAttribute: "false"}}})
	e.problem(t, 404, request{method: "POST", path: "/realms/nope/users", body: map[string]any{"username": "x"}})
	e.problem(t, 404, request{method: "GET", path: "/realms/nope/users"})

	for i := range 4 {
		e.newUser(t, "acme", map[string]any{"username": fmt.Sprintf("bob%d", i), "email": fmt.Sprintf("bob%d@example.org", i)})
	}
	var p rest.Page[User]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?search=BOB&limit=3"}).json(t, &p)
	if len(p.Items) != 3 || p.Items[0].Username != "bob0" || p.Next == "" {
		t.Fatalf("first page %+v", p)
	}
	next := rest.Page[User]{}
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?search=bob&limit=3&cursor=" + url.QueryEscape(p.Next)}).json(t, &next)
	if len(next.Items) != 1 || next.Items[0].Username != "bob3" || next.Next != "" {
		t.Fatalf("second page %+v", next)
	}
	exact := rest.Page[User]{}
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?username=alice"}).json(t, &exact)
	if len(exact.Items) != 1 || exact.Items[0].ID != alice.ID {
		t.Fatalf("exact lookup %+v", exact)
	}
	none := rest.Page[User]{}
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users?username=nobody"}).json(t, &none)
	if len(none.Items) != 0 {
		t.Fatalf("lookup of nobody %+v", none)
	}

	userPath := "/realms/acme/users/" + alice.ID
	got := e.call(t, 200, request{method: "GET", path: userPath})
	if got.header.Get("ETag") != `"1"` {
		t.Fatalf("ETag %q", got.header.Get("ETag"))
	}
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/users/nobody"})

	// A changed email is unverified; a lock set by failed logins is lifted by unlock.
	if _, err := e.st.UpdateUser(ctx, "acme", alice.ID, func(u store.User) (store.User, error) {
		u.EmailVerified, u.LockedUntil, u.FailedLogins = true, time.Now().Add(time.Hour), 5
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	var locked User
	e.call(t, 200, request{method: "GET", path: userPath}).json(t, &locked)
	if !locked.Locked || locked.FailedLogins != 5 || locked.LockedUntil.IsZero() {
		t.Fatalf("locked user %+v", locked)
	}
	var changed User
	e.call(t, 200, request{method: "PATCH", path: userPath, body: map[string]any{"email": "alice@new.example", "locked": false, "profile": map[string]any{"name": "Alice A."}}}).json(t, &changed)
	if changed.Email != "alice@new.example" || changed.EmailVerified || changed.Locked || changed.FailedLogins != 0 || changed.Profile.Name != "Alice A." || changed.Profile.GivenName != "" {
		t.Fatalf("changed %+v", changed)
	}
	e.problem(t, 400, request{method: "PATCH", path: userPath, body: map[string]any{"locked": true}})
	e.problem(t, 409, request{method: "PATCH", path: userPath, body: map[string]any{"username": "bob1"}})
	e.problem(t, 412, request{method: "PATCH", path: userPath, body: map[string]any{"enabled": true}, header: map[string]string{"If-Match": `"1"`}})
	e.problem(t, 404, request{method: "PATCH", path: "/realms/acme/users/nobody", body: map[string]any{"enabled": true}})

	// A new password replaces the hash and clears the temporary mark unless asked again.
	e.problem(t, 400, request{method: "PUT", path: userPath + "/password", body: map[string]any{"password": "short"}})
	e.call(t, 204, request{method: "PUT", path: userPath + "/password", body: map[string]any{"password": "a much better password"}})
	var after User
	e.call(t, 200, request{method: "GET", path: userPath}).json(t, &after)
	if after.PasswordTemporary || !after.HasPassword {
		t.Fatalf("after set-password %+v", after)
	}
	stored, _ = e.st.GetUser(ctx, "acme", alice.ID)
	if ok, _, _ := e.api.passwords.Verify(ctx, "a much better password", stored.PasswordHash); !ok {
		t.Fatal("the new password does not verify")
	}
	e.problem(t, 404, request{method: "PUT", path: "/realms/acme/users/nobody/password", body: map[string]any{"password": "long enough"}})

	e.call(t, 204, request{method: "DELETE", path: userPath})
	e.problem(t, 404, request{method: "GET", path: userPath})
	e.problem(t, 404, request{method: "DELETE", path: userPath})
}

// signIn stores a session of a user and a grant made in it for client, as a sign-in would.
func (e *env) signIn(t *testing.T, realm, userID, client, session string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.st.CreateSession(ctx, store.Session{Realm: realm, ID: session, UserID: userID, AMR: []string{"pwd"}, IP: "192.0.2.1", SecretHash: []byte("0123456789abcdef0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateGrant(ctx, store.Grant{Realm: realm, ID: "g-" + session, ClientID: client, UserID: userID, SessionID: session, Scopes: []string{"openid"}}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) grantRevoked(t *testing.T, realm, id string) bool {
	t.Helper()
	g, err := e.st.GetGrant(context.Background(), realm, id)
	if err != nil {
		t.Fatal(err)
	}
	return g.Revoked()
}

// TestDisablingAndPasswordsEndSessions: disabling a user or setting their password
// revokes their grants and deletes their sessions (CONFORMANCE §2, §3).
func TestDisablingAndPasswordsEndSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	e.addClient(t, "acme", "app")
	carol := e.newUser(t, "acme", map[string]any{"username": "carol"})
	dave := e.newUser(t, "acme", map[string]any{"username": "dave"})
	e.signIn(t, "acme", carol.ID, "app", "s-carol")
	e.signIn(t, "acme", dave.ID, "app", "s-dave")

	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/users/" + carol.ID, body: map[string]any{"enabled": false}})
	if !e.grantRevoked(t, "acme", "g-s-carol") {
		t.Fatal("disabling did not revoke the user's grant")
	}
	if e.grantRevoked(t, "acme", "g-s-dave") {
		t.Fatal("disabling one user revoked another's grant")
	}
	var sessions rest.Page[Session]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users/" + carol.ID + "/sessions"}).json(t, &sessions)
	if len(sessions.Items) != 0 {
		t.Fatalf("sessions left after disabling: %+v", sessions)
	}

	e.call(t, 204, request{method: "PUT", path: "/realms/acme/users/" + dave.ID + "/password", body: map[string]any{"password": "a new password", "temporary": true}})
	if !e.grantRevoked(t, "acme", "g-s-dave") {
		t.Fatal("a new password did not revoke the user's grant")
	}
	var d User
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users/" + dave.ID}).json(t, &d)
	if !d.PasswordTemporary {
		t.Fatal("temporary password not marked")
	}
}

// TestSessions: list a user's sessions without their secrets, end one (revoking its
// grants only), end all.
func TestSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	e.addClient(t, "acme", "app")
	erin := e.newUser(t, "acme", map[string]any{"username": "erin"})
	frank := e.newUser(t, "acme", map[string]any{"username": "frank"})
	for _, s := range []string{"s1", "s2", "s3"} {
		e.signIn(t, "acme", erin.ID, "app", s)
	}
	e.signIn(t, "acme", frank.ID, "app", "s-frank")
	base := "/realms/acme/users/" + erin.ID + "/sessions"

	resp := e.call(t, 200, request{method: "GET", path: base})
	var list rest.Page[Session]
	resp.json(t, &list)
	if len(list.Items) != 3 || list.Items[0].UserID != erin.ID || list.Items[0].IP != "192.0.2.1" || list.Items[0].AMR[0] != "pwd" {
		t.Fatalf("sessions %+v", list)
	}
	if strings.Contains(string(resp.body), "0123456789abcdef") || strings.Contains(string(resp.body), "secret") {
		t.Fatalf("session secrets shown: %s", resp.body)
	}

	e.call(t, 204, request{method: "DELETE", path: base + "/s2"})
	if !e.grantRevoked(t, "acme", "g-s2") || e.grantRevoked(t, "acme", "g-s1") {
		t.Fatal("revoking one session revoked the wrong grants")
	}
	e.problem(t, 404, request{method: "DELETE", path: base + "/s2"})
	// Another user's session is not reachable below this user.
	e.problem(t, 404, request{method: "DELETE", path: base + "/s-frank"})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/users/nobody/sessions"})

	e.call(t, 204, request{method: "DELETE", path: base})
	list = rest.Page[Session]{}
	e.call(t, 200, request{method: "GET", path: base}).json(t, &list)
	if len(list.Items) != 0 || !e.grantRevoked(t, "acme", "g-s1") || !e.grantRevoked(t, "acme", "g-s3") {
		t.Fatalf("after revoking all: %+v", list)
	}
	if e.grantRevoked(t, "acme", "g-s-frank") {
		t.Fatal("another user's grant was revoked")
	}
}
