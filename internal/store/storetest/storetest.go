// Package storetest is the one conformance suite for store.Store. Every back end runs
// it, so SQLite and PostgreSQL keep the same contract down to error values and order.
package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// Option configures Run.
type Option func(*options)

type options struct {
	recordMigration func(t *testing.T, s store.Store, version int)
}

// WithRecordMigration gives Run the back end's way to record version in the migrations
// table of s's database directly, as a newer build would have. The SchemaNewer case
// needs it, and fails without it so that no back end goes unchecked.
func WithRecordMigration(record func(t *testing.T, s store.Store, version int)) Option {
	return func(o *options) { o.recordMigration = record }
}

// Run runs the conformance suite. open returns a fresh, empty, already migrated store on
// each call; Run closes every store it opens. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []testCase{
		{"CreateGet", testCreateGet},
		{"CreateNilAttributes", testCreateNilAttributes},
		{"GetNotFound", testGetNotFound},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateConcurrent", testCreateConcurrent},
		{"InvalidNames", testInvalidNames},
		{"Update", testUpdate},
		{"UpdateFnError", testUpdateFnError},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"UpdateRename", testUpdateRename},
		{"UpdateNotFound", testUpdateNotFound},
		{"Delete", testDelete},
		{"DeleteNotFound", testDeleteNotFound},
		{"ListPages", testListPages},
		{"ListEmpty", testListEmpty},
		{"ListInvalidCursor", testListInvalidCursor},
		{"MigrateAgain", testMigrateAgain},
		{"SchemaNewer", func(t *testing.T, s store.Store) {
			if o.recordMigration == nil {
				t.Fatal("storetest.Run needs WithRecordMigration to check a schema newer than the build")
			}
			testSchemaNewer(t, s, o.recordMigration)
		}},
		{"PingBackend", testPingBackend},
	}
	tests = append(tests, userTests...)
	tests = append(tests, clientTests...)
	tests = append(tests, signingKeyTests...)
	tests = append(tests, sessionTests...)
	tests = append(tests, grantTests...)
	tests = append(tests, consentTests...)
	tests = append(tests, deviceTests...)
	tests = append(tests, channelKeyTests...)
	tests = append(tests, pushCredentialTests...)
	tests = append(tests, activationTests...)
	tests = append(tests, authnTests...)
	tests = append(tests, eventTests...)
	tests = append(tests, webhookTests...)
	tests = append(tests, cascadeTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			closeAtCleanup(t, s)
			tc.fn(t, s)
		})
	}
}

// testCase is one conformance check, run on a fresh, empty, migrated store.
type testCase struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Database opens a new, unmigrated Store on one database; every call opens the same
// database again, as separate nodes or a restarted node would.
type Database func(t *testing.T) store.Store

// RunShared runs the checks that need several stores on one database: concurrent
// MigrateUp from several nodes, and data surviving Close and reopen. fresh creates a
// fresh, empty database and returns its opener. RunShared closes every store it opens.
func RunShared(t *testing.T, fresh func(t *testing.T) Database) {
	t.Helper()
	t.Run("MigrateConcurrent", func(t *testing.T) {
		t.Parallel()
		testMigrateConcurrent(t, fresh(t))
	})
	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		testReopen(t, fresh(t))
	})
	t.Run("WebhookClaimsAcrossNodes", func(t *testing.T) {
		t.Parallel()
		testWebhookClaimsAcrossNodes(t, fresh(t))
	})
}

// Migrated runs MigrateUp on s, a store just opened, and returns it; if migrating fails
// it closes s and fails the test. It is the usual last step of an opener given to Run.
func Migrated(t *testing.T, s store.Store) store.Store {
	t.Helper()
	if _, err := s.MigrateUp(t.Context()); err != nil {
		s.Close()
		t.Fatalf("MigrateUp: %v", err)
	}
	return s
}

func closeAtCleanup(t *testing.T, s store.Store) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

func mustCreate(t *testing.T, s store.Store, r store.Realm) store.Realm {
	t.Helper()
	got, err := s.CreateRealm(t.Context(), r)
	if err != nil {
		t.Fatalf("CreateRealm(%q): %v", r.Name, err)
	}
	return got
}

func mustGet(t *testing.T, s store.Store, name string) store.Realm {
	t.Helper()
	got, err := s.GetRealm(t.Context(), name)
	if err != nil {
		t.Fatalf("GetRealm(%q): %v", name, err)
	}
	return got
}

// checkRealm fails the test unless got and want agree on every field, times by Equal.
func checkRealm(t *testing.T, what string, got, want store.Realm) {
	t.Helper()
	if got.Name != want.Name || got.DisplayName != want.DisplayName || got.Enabled != want.Enabled ||
		!maps.Equal(got.Attributes, want.Attributes) || got.Attributes == nil ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		got.Version != want.Version {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
	for _, ts := range []time.Time{got.CreatedAt, got.UpdatedAt} {
		if ts.Location() != time.UTC {
			t.Errorf("%s: time %v is not UTC", what, ts)
		}
	}
}

func testCreateGet(t *testing.T, s store.Store) {
	before := store.Timestamp(time.Now())
	in := store.Realm{Name: "acme", DisplayName: "Acme Corp", Enabled: true, Attributes: map[string]string{"theme": "dark"}}
	created := mustCreate(t, s, in)
	after := time.Now()

	if created.Version != 1 {
		t.Errorf("created Version = %d, want 1", created.Version)
	}
	if created.CreatedAt.Before(before) || created.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want between %v and %v", created.CreatedAt, before, after)
	}
	if !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Errorf("UpdatedAt = %v, want CreatedAt %v", created.UpdatedAt, created.CreatedAt)
	}
	want := in
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, created.CreatedAt, 1
	checkRealm(t, "CreateRealm result", created, want)
	checkRealm(t, "GetRealm", mustGet(t, s, "acme"), want)

	// The store keeps its own copy of the attributes.
	in.Attributes["theme"] = "changed"
	if got := mustGet(t, s, "acme").Attributes["theme"]; got != "dark" {
		t.Errorf("attribute after caller changed its map = %q, want dark", got)
	}
}

func testCreateNilAttributes(t *testing.T, s store.Store) {
	created := mustCreate(t, s, store.Realm{Name: "bare"})
	if created.Attributes == nil || len(created.Attributes) != 0 {
		t.Errorf("created Attributes = %#v, want empty non-nil map", created.Attributes)
	}
	got := mustGet(t, s, "bare")
	if got.Attributes == nil || len(got.Attributes) != 0 {
		t.Errorf("got Attributes = %#v, want empty non-nil map", got.Attributes)
	}
	if got.Enabled || got.DisplayName != "" {
		t.Errorf("got %+v, want zero Enabled and DisplayName", got)
	}
}

func testGetNotFound(t *testing.T, s store.Store) {
	if _, err := s.GetRealm(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRealm(missing) error = %v, want ErrNotFound", err)
	}
}

func testCreateDuplicate(t *testing.T, s store.Store) {
	first := mustCreate(t, s, store.Realm{Name: "dup", DisplayName: "first"})
	_, err := s.CreateRealm(t.Context(), store.Realm{Name: "dup", DisplayName: "second"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateRealm error = %v, want ErrConflict", err)
	}
	checkRealm(t, "after duplicate create", mustGet(t, s, "dup"), first)
}

func testCreateConcurrent(t *testing.T, s store.Store) {
	const n = 20
	var ok, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.CreateRealm(t.Context(), store.Realm{Name: "race", DisplayName: strconv.Itoa(i)})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("CreateRealm: unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || conflicts.Load() != n-1 {
		t.Errorf("%d successes and %d conflicts, want 1 and %d", ok.Load(), conflicts.Load(), n-1)
	}
}

func testInvalidNames(t *testing.T, s store.Store) {
	invalid := []string{
		"", "Acme", "aCME", "-acme", "_acme", "acme corp", "acme.corp", "acme/x", "ácme", "acme\x00",
		strings.Repeat("a", store.MaxRealmNameLen+1),
	}
	for _, name := range invalid {
		if _, err := s.CreateRealm(t.Context(), store.Realm{Name: name}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateRealm(%q) error = %v, want ErrInvalid", name, err)
		}
	}
	valid := []string{"a", "7", "acme-corp_2", "0-_", strings.Repeat("z", store.MaxRealmNameLen)}
	for _, name := range valid {
		if _, err := s.CreateRealm(t.Context(), store.Realm{Name: name}); err != nil {
			t.Errorf("CreateRealm(%q) error = %v, want nil", name, err)
		}
	}
	page, err := s.ListRealms(t.Context(), store.ListOptions{})
	if err != nil {
		t.Fatalf("ListRealms: %v", err)
	}
	if len(page.Items) != len(valid) {
		t.Errorf("stored %d realms, want the %d valid ones", len(page.Items), len(valid))
	}
}

func testUpdate(t *testing.T, s store.Store) {
	created := mustCreate(t, s, store.Realm{Name: "upd", DisplayName: "Before", Attributes: map[string]string{"a": "1"}})
	updated, err := s.UpdateRealm(t.Context(), "upd", func(r store.Realm) (store.Realm, error) {
		checkRealm(t, "fn argument", r, created)
		r.DisplayName = "After"
		r.Enabled = true
		r.Attributes["b"] = "2"
		// Fields the store owns are not the caller's to set.
		r.Version = 99
		r.CreatedAt = time.Unix(0, 0)
		return r, nil
	})
	if err != nil {
		t.Fatalf("UpdateRealm: %v", err)
	}
	if updated.Version != 2 {
		t.Errorf("Version = %d, want 2", updated.Version)
	}
	if updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("UpdatedAt %v is before the previous %v", updated.UpdatedAt, created.UpdatedAt)
	}
	want := store.Realm{
		Name: "upd", DisplayName: "After", Enabled: true,
		Attributes: map[string]string{"a": "1", "b": "2"},
		CreatedAt:  created.CreatedAt, UpdatedAt: updated.UpdatedAt, Version: 2,
	}
	checkRealm(t, "UpdateRealm result", updated, want)
	checkRealm(t, "GetRealm after update", mustGet(t, s, "upd"), want)

	again, err := s.UpdateRealm(t.Context(), "upd", func(r store.Realm) (store.Realm, error) { return r, nil })
	if err != nil {
		t.Fatalf("second UpdateRealm: %v", err)
	}
	if again.Version != 3 {
		t.Errorf("Version after a second update = %d, want 3", again.Version)
	}
}

func testUpdateFnError(t *testing.T, s store.Store) {
	created := mustCreate(t, s, store.Realm{Name: "keep", DisplayName: "Keep", Attributes: map[string]string{"a": "1"}})
	errRefused := errors.New("refused by caller")
	_, err := s.UpdateRealm(t.Context(), "keep", func(r store.Realm) (store.Realm, error) {
		r.DisplayName = "Changed"
		r.Attributes["a"] = "changed" // a change to the argument's map must not leak either
		return r, errRefused
	})
	if err != errRefused { // the contract is "returned unchanged", not merely wrapped
		t.Errorf("UpdateRealm error = %v, want fn's error unchanged", err)
	}
	checkRealm(t, "after aborted update", mustGet(t, s, "keep"), created)
}

func testUpdateConcurrent(t *testing.T, s store.Store) {
	const n = 50
	mustCreate(t, s, store.Realm{Name: "counter", Attributes: map[string]string{"counter": "0"}})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UpdateRealm(t.Context(), "counter", func(r store.Realm) (store.Realm, error) {
				v, err := strconv.Atoi(r.Attributes["counter"])
				if err != nil {
					return r, err
				}
				r.Attributes["counter"] = strconv.Itoa(v + 1)
				return r, nil
			})
			if err != nil {
				t.Errorf("UpdateRealm: %v", err)
			}
		})
	}
	wg.Wait()
	got := mustGet(t, s, "counter")
	if got.Attributes["counter"] != strconv.Itoa(n) || got.Version != n+1 {
		t.Errorf("counter = %s at version %d, want %d at version %d", got.Attributes["counter"], got.Version, n, n+1)
	}
}

func testUpdateRename(t *testing.T, s store.Store) {
	created := mustCreate(t, s, store.Realm{Name: "old-name"})
	_, err := s.UpdateRealm(t.Context(), "old-name", func(r store.Realm) (store.Realm, error) {
		r.Name = "new-name"
		return r, nil
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("rename error = %v, want ErrInvalid", err)
	}
	checkRealm(t, "after refused rename", mustGet(t, s, "old-name"), created)
	if _, err := s.GetRealm(t.Context(), "new-name"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRealm(new-name) error = %v, want ErrNotFound", err)
	}
}

func testUpdateNotFound(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateRealm(t.Context(), "missing", func(r store.Realm) (store.Realm, error) {
		called = true
		return r, nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRealm(missing) error = %v, want ErrNotFound", err)
	}
	if called {
		t.Error("fn was called for a missing realm")
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "gone"})
	mustCreate(t, s, store.Realm{Name: "stays"})
	if err := s.DeleteRealm(t.Context(), "gone"); err != nil {
		t.Fatalf("DeleteRealm: %v", err)
	}
	if _, err := s.GetRealm(t.Context(), "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRealm after delete error = %v, want ErrNotFound", err)
	}
	if err := s.DeleteRealm(t.Context(), "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteRealm error = %v, want ErrNotFound", err)
	}
	mustGet(t, s, "stays")
	// The name is free again.
	if got := mustCreate(t, s, store.Realm{Name: "gone"}); got.Version != 1 {
		t.Errorf("recreated Version = %d, want 1", got.Version)
	}
}

func testDeleteNotFound(t *testing.T, s store.Store) {
	if err := s.DeleteRealm(t.Context(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRealm(missing) error = %v, want ErrNotFound", err)
	}
}

func testListPages(t *testing.T, s store.Store) {
	// Created out of order; '-' < '0' < '_' < 'a' bytewise, which many collations ignore
	// or reorder, so this also pins the back ends to one order.
	names := []string{"e", "a_1", "c", "a1", "a-1", "d", "b"}
	for _, name := range names {
		mustCreate(t, s, store.Realm{Name: name})
	}
	want := slices.Clone(names)
	slices.Sort(want) // a-1 a1 a_1 b c d e

	for _, tc := range []struct {
		limit int
		sizes []int
	}{
		{3, []int{3, 3, 1}},
		{7, []int{7}},
		{6, []int{6, 1}},
		{0, []int{7}}, // DefaultPageSize
	} {
		t.Run(fmt.Sprintf("limit%d", tc.limit), func(t *testing.T) {
			var got []string
			var sizes []int
			cursor := ""
			for range len(names) + 1 {
				page, err := s.ListRealms(t.Context(), store.ListOptions{Limit: tc.limit, Cursor: cursor})
				if err != nil {
					t.Fatalf("ListRealms(cursor %q): %v", cursor, err)
				}
				sizes = append(sizes, len(page.Items))
				for _, r := range page.Items {
					got = append(got, r.Name)
				}
				if page.Next == "" {
					break
				}
				cursor = page.Next
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("page sizes = %v, want %v", sizes, tc.sizes)
			}
			if !slices.Equal(got, want) {
				t.Errorf("names = %v, want %v", got, want)
			}
		})
	}
}

func testListEmpty(t *testing.T, s store.Store) {
	page, err := s.ListRealms(t.Context(), store.ListOptions{})
	if err != nil {
		t.Fatalf("ListRealms: %v", err)
	}
	if len(page.Items) != 0 || page.Next != "" {
		t.Errorf("empty store listed %d items, Next %q; want none and empty Next", len(page.Items), page.Next)
	}
}

func testListInvalidCursor(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "x"})
	for _, cursor := range []string{store.EncodeCursor("user", "x"), "not a cursor!", "dj", "%%%"} {
		if _, err := s.ListRealms(t.Context(), store.ListOptions{Cursor: cursor}); !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("ListRealms(cursor %q) error = %v, want ErrInvalidCursor", cursor, err)
		}
	}
}

func testMigrateAgain(t *testing.T, s store.Store) {
	applied, err := s.MigrateUp(t.Context())
	if err != nil {
		t.Fatalf("second MigrateUp: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second MigrateUp applied %+v, want nothing", applied)
	}
	checkAllApplied(t, s)
}

// testSchemaNewer records migrations this build lacks, as a newer build would have: they
// are listed as unknown, and MigrateUp refuses to touch the schema.
func testSchemaNewer(t *testing.T, s store.Store, record func(t *testing.T, s store.Store, version int)) {
	known := checkAllApplied(t, s)
	newest := known[len(known)-1].Version
	record(t, s, newest+3)
	record(t, s, newest+1)

	status, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if len(status) != len(known)+2 {
		t.Fatalf("MigrationStatus = %+v, want the %d known migrations and 2 unknown ones", status, len(known))
	}
	for i, m := range status[:len(known)] {
		if m != known[i] {
			t.Errorf("known migration %d = %+v, want %+v as before", i, m, known[i])
		}
	}
	for i, m := range status[len(known):] {
		want := store.Migration{Version: newest + 1 + 2*i, Name: store.UnknownMigrationName, Applied: true, AppliedAt: m.AppliedAt, Unknown: true}
		if m != want || m.AppliedAt.IsZero() || m.AppliedAt.Location() != time.UTC {
			t.Errorf("unknown migration %d = %+v, want %+v with a UTC applied time", i, m, want)
		}
	}
	if err := store.CheckSchemaNotNewer(status); !errors.Is(err, store.ErrSchemaNewer) {
		t.Errorf("CheckSchemaNotNewer(status) = %v, want ErrSchemaNewer", err)
	}

	applied, err := s.MigrateUp(t.Context())
	if !errors.Is(err, store.ErrSchemaNewer) || len(applied) != 0 {
		t.Errorf("MigrateUp = %+v, %v; want nothing applied and ErrSchemaNewer", applied, err)
	}
	if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%04d", newest+3)) {
		t.Errorf("MigrateUp error %q does not name the newest recorded migration %04d", err, newest+3)
	}
	if again, err := s.MigrationStatus(t.Context()); err != nil || !slices.Equal(again, status) {
		t.Errorf("MigrationStatus after the refused MigrateUp = %+v, %v; want it unchanged", again, err)
	}
}

func testPingBackend(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if b := s.Backend(); b != "sqlite" && b != "postgres" {
		t.Errorf("Backend() = %q, want sqlite or postgres", b)
	}
}

// checkAllApplied fails the test unless every embedded migration is applied, versions
// run from 1 in order, and it returns them.
func checkAllApplied(t *testing.T, s store.Store) []store.Migration {
	t.Helper()
	status, err := s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if len(status) == 0 {
		t.Fatal("MigrationStatus lists no migrations")
	}
	for i, m := range status {
		if m.Version != i+1 || m.Name == "" || !m.Applied || m.AppliedAt.IsZero() || m.Unknown {
			t.Errorf("migration %d = %+v, want version %d, a name, applied with a time", i, m, i+1)
		}
	}
	return status
}

func testMigrateConcurrent(t *testing.T, open Database) {
	const nodes = 4
	stores := make([]store.Store, nodes)
	for i := range stores {
		stores[i] = open(t)
		closeAtCleanup(t, stores[i])
	}
	status, err := stores[0].MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus before MigrateUp: %v", err)
	}
	for _, m := range status {
		if m.Applied || !m.AppliedAt.IsZero() {
			t.Errorf("before MigrateUp: %+v is applied", m)
		}
	}

	var mu sync.Mutex
	timesApplied := map[int]int{}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			applied, err := s.MigrateUp(t.Context())
			if err != nil {
				t.Errorf("MigrateUp: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range applied {
				timesApplied[m.Version]++
			}
		})
	}
	wg.Wait()

	for _, m := range checkAllApplied(t, stores[nodes-1]) {
		if n := timesApplied[m.Version]; n != 1 {
			t.Errorf("migration %d applied %d times across %d nodes, want once", m.Version, n, nodes)
		}
	}
	if len(timesApplied) != len(status) {
		t.Errorf("applied versions %v, want exactly the %d embedded ones", timesApplied, len(status))
	}
	// Every node sees the schema.
	mustCreate(t, stores[0], store.Realm{Name: "shared"})
	mustGet(t, stores[nodes-1], "shared")
}

func testReopen(t *testing.T, open Database) {
	first := open(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			first.Close()
		}
	})
	if _, err := first.MigrateUp(t.Context()); err != nil {
		t.Fatalf("MigrateUp: %v", err)
	}
	mustCreate(t, first, store.Realm{Name: "durable", DisplayName: "D", Attributes: map[string]string{"k": "v"}})
	want, err := first.UpdateRealm(t.Context(), "durable", func(r store.Realm) (store.Realm, error) {
		r.Enabled = true
		return r, nil
	})
	if err != nil {
		t.Fatalf("UpdateRealm: %v", err)
	}
	before := checkAllApplied(t, first)
	closed = true
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := open(t)
	closeAtCleanup(t, second)
	after := checkAllApplied(t, second)
	for i := range after {
		if !after[i].AppliedAt.Equal(before[i].AppliedAt) {
			t.Errorf("migration %d applied at %v after reopen, %v before", after[i].Version, after[i].AppliedAt, before[i].AppliedAt)
		}
	}
	if applied, err := second.MigrateUp(t.Context()); err != nil || len(applied) != 0 {
		t.Errorf("MigrateUp after reopen = %+v, %v; want nothing applied", applied, err)
	}
	checkRealm(t, "GetRealm after reopen", mustGet(t, second, "durable"), want)
}
