package storetest

import (
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

var channelKeyTests = []testCase{{"ChannelKeys", testChannelKeys}}

func testChannelKeys(t *testing.T, s store.Store) {
	got, err := s.ListChannelKeys(t.Context())
	ok(t, "ListChannelKeys(empty)", err)
	if len(got) != 0 {
		t.Fatalf("a new store holds %d channel keys", len(got))
	}
	second, err := s.CreateChannelKey(t.Context(), store.ChannelKey{ID: "b", Sealed: []byte{2}, CreatedAt: instant(1)})
	ok(t, "CreateChannelKey b", err)
	first, err := s.CreateChannelKey(t.Context(), store.ChannelKey{ID: "a", Sealed: []byte{1}, CreatedAt: instant(0), RetiredAt: instant(2)})
	ok(t, "CreateChannelKey a", err)
	_, err = s.CreateChannelKey(t.Context(), store.ChannelKey{ID: "a", Sealed: []byte{3}})
	wantErr(t, "CreateChannelKey with a taken ID", err, store.ErrConflict)
	for name, k := range map[string]store.ChannelKey{"no ID": {Sealed: []byte{1}}, "no key": {ID: "c"}} {
		_, err := s.CreateChannelKey(t.Context(), k)
		wantErr(t, "CreateChannelKey with "+name, err, store.ErrInvalid)
	}
	got, err = s.ListChannelKeys(t.Context())
	ok(t, "ListChannelKeys", err)
	checkEqual(t, "channel keys", got, []store.ChannelKey{first, second})
}
