package keys

import (
	"sync"
	"testing"
)

// fixtures generates one key per algorithm once per test binary: RSA generation is slow
// under -race, and tests never modify a Key.
var fixtures = func() map[Alg]func() (*Key, error) {
	m := map[Alg]func() (*Key, error){}
	for _, a := range Algs() {
		m[a] = sync.OnceValues(func() (*Key, error) { return Generate(a) })
	}
	return m
}()

func fixture(t testing.TB, alg Alg) *Key {
	t.Helper()
	k, err := fixtures[alg]()
	if err != nil {
		t.Fatalf("generate %s: %v", alg, err)
	}
	return k
}

func mustKEK(t testing.TB) *KEK {
	t.Helper()
	s, err := GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKEK(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t testing.TB, primary *KEK, old ...*KEK) *Keyring {
	t.Helper()
	r, err := NewKeyring(primary, old...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
