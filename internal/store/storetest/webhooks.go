package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

var webhookTests = []testCase{
	{"WebhookSubscriptions", testWebhookSubscriptions},
	{"WebhookSubscriptionsRefused", testWebhookSubscriptionsRefused},
	{"WebhookFanOut", testWebhookFanOut},
	{"WebhookDeliveryListing", testWebhookDeliveryListing},
	{"WebhookClaimRecord", testWebhookClaimRecord},
	{"WebhookLeaseExpiry", testWebhookLeaseExpiry},
	{"WebhookClaimOrder", testWebhookClaimOrder},
	{"WebhookContinue", testWebhookContinue},
	{"WebhookClaimConcurrent", testWebhookClaimConcurrent},
	{"WebhookClaimInvalid", testWebhookClaimInvalid},
	{"WebhookRedeliver", testWebhookRedeliver},
	{"WebhookDisable", testWebhookDisable},
	{"WebhookCascade", testWebhookCascade},
	{"WebhookPurge", testWebhookPurge},
	{"ChangeEventsDevices", testChangeEventsDevices},
	{"ChangeEventsUsers", testChangeEventsUsers},
}

// subscription is a subscription of realm to types at https://<id>.example.com/hook.
func subscription(realm, id string, types ...string) store.WebhookSubscription {
	return store.WebhookSubscription{Realm: realm, ID: id, URL: "https://" + id + ".example.com/hook", EventTypes: types,
		Enabled: true, Secrets: []byte("sealed secrets of " + id)}
}

func subscribe(t *testing.T, s store.Store, w store.WebhookSubscription) store.WebhookSubscription {
	t.Helper()
	return must(t, s.CreateWebhookSubscription, w)
}

// appendEvents appends events and returns their Seq, failing the test on an error.
func appendEvents(t *testing.T, s store.Store, events ...store.Event) []int64 {
	t.Helper()
	out, err := s.AppendEvents(t.Context(), events)
	ok(t, "AppendEvents", err)
	seqs := make([]int64, len(out))
	for i, e := range out {
		seqs[i] = e.Seq
	}
	return seqs
}

// deliveries lists the realm's deliveries that match f, newest first.
func deliveries(t *testing.T, s store.Store, realm string, f store.WebhookDeliveryFilter) []store.WebhookDelivery {
	t.Helper()
	return listAll(t, "ListWebhookDeliveries", func(opts store.ListOptions) (store.Page[store.WebhookDelivery], error) {
		return s.ListWebhookDeliveries(t.Context(), realm, f, opts)
	}, 0)
}

// deliveredSeqs lists the event seqs of the realm's deliveries that match f, oldest
// first.
func deliveredSeqs(t *testing.T, s store.Store, realm string, f store.WebhookDeliveryFilter) []int64 {
	t.Helper()
	var seqs []int64
	for _, d := range deliveries(t, s, realm, f) {
		seqs = append(seqs, d.EventSeq)
	}
	slices.Reverse(seqs)
	return seqs
}

func claim(t *testing.T, s store.Store, now time.Time, lease time.Duration, limit int) []store.WebhookClaim {
	t.Helper()
	claims, err := s.ClaimWebhookDeliveries(t.Context(), now, lease, limit)
	ok(t, "ClaimWebhookDeliveries", err)
	return claims
}

func claimedIDs(claims []store.WebhookClaim) []int64 {
	out := make([]int64, len(claims))
	for i, c := range claims {
		out[i] = c.Delivery.ID
	}
	return out
}

func record(t *testing.T, s store.Store, want int, outcomes ...store.WebhookOutcome) {
	t.Helper()
	n, err := s.RecordWebhookOutcomes(t.Context(), outcomes)
	ok(t, "RecordWebhookOutcomes", err)
	if n != want {
		t.Errorf("RecordWebhookOutcomes recorded %d of %d outcomes, want %d", n, len(outcomes), want)
	}
}

func getDelivery(t *testing.T, s store.Store, realm string, id int64) store.WebhookDelivery {
	t.Helper()
	d, err := s.GetWebhookDelivery(t.Context(), realm, id)
	ok(t, fmt.Sprintf("GetWebhookDelivery(%d)", id), err)
	return d
}

// webhookNow is a time after every delivery the suite creates: they are due at the
// store's clock.
func webhookNow() time.Time { return store.Timestamp(time.Now().Add(time.Second)) }

// Create, read, list, update and delete, with the store's stamps.
func testWebhookSubscriptions(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	ctx := t.Context()
	in := subscription("r", "w1", "authn.approved", "authn.*")
	in.Description = "Payments backend\nsecond line ✓"
	before := time.Now()
	created := subscribe(t, s, in)
	checkNow(t, "CreatedAt", created.CreatedAt, store.Timestamp(before))
	want := in
	want.CreatedAt, want.UpdatedAt, want.Version = created.CreatedAt, created.CreatedAt, 1
	checkEqual(t, "created subscription", created, want)
	checkStored(t, "GetWebhookSubscription", s.GetWebhookSubscription, "r", "w1", want)

	_, err := s.CreateWebhookSubscription(ctx, subscription("r", "w1"))
	wantErr(t, "a taken ID", err, store.ErrConflict)
	_, err = s.CreateWebhookSubscription(ctx, subscription("missing", "w1"))
	wantErr(t, "a missing realm", err, store.ErrNotFound)
	subscribe(t, s, subscription("other", "w1")) // IDs are per realm
	_, err = s.GetWebhookSubscription(ctx, "r", "missing")
	wantErr(t, "GetWebhookSubscription(missing)", err, store.ErrNotFound)

	updated, err := s.UpdateWebhookSubscription(ctx, "r", "w1", func(w store.WebhookSubscription) (store.WebhookSubscription, error) {
		checkEqual(t, "fn argument", w, want)
		w.URL, w.EventTypes, w.Description, w.Secrets = "http://hooks.internal:8080/in?x=1", nil, "", []byte("rotated")
		w.Version, w.CreatedAt = 99, time.Unix(0, 0) // not the caller's to set
		return w, nil
	})
	ok(t, "UpdateWebhookSubscription", err)
	want.URL, want.EventTypes, want.Description, want.Secrets = "http://hooks.internal:8080/in?x=1", []string{}, "", []byte("rotated")
	want.UpdatedAt, want.Version = updated.UpdatedAt, 2
	checkEqual(t, "updated subscription", updated, want)
	checkStored(t, "GetWebhookSubscription after update", s.GetWebhookSubscription, "r", "w1", want)
	checkRefusals(t, "UpdateWebhookSubscription", func(fn func(store.WebhookSubscription) (store.WebhookSubscription, error)) (store.WebhookSubscription, error) {
		return s.UpdateWebhookSubscription(ctx, "r", "w1", fn)
	}, []refusal[store.WebhookSubscription]{
		{"an error from fn", func(w store.WebhookSubscription) (store.WebhookSubscription, error) {
			w.URL = "https://x.example"
			return w, errRefused
		}, errRefused},
		{"a new ID", func(w store.WebhookSubscription) (store.WebhookSubscription, error) { w.ID = "w9"; return w, nil }, store.ErrInvalid},
		{"a new realm", func(w store.WebhookSubscription) (store.WebhookSubscription, error) { w.Realm = "other"; return w, nil }, store.ErrInvalid},
		{"a bad URL", func(w store.WebhookSubscription) (store.WebhookSubscription, error) { w.URL = "ftp://x"; return w, nil }, store.ErrInvalid},
	})
	checkStored(t, "subscription after refused updates", s.GetWebhookSubscription, "r", "w1", want)
	checkUpdateMissing(t, "UpdateWebhookSubscription", s.UpdateWebhookSubscription, "r", "missing")

	for _, id := range []string{"w3", "w2", "w4"} {
		subscribe(t, s, subscription("r", id))
	}
	all := listAll(t, "ListWebhookSubscriptions", func(opts store.ListOptions) (store.Page[store.WebhookSubscription], error) {
		return s.ListWebhookSubscriptions(ctx, "r", opts)
	}, 0)
	wantIDs := byCreation(all, func(w store.WebhookSubscription) (time.Time, string) { return w.CreatedAt, w.ID })
	for _, limit := range []int{1, 3} {
		paged := listAll(t, "ListWebhookSubscriptions", func(opts store.ListOptions) (store.Page[store.WebhookSubscription], error) {
			return s.ListWebhookSubscriptions(ctx, "r", opts)
		}, limit)
		if got := ids(paged, func(w store.WebhookSubscription) string { return w.ID }); !slices.Equal(got, wantIDs) || len(got) != 4 {
			t.Errorf("limit %d: listed %v, want %v", limit, got, wantIDs)
		}
	}
	_, err = s.ListWebhookSubscriptions(ctx, "r", store.ListOptions{Cursor: store.EncodeCursor("device", "x")})
	wantErr(t, "ListWebhookSubscriptions with another listing's cursor", err, store.ErrInvalidCursor)

	ok(t, "DeleteWebhookSubscription", s.DeleteWebhookSubscription(ctx, "r", "w1"))
	_, err = s.GetWebhookSubscription(ctx, "r", "w1")
	wantErr(t, "GetWebhookSubscription after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteWebhookSubscription again", s.DeleteWebhookSubscription(ctx, "r", "w1"), store.ErrNotFound)
	if _, err := s.GetWebhookSubscription(ctx, "other", "w1"); err != nil {
		t.Errorf("another realm's subscription went with it: %v", err)
	}
}

func testWebhookSubscriptionsRefused(t *testing.T, s store.Store) {
	world(t, s, "r")
	tooMany := make([]string, store.MaxWebhookEventTypes+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("t%d", i)
	}
	for name, tune := range map[string]func(*store.WebhookSubscription){
		"no ID":            func(w *store.WebhookSubscription) { w.ID = "" },
		"no URL":           func(w *store.WebhookSubscription) { w.URL = "" },
		"a relative URL":   func(w *store.WebhookSubscription) { w.URL = "/hook" },
		"an ftp URL":       func(w *store.WebhookSubscription) { w.URL = "ftp://example.com/hook" },
		"a javascript URL": func(w *store.WebhookSubscription) { w.URL = "javascript:alert(1)" },
		"user information": func(w *store.WebhookSubscription) { w.URL = "https://user:pw@example.com/hook" },
		"a fragment":       func(w *store.WebhookSubscription) { w.URL = "https://example.com/hook#x" },
		"a long URL": func(w *store.WebhookSubscription) {
			w.URL = "https://example.com/" + strings.Repeat("a", store.MaxWebhookURLLen)
		},
		"a mid wildcard":    func(w *store.WebhookSubscription) { w.EventTypes = []string{"authn.*.x"} },
		"a bare wildcard":   func(w *store.WebhookSubscription) { w.EventTypes = []string{"authn*"} },
		"an empty type":     func(w *store.WebhookSubscription) { w.EventTypes = []string{""} },
		"a control in type": func(w *store.WebhookSubscription) { w.EventTypes = []string{"a\x00"} },
		"too many types":    func(w *store.WebhookSubscription) { w.EventTypes = tooMany },
		"a long description": func(w *store.WebhookSubscription) {
			w.Description = strings.Repeat("d", store.MaxWebhookDescriptionLen+1)
		},
		"no secrets": func(w *store.WebhookSubscription) { w.Secrets = nil },
	} {
		w := subscription("r", "w1")
		tune(&w)
		_, err := s.CreateWebhookSubscription(t.Context(), w)
		wantErr(t, name, err, store.ErrInvalid)
	}
	page, err := s.ListWebhookSubscriptions(t.Context(), "r", store.ListOptions{})
	ok(t, "ListWebhookSubscriptions", err)
	if len(page.Items) != 0 {
		t.Errorf("refused creates stored %d subscriptions", len(page.Items))
	}
	// Wildcards that are allowed.
	for i, types := range [][]string{{"*"}, {"authn.*"}, {"a.b.*", "x"}} {
		subscribe(t, s, subscription("r", fmt.Sprintf("ok%d", i), types...))
	}
}

// One delivery per enabled subscription whose types match, and one for a callback, in
// the transaction of the append.
func testWebhookFanOut(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	for _, w := range []store.WebhookSubscription{
		subscription("r", "all"),
		subscription("r", "star", "*"),
		subscription("r", "exact", "authn.approved", "authn.approved"),
		subscription("r", "prefix", "authn.*", "authn.approved"),
		subscription("r", "devices", "device.*"),
		subscription("other", "all"),
	} {
		subscribe(t, s, w)
	}
	off := subscription("r", "off")
	off.Enabled = false
	subscribe(t, s, off)

	cb := newEvent("r", "authn.denied", "q3", "u1")
	cb.Callback = &store.EventCallback{URL: "https://app.example.com/cb?id=q3", Headers: []byte("sealed headers")}
	seqs := appendEvents(t, s,
		newEvent("r", "authn.approved", "q1", "u1"),
		newEvent("r", "authn.created", "q2", "u1"),
		newEvent("r", "authnx.created", "q4", "u1"),
		cb,
		newEvent("other", "authn.approved", "q5", "u1"),
		newEvent("gone", "authn.approved", "q6", "u1"),
	)
	approved, created, authnx, denied, otherApproved := seqs[0], seqs[1], seqs[2], seqs[3], seqs[4]
	for sub, want := range map[string][]int64{
		"all":     {approved, created, authnx, denied},
		"star":    {approved, created, authnx, denied},
		"exact":   {approved},
		"prefix":  {approved, created, denied},
		"devices": nil,
		"off":     nil,
	} {
		if got := deliveredSeqs(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: sub}); !slices.Equal(got, want) {
			t.Errorf("subscription %s got events %v, want %v", sub, got, want)
		}
	}
	if got := deliveredSeqs(t, s, "other", store.WebhookDeliveryFilter{}); !slices.Equal(got, []int64{otherApproved}) {
		t.Errorf("realm other got events %v, want [%d]", got, otherApproved)
	}
	callbacks := deliveries(t, s, "r", store.WebhookDeliveryFilter{EventSeq: denied})
	var callback *store.WebhookDelivery
	for i, d := range callbacks {
		if d.SubscriptionID == "" {
			callback = &callbacks[i]
		}
	}
	if len(callbacks) != 4 || callback == nil {
		t.Fatalf("deliveries of the event with a callback: %+v; want the callback's and three subscriptions'", callbacks)
	}
	if callback.URL != cb.Callback.URL || callback.EventType != "authn.denied" || callback.State != store.WebhookPending ||
		callback.Attempts != 0 || callback.CreatedAt.IsZero() || !callback.NextAttemptAt.Equal(callback.CreatedAt) ||
		!callback.ScheduledAt.Equal(callback.CreatedAt) || !callback.LeaseUntil.IsZero() || !callback.DeliveredAt.IsZero() {
		t.Errorf("callback delivery %+v", *callback)
	}
	checkEqual(t, "GetWebhookDelivery", getDelivery(t, s, "r", callback.ID), *callback)
	_, err := s.GetWebhookDelivery(t.Context(), "other", callback.ID)
	wantErr(t, "GetWebhookDelivery in another realm", err, store.ErrNotFound)

	// New types apply to the next events; the sealed headers reach the claim.
	_, err = s.UpdateWebhookSubscription(t.Context(), "r", "exact", func(w store.WebhookSubscription) (store.WebhookSubscription, error) {
		w.EventTypes = []string{"authn.created"}
		return w, nil
	})
	ok(t, "UpdateWebhookSubscription", err)
	later := appendEvents(t, s, newEvent("r", "authn.created", "q7", "u1"), newEvent("r", "authn.approved", "q8", "u1"))
	if got := deliveredSeqs(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: "exact"}); !slices.Equal(got, []int64{approved, later[0]}) {
		t.Errorf("subscription exact after its update got %v, want [%d %d]", got, approved, later[0])
	}
	for _, c := range claim(t, s, webhookNow(), time.Minute, store.MaxWebhookClaim) {
		if c.Delivery.ID == callback.ID && (string(c.Headers) != "sealed headers" || c.Secrets != nil || c.Delivery.URL != cb.Callback.URL) {
			t.Errorf("claimed callback %+v: want its URL and sealed headers, no secrets", c)
		}
	}

	// A refused append writes no delivery.
	before := len(deliveries(t, s, "r", store.WebhookDeliveryFilter{}))
	bad := newEvent("r", "authn.created", "q9", "u1")
	bad.Callback = &store.EventCallback{URL: "ftp://app.example.com/cb"}
	_, err = s.AppendEvents(t.Context(), []store.Event{newEvent("r", "authn.created", "q9", "u1"), bad})
	wantErr(t, "an event with a bad callback URL", err, store.ErrInvalid)
	bad.Callback = &store.EventCallback{URL: "https://app.example.com/cb", Headers: make([]byte, store.MaxCallbackHeadersLen+1)}
	_, err = s.AppendEvents(t.Context(), []store.Event{bad})
	wantErr(t, "an event with large callback headers", err, store.ErrInvalid)
	if after := len(deliveries(t, s, "r", store.WebhookDeliveryFilter{})); after != before {
		t.Errorf("refused appends left %d deliveries, want %d", after, before)
	}
	for typ, want := range map[string]bool{"authn.approved": true, "authn.x": true, "authnx": false, "device.locked": false} {
		if got := store.WebhookTypeMatches([]string{"authn.*"}, typ); got != want {
			t.Errorf("WebhookTypeMatches(authn.*, %s) = %t", typ, got)
		}
	}
}

// The listing pages newest first and filters by subscription, state and event.
func testWebhookDeliveryListing(t *testing.T, s store.Store) {
	world(t, s, "r")
	subscribe(t, s, subscription("r", "a"))
	subscribe(t, s, subscription("r", "b", "authn.created"))
	var events []store.Event
	for i := range 5 {
		events = append(events, newEvent("r", "authn.created", fmt.Sprintf("q%d", i), "u1"))
	}
	appendEvents(t, s, events...)
	all := deliveries(t, s, "r", store.WebhookDeliveryFilter{})
	if len(all) != 10 {
		t.Fatalf("%d deliveries, want 10", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Errorf("listing not newest first: %d after %d", all[i].ID, all[i-1].ID)
		}
	}
	for _, limit := range []int{1, 3, 10} {
		paged := listAll(t, "ListWebhookDeliveries", func(opts store.ListOptions) (store.Page[store.WebhookDelivery], error) {
			return s.ListWebhookDeliveries(t.Context(), "r", store.WebhookDeliveryFilter{}, opts)
		}, limit)
		checkEqual(t, fmt.Sprintf("deliveries paged by %d", limit), paged, all)
	}
	first := claim(t, s, webhookNow(), time.Minute, 1)
	record(t, s, 1, store.WebhookOutcome{ID: first[0].Delivery.ID, Token: first[0].Token, Attempted: true, At: webhookNow(), Delivered: true, Status: 204})
	if got := deliveries(t, s, "r", store.WebhookDeliveryFilter{State: store.WebhookDelivered}); len(got) != 1 || got[0].ID != first[0].Delivery.ID {
		t.Errorf("delivered deliveries %+v, want only %d", got, first[0].Delivery.ID)
	}
	if got := deliveries(t, s, "r", store.WebhookDeliveryFilter{State: store.WebhookPending, SubscriptionID: "b"}); len(got) != 5 {
		t.Errorf("%d pending deliveries of b, want 5", len(got))
	}
	_, err := s.ListWebhookDeliveries(t.Context(), "r", store.WebhookDeliveryFilter{State: "lost"}, store.ListOptions{})
	wantErr(t, "an unknown state", err, store.ErrInvalid)
	_, err = s.ListWebhookDeliveries(t.Context(), "r", store.WebhookDeliveryFilter{}, store.ListOptions{Cursor: store.EncodeCursor("event", "5")})
	wantErr(t, "another listing's cursor", err, store.ErrInvalidCursor)
	if got := deliveries(t, s, "missing", store.WebhookDeliveryFilter{}); len(got) != 0 {
		t.Errorf("a missing realm lists %v", got)
	}
}

// A claim returns what an attempt needs and leases it; outcomes move deliveries on.
func testWebhookClaimRecord(t *testing.T, s store.Store) {
	world(t, s, "r")
	sub := subscribe(t, s, subscription("r", "w1"))
	in := []store.Event{newEvent("r", "authn.created", "q1", "u1"), newEvent("r", "authn.approved", "q1", "u1"), newEvent("r", "authn.consumed", "q1", "u1")}
	seqs := appendEvents(t, s, in...)
	now := webhookNow()
	// A claim takes the subscription's earliest delivery; its holder continues with the rest.
	claims := claim(t, s, now, time.Minute, 10)
	if len(claims) != 1 {
		t.Fatalf("claimed %d deliveries of one subscription, want its earliest", len(claims))
	}
	rest, err := s.ContinueWebhookDeliveries(t.Context(), "r", "w1", claims[0].Token, now, time.Minute, 10)
	ok(t, "ContinueWebhookDeliveries", err)
	claims = append(claims, rest...)
	if len(claims) != 3 {
		t.Fatalf("claimed and continued with %d deliveries, want 3", len(claims))
	}
	for i, c := range claims {
		d := c.Delivery
		if i > 0 && d.ID <= claims[i-1].Delivery.ID {
			t.Errorf("claims not in ID order: %v", claimedIDs(claims))
		}
		if d.URL != sub.URL || string(c.Secrets) != string(sub.Secrets) || c.Headers != nil || c.Token == "" ||
			d.EventSeq != seqs[i] || d.SubscriptionID != "w1" || !d.LeaseUntil.Equal(now.Add(time.Minute)) ||
			!d.NextAttemptAt.Equal(d.LeaseUntil) || d.Attempts != 0 || d.State != store.WebhookPending {
			t.Errorf("claim %d: %+v", i, c)
		}
		e := c.Event
		if e.Seq != seqs[i] || e.Realm != "r" || e.Type != in[i].Type || e.Subject != "q1" || e.UserID != "u1" ||
			string(e.Data) != string(in[i].Data) || !e.At.Equal(store.Timestamp(in[i].At)) {
			t.Errorf("claim %d event: %+v, want %+v", i, e, in[i])
		}
	}
	if again := claim(t, s, now, time.Minute, 10); len(again) != 0 {
		t.Errorf("leased deliveries claimed again: %v", claimedIDs(again))
	}
	at := now.Add(time.Second)
	retry := at.Add(time.Hour)
	record(t, s, 3,
		store.WebhookOutcome{ID: claims[0].Delivery.ID, Token: claims[0].Token, Attempted: true, At: at, Delivered: true, Status: 200},
		store.WebhookOutcome{ID: claims[1].Delivery.ID, Token: claims[1].Token, Attempted: true, At: at, Status: 503, Error: "HTTP status 503", NextAttemptAt: retry},
		store.WebhookOutcome{ID: claims[2].Delivery.ID, Token: claims[2].Token, Attempted: true, At: at, Error: "timed out"},
	)
	// An outcome recorded twice, or with a wrong token, changes nothing.
	record(t, s, 0,
		store.WebhookOutcome{ID: claims[0].Delivery.ID, Token: claims[0].Token, Attempted: true, At: at, Error: "late"},
		store.WebhookOutcome{ID: claims[1].Delivery.ID, Token: "forged", Attempted: true, At: at, Delivered: true, Status: 200})
	d0, d1, d2 := getDelivery(t, s, "r", claims[0].Delivery.ID), getDelivery(t, s, "r", claims[1].Delivery.ID), getDelivery(t, s, "r", claims[2].Delivery.ID)
	if d0.State != store.WebhookDelivered || d0.Attempts != 1 || d0.LastStatus != 200 || d0.LastError != "" || !d0.DeliveredAt.Equal(at) || !d0.LeaseUntil.IsZero() {
		t.Errorf("delivered: %+v", d0)
	}
	if d1.State != store.WebhookPending || d1.Attempts != 1 || d1.LastStatus != 503 || d1.LastError != "HTTP status 503" ||
		!d1.NextAttemptAt.Equal(retry) || !d1.DeliveredAt.IsZero() || !d1.LeaseUntil.IsZero() {
		t.Errorf("to retry: %+v", d1)
	}
	if d2.State != store.WebhookFailed || d2.Attempts != 1 || d2.LastStatus != 0 || d2.LastError != "timed out" {
		t.Errorf("given up: %+v", d2)
	}
	if got := claim(t, s, retry.Add(-time.Microsecond), time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed %v before the retry is due", claimedIDs(got))
	}
	again := claim(t, s, retry, time.Minute, 10)
	if len(again) != 1 || again[0].Delivery.ID != d1.ID || again[0].Delivery.Attempts != 1 || again[0].Token == claims[1].Token {
		t.Fatalf("claim at the retry: %+v; want delivery %d with a new token", again, d1.ID)
	}
	// Released unattempted: the count and the last result stay.
	record(t, s, 1, store.WebhookOutcome{ID: d1.ID, Token: again[0].Token, At: retry, NextAttemptAt: retry.Add(time.Minute)})
	if d := getDelivery(t, s, "r", d1.ID); d.Attempts != 1 || d.LastStatus != 503 || d.LastError != "HTTP status 503" || !d.NextAttemptAt.Equal(retry.Add(time.Minute)) {
		t.Errorf("released unattempted: %+v", d)
	}
}

// A lease that ends without an outcome makes the delivery claimable again, under a new
// token; the old claim's outcome is then ignored.
func testWebhookLeaseExpiry(t *testing.T, s store.Store) {
	world(t, s, "r")
	cb := newEvent("r", "authn.created", "q1", "u1")
	cb.Callback = &store.EventCallback{URL: "https://app.example.com/cb"}
	appendEvents(t, s, cb)
	now := webhookNow()
	first := claim(t, s, now, time.Minute, 5)
	if len(first) != 1 {
		t.Fatalf("claimed %d, want 1", len(first))
	}
	if got := claim(t, s, now.Add(59*time.Second), time.Minute, 5); len(got) != 0 {
		t.Errorf("claimed %v within the lease", claimedIDs(got))
	}
	second := claim(t, s, now.Add(time.Minute), time.Minute, 5)
	if len(second) != 1 || second[0].Delivery.ID != first[0].Delivery.ID || second[0].Token == first[0].Token {
		t.Fatalf("claim after the lease: %+v", second)
	}
	at := now.Add(time.Minute + time.Second)
	record(t, s, 0, store.WebhookOutcome{ID: first[0].Delivery.ID, Token: first[0].Token, Attempted: true, At: at, Delivered: true, Status: 200})
	record(t, s, 1, store.WebhookOutcome{ID: second[0].Delivery.ID, Token: second[0].Token, Attempted: true, At: at, Delivered: true, Status: 200})
	if d := getDelivery(t, s, "r", first[0].Delivery.ID); d.State != store.WebhookDelivered || d.Attempts != 1 {
		t.Errorf("after the second claim's outcome: %+v", d)
	}
}

// A subscription's later deliveries wait while an earlier one is leased; callbacks and
// other subscriptions do not; an earlier one waiting for a retry holds nothing back.
func testWebhookClaimOrder(t *testing.T, s store.Store) {
	world(t, s, "r")
	subscribe(t, s, subscription("r", "a"))
	subscribe(t, s, subscription("r", "b", "authn.approved"))
	appendEvents(t, s, newEvent("r", "authn.created", "q1", "u1"), newEvent("r", "authn.approved", "q2", "u1"))
	cb := newEvent("r", "authn.created", "q3", "u1")
	cb.Callback = &store.EventCallback{URL: "https://app.example.com/cb"}
	cbSeq := appendEvents(t, s, cb)[0]
	a := deliveries(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: "a"})
	slices.Reverse(a)
	b := deliveries(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: "b"})
	var callback int64
	for _, d := range deliveries(t, s, "r", store.WebhookDeliveryFilter{EventSeq: cbSeq}) {
		if d.SubscriptionID == "" {
			callback = d.ID
		}
	}
	if len(a) != 3 || len(b) != 1 || callback == 0 {
		t.Fatalf("deliveries: a %+v, b %+v, callback %d", a, b, callback)
	}
	now := webhookNow()
	heads := claim(t, s, now, time.Minute, 10)
	if got, want := claimedIDs(heads), []int64{a[0].ID, b[0].ID, callback}; !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want each subscription's earliest and the callback's: %v", got, want)
	}
	if got := claim(t, s, now, time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed %v while a's first is leased", claimedIDs(got))
	}
	record(t, s, 1, store.WebhookOutcome{ID: a[0].ID, Token: heads[0].Token, Attempted: true, At: now, Status: 500, NextAttemptAt: now.Add(time.Hour)})
	if got, want := claimedIDs(claim(t, s, now, time.Minute, 10)), []int64{a[1].ID}; !slices.Equal(got, want) {
		t.Errorf("claimed %v once a's first waits for a retry, want a's second alone %v", got, want)
	}
}

// The holder of a claim that posted its deliveries of a subscription continues with the
// subscription's next ones before its outcomes are recorded; nobody else can.
func testWebhookContinue(t *testing.T, s store.Store) {
	world(t, s, "r")
	subscribe(t, s, subscription("r", "a"))
	subscribe(t, s, subscription("r", "b"))
	var events []store.Event
	for i := range 5 {
		events = append(events, newEvent("r", "authn.created", fmt.Sprintf("q%d", i), "u1"))
	}
	appendEvents(t, s, events...)
	a := deliveries(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: "a"})
	slices.Reverse(a)
	now := webhookNow()
	first := claim(t, s, now, time.Minute, 3)
	if got, want := claimedIDs(first), []int64{a[0].ID, a[0].ID + 1}; !slices.Equal(got, want) {
		t.Fatalf("first claim %v, want a's and b's first %v", got, want)
	}
	if got := claim(t, s, now, time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed %v besides; want none: a's and b's later ones wait", claimedIDs(got))
	}
	continueWith := func(token string, limit int) []store.WebhookClaim {
		t.Helper()
		got, err := s.ContinueWebhookDeliveries(t.Context(), "r", "a", token, now, time.Minute, limit)
		ok(t, "ContinueWebhookDeliveries", err)
		return got
	}
	if got := continueWith("another token", 10); len(got) != 0 {
		t.Errorf("continued without holding the claim: %v", claimedIDs(got))
	}
	next := continueWith(first[0].Token, 2)
	if got, want := claimedIDs(next), []int64{a[1].ID, a[2].ID}; !slices.Equal(got, want) {
		t.Fatalf("continued with %v, want %v", got, want)
	}
	for _, c := range next {
		if c.Delivery.SubscriptionID != "a" || c.Token == first[0].Token || c.Token == "" || c.Delivery.URL == "" {
			t.Errorf("continued claim %+v", c)
		}
	}
	// While the continued deliveries are leased, nobody else takes a's later ones.
	if got := claim(t, s, now, time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed %v during the continuation", claimedIDs(got))
	}
	// The first claim's outcomes arrive after the continuation; all are recorded.
	at := now.Add(time.Second)
	for _, c := range append(first, next...) {
		record(t, s, 1, store.WebhookOutcome{ID: c.Delivery.ID, Token: c.Token, Attempted: true, At: at, Delivered: true, Status: 200})
	}
	if got, want := claimedIDs(continueWith(next[0].Token, 10)), []int64{a[3].ID, a[4].ID}; !slices.Equal(got, want) {
		t.Errorf("the last continuation: %v, want %v", got, want)
	}
	_, err := s.ContinueWebhookDeliveries(t.Context(), "r", "a", "t", now, time.Minute, 0)
	wantErr(t, "a continuation of no deliveries", err, store.ErrInvalid)
}

// Of concurrent claims, each delivery goes to exactly one.
func testWebhookClaimConcurrent(t *testing.T, s store.Store) {
	world(t, s, "r")
	const n = 60
	var events []store.Event
	for i := range n {
		e := newEvent("r", "authn.created", fmt.Sprintf("q%d", i), "u1")
		e.Callback = &store.EventCallback{URL: fmt.Sprintf("https://app.example.com/cb/%d", i)}
		events = append(events, e)
	}
	appendEvents(t, s, events...)
	checkClaimsOnce(t, []store.Store{s}, n)
}

// checkClaimsOnce claims from stores, several claimers on each, until nothing is due,
// and fails the test unless n deliveries were claimed, each exactly once; it returns
// them.
func checkClaimsOnce(t *testing.T, stores []store.Store, n int) map[int64]bool {
	t.Helper()
	now := webhookNow()
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for i := range 6 {
		st := stores[i%len(stores)]
		wg.Go(func() {
			for {
				claims, err := st.ClaimWebhookDeliveries(t.Context(), now, time.Hour, 4)
				if err != nil {
					t.Errorf("ClaimWebhookDeliveries: %v", err)
					return
				}
				if len(claims) == 0 {
					return
				}
				mu.Lock()
				for _, c := range claims {
					seen[c.Delivery.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d deliveries claimed, want %d", len(seen), n)
	}
	claimed := map[int64]bool{}
	for id, times := range seen {
		claimed[id] = true
		if times != 1 {
			t.Errorf("delivery %d claimed %d times", id, times)
		}
	}
	return claimed
}

func testWebhookClaimInvalid(t *testing.T, s store.Store) {
	now := webhookNow()
	for name, call := range map[string]func() error{
		"no time":  func() error { _, err := s.ClaimWebhookDeliveries(t.Context(), time.Time{}, time.Minute, 1); return err },
		"no lease": func() error { _, err := s.ClaimWebhookDeliveries(t.Context(), now, 0, 1); return err },
		"no limit": func() error { _, err := s.ClaimWebhookDeliveries(t.Context(), now, time.Minute, 0); return err },
		"a large limit": func() error {
			_, err := s.ClaimWebhookDeliveries(t.Context(), now, time.Minute, store.MaxWebhookClaim+1)
			return err
		},
	} {
		wantErr(t, name, call(), store.ErrInvalid)
	}
	good := store.WebhookOutcome{ID: 1, Token: "t", Attempted: true, At: now, Status: 500}
	for name, tune := range map[string]func(*store.WebhookOutcome){
		"no ID":                 func(o *store.WebhookOutcome) { o.ID = 0 },
		"no token":              func(o *store.WebhookOutcome) { o.Token = "" },
		"no time":               func(o *store.WebhookOutcome) { o.At = time.Time{} },
		"a bad status":          func(o *store.WebhookOutcome) { o.Status = 1000 },
		"a long error":          func(o *store.WebhookOutcome) { o.Error = strings.Repeat("e", store.MaxWebhookErrorLen+1) },
		"delivered unattempted": func(o *store.WebhookOutcome) { o.Attempted, o.Delivered = false, true },
	} {
		bad := good
		tune(&bad)
		_, err := s.RecordWebhookOutcomes(t.Context(), []store.WebhookOutcome{good, bad})
		wantErr(t, name, err, store.ErrInvalid)
	}
}

// A failed delivery goes back to pending under its ID, attempts reset.
func testWebhookRedeliver(t *testing.T, s store.Store) {
	world(t, s, "r")
	world(t, s, "other")
	subscribe(t, s, subscription("r", "w1"))
	appendEvents(t, s, newEvent("r", "authn.created", "q1", "u1"))
	now := webhookNow()
	c := claim(t, s, now, time.Minute, 1)[0]
	id := c.Delivery.ID
	_, err := s.RedeliverWebhook(t.Context(), "r", id)
	wantErr(t, "RedeliverWebhook of a pending delivery", err, store.ErrConflict)
	record(t, s, 1, store.WebhookOutcome{ID: id, Token: c.Token, Attempted: true, At: now, Status: 410, Error: "HTTP status 410"})
	failed := getDelivery(t, s, "r", id)
	if failed.State != store.WebhookFailed {
		t.Fatalf("given up delivery: %+v", failed)
	}
	_, err = s.RedeliverWebhook(t.Context(), "other", id)
	wantErr(t, "RedeliverWebhook in another realm", err, store.ErrNotFound)
	_, err = s.RedeliverWebhook(t.Context(), "r", id+1000)
	wantErr(t, "RedeliverWebhook of a missing delivery", err, store.ErrNotFound)
	before := time.Now()
	again, err := s.RedeliverWebhook(t.Context(), "r", id)
	ok(t, "RedeliverWebhook", err)
	checkNow(t, "ScheduledAt after a redelivery", again.ScheduledAt, store.Timestamp(before))
	want := failed
	want.State, want.Attempts, want.NextAttemptAt, want.ScheduledAt = store.WebhookPending, 0, again.ScheduledAt, again.ScheduledAt
	checkEqual(t, "redelivered", again, want)
	checkEqual(t, "GetWebhookDelivery after a redelivery", getDelivery(t, s, "r", id), want)
	_, err = s.RedeliverWebhook(t.Context(), "r", id)
	wantErr(t, "RedeliverWebhook twice", err, store.ErrConflict)
	reclaimed := claim(t, s, webhookNow(), time.Minute, 5)
	if len(reclaimed) != 1 || reclaimed[0].Delivery.ID != id {
		t.Fatalf("claim after the redelivery: %v, want [%d]", claimedIDs(reclaimed), id)
	}
	record(t, s, 1, store.WebhookOutcome{ID: id, Token: reclaimed[0].Token, Attempted: true, At: webhookNow(), Delivered: true, Status: 200})
	_, err = s.RedeliverWebhook(t.Context(), "r", id)
	wantErr(t, "RedeliverWebhook of a delivered one", err, store.ErrConflict)
}

// Disabling fails the pending deliveries, a leased one's outcome is then ignored, new
// events get none, and a redelivery waits for the subscription to be enabled.
func testWebhookDisable(t *testing.T, s store.Store) {
	world(t, s, "r")
	subscribe(t, s, subscription("r", "w1"))
	appendEvents(t, s, newEvent("r", "authn.created", "q1", "u1"), newEvent("r", "authn.created", "q2", "u1"))
	now := webhookNow()
	leased := claim(t, s, now, time.Minute, 1)[0]
	enabled := func(on bool) {
		t.Helper()
		_, err := s.UpdateWebhookSubscription(t.Context(), "r", "w1", func(w store.WebhookSubscription) (store.WebhookSubscription, error) {
			w.Enabled = on
			return w, nil
		})
		ok(t, "UpdateWebhookSubscription", err)
	}
	enabled(false)
	for _, d := range deliveries(t, s, "r", store.WebhookDeliveryFilter{}) {
		if d.State != store.WebhookFailed || d.LastError == "" || !d.LeaseUntil.IsZero() {
			t.Errorf("after disabling: %+v", d)
		}
	}
	record(t, s, 0, store.WebhookOutcome{ID: leased.Delivery.ID, Token: leased.Token, Attempted: true, At: now, Delivered: true, Status: 200})
	appendEvents(t, s, newEvent("r", "authn.created", "q3", "u1"))
	if got := deliveries(t, s, "r", store.WebhookDeliveryFilter{}); len(got) != 2 {
		t.Errorf("a disabled subscription got a delivery: %+v", got)
	}
	_, err := s.RedeliverWebhook(t.Context(), "r", leased.Delivery.ID)
	wantErr(t, "RedeliverWebhook to a disabled subscription", err, store.ErrConflict)
	enabled(true)
	_, err = s.RedeliverWebhook(t.Context(), "r", leased.Delivery.ID)
	ok(t, "RedeliverWebhook once enabled", err)
}

// Deleting a subscription removes its deliveries; deleting the realm removes every
// subscription and delivery in it, and nothing of another realm.
func testWebhookCascade(t *testing.T, s store.Store) {
	for _, realm := range []string{"gone", "kept"} {
		world(t, s, realm)
		subscribe(t, s, subscription(realm, "w1"))
		subscribe(t, s, subscription(realm, "w2", "authn.*"))
		cb := newEvent(realm, "authn.created", "q1", "u1")
		cb.Callback = &store.EventCallback{URL: "https://app.example.com/cb", Headers: []byte("h")}
		appendEvents(t, s, cb, newEvent(realm, "authn.approved", "q1", "u1"))
	}
	ok(t, "DeleteWebhookSubscription", s.DeleteWebhookSubscription(t.Context(), "gone", "w2"))
	if got := deliveries(t, s, "gone", store.WebhookDeliveryFilter{}); len(got) != 3 {
		t.Errorf("after deleting w2: %d deliveries, want w1's two and the callback's", len(got))
	}
	some := deliveries(t, s, "gone", store.WebhookDeliveryFilter{})[0]
	ok(t, "DeleteRealm", s.DeleteRealm(t.Context(), "gone"))
	if got := deliveries(t, s, "gone", store.WebhookDeliveryFilter{}); len(got) != 0 {
		t.Errorf("deliveries outlived their realm: %+v", got)
	}
	_, err := s.GetWebhookDelivery(t.Context(), "gone", some.ID)
	wantErr(t, "GetWebhookDelivery of a deleted realm", err, store.ErrNotFound)
	mustCreate(t, s, store.Realm{Name: "gone"})
	if page, err := s.ListWebhookSubscriptions(t.Context(), "gone", store.ListOptions{}); err != nil || len(page.Items) != 0 {
		t.Errorf("subscriptions of the recreated realm: %+v, %v", page.Items, err)
	}
	if got := deliveries(t, s, "kept", store.WebhookDeliveryFilter{}); len(got) != 5 {
		t.Errorf("the kept realm has %d deliveries, want 5", len(got))
	}
	if got := claim(t, s, webhookNow(), time.Minute, 100); len(got) != 3 {
		t.Errorf("claimed %d deliveries, want the kept realm's callback and its subscriptions' first: 3", len(got))
	}
}

// Purging removes the settled deliveries created before the cutoff, in every realm,
// and keeps the pending ones.
func testWebhookPurge(t *testing.T, s store.Store) {
	for _, realm := range []string{"r", "r2"} {
		world(t, s, realm)
		var events []store.Event
		for _, q := range []string{"q1", "q2", "q3"} {
			e := newEvent(realm, "authn.created", q, "u1")
			e.Callback = &store.EventCallback{URL: "https://app.example.com/" + q}
			events = append(events, e)
		}
		appendEvents(t, s, events...)
	}
	now := webhookNow()
	claims := claim(t, s, now, time.Minute, 100)
	if len(claims) != 6 {
		t.Fatalf("claimed %d, want 6", len(claims))
	}
	// Per realm: the first delivered, the second failed, the third pending.
	for _, c := range claims {
		o := store.WebhookOutcome{ID: c.Delivery.ID, Token: c.Token, Attempted: true, At: now, Status: 500, NextAttemptAt: now.Add(time.Hour)}
		switch c.Event.Subject {
		case "q1":
			o.Delivered, o.Status, o.NextAttemptAt = true, 200, time.Time{}
		case "q2":
			o.NextAttemptAt = time.Time{}
		}
		record(t, s, 1, o)
	}
	first, created := claims[0].Delivery.CreatedAt, claims[0].Delivery.CreatedAt
	for _, c := range claims {
		first, created = minTime(first, c.Delivery.CreatedAt), maxTime(created, c.Delivery.CreatedAt)
	}
	if n, err := s.PurgeWebhookDeliveries(t.Context(), first); err != nil || n != 0 {
		t.Errorf("PurgeWebhookDeliveries at the first creation = %d, %v; want 0", n, err)
	}
	n, err := s.PurgeWebhookDeliveries(t.Context(), created.Add(time.Microsecond))
	ok(t, "PurgeWebhookDeliveries", err)
	if n != 4 {
		t.Errorf("purged %d deliveries, want the 4 settled ones", n)
	}
	for _, realm := range []string{"r", "r2"} {
		if left := deliveries(t, s, realm, store.WebhookDeliveryFilter{}); len(left) != 1 || left[0].State != store.WebhookPending {
			t.Errorf("left in %s: %+v; want the pending one", realm, left)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// changeEvents lists the realm's events of the types the store writes itself, oldest
// first, each as "type subject", checking that their data is as documented.
func changeEvents(t *testing.T, s store.Store, realm string) []string {
	t.Helper()
	events := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return s.ListEvents(t.Context(), realm, store.EventFilter{}, opts)
	}, 0)
	var lines []string
	for _, e := range slices.Backward(events) {
		if !strings.HasPrefix(e.Type, "device.") && !strings.HasPrefix(e.Type, "user.") {
			continue
		}
		var data store.ChangeEvent
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatalf("event data %s: %v", e.Data, err)
		}
		if data.Type != e.Type || data.Realm != realm || data.UserID != e.UserID || !data.At.Equal(e.At) || data.At.IsZero() ||
			(data.DeviceID != "" && data.DeviceID != e.Subject) || (data.DeviceID == "" && e.Subject != e.UserID) {
			t.Errorf("event %+v with data %s", e, e.Data)
		}
		line := e.Type + " " + e.Subject
		if data.State != "" {
			line += " " + data.State
		}
		if data.Reason != "" {
			line += " " + data.Reason
		}
		lines = append(lines, line)
	}
	return lines
}

func checkChangeEvents(t *testing.T, s store.Store, realm string, want ...string) {
	t.Helper()
	if got := changeEvents(t, s, realm); !slices.Equal(got, want) {
		t.Errorf("events of %s:\n got  %q\n want %q", realm, got, want)
	}
}

// Enrolling, locking, unlocking, revoking and removing a device each write their event,
// and its deliveries, in the change's transaction; a change that fails writes none.
func testChangeEventsDevices(t *testing.T, s store.Store) {
	world(t, s, "r")
	subscribe(t, s, subscription("r", "w1", "device.*"))
	enroll(t, s, "r", "u1", newDevice("d1", 1))
	enroll(t, s, "r", "u1", newDevice("d2", 2))
	enroll(t, s, "r", "u2", newDevice("d3", 3))
	state := func(st store.DeviceState) func(store.Device) (store.Device, error) {
		return func(d store.Device) (store.Device, error) { d.State = st; return d, nil }
	}
	_, err := s.UpdateDevice(t.Context(), "r", "d1", audit("locked"), state(store.DeviceLocked))
	ok(t, "lock d1", err)
	_, err = s.UpdateDevice(t.Context(), "r", "d1", audit("renamed"), func(d store.Device) (store.Device, error) { d.DisplayName = "x"; return d, nil })
	ok(t, "rename d1", err)
	_, err = s.UpdateDevice(t.Context(), "r", "d1", audit("unlocked"), state(store.DeviceActive))
	ok(t, "unlock d1", err)
	_, err = s.UpdateDeviceKeepingOne(t.Context(), "r", "d2", audit("revoked"), state(store.DeviceRevoked))
	ok(t, "revoke d2", err)
	ok(t, "remove d2", s.DeleteDevice(t.Context(), "r", "d2", audit("removed")))
	want := []string{
		"device.enrolled d1 active", "device.enrolled d2 active", "device.enrolled d3 active",
		"device.locked d1 locked", "device.unlocked d1 active", "device.revoked d2 revoked", "device.removed d2",
	}
	checkChangeEvents(t, s, "r", want...)

	// Refused changes: the last active device, fn's error, a used code, an unknown device.
	_, err = s.UpdateDeviceKeepingOne(t.Context(), "r", "d3", audit("locked"), state(store.DeviceLocked))
	wantErr(t, "locking the last device", err, store.ErrLastDevice)
	wantErr(t, "removing the last device", s.DeleteDeviceKeepingOne(t.Context(), "r", "d3", audit("removed")), store.ErrLastDevice)
	_, err = s.UpdateDevice(t.Context(), "r", "d3", audit("locked"), func(d store.Device) (store.Device, error) {
		d.State = store.DeviceLocked
		return d, errRefused
	})
	wantErr(t, "a refused lock", err, errRefused)
	_, err = s.UpdateDevice(t.Context(), "r", "d3", audit("locked"), func(d store.Device) (store.Device, error) {
		d.State, d.PublicKey = store.DeviceLocked, publicKey(1) // d1's: a conflict at the write
		return d, nil
	})
	wantErr(t, "a lock with a taken key", err, store.ErrConflict)
	_, err = s.EnrollDevice(t.Context(), "r", codeHash("r", "code-d1"), enrollNow, 0, newDevice("d4", 4), audit("enrolled"))
	wantErr(t, "enrolling with a used code", err, store.ErrActivationRedeemed)
	wantErr(t, "removing a missing device", s.DeleteDevice(t.Context(), "r", "d9", audit("removed")), store.ErrNotFound)
	checkChangeEvents(t, s, "r", want...)

	// The subscription got one delivery per event, none of a refused change.
	if got := deliveries(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: "w1"}); len(got) != len(want) {
		t.Errorf("%d deliveries of device events, want %d", len(got), len(want))
	}
	// With another active device, d1 goes, its event with it.
	enroll(t, s, "r", "u1", newDevice("d5", 5))
	ok(t, "remove d1", s.DeleteDeviceKeepingOne(t.Context(), "r", "d1", audit("removed")))
	checkChangeEvents(t, s, "r", append(want, "device.enrolled d5 active", "device.removed d1")...)
}

// Locking or disabling an active user writes "user.locked"; other updates, updates of
// an inactive user and refused updates write none.
func testChangeEventsUsers(t *testing.T, s store.Store) {
	world(t, s, "r")
	subscribe(t, s, subscription("r", "w1", "user.locked"))
	update := func(id string, fn func(u store.User) (store.User, error)) error {
		_, err := s.UpdateUser(t.Context(), "r", id, fn)
		return err
	}
	lockedUntil := time.Now().Add(time.Hour)
	ok(t, "rename u1", update("u1", func(u store.User) (store.User, error) { u.Profile.Name = "U One"; return u, nil }))
	wantErr(t, "a refused lock", update("u1", func(u store.User) (store.User, error) { u.LockedUntil = lockedUntil; return u, errRefused }), errRefused)
	wantErr(t, "a lock with a taken username", update("u1", func(u store.User) (store.User, error) {
		u.LockedUntil, u.Username = lockedUntil, "u2"
		return u, nil
	}), store.ErrConflict)
	ok(t, "lock u1", update("u1", func(u store.User) (store.User, error) { u.LockedUntil = lockedUntil; return u, nil }))
	ok(t, "lock u1 longer", update("u1", func(u store.User) (store.User, error) { u.LockedUntil = lockedUntil.Add(time.Hour); return u, nil }))
	ok(t, "disable u2", update("u2", func(u store.User) (store.User, error) { u.Enabled = false; return u, nil }))
	ok(t, "lock the disabled u2", update("u2", func(u store.User) (store.User, error) { u.LockedUntil = lockedUntil; return u, nil }))
	ok(t, "enable u2, still locked", update("u2", func(u store.User) (store.User, error) { u.Enabled = true; return u, nil }))
	ok(t, "unlock u1", update("u1", func(u store.User) (store.User, error) { u.LockedUntil = time.Time{}; return u, nil }))
	ok(t, "lock u1 in the past", update("u1", func(u store.User) (store.User, error) { u.LockedUntil = time.Now().Add(-time.Hour); return u, nil }))
	checkChangeEvents(t, s, "r", "user.locked u1 locked", "user.locked u2 disabled")
	events := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return s.ListEvents(t.Context(), "r", store.EventFilter{Type: store.EventUserLocked, Subject: "u1"}, opts)
	}, 0)
	var data store.ChangeEvent
	if len(events) != 1 || json.Unmarshal(events[0].Data, &data) != nil || !data.LockedUntil.Equal(store.Timestamp(lockedUntil)) {
		t.Errorf("u1's lock event %+v: want locked_until %v", events, lockedUntil)
	}
	if got := deliveries(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: "w1"}); len(got) != 2 {
		t.Errorf("%d deliveries of user events, want 2", len(got))
	}
}

// testWebhookClaimsAcrossNodes: stores on one database, as separate nodes, claim each
// delivery once between them, and of each subscription only its earliest delivery.
func testWebhookClaimsAcrossNodes(t *testing.T, open Database) {
	nodes := []store.Store{open(t), open(t), open(t)}
	for _, n := range nodes {
		closeAtCleanup(t, n)
	}
	s := Migrated(t, nodes[0])
	world(t, s, "r")
	const subs = 5
	for i := range subs {
		subscribe(t, s, subscription("r", fmt.Sprintf("w%d", i)))
	}
	const n = 30
	var in []store.Event
	for i := range n {
		e := newEvent("r", "authn.created", fmt.Sprintf("q%d", i), "u1")
		e.Callback = &store.EventCallback{URL: "https://app.example.com/cb"}
		in = append(in, e)
	}
	appendEvents(t, s, in...)
	claimed := checkClaimsOnce(t, nodes, n+subs)
	for i := range subs {
		sub := fmt.Sprintf("w%d", i)
		all := deliveries(t, s, "r", store.WebhookDeliveryFilter{SubscriptionID: sub})
		first := all[len(all)-1].ID
		for _, d := range all {
			if claimed[d.ID] != (d.ID == first) {
				t.Errorf("subscription %s: delivery %d claimed %t; only its earliest, %d, may be", sub, d.ID, claimed[d.ID], first)
			}
		}
	}
}
