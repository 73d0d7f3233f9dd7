package sqlite

import (
	"path/filepath"
	"testing"

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
