package password

import (
	"context"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheap keeps tests fast; the algorithm is the same at any cost.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultParams(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.Memory < 19*1024 || p.Time < 2 || p.SaltLen < 16 {
		t.Errorf("DefaultParams %+v below the OWASP minimum", p)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, p := range map[string]Params{"default": DefaultParams(), "cheap": cheap} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := mustNew(t, p)
			enc, err := h.Hash(ctx, "correct horse battery staple")
			if err != nil {
				t.Fatal(err)
			}
			ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
			if err != nil || !ok || rehash {
				t.Errorf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(ctx, "correct horse battery stapl", enc)
			if err != nil || ok || rehash {
				t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestHashFormatCrossChecked(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap)
	enc, err := h.Hash(context.Background(), "pässwörd")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(enc, "$")
	if len(f) != 6 || f[1] != "argon2id" || f[2] != "v=19" || f[3] != "m=64,t=1,p=1" {
		t.Fatalf("hash %q is not the expected PHC string", enc)
	}
	salt, err := base64.RawStdEncoding.DecodeString(f[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %v (len %d)", f[4], err, len(salt))
	}
	want := argon2.IDKey([]byte("pässwörd"), salt, 1, 64, 1, 32)
	if got := base64.RawStdEncoding.EncodeToString(want); got != f[5] {
		t.Errorf("key = %s; argon2.IDKey gives %s", f[5], got)
	}
}

func TestVerifyKnownVector(t *testing.T) {
	t.Parallel()
	// Built independently of encode: argon2.IDKey and the PHC layout by hand.
	salt := []byte("somesaltsomesalt")
	key := argon2.IDKey([]byte("password"), salt, 3, 256, 2, 24)
	enc := "$argon2id$v=19$m=256,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$" + base64.RawStdEncoding.EncodeToString(key)

	h := mustNew(t, cheap)
	ok, rehash, err := h.Verify(context.Background(), "password", enc)
	if err != nil || !ok || !rehash {
		t.Errorf("Verify = %v, %v, %v; want true, true (other params), nil", ok, rehash, err)
	}
	p, gotSalt, gotKey, err := decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Params{Memory: 256, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 24}); p != want {
		t.Errorf("params = %+v; want %+v", p, want)
	}
	if string(gotSalt) != string(salt) || string(gotKey) != string(key) {
		t.Error("salt or key decoded wrong")
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := mustNew(t, cheap)
	enc, err := old.Hash(ctx, "long enough password")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		p          Params
		pw         string
		ok, rehash bool
	}{
		"same params":           {cheap, "long enough password", true, false},
		"more memory":           {Params{128, 1, 1, 16, 32}, "long enough password", true, true},
		"more time":             {Params{64, 2, 1, 16, 32}, "long enough password", true, true},
		"more threads":          {Params{64, 1, 2, 16, 32}, "long enough password", true, true},
		"longer salt":           {Params{64, 1, 1, 32, 32}, "long enough password", true, true},
		"shorter key":           {Params{64, 1, 1, 16, 16}, "long enough password", true, true},
		"wrong password, other": {Params{128, 1, 1, 16, 32}, "wrong password", false, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := mustNew(t, tc.p).Verify(ctx, tc.pw, enc)
			if err != nil || ok != tc.ok || rehash != tc.rehash {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tc.ok, tc.rehash)
			}
		})
	}
}

func TestSaltsDiffer(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap)
	seen := map[string]bool{}
	for range 20 {
		enc, err := h.Hash(context.Background(), "same password")
		if err != nil {
			t.Fatal(err)
		}
		salt := strings.Split(enc, "$")[4]
		if seen[salt] {
			t.Fatalf("salt %s repeated", salt)
		}
		seen[salt] = true
	}
}

func TestNoTruncation(t *testing.T) {
	t.Parallel()
	// bcrypt silently ignores everything after 72 bytes; Argon2 must not.
	prefix := strings.Repeat("a", 72)
	h := mustNew(t, cheap)
	enc, err := h.Hash(context.Background(), prefix+"b")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(context.Background(), prefix+"c", enc); ok || err != nil {
		t.Errorf("password differing after byte 72 verified: %v, %v", ok, err)
	}
	if ok, _, err := h.Verify(context.Background(), prefix, enc); ok || err != nil {
		t.Errorf("72-byte prefix verified: %v, %v", ok, err)
	}
}

func TestNormalization(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap)
	for _, tc := range []struct{ stored, typed string }{
		{"caf\u00e9-password", "cafe\u0301-password"}, // precomposed vs combining accent
		{"\ufb01le-password", "file-password"},        // ligature fi
		{"ｆｕｌｌｗｉｄｔｈ", "fullwidth"},                    // fullwidth forms
	} {
		enc, err := h.Hash(context.Background(), tc.stored)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, err := h.Verify(context.Background(), tc.typed, enc); !ok || err != nil {
			t.Errorf("%q does not verify against %q: %v, %v", tc.typed, tc.stored, ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap)
	ctx := context.Background()
	salt := "c29tZXNhbHRzb21lc2FsdA"                               // 16 bytes
	key := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"           // 32 bytes
	short := base64.RawStdEncoding.EncodeToString(make([]byte, 8)) // 8-byte key
	for _, enc := range []string{
		"",
		"$",
		"$$$$$",
		"argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		" $argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + key,
		"$argon2id$v=19$m=abc,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=4294967295,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + short,
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "=",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 200),
		"\x00\xff$argon2id",
	} {
		ok, rehash, err := h.Verify(ctx, "password", enc)
		if !errors.Is(err, ErrMalformedHash) || ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want ErrMalformedHash", enc, ok, rehash, err)
		}
	}
}

func TestVerifyTruncated(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "password")
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(enc) {
		// A cut inside the key may still parse (a shorter key that cannot match); anything
		// else must be ErrMalformedHash. Never a match, never a panic.
		ok, _, err := h.Verify(ctx, "password", enc[:i])
		if ok || err != nil && !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v", enc[:i], ok, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	h := mustNew(f, cheap)
	enc, err := h.Hash(context.Background(), "password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("password", enc)
	f.Add("password", enc[:len(enc)/2])
	f.Add("", "$argon2id$v=19$m=64,t=1,p=1$$")
	f.Add("x", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("x", "$$$$$$$$")
	f.Add("x", "\xff\xfe")
	f.Fuzz(func(t *testing.T, pw, enc string) {
		// Only run Argon2 for cheap parameters so the fuzzer spends its time on parsing.
		if p, _, _, err := decode(enc); err == nil && (p.Memory > 1024 || p.Time > 4 || p.Threads > 4) {
			return
		}
		ok, rehash, err := h.Verify(context.Background(), pw, enc)
		if err != nil && (ok || rehash || !errors.Is(err, ErrMalformedHash)) {
			t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
		}
	})
}

func TestConcurrencyDefault(t *testing.T) {
	t.Parallel()
	if got, want := cap(mustNew(t, cheap).sem), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("default concurrency %d; want GOMAXPROCS %d", got, want)
	}
	if got := cap(mustNew(t, cheap, WithConcurrency(3)).sem); got != 3 {
		t.Errorf("WithConcurrency(3) gives %d", got)
	}
	if got, want := cap(mustNew(t, cheap, WithConcurrency(0)).sem), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("WithConcurrency(0) gives %d; want default %d", got, want)
	}
}

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap, WithConcurrency(1))
	var active, peak atomic.Int32
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	waiting := make(chan struct{}, 2)
	h.onWait = func() { waiting <- struct{}{} }
	h.onSlot = func() {
		n := active.Add(1)
		if n > peak.Load() {
			peak.Store(n)
		}
		entered <- struct{}{}
		<-release
		active.Add(-1)
	}

	var wg sync.WaitGroup
	hash := func() {
		defer wg.Done()
		if _, err := h.Hash(context.Background(), "password"); err != nil {
			t.Error(err)
		}
	}
	wg.Add(2)
	go hash()
	<-entered // the first holds the only slot
	go hash()
	select {
	case <-waiting: // the second queues
	case <-entered:
		t.Fatal("second Hash ran while the first held the only slot")
	}
	release <- struct{}{}
	<-entered // the second runs once the first is done
	release <- struct{}{}
	wg.Wait()
	if p := peak.Load(); p != 1 {
		t.Errorf("peak concurrent hashes %d; want 1", p)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap, WithConcurrency(1))
	entered := make(chan struct{})
	release := make(chan struct{})
	waiting := make(chan struct{})
	h.onSlot = func() { close(entered); <-release }
	h.onWait = func() { close(waiting) }

	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := h.Hash(context.Background(), "password"); err != nil {
			t.Error(err)
		}
	}()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(ctx, "password", "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		errc <- err
	}()
	<-waiting
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Verify while waiting, then cancelled = %v; want context.Canceled", err)
	}
	close(release)
	<-done

	// An already-ended context never takes a slot.
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with cancelled ctx = %v; want context.Canceled", err)
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	h := mustNew(t, cheap)
	var slots atomic.Int32
	h.onSlot = func() { slots.Add(1) }
	h.VerifyDummy(context.Background(), "password")
	if n := slots.Load(); n != 1 {
		t.Errorf("VerifyDummy ran %d hashes; want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.VerifyDummy(ctx, "password") // returns without hashing, no panic
	if n := slots.Load(); n != 1 {
		t.Errorf("VerifyDummy with cancelled ctx hashed")
	}
}

func TestNewRefusesInvalidParams(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{
		{},
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 7, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 0},
	} {
		if _, err := New(p); err == nil {
			t.Errorf("New(%+v) accepted invalid parameters", p)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	ctx := context.Background()
	h := mustNew(b, DefaultParams())
	b.Run("serial", func(b *testing.B) {
		n := 0
		for b.Loop() {
			if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "hashes/s")
	})
	b.Run("parallel", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		})
		b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "hashes/s")
	})
}

func mustNew(t testing.TB, p Params, opts ...Option) *Hasher {
	t.Helper()
	h, err := New(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
