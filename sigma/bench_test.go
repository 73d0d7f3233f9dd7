package sigma

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkServerHandshake measures the handshake three ways: both sides end to end
// ("full"), the server's share of it alone ("server": NewServer, Respond and Complete,
// reported as server-ns/op), and the server's unavoidable crypto ("ceiling": one P-256 key
// generation, one ECDH, one ECDSA sign, one ECDSA verify, nothing else). server/ceiling
// is the protocol's overhead.
func BenchmarkServerHandshake(b *testing.B) {
	f := newFixture(b, false)
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, step, err := f.run(b, tamper{}); err != nil {
				b.Fatalf("%s: %v", step, err)
			}
		}
	})
	b.Run("server", func(b *testing.B) {
		// Timed by hand: StopTimer and StartTimer read memory statistics on every call,
		// which would cost more than the work being left out.
		var server time.Duration
		for b.Loop() {
			c, err := NewClient(f.client)
			if err != nil {
				b.Fatal(err)
			}
			m1, err := c.Start()
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			s, err := NewServer(f.server)
			if err != nil {
				b.Fatal(err)
			}
			m2, err := s.Respond(m1)
			if err != nil {
				b.Fatal(err)
			}
			server += time.Since(start)
			m3, _, err := c.Finish(m2)
			if err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			if _, _, err := s.Complete(m3); err != nil {
				b.Fatal(err)
			}
			server += time.Since(start)
		}
		b.ReportMetric(float64(server.Nanoseconds())/float64(b.N), "server-ns/op")
	})
	b.Run("ceiling", func(b *testing.B) {
		peer, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		digest := sha256.Sum256([]byte("transcript"))
		deviceSig, err := f.deviceKey.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			eph, err := ecdh.P256().GenerateKey(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := eph.ECDH(peer.PublicKey()); err != nil {
				b.Fatal(err)
			}
			if _, err := f.serverKey.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
			if !ecdsa.VerifyASN1(&f.deviceKey.PublicKey, digest[:], deviceSig) {
				b.Fatal("verify")
			}
		}
	})
}

func BenchmarkSessionFrame(b *testing.B) {
	keys := newSessionKeys(b)
	d, s := keys.device(0), keys.server(0)
	msg := make([]byte, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		frame, err := d.Seal(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Open(frame); err != nil {
			b.Fatal(err)
		}
	}
}
