package sigma

import (
	"bytes"
	"errors"
	"testing"
)

// The fuzz targets replay the first handshake of testdata/vectors.json, so the committed
// seed corpora (testdata/fuzz/) hold valid messages that reach every check. Each target's
// oracle: an input is accepted only if it is exactly the recorded message.

type fuzzFixture struct {
	v          handshakeVector
	client     ClientConfig
	server     ServerConfig
	clientRand []byte
	serverRand []byte
	m1, m2, m3 []byte
	frame      []byte // the first device-to-server frame
	d2s, s2d   trafficKey
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	x := &fuzzFixture{v: loadVectors(f).Handshakes[0]}
	x.client, x.server = vectorConfigs(f, &x.v)
	x.clientRand = unhex(f, x.v.ClientEphemeralPrivate+x.v.ClientNonce)
	x.serverRand = unhex(f, x.v.ServerEphemeralPrivate+x.v.ServerNonce)
	x.m1, x.m2, x.m3 = unhex(f, x.v.ClientHello), unhex(f, x.v.ServerHello), unhex(f, x.v.ClientFinish)
	x.frame = unhex(f, x.v.Frames[0].Frame)
	copy(x.d2s.key[:], unhex(f, x.v.ApplicationD2SKey))
	copy(x.d2s.iv[:], unhex(f, x.v.ApplicationD2SIV))
	copy(x.s2d.key[:], unhex(f, x.v.ApplicationS2DKey))
	copy(x.s2d.iv[:], unhex(f, x.v.ApplicationS2DIV))
	return x
}

func (x *fuzzFixture) newClient(t *testing.T) *ClientHandshake {
	cfg := x.client
	cfg.Rand = bytes.NewReader(x.clientRand)
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (x *fuzzFixture) newServer(t *testing.T) *ServerHandshake {
	cfg := x.server
	cfg.Rand = bytes.NewReader(x.serverRand)
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// accepted fails the test unless exactly the recorded message want is accepted.
func accepted(t *testing.T, err error, got, want []byte) {
	t.Helper()
	switch valid := bytes.Equal(got, want); {
	case err == nil && !valid:
		t.Fatalf("accepted %x, only %x is valid", got, want)
	case err != nil && valid:
		t.Fatalf("refused the recorded message: %v", err)
	}
}

func FuzzClientHello(f *testing.F) {
	x := newFuzzFixture(f)
	f.Add(x.m1)
	f.Fuzz(func(t *testing.T, m1 []byte) {
		m2, err := x.newServer(t).Respond(m1)
		if err == nil && (len(m1) != ClientHelloSize || len(m2) < MinServerHelloSize || len(m2) > MaxServerHelloSize) {
			t.Fatalf("accepted a %d-byte client hello, answered %d bytes", len(m1), len(m2))
		}
	})
}

func FuzzServerHello(f *testing.F) {
	x := newFuzzFixture(f)
	f.Add(x.m2)
	f.Fuzz(func(t *testing.T, m2 []byte) {
		c := x.newClient(t)
		if _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Finish(m2)
		accepted(t, err, m2, x.m2)
	})
}

func FuzzClientFinish(f *testing.F) {
	x := newFuzzFixture(f)
	f.Add(x.m3)
	f.Fuzz(func(t *testing.T, m3 []byte) {
		s := x.newServer(t)
		if _, err := s.Respond(x.m1); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Complete(m3)
		accepted(t, err, m3, x.m3)
	})
}

func FuzzFrame(f *testing.F) {
	x := newFuzzFixture(f)
	f.Add(x.frame)
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := newSession(&x.s2d, &x.d2s, [32]byte{}, DefaultMaxPlaintext)
		_, err := s.Open(frame)
		accepted(t, err, frame, x.frame)
		if err != nil {
			if _, err := s.Open(x.frame); !errors.Is(err, ErrClosed) {
				t.Fatalf("open after a failure: %v", err)
			}
		}
	})
}

func FuzzApprovalDecode(f *testing.F) {
	enc, err := sampleApproval().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeApproval(b)
		if err != nil {
			return
		}
		// Canonical: what decodes encodes back to the same bytes.
		again, err := a.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v, encodes back as %x (%v), input %x", a, again, err, b)
		}
	})
}
