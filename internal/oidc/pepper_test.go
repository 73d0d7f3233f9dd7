package oidc

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/signet-auth/signet/internal/keys"
)

// TestPepperIsStableAcrossNodesAndKEKRotation: nodes racing to create a realm's pepper end
// with one pepper, and after a key-encryption-key rotation stored secret hashes still match.
func TestPepperIsStableAcrossNodesAndKEKRotation(t *testing.T) {
	t.Parallel()
	tp := newTestProvider(t)
	ctx := context.Background()
	ring := func(primary *keys.KEK, old ...*keys.KEK) *keys.Keyring {
		r, err := keys.NewKeyring(primary, old...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	newKEK := func() *keys.KEK {
		s, _ := keys.GenerateKEK()
		k, _ := keys.ParseKEK(s)
		return k
	}
	if _, err := tp.st.CreateRealm(ctx, tp.mustRealm("race")); err != nil {
		t.Fatal(err)
	}
	first := newKEK()
	hashes := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range hashes {
		wg.Go(func() {
			h, err := NewPeppers(tp.st, ring(first)).Hasher(ctx, "race")
			if err != nil {
				t.Error(err)
				return
			}
			hashes[i] = h.Hash("secret")
		})
	}
	wg.Wait()
	for _, h := range hashes[1:] {
		if !bytes.Equal(h, hashes[0]) {
			t.Fatal("racing nodes created different peppers")
		}
	}
	rotated, err := NewPeppers(tp.st, ring(newKEK(), first)).Hasher(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.Verify("secret", hashes[0]) {
		t.Fatal("a KEK rotation invalidated stored client secret hashes")
	}
	if _, err := NewPeppers(tp.st, ring(newKEK())).Hasher(ctx, "race"); err == nil {
		t.Fatal("a node without the KEK that sealed the pepper opened it")
	}
}
