package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var userTests = []testCase{
	{"UserRoundTrip", testUserRoundTrip},
	{"UserDefaults", testUserDefaults},
	{"UserNotFound", testUserNotFound},
	{"UserConflicts", testUserConflicts},
	{"UserMissingRealm", testUserMissingRealm},
	{"UserInvalid", testUserInvalid},
	{"UserLookups", testUserLookups},
	{"UserUpdate", testUserUpdate},
	{"UserUpdateRefused", testUserUpdateRefused},
	{"UserUpdateConflict", testUserUpdateConflict},
	{"UserUpdateConcurrent", testUserUpdateConcurrent},
	{"UserDelete", testUserDelete},
	{"UserListPages", testUserListPages},
	{"UserListSearch", testUserListSearch},
	{"UserListInvalidCursor", testUserListInvalidCursor},
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	before := store.Timestamp(time.Now())
	in := fullUser("r", "u1")
	created := must(t, s.CreateUser, in)
	checkNow(t, "CreatedAt", created.CreatedAt, before)
	want := fullUser("r", "u1")
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, created.CreatedAt, 1
	checkEqual(t, "CreateUser result", created, want)
	checkStored(t, "GetUser", s.GetUser, "r", "u1", want)

	// The result is the store's own copy, not the caller's slices and maps.
	in.TOTPSecret[0], in.Attributes["department"] = 0xaa, "changed"
	checkEqual(t, "CreateUser result after the caller changed its input", created, want)
}

func testUserDefaults(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	created := must(t, s.CreateUser, store.User{Realm: "r", ID: "u1", Username: "bare", TOTPSecret: []byte{}})
	got, err := s.GetUser(t.Context(), "r", "u1")
	ok(t, "GetUser", err)
	want := store.User{Realm: "r", ID: "u1", Username: "bare", Attributes: map[string]string{},
		CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt, Version: 1}
	checkEqual(t, "CreateUser result", created, want)
	checkEqual(t, "GetUser", got, want)
}

func testUserNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"GetUser(missing)", second(s.GetUser(t.Context(), "r", "missing"))},
		{"GetUser in another realm", second(s.GetUser(t.Context(), "other", "u1"))},
		{"GetUser in a missing realm", second(s.GetUser(t.Context(), "nope", "u1"))},
		{"GetUserByUsername(missing)", second(s.GetUserByUsername(t.Context(), "r", "missing"))},
		{"GetUserByUsername in another realm", second(s.GetUserByUsername(t.Context(), "other", "u1"))},
		{"GetUserByEmail(missing)", second(s.GetUserByEmail(t.Context(), "r", "missing@example.com"))},
		{"GetUserByEmail in another realm", second(s.GetUserByEmail(t.Context(), "other", "u1@example.com"))},
		{"DeleteUser(missing)", s.DeleteUser(t.Context(), "r", "missing")},
	} {
		wantErr(t, tc.what, tc.err, store.ErrNotFound)
	}
	checkUpdateMissing(t, "UpdateUser", s.UpdateUser, "r", "missing")
}

// second is the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }

func testUserConflicts(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	first := must(t, s.CreateUser, store.User{Realm: "r", ID: "u1", Username: "Alice", Email: "Alice@Example.com"})
	for _, tc := range []struct {
		what string
		u    store.User
	}{
		{"same ID", store.User{Realm: "r", ID: "u1", Username: "someone-else"}},
		{"username differing in case", store.User{Realm: "r", ID: "u2", Username: "alice"}},
		{"username in upper case", store.User{Realm: "r", ID: "u3", Username: "ALICE", Email: "x@example.com"}},
		{"email differing in case", store.User{Realm: "r", ID: "u4", Username: "bob", Email: "alice@EXAMPLE.COM"}},
	} {
		_, err := s.CreateUser(t.Context(), tc.u)
		wantErr(t, "CreateUser with the "+tc.what+" of another user", err, store.ErrConflict)
	}
	checkStored(t, "first user after conflicting creates", s.GetUser, "r", "u1", first)

	// Users without an email never conflict on it; other realms have their own names.
	must(t, s.CreateUser, store.User{Realm: "r", ID: "n1", Username: "no-email-1"})
	must(t, s.CreateUser, store.User{Realm: "r", ID: "n2", Username: "no-email-2"})
	must(t, s.CreateUser, store.User{Realm: "other", ID: "u1", Username: "alice", Email: "alice@example.com"})
}

func testUserMissingRealm(t *testing.T, s store.Store) {
	_, err := s.CreateUser(t.Context(), newUser("nope", "u1"))
	wantErr(t, "CreateUser in a missing realm", err, store.ErrNotFound)
}

func testUserInvalid(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	base := func(change func(*store.User)) store.User {
		u := store.User{Realm: "r", ID: "u", Username: "user"}
		change(&u)
		return u
	}
	invalid := map[string]store.User{
		"empty ID":                base(func(u *store.User) { u.ID = "" }),
		"long ID":                 base(func(u *store.User) { u.ID = strings.Repeat("i", store.MaxUserIDLen+1) }),
		"empty username":          base(func(u *store.User) { u.Username = "" }),
		"long username":           base(func(u *store.User) { u.Username = strings.Repeat("é", store.MaxUsernameLen+1) }),
		"leading space":           base(func(u *store.User) { u.Username = " user" }),
		"trailing tab":            base(func(u *store.User) { u.Username = "user\t" }),
		"NUL in username":         base(func(u *store.User) { u.Username = "us\x00er" }),
		"newline in username":     base(func(u *store.User) { u.Username = "us\ner" }),
		"invalid UTF-8":           base(func(u *store.User) { u.Username = "us\xffer" }),
		"email without @":         base(func(u *store.User) { u.Email = "user.example.com" }),
		"email with two @":        base(func(u *store.User) { u.Email = "a@b@example.com" }),
		"email with a space":      base(func(u *store.User) { u.Email = "a b@example.com" }),
		"email without local":     base(func(u *store.User) { u.Email = "@example.com" }),
		"email without domain":    base(func(u *store.User) { u.Email = "user@" }),
		"unstorable locked until": base(func(u *store.User) { u.LockedUntil = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }),
	}
	for what, u := range invalid {
		_, err := s.CreateUser(t.Context(), u)
		wantErr(t, "CreateUser with "+what, err, store.ErrInvalid)
	}
	must(t, s.CreateUser, store.User{Realm: "r", ID: strings.Repeat("i", store.MaxUserIDLen), Username: strings.Repeat("é", store.MaxUsernameLen)})
	must(t, s.CreateUser, store.User{Realm: "r", ID: "u2", Username: "inner space", Email: "ünïcode@exämple.org"})
	page, err := s.ListUsers(t.Context(), "r", store.UserFilter{}, store.ListOptions{})
	ok(t, "ListUsers", err)
	if len(page.Items) != 2 {
		t.Errorf("stored %d users, want the 2 valid ones", len(page.Items))
	}
}

func testUserLookups(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	alice := must(t, s.CreateUser, store.User{Realm: "r", ID: "u1", Username: "Alice", Email: "Alice@Example.COM"})
	must(t, s.CreateUser, store.User{Realm: "r", ID: "u2", Username: "NoMail"})
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		got, err := s.GetUserByUsername(t.Context(), "r", name)
		ok(t, fmt.Sprintf("GetUserByUsername(%q)", name), err)
		checkEqual(t, fmt.Sprintf("GetUserByUsername(%q)", name), got, alice)
	}
	for _, email := range []string{"Alice@Example.COM", "alice@example.com", "ALICE@EXAMPLE.COM"} {
		got, err := s.GetUserByEmail(t.Context(), "r", email)
		ok(t, fmt.Sprintf("GetUserByEmail(%q)", email), err)
		checkEqual(t, fmt.Sprintf("GetUserByEmail(%q)", email), got, alice)
	}
	_, err := s.GetUserByEmail(t.Context(), "r", "")
	wantErr(t, "GetUserByEmail(\"\") beside a user without email", err, store.ErrNotFound)
	_, err = s.GetUserByUsername(t.Context(), "r", "Alic")
	wantErr(t, "GetUserByUsername of a prefix", err, store.ErrNotFound)
}

func testUserUpdate(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	created := must(t, s.CreateUser, store.User{Realm: "r", ID: "u1", Username: "before", Email: "before@example.com",
		Attributes: map[string]string{"a": "1"}})
	want := fullUser("r", "u1")
	updated, err := s.UpdateUser(t.Context(), "r", "u1", func(u store.User) (store.User, error) {
		checkEqual(t, "fn argument", u, created)
		next := fullUser("r", "u1")
		// Fields the store owns are not the caller's to set.
		next.CreatedAt, next.UpdatedAt, next.Version = time.Unix(0, 0), time.Unix(0, 0), 99
		return next, nil
	})
	ok(t, "UpdateUser", err)
	if updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("UpdatedAt %v is before the previous %v", updated.UpdatedAt, created.UpdatedAt)
	}
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, updated.UpdatedAt, 2
	checkEqual(t, "UpdateUser result", updated, want)
	checkStored(t, "GetUser after update", s.GetUser, "r", "u1", want)
	// The old username and email are free, the new ones are found.
	if _, err := s.GetUserByUsername(t.Context(), "r", "before"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByUsername(old name) error = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByEmail(t.Context(), "r", want.Email); err != nil {
		t.Errorf("GetUserByEmail(new email): %v", err)
	}
	must(t, s.CreateUser, store.User{Realm: "r", ID: "u2", Username: "before", Email: "before@example.com"})

	// Clearing fields clears them.
	cleared, err := s.UpdateUser(t.Context(), "r", "u1", func(u store.User) (store.User, error) {
		u.Email, u.TOTPSecret, u.LockedUntil, u.Attributes, u.Profile = "", nil, time.Time{}, nil, store.Profile{}
		return u, nil
	})
	ok(t, "UpdateUser clearing fields", err)
	got := checkStored(t, "GetUser after clearing", s.GetUser, "r", "u1", cleared)
	if got.Email != "" || got.TOTPSecret != nil || !got.LockedUntil.IsZero() || got.Attributes == nil || len(got.Attributes) != 0 || got.Version != 3 {
		t.Errorf("after clearing: %+v", got)
	}
}

func testUserUpdateRefused(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	created := must(t, s.CreateUser, fullUser("r", "u1"))
	checkRefusals(t, "UpdateUser", func(fn func(store.User) (store.User, error)) (store.User, error) {
		return s.UpdateUser(t.Context(), "r", "u1", fn)
	}, []refusal[store.User]{
		{"an error from fn", func(u store.User) (store.User, error) {
			u.Username, u.Attributes["department"] = "changed", "changed"
			return u, errRefused
		}, errRefused},
		{"a new ID", func(u store.User) (store.User, error) { u.ID = "u2"; return u, nil }, store.ErrInvalid},
		{"a new realm", func(u store.User) (store.User, error) { u.Realm = "other"; return u, nil }, store.ErrInvalid},
		{"an invalid username", func(u store.User) (store.User, error) { u.Username = ""; return u, nil }, store.ErrInvalid},
	})
	checkStored(t, "user after refused updates", s.GetUser, "r", "u1", created)
	if _, err := s.GetUser(t.Context(), "other", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser in the realm of a refused move: %v, want ErrNotFound", err)
	}
}

func testUserUpdateConflict(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	must(t, s.CreateUser, store.User{Realm: "r", ID: "u1", Username: "alice", Email: "alice@example.com"})
	bob := must(t, s.CreateUser, store.User{Realm: "r", ID: "u2", Username: "bob", Email: "bob@example.com"})
	for what, fn := range map[string]func(store.User) (store.User, error){
		"a taken username": func(u store.User) (store.User, error) { u.Username = "ALICE"; return u, nil },
		"a taken email":    func(u store.User) (store.User, error) { u.Email = "Alice@Example.com"; return u, nil },
	} {
		_, err := s.UpdateUser(t.Context(), "r", "u2", fn)
		wantErr(t, "UpdateUser to "+what, err, store.ErrConflict)
	}
	checkStored(t, "user after conflicting updates", s.GetUser, "r", "u2", bob)
	// A user may change the case of their own username and email.
	_, err := s.UpdateUser(t.Context(), "r", "u2", func(u store.User) (store.User, error) {
		u.Username, u.Email = "Bob", "BOB@example.com"
		return u, nil
	})
	ok(t, "UpdateUser changing case", err)
}

func testUserUpdateConcurrent(t *testing.T, s store.Store) {
	const n = 50
	mustCreate(t, s, store.Realm{Name: "r"})
	must(t, s.CreateUser, newUser("r", "u1"))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UpdateUser(t.Context(), "r", "u1", func(u store.User) (store.User, error) {
				u.FailedLogins++
				return u, nil
			})
			if err != nil {
				t.Errorf("UpdateUser: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetUser(t.Context(), "r", "u1")
	ok(t, "GetUser", err)
	if got.FailedLogins != n || got.Version != n+1 {
		t.Errorf("FailedLogins = %d at version %d, want %d at version %d", got.FailedLogins, got.Version, n, n+1)
	}
}

func testUserDelete(t *testing.T, s store.Store) {
	world(t, s, "r")
	ok(t, "DeleteUser", s.DeleteUser(t.Context(), "r", "u1"))
	wantErr(t, "GetUser after delete", second(s.GetUser(t.Context(), "r", "u1")), store.ErrNotFound)
	wantErr(t, "GetUserByUsername after delete", second(s.GetUserByUsername(t.Context(), "r", "u1")), store.ErrNotFound)
	wantErr(t, "GetUserByEmail after delete", second(s.GetUserByEmail(t.Context(), "r", "u1@example.com")), store.ErrNotFound)
	wantErr(t, "second DeleteUser", s.DeleteUser(t.Context(), "r", "u1"), store.ErrNotFound)
	if _, err := s.GetUser(t.Context(), "r", "u2"); err != nil {
		t.Errorf("GetUser(u2) after deleting u1: %v", err)
	}
	// The ID, username and email are free again.
	if got := must(t, s.CreateUser, newUser("r", "u1")); got.Version != 1 {
		t.Errorf("recreated Version = %d, want 1", got.Version)
	}
}

// listUsers pages through ListUsers with limit and returns the usernames and page sizes.
func listUsers(t *testing.T, s store.Store, realm, search string, limit int) (names []string, sizes []int) {
	t.Helper()
	cursor := ""
	for range 100 {
		page, err := s.ListUsers(t.Context(), realm, store.UserFilter{Search: search}, store.ListOptions{Limit: limit, Cursor: cursor})
		ok(t, fmt.Sprintf("ListUsers(search %q, cursor %q)", search, cursor), err)
		if page.Items == nil {
			t.Fatal("ListUsers returned nil Items")
		}
		sizes = append(sizes, len(page.Items))
		for _, u := range page.Items {
			names = append(names, u.Username)
		}
		if page.Next == "" {
			return names, sizes
		}
		cursor = page.Next
	}
	t.Fatal("ListUsers never reached the last page")
	return nil, nil
}

func testUserListPages(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	// Mixed case, punctuation and non-ASCII: the order is by LowerKey, bytewise.
	names := []string{"carol", "Bob", "alice", "Émile", "émilie2", "Zed", "_under", "a-dash", "dave", "0zero"}
	for i, name := range names {
		must(t, s.CreateUser, store.User{Realm: "r", ID: fmt.Sprintf("u%d", i), Username: name})
	}
	must(t, s.CreateUser, store.User{Realm: "other", ID: "x", Username: "also-alice"})
	want := slices.Clone(names)
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(store.LowerKey(a), store.LowerKey(b)) })

	for _, tc := range []struct {
		limit int
		sizes []int
	}{
		{3, []int{3, 3, 3, 1}},
		{5, []int{5, 5}},
		{9, []int{9, 1}},
		{0, []int{10}},
	} {
		got, sizes := listUsers(t, s, "r", "", tc.limit)
		if !slices.Equal(got, want) || !slices.Equal(sizes, tc.sizes) {
			t.Errorf("limit %d: users %v in pages %v, want %v in pages %v", tc.limit, got, sizes, want, tc.sizes)
		}
	}
	if got, _ := listUsers(t, s, "missing", "", 0); len(got) != 0 {
		t.Errorf("ListUsers of a missing realm = %v, want none", got)
	}
}

func testUserListSearch(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	for i, u := range []store.User{
		{Username: "alice", Email: "alice@example.com"},
		{Username: "Alicia", Email: "a.l@corp.example"},
		{Username: "bob", Email: "ALIAS@example.org"},
		{Username: "carol"},
		{Username: "dave", Email: "dave@ali.example"},
		{Username: "100%_off"},
		{Username: "1000"},
		{Username: "abc"},
		{Username: `back\slash`},
	} {
		u.Realm, u.ID = "r", fmt.Sprintf("u%d", i)
		must(t, s.CreateUser, u)
	}
	must(t, s.CreateUser, store.User{Realm: "other", ID: "x", Username: "alien"})
	for _, tc := range []struct {
		search string
		want   []string
	}{
		{"ali", []string{"alice", "Alicia", "bob"}},
		{"ALI", []string{"alice", "Alicia", "bob"}},
		{"Alice@", []string{"alice"}},
		{"a", []string{"abc", "alice", "Alicia", "bob"}},
		{"dave@ali", []string{"dave"}},
		{"100%", []string{"100%_off"}},
		{"100%_", []string{"100%_off"}},
		{"10_0", nil},
		{"a%c", nil},
		{`back\`, []string{`back\slash`}},
		{"zzz", nil},
	} {
		for _, limit := range []int{1, 2, 0} {
			got, _ := listUsers(t, s, "r", tc.search, limit)
			if !slices.Equal(got, tc.want) {
				t.Errorf("search %q, limit %d: %v, want %v", tc.search, limit, got, tc.want)
			}
		}
	}
}

func testUserListInvalidCursor(t *testing.T, s store.Store) {
	world(t, s, "r")
	for _, cursor := range []string{store.EncodeCursor("realm", "a"), store.EncodeCursor("client", "a"), "not a cursor!", "%%%"} {
		_, err := s.ListUsers(t.Context(), "r", store.UserFilter{}, store.ListOptions{Cursor: cursor})
		wantErr(t, fmt.Sprintf("ListUsers(cursor %q)", cursor), err, store.ErrInvalidCursor)
	}
	// A user cursor from another listing of users is fine: the sort key is the same.
	page, err := s.ListUsers(t.Context(), "r", store.UserFilter{}, store.ListOptions{Limit: 1})
	ok(t, "ListUsers", err)
	if _, err := s.ListUsers(t.Context(), "r", store.UserFilter{Search: "u"}, store.ListOptions{Cursor: page.Next}); err != nil {
		t.Errorf("ListUsers with a user cursor: %v", err)
	}
}
