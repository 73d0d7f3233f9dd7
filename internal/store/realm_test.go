package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRealmValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"0", true},
		{"acme", true},
		{"acme-corp_2", true},
		{"9-_", true},
		{strings.Repeat("a", MaxRealmNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxRealmNameLen+1), false},
		{"-acme", false},
		{"_acme", false},
		{"Acme", false},
		{"acMe", false},
		{"acme corp", false},
		{"acme.corp", false},
		{"acme/corp", false},
		{"ácme", false},
		{"acmé", false},
	} {
		err := Realm{Name: tc.name}.Validate()
		if tc.ok && err != nil {
			t.Errorf("Validate(%q) = %v, want nil", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) = %v, want ErrInvalid", tc.name, err)
		}
	}
}

func TestPrepareRealmCreate(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", -7200))
	attrs := map[string]string{"k": "v"}
	got, data, err := PrepareCreate(Realm{Name: "acme", Attributes: attrs, Version: 42}, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"k":"v"}` {
		t.Errorf("attributes JSON = %s, want {\"k\":\"v\"}", data)
	}
	want := time.Date(2030, 1, 2, 5, 4, 5, 123456000, time.UTC)
	if got.CreatedAt != want || got.UpdatedAt != want || got.Version != 1 {
		t.Errorf("got CreatedAt %v UpdatedAt %v Version %d, want %v twice and 1", got.CreatedAt, got.UpdatedAt, got.Version, want)
	}
	attrs["k"] = "changed"
	if got.Attributes["k"] != "v" {
		t.Error("prepared realm shares the caller's attribute map")
	}
	if got, data, _ := PrepareCreate(Realm{Name: "bare"}, now); got.Attributes == nil || string(data) != "{}" {
		t.Errorf("nil attributes stored as %#v and %s, want an empty map and {}", got.Attributes, data)
	}
	if _, _, err := PrepareCreate(Realm{Name: "Bad"}, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid name error = %v, want ErrInvalid", err)
	}
}

func TestPrepareRealmUpdate(t *testing.T) {
	t.Parallel()
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	old := Realm{Name: "acme", Attributes: map[string]string{}, CreatedAt: created, UpdatedAt: created, Version: 3}
	now := created.Add(time.Hour)

	got, _, err := PrepareUpdate(old, func(r Realm) (Realm, error) {
		r.DisplayName = "Acme"
		r.Version, r.CreatedAt, r.Attributes = 100, time.Time{}, nil
		return r, nil
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 4 || got.CreatedAt != created || got.UpdatedAt != now || got.DisplayName != "Acme" || got.Attributes == nil {
		t.Errorf("got %+v, want version 4, CreatedAt kept, UpdatedAt now, non-nil attributes", got)
	}

	errFn := errors.New("fn")
	if _, _, err := PrepareUpdate(old, func(r Realm) (Realm, error) { return r, errFn }, now); err != errFn {
		t.Errorf("fn error came back as %v, want it unchanged", err)
	}
	rename := func(r Realm) (Realm, error) { r.Name = "other"; return r, nil }
	if _, _, err := PrepareUpdate(old, rename, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("rename error = %v, want ErrInvalid", err)
	}
}

func TestScannedRealm(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	for _, in := range []string{"{}", "null", `{"a":"1"}`} {
		r, err := Scanned(Realm{Name: "a", CreatedAt: at, UpdatedAt: at}, []byte(in))
		if err != nil || r.Attributes == nil {
			t.Errorf("Scanned(%s) attributes = %#v, %v; want a non-nil map", in, r.Attributes, err)
		}
		if r.CreatedAt.Location() != time.UTC || r.UpdatedAt.Location() != time.UTC || !r.CreatedAt.Equal(at) {
			t.Errorf("Scanned times = %v, %v; want %v in UTC", r.CreatedAt, r.UpdatedAt, at)
		}
	}
	if _, err := Scanned(Realm{Name: "a"}, []byte(`{"a":1}`)); err == nil {
		t.Error("Scanned accepted a non-string attribute")
	}
}
