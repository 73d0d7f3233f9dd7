package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var cascadeTests = []testCase{
	{"CascadeRealm", testCascadeRealm},
	{"CascadeUser", testCascadeUser},
	{"CascadeClient", testCascadeClient},
}

// populate fills a realm with users u1 and u2, clients c1 and c2, a signing key, and for
// each user a session s-<user>, grants g-<user>-<client> and consents to both clients, a
// device d-<user> enrolled with code code-d-<user>, an unused activation code a-<user>,
// an authentication request q-<user>, and the audit rows of the codes and the device;
// plus a client_credentials grant g-machine of c1.
func populate(t *testing.T, s store.Store, realm string) {
	t.Helper()
	world(t, s, realm)
	setKeys(t, s, realm, signingKey("k1", "active", instant(0)))
	for _, user := range []string{"u1", "u2"} {
		must(t, s.CreateSession, newSession(realm, "s-"+user, user))
		for _, client := range []string{"c1", "c2"} {
			g := newGrant(realm, fmt.Sprintf("g-%s-%s", user, client), client, user)
			g.SessionID = "s-" + user
			must(t, s.CreateGrant, g)
			putConsent(t, s, store.Consent{Realm: realm, UserID: user, ClientID: client, Scopes: []string{"openid"}})
		}
		enroll(t, s, realm, user, newDevice(deviceOf(realm, user), int(user[1])))
		createCode(t, s, realm, "a-"+user, user)
		r := newAuthn(realm, "q-"+user, user, instant(0))
		r.ClientID = "c1"
		must(t, s.CreateAuthnRequest, r)
	}
	must(t, s.CreateGrant, newGrant(realm, "g-machine", "c1", ""))
}

// inventory lists what populate created that is still in realm, as "kind:id" strings.
func inventory(t *testing.T, s store.Store, realm string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	ctx := t.Context()
	if _, err := s.GetRealm(ctx, realm); err == nil {
		found["realm"] = true
	}
	users, err := s.ListUsers(ctx, realm, store.UserFilter{}, store.ListOptions{})
	ok(t, "ListUsers", err)
	for _, u := range users.Items {
		found["user:"+u.ID] = true
	}
	clients, err := s.ListClients(ctx, realm, store.ListOptions{})
	ok(t, "ListClients", err)
	for _, c := range clients.Items {
		found["client:"+c.ID] = true
	}
	for _, k := range listKeys(t, s, realm) {
		found["key:"+k.KID] = true
	}
	for _, user := range []string{"u1", "u2"} {
		sessions, err := s.ListUserSessions(ctx, realm, user)
		ok(t, "ListUserSessions", err)
		for _, sess := range sessions {
			found["session:"+sess.ID] = true
		}
		if _, err := s.GetSession(ctx, realm, "s-"+user); err == nil {
			found["session:s-"+user] = true
		}
		grants, err := s.ListUserGrants(ctx, realm, user)
		ok(t, "ListUserGrants", err)
		for _, g := range grants {
			found["grant:"+g.ID] = true
		}
		consents, err := s.ListUserConsents(ctx, realm, user)
		ok(t, "ListUserConsents", err)
		for _, c := range consents {
			found["consent:"+c.UserID+"-"+c.ClientID] = true
		}
		for _, client := range []string{"c1", "c2"} {
			if _, err := s.GetGrant(ctx, realm, fmt.Sprintf("g-%s-%s", user, client)); err == nil {
				found[fmt.Sprintf("grant:g-%s-%s", user, client)] = true
			}
			if _, err := s.GetConsent(ctx, realm, user, client); err == nil {
				found["consent:"+user+"-"+client] = true
			}
		}
	}
	if _, err := s.GetGrant(ctx, realm, "g-machine"); err == nil {
		found["grant:g-machine"] = true
	}
	for _, d := range listDevices(t, s, realm, store.DeviceFilter{}, 0) {
		found["device:"+d.ID] = true
	}
	for _, c := range listCodes(t, s, realm, "", 0) {
		found["code:"+c.ID] = true
	}
	for _, user := range []string{"u1", "u2"} {
		if _, err := s.GetAuthnRequest(ctx, realm, "q-"+user); err == nil {
			found["authn:q-"+user] = true
		}
		pending, err := s.ListPendingAuthnRequests(ctx, realm, user, enrollNow, 0)
		ok(t, "ListPendingAuthnRequests", err)
		for _, r := range pending {
			found["authn:"+r.ID] = true
		}
	}
	events := listAll(t, "ListAuditEvents", func(opts store.ListOptions) (store.Page[store.AuditEvent], error) {
		return s.ListAuditEvents(ctx, realm, store.AuditFilter{}, opts)
	}, 0)
	for _, e := range events {
		found[auditItem(e.Action, e.UserID, e.DeviceID, e.Detail[store.DetailActivationID])] = true
	}
	return found
}

// deviceOf names the device a populated realm's user enrolled: device ids are unique
// across realms.
func deviceOf(realm, user string) string { return realm + "-d-" + user }

// everything is the inventory of a populated realm, less what drop names.
func everything(t *testing.T, realm string, drop ...string) map[string]bool {
	t.Helper()
	all := map[string]bool{"realm": true, "key:k1": true, "grant:g-machine": true}
	for _, user := range []string{"u1", "u2"} {
		all["user:"+user], all["session:s-"+user] = true, true
		for _, client := range []string{"c1", "c2"} {
			all["client:"+client] = true
			all[fmt.Sprintf("grant:g-%s-%s", user, client)] = true
			all["consent:"+user+"-"+client] = true
		}
	}
	for _, user := range []string{"u1", "u2"} {
		for _, item := range []string{
			"device:" + deviceOf(realm, user), "code:a-" + user, "code:code-" + deviceOf(realm, user), "authn:q-" + user,
			auditItem("activation_created", user, "", "code-"+deviceOf(realm, user)),
			auditItem("enrolled", user, deviceOf(realm, user), "code-"+deviceOf(realm, user)),
			auditItem("activation_created", user, "", "a-"+user),
		} {
			all[item] = true
		}
	}
	for _, d := range drop {
		if !all[d] {
			t.Fatalf("everything: unknown item %s", d)
		}
		delete(all, d)
	}
	return all
}

// auditItem names an audit event in an inventory.
func auditItem(action, userID, deviceID, activationID string) string {
	return fmt.Sprintf("audit:%s:%s:%s:%s", action, userID, deviceID, activationID)
}

func checkInventory(t *testing.T, s store.Store, realm string, want map[string]bool) {
	t.Helper()
	got := inventory(t, s, realm)
	for item := range want {
		if !got[item] {
			t.Errorf("realm %s: %s is gone", realm, item)
		}
	}
	for item := range got {
		if !want[item] {
			t.Errorf("realm %s: %s is still there", realm, item)
		}
	}
}

func testCascadeRealm(t *testing.T, s store.Store) {
	populate(t, s, "gone")
	populate(t, s, "kept")
	checkInventory(t, s, "gone", everything(t, "gone"))
	ok(t, "DeleteRealm", s.DeleteRealm(t.Context(), "gone"))
	checkInventory(t, s, "gone", map[string]bool{})
	checkInventory(t, s, "kept", everything(t, "kept"))
	// The realm can be made again, empty.
	mustCreate(t, s, store.Realm{Name: "gone"})
	checkInventory(t, s, "gone", map[string]bool{"realm": true})
	// Expiry and revocation across realms still work on what is left.
	if _, err := s.DeleteExpiredGrants(t.Context(), time.Now()); err != nil {
		t.Errorf("DeleteExpiredGrants: %v", err)
	}
}

func testCascadeUser(t *testing.T, s store.Store) {
	populate(t, s, "r")
	populate(t, s, "r2")
	ok(t, "DeleteUser", s.DeleteUser(t.Context(), "r", "u1"))
	// The audit rows about the user and their device stay: they record what happened.
	checkInventory(t, s, "r", everything(t, "r", "user:u1", "session:s-u1", "grant:g-u1-c1", "grant:g-u1-c2", "consent:u1-c1", "consent:u1-c2",
		"device:r-d-u1", "code:a-u1", "code:code-r-d-u1", "authn:q-u1"))
	checkInventory(t, s, "r2", everything(t, "r2"))
}

func testCascadeClient(t *testing.T, s store.Store) {
	populate(t, s, "r")
	populate(t, s, "r2")
	ok(t, "DeleteClient", s.DeleteClient(t.Context(), "r", "c1"))
	checkInventory(t, s, "r", everything(t, "r", "client:c1", "grant:g-u1-c1", "grant:g-u2-c1", "grant:g-machine", "consent:u1-c1", "consent:u2-c1"))
	checkInventory(t, s, "r2", everything(t, "r2"))
}
