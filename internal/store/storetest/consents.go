package storetest

import (
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var consentTests = []testCase{
	{"ConsentPutGet", testConsentPutGet},
	{"ConsentNotFound", testConsentNotFound},
	{"ConsentInvalid", testConsentInvalid},
	{"ConsentListDelete", testConsentListDelete},
}

func testConsentPutGet(t *testing.T, s store.Store) {
	world(t, s, "r")
	in := store.Consent{Realm: "r", UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "email"}, GrantedAt: instant(0)}
	putConsent(t, s, in)
	got, err := s.GetConsent(t.Context(), "r", "u1", "c1")
	ok(t, "GetConsent", err)
	checkEqual(t, "GetConsent", got, in)

	// Put again replaces the scopes and the time; without a time, the store's clock sets it.
	before := store.Timestamp(time.Now())
	putConsent(t, s, store.Consent{Realm: "r", UserID: "u1", ClientID: "c1"})
	got, err = s.GetConsent(t.Context(), "r", "u1", "c1")
	ok(t, "GetConsent after replacing", err)
	checkNow(t, "GrantedAt", got.GrantedAt, before)
	checkEqual(t, "GetConsent after replacing", got, store.Consent{Realm: "r", UserID: "u1", ClientID: "c1", Scopes: []string{}, GrantedAt: got.GrantedAt})
}

func testConsentNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	putConsent(t, s, store.Consent{Realm: "r", UserID: "u1", ClientID: "c1"})
	wantErr(t, "GetConsent(missing client)", second(s.GetConsent(t.Context(), "r", "u1", "c2")), store.ErrNotFound)
	wantErr(t, "GetConsent(missing user)", second(s.GetConsent(t.Context(), "r", "u2", "c1")), store.ErrNotFound)
	wantErr(t, "GetConsent in another realm", second(s.GetConsent(t.Context(), "other", "u1", "c1")), store.ErrNotFound)
	wantErr(t, "DeleteConsent(missing)", s.DeleteConsent(t.Context(), "r", "u1", "c2"), store.ErrNotFound)
	for what, c := range map[string]store.Consent{
		"a missing realm":  {Realm: "nope", UserID: "u1", ClientID: "c1"},
		"a missing user":   {Realm: "r", UserID: "nobody", ClientID: "c1"},
		"a missing client": {Realm: "r", UserID: "u1", ClientID: "nobody"},
		"another realm":    {Realm: "other", UserID: "u1", ClientID: "c1"},
	} {
		wantErr(t, "PutConsent of "+what, s.PutConsent(t.Context(), c), store.ErrNotFound)
	}
}

func testConsentInvalid(t *testing.T, s store.Store) {
	world(t, s, "r")
	for what, c := range map[string]store.Consent{
		"no user":   {Realm: "r", ClientID: "c1"},
		"no client": {Realm: "r", UserID: "u1"},
	} {
		wantErr(t, "PutConsent with "+what, s.PutConsent(t.Context(), c), store.ErrInvalid)
	}
}

func testConsentListDelete(t *testing.T, s store.Store) {
	world(t, s, "r")
	must(t, s.CreateClient, newClient("r", "C0"))
	for _, client := range []string{"c2", "c1", "C0"} {
		putConsent(t, s, store.Consent{Realm: "r", UserID: "u1", ClientID: client, Scopes: []string{"openid", client}, GrantedAt: instant(0)})
	}
	putConsent(t, s, store.Consent{Realm: "r", UserID: "u2", ClientID: "c1", GrantedAt: instant(0)})
	consents, err := s.ListUserConsents(t.Context(), "r", "u1")
	ok(t, "ListUserConsents", err)
	want := []store.Consent{
		{Realm: "r", UserID: "u1", ClientID: "C0", Scopes: []string{"openid", "C0"}, GrantedAt: instant(0)},
		{Realm: "r", UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "c1"}, GrantedAt: instant(0)},
		{Realm: "r", UserID: "u1", ClientID: "c2", Scopes: []string{"openid", "c2"}, GrantedAt: instant(0)},
	}
	checkEqual(t, "ListUserConsents", consents, want)

	ok(t, "DeleteConsent", s.DeleteConsent(t.Context(), "r", "u1", "c1"))
	wantErr(t, "GetConsent after delete", second(s.GetConsent(t.Context(), "r", "u1", "c1")), store.ErrNotFound)
	wantErr(t, "second DeleteConsent", s.DeleteConsent(t.Context(), "r", "u1", "c1"), store.ErrNotFound)
	consents, err = s.ListUserConsents(t.Context(), "r", "u1")
	ok(t, "ListUserConsents", err)
	checkEqual(t, "ListUserConsents after delete", consents, []store.Consent{want[0], want[2]})
	if _, err := s.GetConsent(t.Context(), "r", "u2", "c1"); err != nil {
		t.Errorf("GetConsent of another user after delete: %v", err)
	}
	consents, err = s.ListUserConsents(t.Context(), "r", "nobody")
	ok(t, "ListUserConsents", err)
	if consents == nil || len(consents) != 0 {
		t.Errorf("ListUserConsents of a missing user = %#v, want an empty slice", consents)
	}
}
