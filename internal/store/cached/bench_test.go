package cached_test

import (
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

// BenchmarkGetClient compares the token endpoint's client read on SQLite with the
// same read through the cache.
func BenchmarkGetClient(b *testing.B) {
	path := dbPath(b)
	inner := openSQLite(b, path)
	b.Cleanup(func() { inner.Close() })
	seed(b, inner)
	s, _ := newNode(b, path, newBus(b))

	for _, bc := range []struct {
		name string
		st   store.Store
	}{{"sqlite", inner}, {"cached", s}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.st.GetClient(b.Context(), "acme", "c1"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.st.GetClient(b.Context(), "acme", "c1"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	if st := s.Stats(); st.Misses != 1 {
		b.Errorf("cached GetClient reached the database %d times, want once", st.Misses)
	}
}
