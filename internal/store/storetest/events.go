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

var eventTests = []testCase{
	{"EventsAppendList", testEventsAppendList},
	{"EventsFilterTimeAndPattern", testEventsFilterTimeAndPattern},
	{"EventsInvalid", testEventsInvalid},
	{"EventsConcurrent", testEventsConcurrent},
}

func newEvent(realm, typ, subject, user string) store.Event {
	return store.Event{Realm: realm, Type: typ, Subject: subject, UserID: user, At: instant(0),
		Data: []byte(fmt.Sprintf(`{"type":%q,  "request_id":%q}`, typ, subject))}
}

// testEventsAppendList: appended events come back with increasing Seq and their data byte
// for byte, newest first, filtered, paged; an event of a missing realm is dropped.
func testEventsAppendList(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	mustCreate(t, s, store.Realm{Name: "other"})
	in := []store.Event{
		newEvent("r", "authn.created", "q1", "u1"),
		newEvent("gone", "authn.created", "q9", "u1"),
		newEvent("r", "authn.approved", "q1", "u1"),
		newEvent("other", "authn.created", "q2", "u1"),
		newEvent("r", "authn.created", "q3", "u2"),
	}
	out, err := s.AppendEvents(t.Context(), in)
	ok(t, "AppendEvents", err)
	if len(out) != len(in) || out[1].Seq != 0 {
		t.Fatalf("AppendEvents returned %d events (%+v); want %d, the one of a missing realm with Seq 0", len(out), out, len(in))
	}
	var last int64
	for _, e := range out {
		if e.Seq == 0 {
			continue
		}
		if e.Seq <= last {
			t.Errorf("Seq %d after %d: want increasing", e.Seq, last)
		}
		last = e.Seq
	}
	line := func(e store.Event) string { return e.Type + " " + e.Subject + " " + e.UserID }
	all := []string{"authn.created q3 u2", "authn.approved q1 u1", "authn.created q1 u1"}
	for _, tc := range []struct {
		f    store.EventFilter
		want []string
	}{
		{store.EventFilter{}, all},
		{store.EventFilter{Type: "authn.created"}, []string{all[0], all[2]}},
		{store.EventFilter{Subject: "q1"}, all[1:]},
		{store.EventFilter{UserID: "u2"}, all[:1]},
		{store.EventFilter{Type: "authn.denied"}, nil},
	} {
		for _, limit := range []int{1, 2, 0} {
			events := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
				return s.ListEvents(t.Context(), "r", tc.f, opts)
			}, limit)
			var got []string
			for _, e := range events {
				got = append(got, line(e))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("filter %+v, limit %d: got %q, want %q", tc.f, limit, got, tc.want)
			}
		}
	}
	events := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return s.ListEvents(t.Context(), "r", store.EventFilter{Subject: "q3"}, opts)
	}, 0)
	if len(events) != 1 || string(events[0].Data) != string(in[4].Data) || !events[0].At.Equal(store.Timestamp(in[4].At)) || events[0].Seq != out[4].Seq {
		t.Errorf("read back %+v; want data %s at %v, seq %d", events, in[4].Data, in[4].At, out[4].Seq)
	}
	_, err = s.ListEvents(t.Context(), "r", store.EventFilter{}, store.ListOptions{Cursor: store.EncodeCursor("audit_event", "5")})
	wantErr(t, "ListEvents with another listing's cursor", err, store.ErrInvalidCursor)
	ok(t, "DeleteRealm", s.DeleteRealm(t.Context(), "r"))
	if got := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return s.ListEvents(t.Context(), "r", store.EventFilter{}, opts)
	}, 0); len(got) != 0 {
		t.Errorf("events outlived their realm: %v", got)
	}
}

// testEventsFilterTimeAndPattern: a type pattern ending in ".*" matches the types that
// start with its prefix (its "." and "_" are not wildcards); Since includes its instant,
// Until excludes its own; both combine with the other fields.
func testEventsFilterTimeAndPattern(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	at := func(typ, user string, minute int) store.Event {
		e := newEvent("r", typ, "", user)
		e.At = instant(time.Duration(minute) * time.Minute)
		return e
	}
	_, err := s.AppendEvents(t.Context(), []store.Event{
		at("authn.created", "u1", 0), at("authn.approved", "u1", 1), at("authnXcreated", "u1", 2),
		at("login.password.failed", "u2", 3), at("login_password", "u2", 4), at("authn.denied", "u2", 5),
	})
	ok(t, "AppendEvents", err)
	for _, tc := range []struct {
		f    store.EventFilter
		want []string
	}{
		{store.EventFilter{Type: "authn.*"}, []string{"authn.denied", "authn.approved", "authn.created"}},
		{store.EventFilter{Type: "login.*"}, []string{"login.password.failed"}},
		{store.EventFilter{Type: "authn.*", UserID: "u2"}, []string{"authn.denied"}},
		{store.EventFilter{Since: instant(time.Minute), Until: instant(3 * time.Minute)}, []string{"authnXcreated", "authn.approved"}},
		{store.EventFilter{Since: instant(4 * time.Minute)}, []string{"authn.denied", "login_password"}},
		{store.EventFilter{Until: instant(time.Minute)}, []string{"authn.created"}},
		{store.EventFilter{Type: "authn.*", Since: instant(time.Minute), Until: instant(5 * time.Minute)}, []string{"authn.approved"}},
		{store.EventFilter{Since: instant(10 * time.Minute)}, nil},
	} {
		for _, limit := range []int{1, 0} {
			events := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
				return s.ListEvents(t.Context(), "r", tc.f, opts)
			}, limit)
			var got []string
			for _, e := range events {
				got = append(got, e.Type)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("filter %+v, limit %d: got %q, want %q", tc.f, limit, got, tc.want)
			}
		}
	}
}

// testEventsInvalid: one invalid event fails the whole append, which writes nothing.
func testEventsInvalid(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	good := newEvent("r", "authn.created", "q1", "u1")
	for name, tune := range map[string]func(*store.Event){
		"no type":         func(e *store.Event) { e.Type = "" },
		"long type":       func(e *store.Event) { e.Type = strings.Repeat("t", store.MaxEventTypeLen+1) },
		"control in type": func(e *store.Event) { e.Type = "a\x00b" },
		"no realm":        func(e *store.Event) { e.Realm = "" },
		"long subject":    func(e *store.Event) { e.Subject = strings.Repeat("s", store.MaxIDLen+1) },
		"data not JSON":   func(e *store.Event) { e.Data = []byte("{") },
		"data an array":   func(e *store.Event) { e.Data = []byte("[]") },
		"data too large":  func(e *store.Event) { e.Data = []byte(`{"x":"` + strings.Repeat("a", store.MaxEventData) + `"}`) },
		"no time":         func(e *store.Event) { e.At = e.At.AddDate(-3000, 0, 0) },
	} {
		bad := good
		tune(&bad)
		_, err := s.AppendEvents(t.Context(), []store.Event{good, bad})
		wantErr(t, name, err, store.ErrInvalid)
	}
	got := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return s.ListEvents(t.Context(), "r", store.EventFilter{}, opts)
	}, 0)
	if len(got) != 0 {
		t.Errorf("a refused append wrote %d events", len(got))
	}
}

// testEventsConcurrent: appends from many writers at once all land, with distinct Seq.
func testEventsConcurrent(t *testing.T, s store.Store) {
	mustCreate(t, s, store.Realm{Name: "r"})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 5 {
				batch := []store.Event{newEvent("r", "authn.created", fmt.Sprintf("w%d-%d", w, i), "u1"), newEvent("r", "authn.approved", fmt.Sprintf("w%d-%d", w, i), "u1")}
				if _, err := s.AppendEvents(t.Context(), batch); err != nil {
					t.Errorf("AppendEvents: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got := listAll(t, "ListEvents", func(opts store.ListOptions) (store.Page[store.Event], error) {
		return s.ListEvents(t.Context(), "r", store.EventFilter{}, opts)
	}, 0)
	seen := map[int64]bool{}
	for _, e := range got {
		seen[e.Seq] = true
	}
	if len(got) != 80 || len(seen) != 80 {
		t.Errorf("%d events with %d distinct Seq; want 80", len(got), len(seen))
	}
}
