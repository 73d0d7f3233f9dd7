package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var clientTests = []testCase{
	{"ClientRoundTrip", testClientRoundTrip},
	{"ClientDefaults", testClientDefaults},
	{"ClientNotFound", testClientNotFound},
	{"ClientDuplicate", testClientDuplicate},
	{"ClientInvalid", testClientInvalid},
	{"ClientUpdate", testClientUpdate},
	{"ClientUpdateRefused", testClientUpdateRefused},
	{"ClientUpdateConcurrent", testClientUpdateConcurrent},
	{"ClientDelete", testClientDelete},
	{"ClientListPages", testClientListPages},
	{"ClientListInvalidCursor", testClientListInvalidCursor},
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	before := store.Timestamp(time.Now())
	in := fullClient("r", "app")
	created := must(t, s.CreateClient, in)
	checkNow(t, "CreatedAt", created.CreatedAt, before)
	want := fullClient("r", "app")
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, created.CreatedAt, 1
	checkEqual(t, "CreateClient result", created, want)
	checkStored(t, "GetClient", s.GetClient, "r", "app", want)

	in.RedirectURIs[0], in.SecretHash[0] = "https://evil.example", 0
	checkEqual(t, "CreateClient result after the caller changed its input", created, want)
}

func testClientDefaults(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	created := must(t, s.CreateClient, store.Client{Realm: "r", ID: "bare", SecretHash: []byte{}})
	empty := []string{}
	want := store.Client{Realm: "r", ID: "bare", RedirectURIs: empty, PostLogoutRedirectURIs: empty, GrantTypes: empty,
		ResponseTypes: empty, Scopes: empty, Contacts: empty, TLSClientCertificates: empty, Attributes: map[string]string{},
		CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt, Version: 1}
	checkEqual(t, "CreateClient result", created, want)
	checkStored(t, "GetClient", s.GetClient, "r", "bare", want)
}

func testClientNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	wantErr(t, "GetClient(missing)", second(s.GetClient(t.Context(), "r", "missing")), store.ErrNotFound)
	wantErr(t, "GetClient in another realm", second(s.GetClient(t.Context(), "other", "c1")), store.ErrNotFound)
	wantErr(t, "DeleteClient(missing)", s.DeleteClient(t.Context(), "r", "missing"), store.ErrNotFound)
	checkUpdateMissing(t, "UpdateClient", s.UpdateClient, "r", "missing")
	wantErr(t, "CreateClient in a missing realm", second(s.CreateClient(t.Context(), newClient("nope", "c1"))), store.ErrNotFound)
}

func testClientDuplicate(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	first := must(t, s.CreateClient, store.Client{Realm: "r", ID: "app", Name: "first"})
	_, err := s.CreateClient(t.Context(), store.Client{Realm: "r", ID: "app", Name: "second"})
	wantErr(t, "second CreateClient", err, store.ErrConflict)
	checkStored(t, "client after a duplicate create", s.GetClient, "r", "app", first)
	// client_id is case-sensitive, and per realm.
	must(t, s.CreateClient, newClient("r", "APP"))
	must(t, s.CreateClient, newClient("other", "app"))
}

func testClientInvalid(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	for what, c := range map[string]store.Client{
		"empty client_id":    {ID: ""},
		"long client_id":     {ID: strings.Repeat("c", store.MaxClientIDLen+1)},
		"newline":            {ID: "a\nb"},
		"DEL":                {ID: "a\x7fb"},
		"non-ASCII":          {ID: "ápp"},
		"negative token TTL": {ID: "app", AccessTokenTTL: -time.Second},
		"long subject DN":    {ID: "app", TLSClientAuthSubjectDN: "CN=" + strings.Repeat("a", store.MaxSubjectDNLen)},
	} {
		c.Realm = "r"
		_, err := s.CreateClient(t.Context(), c)
		wantErr(t, "CreateClient with "+what, err, store.ErrInvalid)
	}
	must(t, s.CreateClient, newClient("r", strings.Repeat("c", store.MaxClientIDLen)))
	must(t, s.CreateClient, newClient("r", "with space ~!@#$%^&*()"))
	page, err := s.ListClients(t.Context(), "r", store.ListOptions{})
	ok(t, "ListClients", err)
	if len(page.Items) != 2 {
		t.Errorf("stored %d clients, want the 2 valid ones", len(page.Items))
	}
}

func testClientUpdate(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	created := must(t, s.CreateClient, newClient("r", "app"))
	updated, err := s.UpdateClient(t.Context(), "r", "app", func(c store.Client) (store.Client, error) {
		checkEqual(t, "fn argument", c, created)
		next := fullClient("r", "app")
		next.CreatedAt, next.Version = time.Unix(0, 0), 42
		return next, nil
	})
	ok(t, "UpdateClient", err)
	want := fullClient("r", "app")
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, updated.UpdatedAt, 2
	checkEqual(t, "UpdateClient result", updated, want)
	checkStored(t, "GetClient after update", s.GetClient, "r", "app", want)

	// Clearing byte fields and slices clears them.
	cleared, err := s.UpdateClient(t.Context(), "r", "app", func(c store.Client) (store.Client, error) {
		c.SecretHash, c.JWKS, c.RedirectURIs, c.Attributes = nil, nil, nil, nil
		return c, nil
	})
	ok(t, "UpdateClient clearing fields", err)
	got := checkStored(t, "GetClient after clearing", s.GetClient, "r", "app", cleared)
	if got.SecretHash != nil || got.JWKS != nil || got.RedirectURIs == nil || len(got.RedirectURIs) != 0 || got.Version != 3 {
		t.Errorf("after clearing: %+v", got)
	}
}

func testClientUpdateRefused(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	created := must(t, s.CreateClient, fullClient("r", "app"))
	_, err := s.UpdateClient(t.Context(), "r", "app", func(c store.Client) (store.Client, error) {
		c.Name, c.Scopes[0] = "changed", "changed"
		return c, errRefused
	})
	if err != errRefused {
		t.Errorf("UpdateClient error = %v, want fn's error unchanged", err)
	}
	for what, fn := range map[string]func(store.Client) (store.Client, error){
		"a new client_id":     func(c store.Client) (store.Client, error) { c.ID = "app2"; return c, nil },
		"a new realm":         func(c store.Client) (store.Client, error) { c.Realm = "other"; return c, nil },
		"a negative lifetime": func(c store.Client) (store.Client, error) { c.IDTokenTTL = -1; return c, nil },
	} {
		_, err := s.UpdateClient(t.Context(), "r", "app", fn)
		wantErr(t, "UpdateClient with "+what, err, store.ErrInvalid)
	}
	checkStored(t, "client after refused updates", s.GetClient, "r", "app", created)
}

func testClientUpdateConcurrent(t *testing.T, s store.Store) {
	const n = 20
	mustCreate(t, s, store.Realm{Name: "r"})
	must(t, s.CreateClient, newClient("r", "app"))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateClient(t.Context(), "r", "app", func(c store.Client) (store.Client, error) {
				c.RedirectURIs = append(c.RedirectURIs, fmt.Sprintf("https://app.example.com/%d", i))
				return c, nil
			})
			if err != nil {
				t.Errorf("UpdateClient: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetClient(t.Context(), "r", "app")
	ok(t, "GetClient", err)
	if len(got.RedirectURIs) != n || got.Version != n+1 {
		t.Errorf("%d redirect URIs at version %d, want %d at version %d", len(got.RedirectURIs), got.Version, n, n+1)
	}
}

func testClientDelete(t *testing.T, s store.Store) {
	world(t, s, "r")
	ok(t, "DeleteClient", s.DeleteClient(t.Context(), "r", "c1"))
	wantErr(t, "GetClient after delete", second(s.GetClient(t.Context(), "r", "c1")), store.ErrNotFound)
	wantErr(t, "second DeleteClient", s.DeleteClient(t.Context(), "r", "c1"), store.ErrNotFound)
	if _, err := s.GetClient(t.Context(), "r", "c2"); err != nil {
		t.Errorf("GetClient(c2) after deleting c1: %v", err)
	}
	if got := must(t, s.CreateClient, newClient("r", "c1")); got.Version != 1 {
		t.Errorf("recreated Version = %d, want 1", got.Version)
	}
}

func testClientListPages(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	// Bytewise: upper case before lower case, '-' < '0' < '_' < 'a' < '~'.
	ids := []string{"b", "a_1", "B", "a1", "a-1", "~z", "app"}
	for _, id := range ids {
		must(t, s.CreateClient, newClient("r", id))
	}
	must(t, s.CreateClient, newClient("other", "a0"))
	want := slices.Clone(ids)
	slices.Sort(want)
	for _, limit := range []int{1, 3, 7, 0} {
		var got []string
		cursor := ""
		for range len(ids) + 1 {
			page, err := s.ListClients(t.Context(), "r", store.ListOptions{Limit: limit, Cursor: cursor})
			ok(t, "ListClients", err)
			for _, c := range page.Items {
				got = append(got, c.ID)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: clients %v, want %v", limit, got, want)
		}
	}
	page, err := s.ListClients(t.Context(), "missing", store.ListOptions{})
	ok(t, "ListClients of a missing realm", err)
	if page.Items == nil || len(page.Items) != 0 || page.Next != "" {
		t.Errorf("ListClients of a missing realm = %+v, want an empty page", page)
	}
}

func testClientListInvalidCursor(t *testing.T, s store.Store) {
	world(t, s, "r")
	for _, cursor := range []string{store.EncodeCursor("user", "a"), store.EncodeCursor("realm", "a"), "not a cursor!"} {
		_, err := s.ListClients(t.Context(), "r", store.ListOptions{Cursor: cursor})
		wantErr(t, fmt.Sprintf("ListClients(cursor %q)", cursor), err, store.ErrInvalidCursor)
	}
}
