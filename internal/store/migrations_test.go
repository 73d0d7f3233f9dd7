package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	got, err := LoadMigrations(fstest.MapFS{
		"0002_users.sql":  file("CREATE TABLE users (id TEXT);"),
		"0001_realms.sql": file("CREATE TABLE realms (name TEXT);"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != 1 || got[0].Name != "realms" || got[1].Version != 2 ||
		got[1].Name != "users" || !strings.Contains(got[1].SQL, "users") {
		t.Errorf("LoadMigrations = %+v", got)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"empty":         {},
		"gap":           {"0001_a.sql": file("x"), "0003_c.sql": file("x")},
		"duplicate":     {"0001_a.sql": file("x"), "0001_b.sql": file("x")},
		"not from one":  {"0002_b.sql": file("x")},
		"zero":          {"0000_a.sql": file("x"), "0001_b.sql": file("x")},
		"short version": {"001_a.sql": file("x")},
		"no name":       {"0001_.sql": file("x")},
		"no underscore": {"0001.sql": file("x")},
		"upper name":    {"0001_Realms.sql": file("x")},
		"dash name":     {"0001_add-x.sql": file("x")},
		"other ext":     {"0001_a.sql": file("x"), "README.md": file("x")},
		"non-digit":     {"00a1_a.sql": file("x")},
		"blank SQL":     {"0001_a.sql": file(" \n\t")},
		"directory":     {"0001_a.sql/x": file("x")},
	} {
		if files, err := LoadMigrations(fsys); err == nil {
			t.Errorf("%s: LoadMigrations = %+v, want an error", name, files)
		}
	}
}

func TestApplyMigrations(t *testing.T) {
	t.Parallel()
	files := []MigrationFile{{Version: 1, Name: "a"}, {Version: 2, Name: "b"}, {Version: 3, Name: "c"}}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var order []int
	applied, err := ApplyMigrations(t.Context(), files, func(_ context.Context, f MigrationFile) (time.Time, bool, error) {
		order = append(order, f.Version)
		return at, f.Version != 1, nil // 1 was applied by someone else
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || order[0] != 1 || order[2] != 3 {
		t.Errorf("apply order = %v, want 1 2 3", order)
	}
	if len(applied) != 2 || applied[0].Version != 2 || applied[1].Version != 3 || !applied[0].Applied || applied[0].AppliedAt != at {
		t.Errorf("applied = %+v, want 2 and 3", applied)
	}

	boom := errors.New("boom")
	applied, err = ApplyMigrations(t.Context(), files, func(_ context.Context, f MigrationFile) (time.Time, bool, error) {
		if f.Version == 2 {
			return time.Time{}, false, boom
		}
		return at, true, nil
	})
	if !errors.Is(err, boom) || len(applied) != 1 {
		t.Errorf("failing apply = %+v, %v; want migration 1 and the error", applied, err)
	}
}

func TestMigrationStatusOf(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	later := at.Add(time.Hour)
	files := []MigrationFile{{Version: 1, Name: "a"}, {Version: 2, Name: "b"}}
	// 7 and 3 were recorded by a newer build; they follow the known ones in version order.
	got := MigrationStatusOf(files, map[int]time.Time{1: at, 7: later, 3: at})
	want := []Migration{
		{Version: 1, Name: "a", Applied: true, AppliedAt: at},
		{Version: 2, Name: "b"},
		{Version: 3, Name: UnknownMigrationName, Applied: true, AppliedAt: at, Unknown: true},
		{Version: 7, Name: UnknownMigrationName, Applied: true, AppliedAt: later, Unknown: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("MigrationStatusOf =\n %+v\nwant\n %+v", got, want)
	}
	if err := CheckSchemaNotNewer(got); !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "0007") {
		t.Errorf("CheckSchemaNotNewer = %v, want ErrSchemaNewer naming 0007", err)
	}

	got = MigrationStatusOf(files, map[int]time.Time{1: at, 2: at})
	if want := []Migration{{Version: 1, Name: "a", Applied: true, AppliedAt: at}, {Version: 2, Name: "b", Applied: true, AppliedAt: at}}; !slices.Equal(got, want) {
		t.Errorf("MigrationStatusOf(all known) = %+v, want %+v", got, want)
	}
	if err := CheckSchemaNotNewer(got); err != nil {
		t.Errorf("CheckSchemaNotNewer(all known) = %v, want nil", err)
	}
	if err := CheckSchemaNotNewer(MigrationStatusOf(files, nil)); err != nil {
		t.Errorf("CheckSchemaNotNewer(nothing applied) = %v, want nil", err)
	}
}
