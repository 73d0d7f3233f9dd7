package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var signingKeyTests = []testCase{
	{"SigningKeysRoundTrip", testSigningKeysRoundTrip},
	{"SigningKeysRotate", testSigningKeysRotate},
	{"SigningKeysRefused", testSigningKeysRefused},
	{"SigningKeysMissingRealm", testSigningKeysMissingRealm},
	{"SigningKeysConcurrent", testSigningKeysConcurrent},
}

func signingKey(kid, state string, created time.Time) store.SigningKey {
	return store.SigningKey{
		KID: kid, Alg: "ES256", State: state,
		Sealed:    []byte("sealed:" + kid + "\x00\xff"),
		PublicJWK: []byte(`{"kty":"EC","kid":"` + kid + `"}`),
		CreatedAt: created,
	}
}

// setKeys replaces the realm's keys with keys and returns what UpdateSigningKeys did.
func setKeys(t *testing.T, s store.Store, realm string, keys ...store.SigningKey) []store.SigningKey {
	t.Helper()
	got, err := s.UpdateSigningKeys(t.Context(), realm, func([]store.SigningKey) ([]store.SigningKey, error) { return keys, nil })
	ok(t, "UpdateSigningKeys", err)
	return got
}

func listKeys(t *testing.T, s store.Store, realm string) []store.SigningKey {
	t.Helper()
	keys, err := s.ListSigningKeys(t.Context(), realm)
	ok(t, "ListSigningKeys", err)
	return keys
}

func kids(keys []store.SigningKey) []string {
	return ids(keys, func(k store.SigningKey) string { return k.KID })
}

func testSigningKeysRoundTrip(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	if keys := listKeys(t, s, "r"); keys == nil || len(keys) != 0 {
		t.Errorf("ListSigningKeys of a new realm = %#v, want an empty slice", keys)
	}
	retired := signingKey("old", "retired", instant(-48*time.Hour))
	retired.Realm, retired.ActivatedAt, retired.RetiredAt = "r", instant(-47*time.Hour), instant(-time.Hour)
	active := signingKey("b-active", "active", instant(-time.Hour))
	active.ActivatedAt = instant(-time.Minute)
	// Same CreatedAt as active: KID breaks the tie, bytewise ('B' < 'b').
	next := signingKey("B-next", "next", instant(-time.Hour))
	next.Sealed = nil
	fresh := signingKey("fresh", "next", time.Time{}) // CreatedAt left to the store

	before := store.Timestamp(time.Now())
	got := setKeys(t, s, "r", active, fresh, retired, next)
	after := time.Now()
	if len(got) != 4 {
		t.Fatalf("UpdateSigningKeys returned %d keys, want 4", len(got))
	}
	// The fixed times are in 2031, so the key created now comes first.
	if c := got[0].CreatedAt; got[0].KID != "fresh" || c.Before(before) || c.After(after) {
		t.Errorf("the key without CreatedAt came back as %q created at %v, want first and created now", got[0].KID, c)
	}
	for _, k := range []*store.SigningKey{&retired, &active, &next, &fresh} {
		k.Realm = "r"
	}
	fresh.CreatedAt = got[0].CreatedAt
	want := []store.SigningKey{fresh, retired, next, active}
	checkEqual(t, "UpdateSigningKeys result", got, want)
	checkEqual(t, "ListSigningKeys", listKeys(t, s, "r"), want)
	if keys := listKeys(t, s, "other"); len(keys) != 0 {
		t.Errorf("ListSigningKeys of another realm = %v, want none", kids(keys))
	}
	if keys := listKeys(t, s, "missing"); keys == nil || len(keys) != 0 {
		t.Errorf("ListSigningKeys of a missing realm = %#v, want an empty slice", keys)
	}
}

func testSigningKeysRotate(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	setKeys(t, s, "r", signingKey("k1", "active", instant(0)), signingKey("k2", "next", instant(time.Hour)))

	// fn gets the stored keys and may change them in place: promote next, retire active,
	// and add a new next key.
	promoted, err := s.UpdateSigningKeys(t.Context(), "r", func(keys []store.SigningKey) ([]store.SigningKey, error) {
		if len(keys) != 2 || keys[0].KID != "k1" || keys[1].KID != "k2" {
			t.Errorf("fn got %v, want k1 k2", kids(keys))
			return nil, errRefused
		}
		keys[0].State, keys[0].RetiredAt = "retired", instant(2*time.Hour)
		keys[1].State, keys[1].ActivatedAt = "active", instant(2*time.Hour)
		return append(keys, signingKey("k3", "next", instant(2*time.Hour))), nil
	})
	ok(t, "UpdateSigningKeys promoting", err)
	checkEqual(t, "ListSigningKeys after promotion", listKeys(t, s, "r"), promoted)
	states := func(keys []store.SigningKey) string {
		var out []string
		for _, k := range keys {
			out = append(out, k.KID+"="+k.State)
		}
		return fmt.Sprint(out)
	}
	if got, want := states(promoted), "[k1=retired k2=active k3=next]"; got != want {
		t.Errorf("after promotion: %s, want %s", got, want)
	}
	if !promoted[0].RetiredAt.Equal(store.Timestamp(instant(2*time.Hour))) || !promoted[1].ActivatedAt.Equal(store.Timestamp(instant(2*time.Hour))) {
		t.Errorf("after promotion: k1 retired at %v, k2 activated at %v", promoted[0].RetiredAt, promoted[1].ActivatedAt)
	}

	// A kept key whose CreatedAt fn cleared keeps its stored one; the retired key goes.
	pruned, err := s.UpdateSigningKeys(t.Context(), "r", func(keys []store.SigningKey) ([]store.SigningKey, error) {
		keys[1].CreatedAt = time.Time{}
		return keys[1:], nil
	})
	ok(t, "UpdateSigningKeys deleting", err)
	checkEqual(t, "UpdateSigningKeys result after deleting", pruned, promoted[1:])
	checkEqual(t, "ListSigningKeys after deleting", listKeys(t, s, "r"), promoted[1:])

	// Unchanged keys stay as they are.
	same, err := s.UpdateSigningKeys(t.Context(), "r", func(keys []store.SigningKey) ([]store.SigningKey, error) { return keys, nil })
	ok(t, "UpdateSigningKeys without changes", err)
	checkEqual(t, "UpdateSigningKeys without changes", same, promoted[1:])

	if got := setKeys(t, s, "r"); got == nil || len(got) != 0 {
		t.Errorf("UpdateSigningKeys to no keys = %#v, want an empty slice", got)
	}
	if keys := listKeys(t, s, "r"); len(keys) != 0 {
		t.Errorf("ListSigningKeys after deleting all = %v", kids(keys))
	}
}

func testSigningKeysRefused(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	stored := setKeys(t, s, "r", signingKey("k1", "active", instant(0)))
	_, err := s.UpdateSigningKeys(t.Context(), "r", func(keys []store.SigningKey) ([]store.SigningKey, error) {
		keys[0].State = "retired"
		return append(keys, signingKey("k2", "next", instant(0))), errRefused
	})
	if err != errRefused {
		t.Errorf("UpdateSigningKeys error = %v, want fn's error unchanged", err)
	}
	foreign := signingKey("k2", "next", instant(0))
	foreign.Realm = "other"
	for what, keys := range map[string][]store.SigningKey{
		"a KID twice":      {signingKey("k1", "active", instant(0)), signingKey("k1", "next", instant(0))},
		"an unknown state": {signingKey("k1", "primary", instant(0))},
		"no state":         {signingKey("k1", "", instant(0))},
		"an empty KID":     {signingKey("", "next", instant(0))},
		"another realm":    {signingKey("k1", "active", instant(0)), foreign},
	} {
		_, err := s.UpdateSigningKeys(t.Context(), "r", func([]store.SigningKey) ([]store.SigningKey, error) { return keys, nil })
		wantErr(t, "UpdateSigningKeys with "+what, err, store.ErrInvalid)
	}
	checkEqual(t, "keys after refused updates", listKeys(t, s, "r"), stored)
	if keys := listKeys(t, s, "other"); len(keys) != 0 {
		t.Errorf("keys of the other realm after refused updates: %v", kids(keys))
	}
}

func testSigningKeysMissingRealm(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateSigningKeys(t.Context(), "missing", func(keys []store.SigningKey) ([]store.SigningKey, error) {
		called = true
		return keys, nil
	})
	wantErr(t, "UpdateSigningKeys of a missing realm", err, store.ErrNotFound)
	if called {
		t.Error("UpdateSigningKeys called fn for a missing realm")
	}
}

// testSigningKeysConcurrent rotates from many goroutines, as several nodes would: each
// adds one key to the set it is given, and no addition may be lost.
func testSigningKeysConcurrent(t *testing.T, s store.Store) {
	const n = 10
	mustCreate(t, s, store.Realm{Name: "r"})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateSigningKeys(t.Context(), "r", func(keys []store.SigningKey) ([]store.SigningKey, error) {
				for j := range keys {
					if keys[j].State == "next" {
						keys[j].State = "active"
					}
				}
				return append(keys, signingKey(fmt.Sprintf("k%02d", i), "next", instant(time.Duration(i)*time.Second))), nil
			})
			if err != nil {
				t.Errorf("UpdateSigningKeys: %v", err)
			}
		})
	}
	wg.Wait()
	keys := listKeys(t, s, "r")
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("k%02d", i)
	}
	if got := kids(keys); !slices.Equal(got, want) {
		t.Fatalf("keys after %d concurrent rotations = %v, want %v", n, got, want)
	}
	next := 0
	for _, k := range keys {
		if k.State == "next" {
			next++
		}
	}
	if next != 1 {
		t.Errorf("%d keys are next after serialized rotations, want exactly the last one added", next)
	}
}
