package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var sessionTests = []testCase{
	{"SessionRoundTrip", testSessionRoundTrip},
	{"SessionNotFound", testSessionNotFound},
	{"SessionDuplicate", testSessionDuplicate},
	{"SessionInvalid", testSessionInvalid},
	{"SessionUpdate", testSessionUpdate},
	{"SessionUpdateRefused", testSessionUpdateRefused},
	{"SessionListUser", testSessionListUser},
	{"SessionDelete", testSessionDelete},
	{"SessionDeleteUser", testSessionDeleteUser},
	{"SessionDeleteExpired", testSessionDeleteExpired},
}

func sessionIDs(sessions []store.Session) []string {
	return ids(sessions, func(s store.Session) string { return s.ID })
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	world(t, s, "r")
	in := fullSession("r", "s1", "u1")
	created := must(t, s.CreateSession, in)
	want := fullSession("r", "s1", "u1")
	want.Version = 1
	checkEqual(t, "CreateSession result", created, want)
	checkStored(t, "GetSession", s.GetSession, "r", "s1", want)
	in.AMR[0], in.SecretHash[0] = "changed", 0xff
	checkEqual(t, "CreateSession result after the caller changed its input", created, want)

	// What the caller leaves out comes back empty; CreatedAt is the store's clock.
	before := store.Timestamp(time.Now())
	bare := must(t, s.CreateSession, newSession("r", "s2", "u1"))
	checkNow(t, "CreatedAt", bare.CreatedAt, before)
	wantBare := store.Session{Realm: "r", ID: "s2", UserID: "u1", AMR: []string{}, CreatedAt: bare.CreatedAt, Version: 1}
	checkEqual(t, "CreateSession result without fields", bare, wantBare)
	checkStored(t, "GetSession without fields", s.GetSession, "r", "s2", wantBare)
}

func testSessionNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	must(t, s.CreateSession, newSession("r", "s1", "u1"))
	wantErr(t, "GetSession(missing)", second(s.GetSession(t.Context(), "r", "missing")), store.ErrNotFound)
	wantErr(t, "GetSession in another realm", second(s.GetSession(t.Context(), "other", "s1")), store.ErrNotFound)
	wantErr(t, "DeleteSession(missing)", s.DeleteSession(t.Context(), "r", "missing"), store.ErrNotFound)
	checkUpdateMissing(t, "UpdateSession", s.UpdateSession, "r", "missing")
	wantErr(t, "CreateSession in a missing realm", second(s.CreateSession(t.Context(), newSession("nope", "s2", "u1"))), store.ErrNotFound)
	wantErr(t, "CreateSession of a missing user", second(s.CreateSession(t.Context(), newSession("r", "s3", "nobody"))), store.ErrNotFound)
	wantErr(t, "CreateSession of a user of another realm", second(s.CreateSession(t.Context(), newSession("other", "s4", "u1"))), store.ErrNotFound)
}

func testSessionDuplicate(t *testing.T, s store.Store) {
	world(t, s, "r")
	first := must(t, s.CreateSession, newSession("r", "s1", "u1"))
	_, err := s.CreateSession(t.Context(), newSession("r", "s1", "u2"))
	wantErr(t, "second CreateSession", err, store.ErrConflict)
	checkStored(t, "session after a duplicate create", s.GetSession, "r", "s1", first)
}

func testSessionInvalid(t *testing.T, s store.Store) {
	world(t, s, "r")
	for what, sess := range map[string]store.Session{
		"no ID":             newSession("r", "", "u1"),
		"no user":           newSession("r", "s1", ""),
		"an unstorable end": {Realm: "r", ID: "s1", UserID: "u1", ExpiresAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		wantErr(t, "CreateSession with "+what, second(s.CreateSession(t.Context(), sess)), store.ErrInvalid)
	}
}

func testSessionUpdate(t *testing.T, s store.Store) {
	world(t, s, "r")
	created := must(t, s.CreateSession, fullSession("r", "s1", "u1"))
	updated, err := s.UpdateSession(t.Context(), "r", "s1", func(sess store.Session) (store.Session, error) {
		checkEqual(t, "fn argument", sess, created)
		sess.LastSeenAt = instant(time.Hour)
		sess.AMR = append(sess.AMR, "hwk")
		sess.ACR, sess.IP, sess.UserAgent = "2", "192.0.2.1", "curl/8"
		sess.SecretHash, sess.ExpiresAt = nil, time.Time{}
		sess.CreatedAt, sess.Version = time.Unix(0, 0), 42 // not the caller's to set
		return sess, nil
	})
	ok(t, "UpdateSession", err)
	want := fullSession("r", "s1", "u1")
	want.LastSeenAt, want.AMR = instant(time.Hour), []string{"pwd", "otp", "hwk"}
	want.ACR, want.IP, want.UserAgent = "2", "192.0.2.1", "curl/8"
	want.SecretHash, want.ExpiresAt, want.Version = nil, time.Time{}, 2
	checkEqual(t, "UpdateSession result", updated, want)
	checkStored(t, "GetSession after update", s.GetSession, "r", "s1", want)
}

func testSessionUpdateRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	created := must(t, s.CreateSession, fullSession("r", "s1", "u1"))
	_, err := s.UpdateSession(t.Context(), "r", "s1", func(sess store.Session) (store.Session, error) {
		sess.IP, sess.AMR[0] = "changed", "changed"
		return sess, errRefused
	})
	if err != errRefused {
		t.Errorf("UpdateSession error = %v, want fn's error unchanged", err)
	}
	for what, fn := range map[string]func(store.Session) (store.Session, error){
		"a new ID":    func(sess store.Session) (store.Session, error) { sess.ID = "s2"; return sess, nil },
		"a new realm": func(sess store.Session) (store.Session, error) { sess.Realm = "other"; return sess, nil },
		"no user":     func(sess store.Session) (store.Session, error) { sess.UserID = ""; return sess, nil },
	} {
		wantErr(t, "UpdateSession with "+what, second(s.UpdateSession(t.Context(), "r", "s1", fn)), store.ErrInvalid)
	}
	_, err = s.UpdateSession(t.Context(), "r", "s1", func(sess store.Session) (store.Session, error) {
		sess.UserID = "nobody"
		return sess, nil
	})
	wantErr(t, "UpdateSession to a missing user", err, store.ErrNotFound)
	checkStored(t, "session after refused updates", s.GetSession, "r", "s1", created)
}

func testSessionListUser(t *testing.T, s store.Store) {
	world(t, s, "r")
	for i, id := range []string{"s-b", "s-c", "s-a"} {
		sess := newSession("r", id, "u1")
		sess.CreatedAt = instant(time.Duration(i) * time.Minute)
		must(t, s.CreateSession, sess)
	}
	tied := newSession("r", "s-d", "u1")
	tied.CreatedAt = instant(time.Minute) // ties with s-c: ID breaks it, newest first means descending
	must(t, s.CreateSession, tied)
	must(t, s.CreateSession, newSession("r", "other-user", "u2"))
	sessions, err := s.ListUserSessions(t.Context(), "r", "u1")
	ok(t, "ListUserSessions", err)
	if got, want := sessionIDs(sessions), []string{"s-a", "s-d", "s-c", "s-b"}; !slices.Equal(got, want) {
		t.Errorf("ListUserSessions = %v, want %v", got, want)
	}
	for _, user := range []string{"nobody", "u3"} {
		sessions, err := s.ListUserSessions(t.Context(), "r", user)
		ok(t, "ListUserSessions", err)
		if sessions == nil || len(sessions) != 0 {
			t.Errorf("ListUserSessions(%q) = %#v, want an empty slice", user, sessions)
		}
	}
}

func testSessionDelete(t *testing.T, s store.Store) {
	world(t, s, "r")
	must(t, s.CreateSession, newSession("r", "s1", "u1"))
	must(t, s.CreateSession, newSession("r", "s2", "u1"))
	ok(t, "DeleteSession", s.DeleteSession(t.Context(), "r", "s1"))
	wantErr(t, "GetSession after delete", second(s.GetSession(t.Context(), "r", "s1")), store.ErrNotFound)
	wantErr(t, "second DeleteSession", s.DeleteSession(t.Context(), "r", "s1"), store.ErrNotFound)
	if _, err := s.GetSession(t.Context(), "r", "s2"); err != nil {
		t.Errorf("GetSession(s2) after deleting s1: %v", err)
	}
}

func testSessionDeleteUser(t *testing.T, s store.Store) {
	world(t, s, "r")
	for _, id := range []string{"s1", "s2", "s3"} {
		must(t, s.CreateSession, newSession("r", id, "u1"))
	}
	must(t, s.CreateSession, newSession("r", "kept", "u2"))
	n, err := s.DeleteUserSessions(t.Context(), "r", "u1")
	ok(t, "DeleteUserSessions", err)
	if n != 3 {
		t.Errorf("DeleteUserSessions = %d, want 3", n)
	}
	if n, err := s.DeleteUserSessions(t.Context(), "r", "u1"); err != nil || n != 0 {
		t.Errorf("second DeleteUserSessions = %d, %v; want 0, nil", n, err)
	}
	sessions, err := s.ListUserSessions(t.Context(), "r", "u2")
	ok(t, "ListUserSessions", err)
	if got := sessionIDs(sessions); !slices.Equal(got, []string{"kept"}) {
		t.Errorf("sessions of u2 = %v, want [kept]", got)
	}
}

func testSessionDeleteExpired(t *testing.T, s store.Store) {
	checkDeleteExpired(t, s, "DeleteExpiredSessions",
		func(realm, id string, expires time.Time) {
			sess := newSession(realm, id, "u1")
			sess.ExpiresAt = expires
			must(t, s.CreateSession, sess)
		},
		s.DeleteExpiredSessions,
		func(realm string) []string {
			sessions, err := s.ListUserSessions(t.Context(), realm, "u1")
			ok(t, "ListUserSessions", err)
			return sessionIDs(sessions)
		})
}
