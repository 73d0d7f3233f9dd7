package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var activationTests = []testCase{
	{"ActivationRoundTrip", testActivationRoundTrip},
	{"ActivationInvalid", testActivationInvalid},
	{"ActivationNotFound", testActivationNotFound},
	{"ActivationDuplicate", testActivationDuplicate},
	{"ActivationListPages", testActivationListPages},
	{"ActivationDelete", testActivationDelete},
	{"ActivationPurge", testActivationPurge},
}

func codeIDs(codes []store.ActivationCode) []string {
	return ids(codes, func(c store.ActivationCode) string { return c.ID })
}

func codeKey(c store.ActivationCode) (time.Time, string) { return c.CreatedAt, c.ID }

// listCodes pages through ListActivationCodes with limit and returns every code.
func listCodes(t *testing.T, s store.Store, realm, userID string, limit int) []store.ActivationCode {
	t.Helper()
	return listAll(t, "ListActivationCodes", func(opts store.ListOptions) (store.Page[store.ActivationCode], error) {
		return s.ListActivationCodes(t.Context(), realm, userID, opts)
	}, limit)
}

func testActivationRoundTrip(t *testing.T, s store.Store) {
	world(t, s, "r")
	in := newCode("r", "a1", "u1")
	in.CreatedBy = "Ädmin ✓"
	a := store.Audit{Actor: "Ädmin ✓", Action: "activation_created", Detail: map[string]string{"channel": "qr", "activation_id": "spoofed"}}
	before := store.Timestamp(time.Now())
	created, err := s.CreateActivationCode(t.Context(), in, a)
	ok(t, "CreateActivationCode", err)
	checkNow(t, "CreatedAt", created.CreatedAt, before)
	want := newCode("r", "a1", "u1")
	want.CreatedBy, want.CreatedAt, want.Version = "Ädmin ✓", created.CreatedAt, 1
	checkEqual(t, "CreateActivationCode result", created, want)
	checkEqual(t, "ListActivationCodes", listCodes(t, s, "r", "", 0), []store.ActivationCode{want})
	if created.Redeemed() {
		t.Error("a new code is Redeemed()")
	}
	in.CodeHash[0]++
	checkEqual(t, "CreateActivationCode result after the caller changed its input", created, want)
	// The store names the code in the detail, whatever the caller put there.
	checkAudit(t, s, "r", "r activation_created by Ädmin ✓ user=u1 device= map[activation_id:a1 channel:qr]")
	if a.Detail["activation_id"] != "spoofed" {
		t.Error("CreateActivationCode changed the caller's audit detail")
	}
}

func testActivationInvalid(t *testing.T, s store.Store) {
	world(t, s, "r")
	base := func(change func(*store.ActivationCode)) store.ActivationCode {
		c := newCode("r", "a1", "u1")
		change(&c)
		return c
	}
	for what, c := range map[string]store.ActivationCode{
		"no ID":              base(func(c *store.ActivationCode) { c.ID = "" }),
		"a long ID":          base(func(c *store.ActivationCode) { c.ID = strings.Repeat("i", store.MaxIDLen+1) }),
		"no code hash":       base(func(c *store.ActivationCode) { c.CodeHash = nil }),
		"a short code hash":  base(func(c *store.ActivationCode) { c.CodeHash = c.CodeHash[:store.MinCodeHashLen-1] }),
		"a long code hash":   base(func(c *store.ActivationCode) { c.CodeHash = make([]byte, store.MaxCodeHashLen+1) }),
		"no user":            base(func(c *store.ActivationCode) { c.UserID = "" }),
		"no creator":         base(func(c *store.ActivationCode) { c.CreatedBy = "" }),
		"no expiry":          base(func(c *store.ActivationCode) { c.ExpiresAt = time.Time{} }),
		"a past expiry":      base(func(c *store.ActivationCode) { c.ExpiresAt = time.Now().Add(-time.Second) }),
		"an unstorable time": base(func(c *store.ActivationCode) { c.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"a redemption":       base(func(c *store.ActivationCode) { c.RedeemedAt, c.DeviceID = instant(0), "d1" }),
		"a device":           base(func(c *store.ActivationCode) { c.DeviceID = "d1" }),
	} {
		wantErr(t, "CreateActivationCode with "+what, second(s.CreateActivationCode(t.Context(), c, audit("activation_created"))), store.ErrInvalid)
	}
	for what, a := range map[string]store.Audit{
		"no actor":        {Action: "activation_created"},
		"no action":       {Actor: "admin"},
		"too many detail": {Actor: "admin", Action: "activation_created", Detail: largeMap()},
		"invalid UTF-8":   {Actor: "adm\xffin", Action: "activation_created"},
	} {
		wantErr(t, "CreateActivationCode with an audit of "+what, second(s.CreateActivationCode(t.Context(), newCode("r", "a1", "u1"), a)), store.ErrInvalid)
	}
	checkUnchanged(t, s, "r", []store.ActivationCode{}, nil)
}

func testActivationNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	for what, c := range map[string]store.ActivationCode{
		"a missing realm":          newCode("nope", "a1", "u1"),
		"a missing user":           newCode("r", "a2", "nobody"),
		"a user of another realm":  newCode("other", "a3", "u1"),
		"a missing realm and user": newCode("nope", "a4", "nobody"),
	} {
		wantErr(t, "CreateActivationCode in "+what, second(s.CreateActivationCode(t.Context(), c, audit("activation_created"))), store.ErrNotFound)
	}
	wantErr(t, "DeleteActivationCode(missing)", s.DeleteActivationCode(t.Context(), "r", "missing", audit("activation_deleted")), store.ErrNotFound)
	createCode(t, s, "r", "a1", "u1")
	wantErr(t, "DeleteActivationCode in another realm", s.DeleteActivationCode(t.Context(), "other", "a1", audit("activation_deleted")), store.ErrNotFound)
	checkAudit(t, s, "r", "r activation_created by admin user=u1 device= map[activation_id:a1]")
	checkAudit(t, s, "other")
}

func testActivationDuplicate(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	first := createCode(t, s, "r", "a1", "u1")
	sameID := newCode("r", "a1", "u2")
	sameID.CodeHash = codeHash("r", "fresh")
	sameHash := newCode("r", "a2", "u1")
	sameHash.CodeHash = first.CodeHash
	otherRealmSameHash := newCode("other", "a3", "u1")
	otherRealmSameHash.CodeHash = first.CodeHash
	for what, c := range map[string]store.ActivationCode{
		"a taken ID":                    sameID,
		"a taken hash":                  sameHash,
		"a hash taken in another realm": otherRealmSameHash,
	} {
		wantErr(t, "CreateActivationCode with "+what, second(s.CreateActivationCode(t.Context(), c, audit("activation_created"))), store.ErrConflict)
	}
	checkEqual(t, "codes after conflicting creates", listCodes(t, s, "r", "", 0), []store.ActivationCode{first})
	checkAudit(t, s, "r", "r activation_created by admin user=u1 device= map[activation_id:a1]")
	checkAudit(t, s, "other")
	createCode(t, s, "other", "a1", "u1") // IDs are per realm
}

func testActivationListPages(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	var created []store.ActivationCode
	for i, id := range []string{"e", "a_1", "c", "a1", "a-1", "d", "b"} {
		created = append(created, createCode(t, s, "r", id, fmt.Sprintf("u%d", 1+i%2)))
	}
	createCode(t, s, "other", "x", "u1")
	for _, user := range []string{"", "u1", "u2", "nobody"} {
		var match []store.ActivationCode
		for _, c := range created {
			if user == "" || c.UserID == user {
				match = append(match, c)
			}
		}
		want := byCreation(match, codeKey)
		for _, limit := range []int{1, 3, 7, 0} {
			got := listCodes(t, s, "r", user, limit)
			if !slices.Equal(codeIDs(got), want) {
				t.Errorf("user %q, limit %d: codes %v, want %v", user, limit, codeIDs(got), want)
			}
		}
	}
	checkEqual(t, "listed codes", listCodes(t, s, "r", "", 2), sortedLike(created, byCreation(created, codeKey), func(c store.ActivationCode) string { return c.ID }))
	if got := listCodes(t, s, "missing", "", 0); len(got) != 0 {
		t.Errorf("ListActivationCodes of a missing realm = %v, want none", codeIDs(got))
	}
	for _, cursor := range []string{store.EncodeCursor("device", "0|a"), store.EncodeCursor("activation_code", "a"), "%%%"} {
		_, err := s.ListActivationCodes(t.Context(), "r", "", store.ListOptions{Cursor: cursor})
		wantErr(t, fmt.Sprintf("ListActivationCodes(cursor %q)", cursor), err, store.ErrInvalidCursor)
	}
}

func testActivationDelete(t *testing.T, s store.Store) {
	world(t, s, "r")
	createCode(t, s, "r", "a1", "u1")
	kept := createCode(t, s, "r", "a2", "u2")
	device := enroll(t, s, "r", "u1", newDevice("d1", 1))
	wantErr(t, "DeleteActivationCode with an invalid audit", s.DeleteActivationCode(t.Context(), "r", "a1", store.Audit{Action: "activation_deleted"}), store.ErrInvalid)
	ok(t, "DeleteActivationCode", s.DeleteActivationCode(t.Context(), "r", "a1", store.Audit{Actor: "admin", Action: "activation_deleted", Detail: map[string]string{"why": "typo"}}))
	wantErr(t, "second DeleteActivationCode", s.DeleteActivationCode(t.Context(), "r", "a1", audit("activation_deleted")), store.ErrNotFound)
	_, err := s.EnrollDevice(t.Context(), "r", codeHash("r", "a1"), enrollNow, 0, newDevice("d2", 2), audit("enrolled"))
	wantErr(t, "EnrollDevice with a deleted code", err, store.ErrNotFound)
	// A redeemed code may go too; its device stays.
	ok(t, "DeleteActivationCode of a redeemed code", s.DeleteActivationCode(t.Context(), "r", "code-d1", audit("activation_deleted")))
	checkStored(t, "device of a deleted code", s.GetDevice, "r", "d1", device)
	checkEqual(t, "codes after deletes", listCodes(t, s, "r", "", 0), []store.ActivationCode{kept})
	checkAudit(t, s, "r",
		"r activation_deleted by admin user=u1 device= map[activation_id:code-d1]",
		"r activation_deleted by admin user=u1 device= map[activation_id:a1 why:typo]",
		"r enrolled by admin user=u1 device=d1 map[activation_id:code-d1]",
		"r activation_created by admin user=u1 device= map[activation_id:code-d1]",
		"r activation_created by admin user=u2 device= map[activation_id:a2]",
		"r activation_created by admin user=u1 device= map[activation_id:a1]")
}

// testActivationPurge purges, in two realms, codes that expired or were redeemed before
// a cutoff, and keeps the rest.
func testActivationPurge(t *testing.T, s store.Store) {
	cutoff := instant(0)
	for _, realm := range []string{"r", "r2"} {
		world(t, s, realm)
		for id, expires := range map[string]time.Time{
			"expired": cutoff.Add(-time.Microsecond), "at": cutoff, "later": cutoff.Add(time.Hour),
			"redeemed-before": cutoff.Add(time.Hour), "redeemed-after": cutoff.Add(2 * time.Hour),
		} {
			c := newCode(realm, id, "u1")
			c.ExpiresAt = expires
			_, err := s.CreateActivationCode(t.Context(), c, audit("activation_created"))
			ok(t, "CreateActivationCode "+id, err)
		}
		for id, at := range map[string]time.Time{"redeemed-before": cutoff.Add(-time.Minute), "redeemed-after": cutoff.Add(time.Minute)} {
			_, err := s.EnrollDevice(t.Context(), realm, codeHash(realm, id), at, 0, newDevice(realm+"-d-"+id, len(id)), audit("enrolled"))
			ok(t, "EnrollDevice "+id, err)
		}
	}
	n, err := s.PurgeActivationCodes(t.Context(), cutoff)
	ok(t, "PurgeActivationCodes", err)
	if n != 4 {
		t.Errorf("PurgeActivationCodes = %d, want 4 (two per realm)", n)
	}
	for _, realm := range []string{"r", "r2"} {
		got := codeIDs(listCodes(t, s, realm, "", 0))
		slices.Sort(got)
		if want := []string{"at", "later", "redeemed-after"}; !slices.Equal(got, want) {
			t.Errorf("after PurgeActivationCodes, %s holds %v, want %v", realm, got, want)
		}
		if devices := listDevices(t, s, realm, store.DeviceFilter{}, 0); len(devices) != 2 {
			t.Errorf("%s holds devices %v after the purge, want both", realm, deviceIDs(devices))
		}
	}
	if n, err := s.PurgeActivationCodes(t.Context(), time.Time{}); err != nil || n != 0 {
		t.Errorf("PurgeActivationCodes(zero time) = %d, %v; want 0, nil", n, err)
	}
}
