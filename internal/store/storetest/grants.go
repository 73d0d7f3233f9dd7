package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var grantTests = []testCase{
	{"GrantRoundTrip", testGrantRoundTrip},
	{"GrantNotFound", testGrantNotFound},
	{"GrantDuplicate", testGrantDuplicate},
	{"GrantInvalid", testGrantInvalid},
	{"GrantUpdate", testGrantUpdate},
	{"GrantUpdateRefused", testGrantUpdateRefused},
	{"GrantRotateConcurrent", testGrantRotateConcurrent},
	{"GrantListUser", testGrantListUser},
	{"GrantRevokeUser", testGrantRevokeUser},
	{"GrantRevokeSession", testGrantRevokeSession},
	{"GrantDeleteExpired", testGrantDeleteExpired},
}

func grantIDs(grants []store.Grant) []string {
	return ids(grants, func(g store.Grant) string { return g.ID })
}

func testGrantRoundTrip(t *testing.T, s store.Store) {
	world(t, s, "r")
	must(t, s.CreateSession, newSession("r", "s1", "u1"))
	in := fullGrant("r", "g1", "c1", "u1", "s1")
	created := must(t, s.CreateGrant, in)
	want := fullGrant("r", "g1", "c1", "u1", "s1")
	want.Version = 1
	checkEqual(t, "CreateGrant result", created, want)
	got := checkStored(t, "GetGrant", s.GetGrant, "r", "g1", want)
	if !got.Revoked() {
		t.Error("a grant with RevokedAt set is not Revoked()")
	}
	in.Scopes[0], in.Claims[0], in.RefreshHash[0] = "changed", '[', 9
	checkEqual(t, "CreateGrant result after the caller changed its input", created, want)

	// client_credentials: no user, no session; CreatedAt from the store's clock.
	before := store.Timestamp(time.Now())
	bare := must(t, s.CreateGrant, newGrant("r", "g2", "c1", ""))
	checkNow(t, "CreatedAt", bare.CreatedAt, before)
	wantBare := store.Grant{Realm: "r", ID: "g2", ClientID: "c1", Scopes: []string{}, AMR: []string{}, CreatedAt: bare.CreatedAt, Version: 1}
	checkEqual(t, "CreateGrant result without a user", bare, wantBare)
	if checkStored(t, "GetGrant without a user", s.GetGrant, "r", "g2", wantBare).Revoked() {
		t.Error("a new grant is Revoked()")
	}
}

func testGrantNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	must(t, s.CreateGrant, newGrant("r", "g1", "c1", "u1"))
	wantErr(t, "GetGrant(missing)", second(s.GetGrant(t.Context(), "r", "missing")), store.ErrNotFound)
	wantErr(t, "GetGrant in another realm", second(s.GetGrant(t.Context(), "other", "g1")), store.ErrNotFound)
	checkUpdateMissing(t, "UpdateGrant", s.UpdateGrant, "r", "missing")
	for what, g := range map[string]store.Grant{
		"a missing realm":  newGrant("nope", "g2", "c1", "u1"),
		"a missing client": newGrant("r", "g3", "nobody", "u1"),
		"a missing user":   newGrant("r", "g4", "c1", "nobody"),
		"another realm":    newGrant("other", "g5", "c1", ""),
	} {
		wantErr(t, "CreateGrant of "+what, second(s.CreateGrant(t.Context(), g)), store.ErrNotFound)
	}
}

func testGrantDuplicate(t *testing.T, s store.Store) {
	world(t, s, "r")
	first := must(t, s.CreateGrant, newGrant("r", "g1", "c1", "u1"))
	wantErr(t, "second CreateGrant", second(s.CreateGrant(t.Context(), newGrant("r", "g1", "c2", "u2"))), store.ErrConflict)
	checkStored(t, "grant after a duplicate create", s.GetGrant, "r", "g1", first)
}

func testGrantInvalid(t *testing.T, s store.Store) {
	world(t, s, "r")
	sessionOnly := newGrant("r", "g1", "c1", "")
	sessionOnly.SessionID = "s1"
	for what, g := range map[string]store.Grant{
		"no ID":                    newGrant("r", "", "c1", "u1"),
		"no client":                newGrant("r", "g1", "", "u1"),
		"a session but no user":    sessionOnly,
		"an unstorable expiration": {Realm: "r", ID: "g1", ClientID: "c1", ExpiresAt: time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		wantErr(t, "CreateGrant with "+what, second(s.CreateGrant(t.Context(), g)), store.ErrInvalid)
	}
}

func testGrantUpdate(t *testing.T, s store.Store) {
	world(t, s, "r")
	created := must(t, s.CreateGrant, newGrant("r", "g1", "c1", "u1"))
	updated, err := s.UpdateGrant(t.Context(), "r", "g1", func(g store.Grant) (store.Grant, error) {
		checkEqual(t, "fn argument", g, created)
		next := fullGrant("r", "g1", "c1", "u1", "s-any")
		next.CreatedAt, next.Version = time.Unix(0, 0), 42 // not the caller's to set
		return next, nil
	})
	ok(t, "UpdateGrant", err)
	want := fullGrant("r", "g1", "c1", "u1", "s-any")
	want.CreatedAt, want.Version = created.CreatedAt, 2
	checkEqual(t, "UpdateGrant result", updated, want)
	checkStored(t, "GetGrant after update", s.GetGrant, "r", "g1", want)

	cleared, err := s.UpdateGrant(t.Context(), "r", "g1", func(g store.Grant) (store.Grant, error) {
		g.RefreshHash, g.PrevRefreshHash, g.Claims, g.RevokedAt, g.RevokedReason, g.SessionID = nil, nil, nil, time.Time{}, "", ""
		return g, nil
	})
	ok(t, "UpdateGrant clearing fields", err)
	got := checkStored(t, "GetGrant after clearing", s.GetGrant, "r", "g1", cleared)
	if got.RefreshHash != nil || got.Claims != nil || got.Revoked() || got.Version != 3 {
		t.Errorf("after clearing: %+v", got)
	}
}

func testGrantUpdateRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	created := must(t, s.CreateGrant, fullGrant("r", "g1", "c1", "u1", "s1"))
	_, err := s.UpdateGrant(t.Context(), "r", "g1", func(g store.Grant) (store.Grant, error) {
		g.RefreshGeneration, g.Scopes[0] = 100, "changed"
		return g, errRefused
	})
	if err != errRefused {
		t.Errorf("UpdateGrant error = %v, want fn's error unchanged", err)
	}
	for what, fn := range map[string]func(store.Grant) (store.Grant, error){
		"a new ID":    func(g store.Grant) (store.Grant, error) { g.ID = "g2"; return g, nil },
		"a new realm": func(g store.Grant) (store.Grant, error) { g.Realm = "other"; return g, nil },
		"no client":   func(g store.Grant) (store.Grant, error) { g.ClientID = ""; return g, nil },
	} {
		wantErr(t, "UpdateGrant with "+what, second(s.UpdateGrant(t.Context(), "r", "g1", fn)), store.ErrInvalid)
	}
	checkStored(t, "grant after refused updates", s.GetGrant, "r", "g1", created)
}

// testGrantRotateConcurrent refreshes one token from many goroutines at once, each
// rotating the refresh hash only if it still is the one it read, as a refresh does: the
// update must be atomic, so each value read is rotated exactly once.
func testGrantRotateConcurrent(t *testing.T, s store.Store) {
	const n = 50
	world(t, s, "r")
	g := newGrant("r", "g1", "c1", "u1")
	g.RefreshHash = []byte("hash-start")
	must(t, s.CreateGrant, g)
	errStale := errors.New("refresh token already rotated")

	var (
		read, start sync.WaitGroup
		mu          sync.Mutex
		rotations   = map[string]int{} // rotations from each hash read
		stale       int
	)
	read.Add(n)
	start.Add(1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			current, err := s.GetGrant(t.Context(), "r", "g1")
			read.Done()
			if err != nil {
				t.Errorf("GetGrant: %v", err)
				return
			}
			start.Wait() // every goroutine has read before any rotates
			_, err = s.UpdateGrant(t.Context(), "r", "g1", func(g store.Grant) (store.Grant, error) {
				if !bytes.Equal(g.RefreshHash, current.RefreshHash) {
					return g, errStale
				}
				g.PrevRefreshHash, g.RefreshHash = g.RefreshHash, fmt.Appendf(nil, "hash-%d", i)
				g.RefreshGeneration++
				return g, nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				rotations[string(current.RefreshHash)]++
			case err == errStale:
				stale++
			default:
				t.Errorf("UpdateGrant: %v", err)
			}
		})
	}
	read.Wait()
	start.Done()
	wg.Wait()

	total := 0
	for hash, count := range rotations {
		if count != 1 {
			t.Errorf("refresh hash %q was rotated %d times, want once", hash, count)
		}
		total += count
	}
	if total+stale != n || total != 1 {
		t.Errorf("%d rotations and %d stale refreshes of %d, want 1 rotation", total, stale, n)
	}
	got, err := s.GetGrant(t.Context(), "r", "g1")
	ok(t, "GetGrant", err)
	if got.RefreshGeneration != int64(total) || got.Version != int64(total)+1 || !bytes.Equal(got.PrevRefreshHash, []byte("hash-start")) {
		t.Errorf("grant after rotations: generation %d, version %d, previous hash %q; want %d, %d, hash-start",
			got.RefreshGeneration, got.Version, got.PrevRefreshHash, total, total+1)
	}
}

func testGrantListUser(t *testing.T, s store.Store) {
	world(t, s, "r")
	for i, id := range []string{"g-b", "g-a", "g-c"} {
		g := newGrant("r", id, "c1", "u1")
		g.CreatedAt = instant(time.Duration(i) * time.Minute)
		if id == "g-a" {
			g.RevokedAt, g.RevokedReason = instant(time.Hour), "logout"
		}
		must(t, s.CreateGrant, g)
	}
	must(t, s.CreateGrant, newGrant("r", "other-user", "c1", "u2"))
	must(t, s.CreateGrant, newGrant("r", "no-user", "c1", ""))
	grants, err := s.ListUserGrants(t.Context(), "r", "u1")
	ok(t, "ListUserGrants", err)
	if got, want := grantIDs(grants), []string{"g-c", "g-a", "g-b"}; !slices.Equal(got, want) {
		t.Errorf("ListUserGrants = %v, want %v", got, want)
	}
	for _, user := range []string{"nobody", ""} {
		grants, err := s.ListUserGrants(t.Context(), "r", user)
		ok(t, "ListUserGrants", err)
		if grants == nil || len(grants) != 0 {
			t.Errorf("ListUserGrants(%q) = %v, want an empty slice", user, grantIDs(grants))
		}
	}
}

func testGrantRevokeUser(t *testing.T, s store.Store) {
	world(t, s, "r")
	earlier := fullGrant("r", "revoked-before", "c1", "u1", "")
	must(t, s.CreateGrant, earlier)
	must(t, s.CreateGrant, newGrant("r", "g1", "c1", "u1"))
	must(t, s.CreateGrant, newGrant("r", "g2", "c2", "u1"))
	other := must(t, s.CreateGrant, newGrant("r", "g3", "c1", "u2"))
	machine := must(t, s.CreateGrant, newGrant("r", "g4", "c1", ""))

	at := instant(3 * time.Hour)
	n, err := s.RevokeUserGrants(t.Context(), "r", "u1", "", "password changed", at)
	ok(t, "RevokeUserGrants", err)
	if n != 2 {
		t.Errorf("RevokeUserGrants = %d, want 2", n)
	}
	for _, id := range []string{"g1", "g2"} {
		g, err := s.GetGrant(t.Context(), "r", id)
		ok(t, "GetGrant", err)
		if !g.RevokedAt.Equal(store.Timestamp(at)) || g.RevokedReason != "password changed" || g.Version != 2 {
			t.Errorf("grant %s: revoked at %v for %q, version %d; want %v, password changed, 2", id, g.RevokedAt, g.RevokedReason, g.Version, at)
		}
	}
	got, err := s.GetGrant(t.Context(), "r", "revoked-before")
	ok(t, "GetGrant", err)
	want := earlier
	want.Version = 1
	checkEqual(t, "a grant revoked before", got, want)
	for _, g := range []store.Grant{other, machine} {
		got, err := s.GetGrant(t.Context(), "r", g.ID)
		ok(t, "GetGrant", err)
		checkEqual(t, "a grant of another user", got, g)
	}
	if n, err := s.RevokeUserGrants(t.Context(), "r", "u1", "", "again", at); err != nil || n != 0 {
		t.Errorf("second RevokeUserGrants = %d, %v; want 0, nil", n, err)
	}

	// Without a time, the store's clock revokes.
	before := store.Timestamp(time.Now())
	if n, err := s.RevokeUserGrants(t.Context(), "r", "u2", "", "admin", time.Time{}); err != nil || n != 1 {
		t.Errorf("RevokeUserGrants(u2) = %d, %v; want 1, nil", n, err)
	}
	got, err = s.GetGrant(t.Context(), "r", "g3")
	ok(t, "GetGrant", err)
	checkNow(t, "RevokedAt without a time", got.RevokedAt, before)
}

func testGrantRevokeSession(t *testing.T, s store.Store) {
	world(t, s, "r")
	must(t, s.CreateSession, newSession("r", "s1", "u1"))
	must(t, s.CreateSession, newSession("r", "s2", "u1"))
	for id, session := range map[string]string{"g1": "s1", "g2": "s1", "g3": "s2", "g4": ""} {
		g := newGrant("r", id, "c1", "u1")
		g.SessionID = session
		must(t, s.CreateGrant, g)
	}
	n, err := s.RevokeUserGrants(t.Context(), "r", "u1", "s1", "logout", instant(0))
	ok(t, "RevokeUserGrants of a session", err)
	if n != 2 {
		t.Errorf("RevokeUserGrants of a session = %d, want 2", n)
	}
	grants, err := s.ListUserGrants(t.Context(), "r", "u1")
	ok(t, "ListUserGrants", err)
	for _, g := range grants {
		if want := g.SessionID == "s1"; g.Revoked() != want || (want && g.RevokedReason != "logout") {
			t.Errorf("grant %s of session %q: revoked %t (%q), want %t", g.ID, g.SessionID, g.Revoked(), g.RevokedReason, want)
		}
	}
	if n, err := s.RevokeUserGrants(t.Context(), "r", "u2", "s1", "logout", instant(0)); err != nil || n != 0 {
		t.Errorf("RevokeUserGrants of another user's session = %d, %v; want 0, nil", n, err)
	}
}

func testGrantDeleteExpired(t *testing.T, s store.Store) {
	checkDeleteExpired(t, s, "DeleteExpiredGrants",
		func(realm, id string, expires time.Time) {
			g := newGrant(realm, id, "c1", "u1")
			g.ExpiresAt = expires
			must(t, s.CreateGrant, g)
		},
		s.DeleteExpiredGrants,
		func(realm string) []string {
			grants, err := s.ListUserGrants(t.Context(), realm, "u1")
			ok(t, "ListUserGrants", err)
			return grantIDs(grants)
		})
}
