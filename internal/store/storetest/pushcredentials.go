package storetest

import (
	"encoding/json"
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

var pushCredentialTests = []testCase{
	{"PushCredentials", testPushCredentials},
	{"PushCredentialsRefused", testPushCredentialsRefused},
}

func pushCredential(realm, provider, settings string) store.PushCredential {
	return store.PushCredential{Realm: realm, Provider: provider, Settings: json.RawMessage(settings), Sealed: []byte("sealed " + provider)}
}

// A put creates, a second put replaces (keeping CreatedAt, counting Version), reads and
// lists return what was put, a delete removes it, and the realm's deletion takes its
// credentials along.
func testPushCredentials(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	ctx := t.Context()
	first, err := s.PutPushCredential(ctx, pushCredential("r", "apns", `{"key_id":"K1"}`))
	ok(t, "PutPushCredential", err)
	if first.Version != 1 || first.CreatedAt.IsZero() || !first.CreatedAt.Equal(first.UpdatedAt) {
		t.Errorf("created credential %+v: want version 1 and its times set", first)
	}
	second, err := s.PutPushCredential(ctx, pushCredential("r", "apns", `{"key_id":"K2"}`))
	ok(t, "PutPushCredential again", err)
	if second.Version != 2 || !second.CreatedAt.Equal(first.CreatedAt) || string(second.Settings) != `{"key_id":"K2"}` {
		t.Errorf("replaced credential %+v: want version 2, the first CreatedAt and the new settings", second)
	}
	got, err := s.GetPushCredential(ctx, "r", "apns")
	ok(t, "GetPushCredential", err)
	checkEqual(t, "read credential", got, second)
	_, err = s.PutPushCredential(ctx, pushCredential("r", "fcm", `{"project_id":"p"}`))
	ok(t, "PutPushCredential fcm", err)
	_, err = s.PutPushCredential(ctx, pushCredential("other", "fcm", `{"project_id":"q"}`))
	ok(t, "PutPushCredential in other", err)
	list, err := s.ListPushCredentials(ctx, "r")
	ok(t, "ListPushCredentials", err)
	if len(list) != 2 || list[0].Provider != "apns" || list[1].Provider != "fcm" {
		t.Errorf("ListPushCredentials = %+v, want apns then fcm of realm r", list)
	}
	if list, err := s.ListPushCredentials(ctx, "missing"); err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListPushCredentials of a missing realm = %v, %v; want an empty list", list, err)
	}
	ok(t, "DeletePushCredential", s.DeletePushCredential(ctx, "r", "apns"))
	_, err = s.GetPushCredential(ctx, "r", "apns")
	wantErr(t, "GetPushCredential after delete", err, store.ErrNotFound)
	wantErr(t, "DeletePushCredential again", s.DeletePushCredential(ctx, "r", "apns"), store.ErrNotFound)
	ok(t, "DeleteRealm", s.DeleteRealm(ctx, "r"))
	_, err = s.GetPushCredential(ctx, "r", "fcm")
	wantErr(t, "GetPushCredential of a deleted realm", err, store.ErrNotFound)
	if _, err := s.GetPushCredential(ctx, "other", "fcm"); err != nil {
		t.Errorf("another realm's credential went with the deleted realm: %v", err)
	}
}

func testPushCredentialsRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	ctx := t.Context()
	for name, c := range map[string]store.PushCredential{
		"unknown provider": pushCredential("r", "sms", `{}`),
		"settings array":   pushCredential("r", "fcm", `[]`),
		"settings broken":  pushCredential("r", "fcm", `{"a":`),
		"no secret":        {Realm: "r", Provider: "fcm", Settings: json.RawMessage(`{}`)},
		"no realm":         pushCredential("", "fcm", `{}`),
	} {
		_, err := s.PutPushCredential(ctx, c)
		wantErr(t, name, err, store.ErrInvalid)
	}
	_, err := s.PutPushCredential(ctx, pushCredential("missing", "fcm", `{}`))
	wantErr(t, "a missing realm", err, store.ErrNotFound)
}
