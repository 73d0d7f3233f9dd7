package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// BenchmarkGetUser times one indexed read through the store, the kind the device
// handshake makes: statement preparation, the query and the scan.
//
//	go test ./internal/store/sqlite -run '^$' -bench GetUser -benchmem -cpu 1
func BenchmarkGetUser(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "signet.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	if _, err := s.MigrateUp(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateRealm(ctx, store.Realm{Name: "r", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	u, err := s.CreateUser(ctx, store.User{Realm: "r", ID: "u1", Username: "alice", Enabled: true})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.GetUser(ctx, "r", u.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendEvents times the event log's append of one push approval's three
// events in one transaction, as the outbox groups them, with the realm's webhook
// fan-out: none (the realm has no subscription) and one subscription to every event.
//
//	go test ./internal/store/sqlite -run '^$' -bench AppendEvents -benchmem -cpu 1
func BenchmarkAppendEvents(b *testing.B) {
	for _, subs := range []int{0, 1} {
		b.Run(fmt.Sprintf("subscriptions=%d", subs), func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "signet.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := b.Context()
			if _, err := s.MigrateUp(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CreateRealm(ctx, store.Realm{Name: "r", Enabled: true}); err != nil {
				b.Fatal(err)
			}
			for i := range subs {
				w := store.WebhookSubscription{Realm: "r", ID: fmt.Sprintf("w%d", i), URL: "https://example.com/hook", Enabled: true, Secrets: []byte("x")}
				if _, err := s.CreateWebhookSubscription(ctx, w); err != nil {
					b.Fatal(err)
				}
			}
			batch := make([]store.Event, 3)
			for i, typ := range []string{"authn.claimed", "authn.approved", "authn.consumed"} {
				batch[i] = store.Event{Realm: "r", Type: typ, Subject: "q1", UserID: "u1", At: time.Now(),
					Data: []byte(`{"type":"` + typ + `","realm":"r","request_id":"q1","kind":"login","client_id":"app","user_id":"u1"}`)}
			}
			for b.Loop() {
				if _, err := s.AppendEvents(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
