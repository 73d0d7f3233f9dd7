package sigma

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"errors"
	"math"
	"sync"
	"testing"
)

// sessionKeys are random application keys for record-layer tests that need no handshake.
type sessionKeys struct {
	d2s, s2d trafficKey
}

func newSessionKeys(t testing.TB) sessionKeys {
	t.Helper()
	var k sessionKeys
	for _, b := range [][]byte{k.d2s.key[:], k.d2s.iv[:], k.s2d.key[:], k.s2d.iv[:]} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// device and server return the two ends; limit 0 means DefaultMaxPlaintext.
func (k sessionKeys) device(limit int) *Session {
	return newSession(&k.d2s, &k.s2d, [32]byte{}, cmp.Or(limit, DefaultMaxPlaintext))
}

func (k sessionKeys) server(limit int) *Session {
	return newSession(&k.s2d, &k.d2s, [32]byte{}, cmp.Or(limit, DefaultMaxPlaintext))
}

func seal(t testing.TB, s *Session, msgs ...string) [][]byte {
	t.Helper()
	var frames [][]byte
	for _, m := range msgs {
		f, err := s.Seal([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

func TestFrameFailures(t *testing.T) {
	t.Parallel()
	keys := newSessionKeys(t)
	frames := seal(t, keys.device(0), "zero", "one", "two")
	big, err := keys.device(DefaultMaxPlaintext + 1).Seal(make([]byte, DefaultMaxPlaintext+1))
	if err != nil {
		t.Fatal(err)
	}
	edited := func(i int, edit func([]byte) []byte) []byte { return edit(bytes.Clone(frames[i])) }
	tests := []struct {
		name   string
		opened []int  // frames opened successfully first
		frame  []byte // the frame that must fail
		want   error
	}{
		{name: "replay", opened: []int{0}, frame: frames[0], want: ErrReplay},
		{name: "replay of an older frame", opened: []int{0, 1}, frame: frames[0], want: ErrReplay},
		{name: "reorder", frame: frames[1], want: ErrSequence},
		{name: "drop", opened: []int{0}, frame: frames[2], want: ErrSequence},
		{name: "sequence number rewritten", frame: edited(1, func(f []byte) []byte { f[9] = 0; return f }), want: ErrMAC},
		{name: "truncated tag", frame: frames[0][:len(frames[0])-1], want: ErrMAC},
		{name: "header only", frame: frames[0][:FrameHeaderSize], want: ErrMalformed},
		{name: "empty", frame: nil, want: ErrMalformed},
		{name: "version", frame: edited(0, func(f []byte) []byte { f[0] = 2; return f }), want: ErrVersion},
		{name: "type", frame: edited(0, func(f []byte) []byte { f[1] = typeClientHello; return f }), want: ErrMalformed},
		{name: "appended byte", frame: append(bytes.Clone(frames[0]), 0), want: ErrMAC},
		{name: "oversize", frame: big, want: ErrTooLarge},
		{name: "reflected own frame", frame: seal(t, keys.device(0), "echo")[0], want: ErrMAC},
		{name: "frame of another session", frame: seal(t, newSessionKeys(t).device(0), "other")[0], want: ErrMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := keys.server(0)
			if tt.name == "reflected own frame" {
				s = keys.device(0)
			}
			for _, i := range tt.opened {
				if _, err := s.Open(frames[i]); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			if _, err := s.Open(tt.frame); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// The session is closed for good: the right next frame and any Seal fail.
			next := frames[len(tt.opened)]
			if _, err := s.Open(next); !errors.Is(err, ErrClosed) {
				t.Fatalf("open after failure: %v", err)
			}
			if _, err := s.Seal([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("seal after failure: %v", err)
			}
		})
	}
}

// Any bit flipped anywhere in a frame, and any truncation, is refused.
func TestFrameTamperEveryBit(t *testing.T) {
	t.Parallel()
	keys := newSessionKeys(t)
	frame := seal(t, keys.device(0), "approve request 42")[0]
	for i := range len(frame) * 8 {
		f := bytes.Clone(frame)
		f[i/8] ^= 1 << (i % 8)
		if pt, err := keys.server(0).Open(f); err == nil {
			t.Fatalf("bit %d flipped: opened as %q", i, pt)
		}
	}
	for n := range len(frame) {
		if _, err := keys.server(0).Open(frame[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: opened", n)
		}
	}
	if _, err := keys.server(0).Open(frame); err != nil {
		t.Fatalf("untampered frame: %v", err)
	}
}

func TestSealTooLarge(t *testing.T) {
	t.Parallel()
	keys := newSessionKeys(t)
	d, s := keys.device(10), keys.server(10)
	if _, err := d.Seal(make([]byte, 11)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("seal of 11 bytes with a limit of 10: %v", err)
	}
	// A refused Seal used no sequence number and left the session open.
	exchange(t, "after refusal", d, s, [][]byte{make([]byte, 10)})
}

func TestSequenceExhausted(t *testing.T) {
	t.Parallel()
	keys := newSessionKeys(t)
	d, s := keys.device(0), keys.server(0)
	d.send.seq, s.recv.seq = math.MaxUint64-1, math.MaxUint64-1
	exchange(t, "last sequence number", d, s, [][]byte{[]byte("last")})
	if _, err := d.Seal([]byte("wraps")); !errors.Is(err, ErrSequence) {
		t.Fatalf("seal past the last sequence number: %v", err)
	}
	// A frame with the unused sequence number is refused before decryption.
	if _, err := s.Open(append([]byte{Version1, typeData, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, make([]byte, tagLen)...)); !errors.Is(err, ErrSequence) {
		t.Fatalf("open past the last sequence number: %v", err)
	}
}

// Seal and Open run concurrently from a reader and a writer goroutine.
func TestSessionConcurrentDirections(t *testing.T) {
	t.Parallel()
	keys := newSessionKeys(t)
	d, s := keys.device(0), keys.server(0)
	const n = 200
	toServer, toDevice := make(chan []byte, n), make(chan []byte, n)
	var wg sync.WaitGroup
	for _, p := range []struct {
		self *Session
		out  chan []byte
		in   <-chan []byte
	}{{d, toServer, toDevice}, {s, toDevice, toServer}} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(p.out) // so a failure ends the peer's reader instead of hanging it
			for range n {
				f, err := p.self.Seal([]byte("ping"))
				if err != nil {
					t.Error(err)
					return
				}
				p.out <- f
			}
		}()
		go func() {
			defer wg.Done()
			for range n {
				f, ok := <-p.in
				if !ok {
					t.Error("peer stopped sending")
					return
				}
				if _, err := p.self.Open(f); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
