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

var authnTests = []testCase{
	{"AuthnRoundTrip", testAuthnRoundTrip},
	{"AuthnNotFound", testAuthnNotFound},
	{"AuthnDuplicate", testAuthnDuplicate},
	{"AuthnInvalid", testAuthnInvalid},
	{"AuthnUpdate", testAuthnUpdate},
	{"AuthnUpdateRefused", testAuthnUpdateRefused},
	{"AuthnAnswerConcurrent", testAuthnAnswerConcurrent},
	{"AuthnListPending", testAuthnListPending},
	{"AuthnPurge", testAuthnPurge},
	{"AuthnWithEvent", testAuthnWithEvent},
	{"OutboxOutcomes", testOutboxOutcomes},
	{"OutboxOutcomesConcurrent", testOutboxOutcomesConcurrent},
	{"OutboxOutcomesCrossed", testOutboxOutcomesCrossed},
}

// testAuthnWithEvent: a record created with its events appends them, in order, in the
// same transaction; a create that fails (a duplicate, an event of another realm, an
// invalid event, the second of two) appends nothing.
func testAuthnWithEvent(t *testing.T, s store.Store) {
	world(t, s, "r")
	events := func() []string {
		t.Helper()
		page, err := s.ListEvents(t.Context(), "r", store.EventFilter{}, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range page.Items {
			out = append(out, e.Type+" "+e.Subject)
		}
		return out
	}
	r := newAuthn("r", "q1", "u1", instant(time.Hour))
	r.State = store.AuthnDenied
	r.Events = []store.Event{newEvent("r", "authn.denied", "q1", "u1"), newEvent("r", "authn.reported", "q1", "u1")}
	got := must(t, s.CreateAuthnRequest, r)
	if got.Events != nil {
		t.Errorf("the created record carries its events back: %+v", got.Events)
	}
	want := []string{"authn.reported q1", "authn.denied q1"} // newest first
	if got := events(); !slices.Equal(got, want) {
		t.Fatalf("events after the create: %v, want %v", got, want)
	}
	wantErr(t, "a duplicate with events", second(s.CreateAuthnRequest(t.Context(), r)), store.ErrConflict)
	other := newAuthn("r", "q2", "u1", instant(time.Hour))
	other.Events = []store.Event{newEvent("elsewhere", "authn.approved", "q2", "u1")}
	wantErr(t, "an event of another realm", second(s.CreateAuthnRequest(t.Context(), other)), store.ErrInvalid)
	other.Events = []store.Event{newEvent("r", "authn.approved", "q2", "u1"), newEvent("r", "", "q2", "u1")}
	wantErr(t, "a valid event and an invalid one", second(s.CreateAuthnRequest(t.Context(), other)), store.ErrInvalid)
	if got := events(); !slices.Equal(got, want) {
		t.Errorf("events after refused creates: %v, want only the first create's", got)
	}
	wantErr(t, "a refused create", second(s.GetAuthnRequest(t.Context(), "r", "q2")), store.ErrNotFound)
}

// testOutboxOutcomes: WriteOutbox writes, in one transaction and in order, events and
// outcome claims with their records and events; a second outcome of a request is
// refused with the first's state and writes nothing of its entry; a record of a deleted
// user is not kept but the entry's events are written; an invalid entry fails the whole
// call; purged claims are gone.
func testOutboxOutcomes(t *testing.T, s store.Store) {
	world(t, s, "r")
	ctx := t.Context()
	types := func() []string {
		t.Helper()
		page, err := s.ListEvents(ctx, "r", store.EventFilter{}, store.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range slices.Backward(page.Items) {
			out = append(out, e.Type+" "+e.Subject)
		}
		return out
	}
	claim := func(id string, state store.AuthnState) *store.AuthnOutcome {
		return &store.AuthnOutcome{Realm: "r", ID: id, CreatedAt: instant(0), State: state}
	}
	record := func(id, user string, state store.AuthnState) *store.AuthnRequest {
		r := newAuthn("r", id, user, instant(time.Hour))
		r.State, r.CreatedAt = state, instant(0)
		return &r
	}
	results, err := s.WriteOutbox(ctx, []store.OutboxEntry{
		{Events: []store.Event{newEvent("r", "authn.created", "q1", "u1"), newEvent("r", "authn.created", "q2", "u1")}},
		{Outcome: claim("q1", store.AuthnDenied), Record: record("q1", "u1", store.AuthnDenied),
			Events: []store.Event{newEvent("r", "authn.denied", "q1", "u1"), newEvent("r", "authn.reported", "q1", "u1")}},
		{Outcome: claim("q1", store.AuthnExpired), Events: []store.Event{newEvent("r", "authn.expired", "q1", "u1")}},
		{Outcome: claim("q2", store.AuthnApproved), Events: []store.Event{newEvent("r", "authn.approved", "q2", "u1")}},
		{Events: []store.Event{newEvent("r", "authn.consumed", "q2", "u1")}},
	})
	ok(t, "WriteOutbox", err)
	checkEqual(t, "WriteOutbox results", results, []store.OutboxResult{{Kept: true}, {Kept: true}, {Existing: store.AuthnDenied}, {Kept: true}, {Kept: true}})
	checkEqual(t, "events", types(), []string{"authn.created q1", "authn.created q2", "authn.denied q1", "authn.reported q1",
		"authn.approved q2", "authn.consumed q2"})
	if got, err := s.GetAuthnRequest(ctx, "r", "q1"); err != nil || got.State != store.AuthnDenied {
		t.Errorf("q1's record %q, %v; want it denied", got.State, err)
	}
	wantErr(t, "a record of an outcome claimed without one", second(s.GetAuthnRequest(ctx, "r", "q2")), store.ErrNotFound)

	// A writer that writes its own claim again (its commit landed, it did not hear so)
	// finds it kept; another writer's claim with the same token is refused as ever.
	own := claim("q5", store.AuthnApproved)
	own.Token = "tok-5"
	for range 2 {
		results, err = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: own}})
		ok(t, "WriteOutbox of a claim again", err)
		checkEqual(t, "a claim written again", results, []store.OutboxResult{{Kept: true}})
	}
	results, err = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: claim("q5", store.AuthnCancelled)}})
	ok(t, "WriteOutbox of another writer's claim", err)
	checkEqual(t, "another writer's claim", results, []store.OutboxResult{{Existing: store.AuthnApproved}})

	// In a later call too, the first outcome stands.
	results, err = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: claim("q2", store.AuthnCancelled), Events: []store.Event{newEvent("r", "authn.cancelled", "q2", "u1")}}})
	ok(t, "WriteOutbox of a second outcome", err)
	checkEqual(t, "a second outcome", results, []store.OutboxResult{{Existing: store.AuthnApproved}})

	// A user deleted meanwhile: no record to keep, the outcome and its events stand.
	results, err = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: claim("q3", store.AuthnApproved), Record: record("q3", "gone", store.AuthnApproved),
		Events: []store.Event{newEvent("r", "authn.approved", "q3", "gone")}}})
	ok(t, "WriteOutbox for a deleted user", err)
	checkEqual(t, "an outcome of a deleted user", results, []store.OutboxResult{{Kept: true}})
	wantErr(t, "the record of a deleted user", second(s.GetAuthnRequest(ctx, "r", "q3")), store.ErrNotFound)
	// A deleted realm's entries are dropped.
	results, err = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: &store.AuthnOutcome{Realm: "gone", ID: "q9", CreatedAt: instant(0), State: store.AuthnApproved},
		Events: []store.Event{newEvent("gone", "authn.approved", "q9", "u1")}}})
	ok(t, "WriteOutbox in a deleted realm", err)
	checkEqual(t, "an outcome in a deleted realm", results, []store.OutboxResult{{Kept: true}})

	// An invalid entry fails the call: nothing of it is written.
	before := types()
	for what, en := range map[string]store.OutboxEntry{
		"a pending outcome":       {Outcome: claim("q4", store.AuthnPending)},
		"an outcome without time": {Outcome: &store.AuthnOutcome{Realm: "r", ID: "q4", State: store.AuthnApproved}},
		"a record alone":          {Record: record("q4", "u1", store.AuthnApproved)},
		"an invalid record":       {Outcome: claim("q4", store.AuthnApproved), Record: &store.AuthnRequest{Realm: "r", ID: "q4"}},
		"an invalid event":        {Events: []store.Event{newEvent("r", "", "q4", "u1")}},
	} {
		_, err := s.WriteOutbox(ctx, []store.OutboxEntry{{Events: []store.Event{newEvent("r", "authn.created", "q4", "u1")}}, en})
		wantErr(t, "WriteOutbox with "+what, err, store.ErrInvalid)
	}
	checkEqual(t, "events after refused calls", types(), before)

	// Purged claims are gone: a claim after the purge is kept again.
	n, err := s.PurgeAuthnOutcomes(ctx, instant(time.Second))
	ok(t, "PurgeAuthnOutcomes", err)
	if n != 4 {
		t.Errorf("PurgeAuthnOutcomes = %d, want 4 (q1, q2, q3, q5)", n)
	}
	results, err = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: claim("q2", store.AuthnCancelled)}})
	ok(t, "WriteOutbox after the purge", err)
	checkEqual(t, "a claim after the purge", results, []store.OutboxResult{{Kept: true}})
}

// testOutboxOutcomesConcurrent: outcomes of one request written at once by several
// writers (nodes): exactly one is kept, with its events; the others learn its state.
func testOutboxOutcomesConcurrent(t *testing.T, s store.Store) {
	world(t, s, "r")
	ctx := t.Context()
	states := []store.AuthnState{store.AuthnApproved, store.AuthnDenied, store.AuthnExpired, store.AuthnCancelled}
	for round := range 5 {
		id := fmt.Sprintf("q%d", round)
		results := make([]store.OutboxResult, len(states))
		errs := make([]error, len(states))
		var wg sync.WaitGroup
		for i, state := range states {
			wg.Go(func() {
				var res []store.OutboxResult
				res, errs[i] = s.WriteOutbox(ctx, []store.OutboxEntry{{Outcome: &store.AuthnOutcome{Realm: "r", ID: id, CreatedAt: instant(0), State: state},
					Events: []store.Event{newEvent("r", "authn."+string(state), id, "u1")}}})
				if errs[i] == nil {
					results[i] = res[0]
				}
			})
		}
		wg.Wait()
		var kept store.AuthnState
		winners := 0
		for i, res := range results {
			switch {
			case errs[i] != nil:
				t.Fatalf("writer %d: %v", i, errs[i])
			case res.Kept:
				winners++
				kept = states[i]
			}
		}
		for i, res := range results {
			if !res.Kept && res.Existing != kept {
				t.Errorf("writer %d was told %q, the outcome kept is %q", i, res.Existing, kept)
			}
		}
		page, err := s.ListEvents(ctx, "r", store.EventFilter{Subject: id}, store.ListOptions{})
		ok(t, "ListEvents", err)
		if winners != 1 || len(page.Items) != 1 || page.Items[0].Type != "authn."+string(kept) {
			t.Fatalf("round %d: %d writers kept their outcome, events %+v; want one, with its event", round, winners, page.Items)
		}
	}
}

// testOutboxOutcomesCrossed: two writers claiming the same requests in opposite orders
// at once (two nodes' batches) both finish, without a deadlock, and each request has
// one outcome.
func testOutboxOutcomesCrossed(t *testing.T, s store.Store) {
	world(t, s, "r")
	ctx := t.Context()
	for round := range 5 {
		var entries []store.OutboxEntry
		for i := range 40 {
			entries = append(entries, store.OutboxEntry{Outcome: &store.AuthnOutcome{Realm: "r", ID: fmt.Sprintf("q%d-%d", round, i),
				CreatedAt: instant(time.Duration(i) * time.Second), State: store.AuthnApproved}})
		}
		reversed := slices.Clone(entries)
		slices.Reverse(reversed)
		kept := make([][]store.OutboxResult, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for w, batch := range [][]store.OutboxEntry{entries, reversed} {
			wg.Go(func() { kept[w], errs[w] = s.WriteOutbox(ctx, batch) })
		}
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("round %d, writer %d: %v", round, w, err)
			}
		}
		for i := range 40 {
			if a, b := kept[0][i].Kept, kept[1][39-i].Kept; a == b {
				t.Fatalf("round %d, request %d: kept by both or neither (%t)", round, i, a)
			}
		}
	}
}

func newAuthn(realm, id, userID string, expires time.Time) store.AuthnRequest {
	return store.AuthnRequest{Realm: realm, ID: id, UserID: userID, Kind: "login", ExpiresAt: expires}
}

// fullAuthn sets every field of a request that the caller owns, as answered.
func fullAuthn(realm, id, userID string) store.AuthnRequest {
	return store.AuthnRequest{
		Realm: realm, ID: id, UserID: userID, ClientID: "c1", Kind: "transaction",
		BindingMessage:       "Pay 12.50 € to\nACME Ltd",
		AuthorizationDetails: []byte(`[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"12.50"}}]`),
		MatchNumber:          "47",
		Origin:               map[string]string{"ip": "2001:db8::7", "user_agent": "Mozilla/5.0", "location": "Zürich, CH"},
		State:                store.AuthnApproved,
		CreatedAt:            instant(0),
		ExpiresAt:            instant(5 * time.Minute),
		AnsweredAt:           instant(time.Minute),
		DeviceID:             "d1",
		Signature:            []byte{0x30, 0x45, 0, 0xff},
		SignedAt:             instant(time.Minute).Unix(),
		Receipt:              "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
	}
}

func authnIDs(requests []store.AuthnRequest) []string {
	return ids(requests, func(r store.AuthnRequest) string { return r.ID })
}

func testAuthnRoundTrip(t *testing.T, s store.Store) {
	world(t, s, "r")
	in := fullAuthn("r", "q1", "u1")
	created := must(t, s.CreateAuthnRequest, in)
	want := fullAuthn("r", "q1", "u1")
	want.Version = 1
	checkEqual(t, "CreateAuthnRequest result", created, want)
	checkStored(t, "GetAuthnRequest", s.GetAuthnRequest, "r", "q1", want)
	in.Origin["ip"], in.Signature[0], in.AuthorizationDetails[0] = "changed", 0, ' '
	checkEqual(t, "CreateAuthnRequest result after the caller changed its input", created, want)

	// What the caller leaves out comes back empty; the state is pending, CreatedAt the
	// store's clock.
	before := store.Timestamp(time.Now())
	bare := must(t, s.CreateAuthnRequest, newAuthn("r", "q2", "u1", instant(0)))
	checkNow(t, "CreatedAt", bare.CreatedAt, before)
	wantBare := store.AuthnRequest{Realm: "r", ID: "q2", UserID: "u1", Kind: "login", Origin: map[string]string{},
		State: store.AuthnPending, CreatedAt: bare.CreatedAt, ExpiresAt: instant(0), Version: 1}
	checkEqual(t, "CreateAuthnRequest result without fields", bare, wantBare)
	checkStored(t, "GetAuthnRequest without fields", s.GetAuthnRequest, "r", "q2", wantBare)
}

func testAuthnNotFound(t *testing.T, s store.Store) {
	world(t, s, "r")
	mustCreate(t, s, store.Realm{Name: "other"})
	must(t, s.CreateAuthnRequest, newAuthn("r", "q1", "u1", instant(0)))
	wantErr(t, "GetAuthnRequest(missing)", second(s.GetAuthnRequest(t.Context(), "r", "missing")), store.ErrNotFound)
	wantErr(t, "GetAuthnRequest in another realm", second(s.GetAuthnRequest(t.Context(), "other", "q1")), store.ErrNotFound)
	checkUpdateMissing(t, "UpdateAuthnRequest", s.UpdateAuthnRequest, "r", "missing")
	for what, r := range map[string]store.AuthnRequest{
		"a missing realm":         newAuthn("nope", "q2", "u1", instant(0)),
		"a missing user":          newAuthn("r", "q3", "nobody", instant(0)),
		"a user of another realm": newAuthn("other", "q4", "u1", instant(0)),
	} {
		wantErr(t, "CreateAuthnRequest in "+what, second(s.CreateAuthnRequest(t.Context(), r)), store.ErrNotFound)
	}
}

func testAuthnDuplicate(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	first := must(t, s.CreateAuthnRequest, newAuthn("r", "q1", "u1", instant(0)))
	wantErr(t, "second CreateAuthnRequest", second(s.CreateAuthnRequest(t.Context(), newAuthn("r", "q1", "u2", instant(time.Hour)))), store.ErrConflict)
	checkStored(t, "request after a duplicate create", s.GetAuthnRequest, "r", "q1", first)
	must(t, s.CreateAuthnRequest, newAuthn("other", "q1", "u1", instant(0))) // IDs are per realm
}

func testAuthnInvalid(t *testing.T, s store.Store) {
	world(t, s, "r")
	base := func(change func(*store.AuthnRequest)) store.AuthnRequest {
		r := newAuthn("r", "q1", "u1", instant(0))
		change(&r)
		return r
	}
	for what, r := range map[string]store.AuthnRequest{
		"no ID":                      base(func(r *store.AuthnRequest) { r.ID = "" }),
		"a long ID":                  base(func(r *store.AuthnRequest) { r.ID = strings.Repeat("q", store.MaxIDLen+1) }),
		"no user":                    base(func(r *store.AuthnRequest) { r.UserID = "" }),
		"a long client_id":           base(func(r *store.AuthnRequest) { r.ClientID = strings.Repeat("c", store.MaxClientIDLen+1) }),
		"no kind":                    base(func(r *store.AuthnRequest) { r.Kind = "" }),
		"an unknown state":           base(func(r *store.AuthnRequest) { r.State = "maybe" }),
		"no expiry":                  base(func(r *store.AuthnRequest) { r.ExpiresAt = time.Time{} }),
		"an unstorable expiry":       base(func(r *store.AuthnRequest) { r.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"a long binding message":     base(func(r *store.AuthnRequest) { r.BindingMessage = strings.Repeat("€", store.MaxBindingMessageLen+1) }),
		"a NUL in the message":       base(func(r *store.AuthnRequest) { r.BindingMessage = "pay\x00" }),
		"a long match number":        base(func(r *store.AuthnRequest) { r.MatchNumber = strings.Repeat("1", store.MaxMatchNumberLen+1) }),
		"a NUL answered":             base(func(r *store.AuthnRequest) { r.AnsweredNumber = "4\x00" }),
		"a long answered number":     base(func(r *store.AuthnRequest) { r.AnsweredNumber = strings.Repeat("1", store.MaxMatchNumberLen+1) }),
		"an unknown signed decision": base(func(r *store.AuthnRequest) { r.SignedDecision = "maybe" }),
		"details that are not JSON":  base(func(r *store.AuthnRequest) { r.AuthorizationDetails = []byte(`[{"type":`) }),
		"details that are an object": base(func(r *store.AuthnRequest) { r.AuthorizationDetails = []byte(`{"type":"x"}`) }),
		"too large details": base(func(r *store.AuthnRequest) {
			r.AuthorizationDetails = []byte(`["` + strings.Repeat("x", store.MaxAuthorizationDetailsSize) + `"]`)
		}),
		"a long signature":              base(func(r *store.AuthnRequest) { r.Signature = make([]byte, store.MaxSignatureLen+1) }),
		"a long receipt":                base(func(r *store.AuthnRequest) { r.Receipt = strings.Repeat("r", store.MaxReceiptLen+1) }),
		"a long device ID":              base(func(r *store.AuthnRequest) { r.DeviceID = strings.Repeat("d", store.MaxIDLen+1) }),
		"too large an origin":           base(func(r *store.AuthnRequest) { r.Origin = largeMap() }),
		"a control character in origin": base(func(r *store.AuthnRequest) { r.Origin = map[string]string{"ip": "1\t2"} }),
	} {
		wantErr(t, "CreateAuthnRequest with "+what, second(s.CreateAuthnRequest(t.Context(), r)), store.ErrInvalid)
	}
	pending, err := s.ListPendingAuthnRequests(t.Context(), "r", "u1", enrollNow, 0)
	ok(t, "ListPendingAuthnRequests", err)
	if len(pending) != 0 {
		t.Errorf("stored %v, want none of the invalid requests", authnIDs(pending))
	}
	// Edges that are valid: details with leading white space, a message of many lines.
	must(t, s.CreateAuthnRequest, base(func(r *store.AuthnRequest) {
		r.AuthorizationDetails, r.BindingMessage = []byte(" \n[]"), "line 1\nline 2"
	}))
}

func testAuthnUpdate(t *testing.T, s store.Store) {
	world(t, s, "r")
	created := must(t, s.CreateAuthnRequest, newAuthn("r", "q1", "u1", instant(5*time.Minute)))
	updated, err := s.UpdateAuthnRequest(t.Context(), "r", "q1", func(r store.AuthnRequest) (store.AuthnRequest, error) {
		checkEqual(t, "fn argument", r, created)
		next := fullAuthn("r", "q1", "u1")
		next.CreatedAt, next.Version = time.Unix(0, 0), 42 // not the caller's to set
		return next, nil
	})
	ok(t, "UpdateAuthnRequest", err)
	want := fullAuthn("r", "q1", "u1")
	want.CreatedAt, want.Version = created.CreatedAt, 2
	checkEqual(t, "UpdateAuthnRequest result", updated, want)
	checkStored(t, "GetAuthnRequest after update", s.GetAuthnRequest, "r", "q1", want)
}

func testAuthnUpdateRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	created := must(t, s.CreateAuthnRequest, fullAuthn("r", "q1", "u1"))
	checkRefusals(t, "UpdateAuthnRequest", func(fn func(store.AuthnRequest) (store.AuthnRequest, error)) (store.AuthnRequest, error) {
		return s.UpdateAuthnRequest(t.Context(), "r", "q1", fn)
	}, []refusal[store.AuthnRequest]{
		{"an error from fn", func(r store.AuthnRequest) (store.AuthnRequest, error) {
			r.State, r.Origin["ip"], r.Signature[0] = store.AuthnDenied, "changed", 1
			return r, errRefused
		}, errRefused},
		{"a new ID", func(r store.AuthnRequest) (store.AuthnRequest, error) { r.ID = "q2"; return r, nil }, store.ErrInvalid},
		{"a new realm", func(r store.AuthnRequest) (store.AuthnRequest, error) { r.Realm = "other"; return r, nil }, store.ErrInvalid},
		{"a new user", func(r store.AuthnRequest) (store.AuthnRequest, error) { r.UserID = "u2"; return r, nil }, store.ErrInvalid},
		{"an unknown state", func(r store.AuthnRequest) (store.AuthnRequest, error) { r.State = ""; return r, nil }, store.ErrInvalid},
	})
	checkStored(t, "request after refused updates", s.GetAuthnRequest, "r", "q1", created)
}

// testAuthnAnswerConcurrent answers one pending request from many goroutines at once,
// each approving only if the request is still pending, as devices on several nodes would:
// exactly one answer wins. It races for several requests in turn, so that the later
// races run on connections the earlier ones opened.
func testAuthnAnswerConcurrent(t *testing.T, s store.Store) {
	const n, rounds = 50, 3
	errAnswered := errors.New("already answered")
	world(t, s, "r")
	for round := range rounds {
		id := fmt.Sprintf("q%d", round)
		must(t, s.CreateAuthnRequest, newAuthn("r", id, "u1", instant(0)))
		won, lost := race(t, "UpdateAuthnRequest", n, errAnswered, func(i int) (string, error) {
			device := fmt.Sprintf("d%d", i)
			_, err := s.UpdateAuthnRequest(t.Context(), "r", id, func(r store.AuthnRequest) (store.AuthnRequest, error) {
				if r.State != store.AuthnPending {
					return r, errAnswered
				}
				r.State, r.DeviceID, r.AnsweredAt, r.Signature = store.AuthnApproved, device, instant(time.Second), []byte(device)
				return r, nil
			})
			return device, err
		})
		if len(won) != 1 || lost != n-1 {
			t.Fatalf("request %s: %d approvals (%v) and %d refused, want 1 and %d", id, len(won), won, lost, n-1)
		}
		got, err := s.GetAuthnRequest(t.Context(), "r", id)
		ok(t, "GetAuthnRequest", err)
		if got.State != store.AuthnApproved || got.DeviceID != won[0] || string(got.Signature) != won[0] || got.Version != 2 {
			t.Errorf("request after the race = %+v, want approved once by %s at version 2", got, won[0])
		}
	}
}

func testAuthnListPending(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	now := instant(0)
	for i, tc := range []struct {
		id, user string
		created  time.Duration
		expires  time.Duration
		state    store.AuthnState
	}{
		{"q-c", "u1", 2 * time.Second, time.Minute, store.AuthnPending},
		{"q-a", "u1", 3 * time.Second, time.Minute, store.AuthnPending},
		{"q-b", "u1", time.Second, time.Minute, store.AuthnPending},
		{"q-d", "u1", 2 * time.Second, time.Minute, store.AuthnPending}, // ties with q-c: ID breaks it
		{"expired", "u1", 0, 0, store.AuthnPending},                     // ExpiresAt == now
		{"approved", "u1", 0, time.Minute, store.AuthnApproved},
		{"cancelled", "u1", 0, time.Minute, store.AuthnCancelled},
		{"other-user", "u2", 0, time.Minute, store.AuthnPending},
	} {
		r := newAuthn("r", tc.id, tc.user, now.Add(tc.expires))
		r.CreatedAt, r.State = now.Add(-time.Hour+tc.created), tc.state
		r.MatchNumber = fmt.Sprint(i)
		must(t, s.CreateAuthnRequest, r)
	}
	must(t, s.CreateAuthnRequest, newAuthn("other", "elsewhere", "u1", now.Add(time.Minute)))
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{0, []string{"q-b", "q-c", "q-d", "q-a"}},
		{2, []string{"q-b", "q-c"}},
		{store.MaxPageSize + 1, []string{"q-b", "q-c", "q-d", "q-a"}},
	} {
		got, err := s.ListPendingAuthnRequests(t.Context(), "r", "u1", now, tc.limit)
		ok(t, "ListPendingAuthnRequests", err)
		if !slices.Equal(authnIDs(got), tc.want) {
			t.Errorf("ListPendingAuthnRequests(limit %d) = %v, want %v", tc.limit, authnIDs(got), tc.want)
		}
	}
	// Before its expiry, the expired one was pending too.
	got, err := s.ListPendingAuthnRequests(t.Context(), "r", "u1", now.Add(-time.Microsecond), 0)
	ok(t, "ListPendingAuthnRequests earlier", err)
	if want := []string{"expired", "q-b", "q-c", "q-d", "q-a"}; !slices.Equal(authnIDs(got), want) {
		t.Errorf("ListPendingAuthnRequests earlier = %v, want %v", authnIDs(got), want)
	}
	for _, user := range []string{"nobody", "u2"} {
		got, err := s.ListPendingAuthnRequests(t.Context(), "other", user, now, 0)
		ok(t, "ListPendingAuthnRequests", err)
		if got == nil || len(got) != 0 {
			t.Errorf("ListPendingAuthnRequests(other, %s) = %#v, want an empty slice", user, got)
		}
	}
}

// testAuthnPurge purges, in two realms, requests that expired before a cutoff, or were
// answered before it, and keeps the rest: pending ones not yet expired whatever their
// age, and answered ones whose answer is recent.
func testAuthnPurge(t *testing.T, s store.Store) {
	cutoff := instant(0)
	for _, realm := range []string{"r", "r2"} {
		world(t, s, realm)
		for _, tc := range []struct {
			id       string
			expires  time.Time
			state    store.AuthnState
			answered time.Time
		}{
			{"expired", cutoff.Add(-time.Microsecond), store.AuthnPending, time.Time{}},
			{"expired-at", cutoff, store.AuthnPending, time.Time{}},
			{"pending", cutoff.Add(time.Hour), store.AuthnPending, time.Time{}},
			{"answered-before", cutoff.Add(time.Hour), store.AuthnApproved, cutoff.Add(-time.Minute)},
			{"answered-after", cutoff.Add(time.Hour), store.AuthnDenied, cutoff.Add(time.Minute)},
			{"cancelled-unanswered", cutoff.Add(time.Hour), store.AuthnCancelled, time.Time{}},
			{"pending-answered-before", cutoff.Add(time.Hour), store.AuthnPending, cutoff.Add(-time.Minute)},
		} {
			r := newAuthn(realm, tc.id, "u1", tc.expires)
			r.CreatedAt, r.State, r.AnsweredAt = cutoff.Add(-2*time.Hour), tc.state, tc.answered
			must(t, s.CreateAuthnRequest, r)
		}
	}
	n, err := s.PurgeAuthnRequests(t.Context(), cutoff)
	ok(t, "PurgeAuthnRequests", err)
	if n != 4 {
		t.Errorf("PurgeAuthnRequests = %d, want 4 (two per realm)", n)
	}
	for _, realm := range []string{"r", "r2"} {
		var left []string
		for _, id := range []string{"answered-after", "answered-before", "cancelled-unanswered", "expired", "expired-at", "pending", "pending-answered-before"} {
			if _, err := s.GetAuthnRequest(t.Context(), realm, id); err == nil {
				left = append(left, id)
			}
		}
		if want := []string{"answered-after", "cancelled-unanswered", "expired-at", "pending", "pending-answered-before"}; !slices.Equal(left, want) {
			t.Errorf("after PurgeAuthnRequests, %s holds %v, want %v", realm, left, want)
		}
	}
	if n, err := s.PurgeAuthnRequests(t.Context(), time.Time{}); err != nil || n != 0 {
		t.Errorf("PurgeAuthnRequests(zero time) = %d, %v; want 0, nil", n, err)
	}
}
