package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestPrepareSigningKeys(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(24 * time.Hour)
	key := func(kid, state string, created time.Time) SigningKey {
		return SigningKey{Realm: "r", KID: kid, Alg: "ES256", State: state, Sealed: []byte(kid), CreatedAt: created}
	}
	old := []SigningKey{key("a", "retired", t0), key("b", "active", t0.Add(time.Hour)), key("c", "next", t0.Add(2*time.Hour))}

	keys, changes, err := PrepareSigningKeys("r", old, func(keys []SigningKey) ([]SigningKey, error) {
		keys[1].State = "retired" // in place: must not reach old
		keys[2].State = "active"
		keys[2].CreatedAt = time.Time{} // kept key: keeps its stored CreatedAt
		fresh := key("d", "next", time.Time{})
		fresh.Realm = ""
		return append(keys[1:], fresh), nil
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if old[1].State != "active" || old[2].State != "next" {
		t.Error("fn's changes reached the stored keys")
	}
	if got := kidsOf(keys); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("keys = %v, want b c d", got)
	}
	if keys[1].CreatedAt != old[2].CreatedAt || keys[2].CreatedAt != now || keys[2].Realm != "r" {
		t.Errorf("kept key created %v, new key created %v in realm %q; want %v, %v, r", keys[1].CreatedAt, keys[2].CreatedAt, keys[2].Realm, old[2].CreatedAt, now)
	}
	if got := kidsOf(changes.Insert); !slices.Equal(got, []string{"d"}) {
		t.Errorf("Insert = %v, want d", got)
	}
	if got := kidsOf(changes.Update); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("Update = %v, want b c", got)
	}
	if !slices.Equal(changes.Delete, []string{"a"}) {
		t.Errorf("Delete = %v, want a", changes.Delete)
	}

	_, unchanged, err := PrepareSigningKeys("r", old, func(keys []SigningKey) ([]SigningKey, error) { return keys, nil }, now)
	if err != nil || len(unchanged.Insert)+len(unchanged.Update)+len(unchanged.Delete) != 0 {
		t.Errorf("no change: %+v, %v; want no writes", unchanged, err)
	}

	errFn := errors.New("fn")
	if _, _, err := PrepareSigningKeys("r", old, func([]SigningKey) ([]SigningKey, error) { return nil, errFn }, now); err != errFn {
		t.Errorf("fn error came back as %v, want it unchanged", err)
	}
	foreign := key("x", "next", t0)
	foreign.Realm = "other"
	for name, set := range map[string][]SigningKey{
		"duplicate KID": {key("a", "active", t0), key("a", "next", t0)},
		"bad state":     {key("a", "current", t0)},
		"empty KID":     {key("", "next", t0)},
		"other realm":   {foreign},
	} {
		if _, _, err := PrepareSigningKeys("r", old, func([]SigningKey) ([]SigningKey, error) { return set, nil }, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func kidsOf(keys []SigningKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.KID)
	}
	return out
}
