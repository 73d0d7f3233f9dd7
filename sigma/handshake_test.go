package sigma

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
)

// fixture is one server key, one device key and the configurations of both sides.
type fixture struct {
	serverKey, deviceKey *ecdsa.PrivateKey
	deviceID             [16]byte
	client               ClientConfig
	server               ServerConfig
}

func newFixture(t testing.TB, enroll bool) *fixture {
	t.Helper()
	f := &fixture{serverKey: newKey(t), deviceKey: newKey(t), deviceID: [16]byte{0x5e, 0x1f, 15: 0x01}}
	f.client = ClientConfig{
		ServerKeyFingerprint: Fingerprint(&f.serverKey.PublicKey),
		Signer:               f.deviceKey,
		Enroll:               enroll,
	}
	if !enroll {
		f.client.DeviceID = f.deviceID
	}
	f.server = ServerConfig{
		Keys: []crypto.Signer{f.serverKey},
		LookupDevice: func(id [16]byte) (*ecdsa.PublicKey, error) {
			if id != f.deviceID {
				return nil, errors.New("no such device")
			}
			return &f.deviceKey.PublicKey, nil
		},
	}
	return f
}

// tamper changes a handshake in flight; s is the server's handshake (which holds the
// handshake keys, so a hook can re-encrypt a payload it altered).
type tamper struct {
	server func(s *ServerHandshake)
	m1     func(m []byte) []byte
	m2     func(s *ServerHandshake, m []byte) []byte
	m3     func(s *ServerHandshake, m []byte) []byte
}

type outcome struct {
	client, server *Session
	who            DeviceIdentity
	m1, m2, m3     []byte
}

// run performs a handshake and returns the step that failed ("respond", "finish",
// "complete") with its error.
func (f *fixture) run(t testing.TB, h tamper) (outcome, string, error) {
	t.Helper()
	c, err := NewClient(f.client)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	s, err := NewServer(f.server)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if h.server != nil {
		h.server(s)
	}
	var o outcome
	if o.m1, err = c.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if h.m1 != nil {
		o.m1 = h.m1(bytes.Clone(o.m1))
	}
	if o.m2, err = s.Respond(o.m1); err != nil {
		return o, "respond", err
	}
	if h.m2 != nil {
		o.m2 = h.m2(s, bytes.Clone(o.m2))
	}
	if o.m3, o.client, err = c.Finish(o.m2); err != nil {
		return o, "finish", err
	}
	if h.m3 != nil {
		o.m3 = h.m3(s, bytes.Clone(o.m3))
	}
	if o.server, o.who, err = s.Complete(o.m3); err != nil {
		return o, "complete", err
	}
	return o, "", nil
}

func TestHandshakeRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		enroll bool
		rotate bool // server holds an older and a newer key; the device pinned the older
		max    int
	}{
		{name: "registered device"},
		{name: "enrolling device", enroll: true},
		{name: "server key rotation", rotate: true},
		{name: "small frames", max: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.enroll)
			f.client.MaxPlaintext, f.server.MaxPlaintext = tt.max, tt.max
			if tt.rotate {
				f.server.Keys = []crypto.Signer{newKey(t), f.serverKey, newKey(t)}
			}
			o, step, err := f.run(t, tamper{})
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if tt.enroll {
				if !o.who.Enrolling() || o.who.ID != [16]byte{} || !o.who.PublicKey.Equal(&f.deviceKey.PublicKey) {
					t.Fatalf("identity %+v, want enrollment of the device key", o.who)
				}
			} else if o.who.Enrolling() || o.who.ID != f.deviceID {
				t.Fatalf("identity %+v, want device %x", o.who, f.deviceID)
			}
			if o.client.Binding() != o.server.Binding() || o.client.Binding() == [32]byte{} {
				t.Fatalf("bindings differ or are zero: %x %x", o.client.Binding(), o.server.Binding())
			}
			if len(o.m1) != ClientHelloSize || len(o.m2) < MinServerHelloSize || len(o.m2) > MaxServerHelloSize ||
				len(o.m3) < MinClientFinishSize || len(o.m3) > MaxClientFinishSize {
				t.Fatalf("message sizes %d, %d, %d", len(o.m1), len(o.m2), len(o.m3))
			}
			limit := tt.max
			if limit == 0 {
				limit = DefaultMaxPlaintext
			}
			msgs := [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0xa5}, limit), []byte("bye")}
			exchange(t, "device to server", o.client, o.server, msgs)
			exchange(t, "server to device", o.server, o.client, msgs)
		})
	}
}

func exchange(t *testing.T, name string, from, to *Session, msgs [][]byte) {
	t.Helper()
	for i, m := range msgs {
		frame, err := from.Seal(m)
		if err != nil {
			t.Fatalf("%s: seal %d: %v", name, i, err)
		}
		if len(frame) != FrameOverhead+len(m) {
			t.Fatalf("%s: frame %d is %d bytes for %d of plaintext", name, i, len(frame), len(m))
		}
		got, err := to.Open(frame)
		if err != nil {
			t.Fatalf("%s: open %d: %v", name, i, err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("%s: message %d came out as %q", name, i, got)
		}
	}
}

func TestHandshakeFailures(t *testing.T) {
	t.Parallel()
	other := newKey(t)
	errLocked := errors.New("device locked")
	set := func(i int, v byte) func([]byte) []byte {
		return func(m []byte) []byte { m[i] = v; return m }
	}
	flip := func(i int) func([]byte) []byte { // i counts back from the end
		return func(m []byte) []byte { m[len(m)+i] ^= 1; return m }
	}
	xor := func(i int) func([]byte) []byte {
		return func(m []byte) []byte { m[i] ^= 1; return m }
	}
	payload := func(headerLen int, edit func(pt []byte) []byte) func(*ServerHandshake, []byte) []byte {
		return func(s *ServerHandshake, m []byte) []byte {
			k := &s.hs.s2d
			if headerLen == 2 {
				k = &s.hs.d2s
			}
			return rewrite(t, m, headerLen, k, edit)
		}
	}
	// identity edits the device identity and computes its MAC again, as a device that
	// holds the handshake keys would, so the identity's own checks are reached.
	identity := func(edit func([]byte) []byte) func(*ServerHandshake, []byte) []byte {
		return func(s *ServerHandshake, m []byte) []byte {
			return rewrite(t, m, 2, &s.hs.d2s, func(pt []byte) []byte {
				edit(pt)
				copy(pt[len(pt)-macLen:], identityMAC(&s.hs.deviceMAC, pt[:identityLen]))
				return pt
			})
		}
	}
	at := func(edit func([]byte) []byte) func(*ServerHandshake, []byte) []byte {
		return func(_ *ServerHandshake, m []byte) []byte { return edit(m) }
	}
	tests := []struct {
		name     string
		enroll   bool
		setup    func(f *fixture)
		tamper   tamper
		wantStep string
		want     error
	}{
		{name: "pin of another key", setup: func(f *fixture) {
			f.client.ServerKeyFingerprint = Fingerprint(&other.PublicKey)
		}, wantStep: "respond", want: ErrServerKey},
		{name: "server signature by another key", setup: func(f *fixture) {
			f.server.Keys = []crypto.Signer{impostor{claimed: &f.serverKey.PublicKey, key: other}}
		}, wantStep: "finish", want: ErrSignature},
		{name: "server identity MAC", tamper: tamper{m2: payload(serverHelloHeaderLen, flip(-1))}, wantStep: "finish", want: ErrMAC},
		{name: "server signature length field", tamper: tamper{m2: payload(serverHelloHeaderLen, set(pointLen, 0x7f))}, wantStep: "finish", want: ErrMalformed},
		{name: "server hello version", tamper: tamper{m2: at(set(0, 2))}, wantStep: "finish", want: ErrVersion},
		{name: "server hello type", tamper: tamper{m2: at(set(1, typeClientFinish))}, wantStep: "finish", want: ErrMalformed},
		{name: "server ephemeral off the curve", tamper: tamper{m2: at(xor(2 + pointLen - 1))}, wantStep: "finish", want: ErrMalformed},
		{name: "server hello truncated", tamper: tamper{m2: at(func(m []byte) []byte { return m[:len(m)-1] })}, wantStep: "finish", want: ErrMAC},
		{name: "server hello too short", tamper: tamper{m2: at(func(m []byte) []byte { return m[:MinServerHelloSize-1] })}, wantStep: "finish", want: ErrMalformed},
		{name: "server hello too long", tamper: tamper{m2: at(func(m []byte) []byte {
			return append(m, make([]byte, MaxServerHelloSize+1-len(m))...)
		})}, wantStep: "finish", want: ErrMalformed},
		{name: "client hello version", tamper: tamper{m1: set(0, 0)}, wantStep: "respond", want: ErrVersion},
		{name: "client hello type", tamper: tamper{m1: set(1, typeServerHello)}, wantStep: "respond", want: ErrMalformed},
		{name: "client hello truncated", tamper: tamper{m1: func(m []byte) []byte { return m[:len(m)-1] }}, wantStep: "respond", want: ErrMalformed},
		{name: "client hello extended", tamper: tamper{m1: func(m []byte) []byte { return append(m, 0) }}, wantStep: "respond", want: ErrMalformed},
		{name: "client ephemeral compressed", tamper: tamper{m1: set(2, 0x02)}, wantStep: "respond", want: ErrMalformed},
		{name: "client ephemeral off the curve", tamper: tamper{m1: flip(-nonceLen - fingerprintLen - 1)}, wantStep: "respond", want: ErrMalformed},
		{name: "client nonce changed", tamper: tamper{m1: flip(-fingerprintLen - 1)}, wantStep: "finish", want: ErrMAC},
		{name: "device signature by another key", setup: func(f *fixture) {
			f.client.Signer = impostor{claimed: &f.deviceKey.PublicKey, key: other}
		}, wantStep: "complete", want: ErrSignature},
		{name: "device registered under another key", setup: func(f *fixture) {
			f.server.LookupDevice = func([16]byte) (*ecdsa.PublicKey, error) { return &other.PublicKey, nil }
		}, wantStep: "complete", want: ErrSignature},
		{name: "enrollment without possession of the key", enroll: true, setup: func(f *fixture) {
			f.client.Signer = impostor{claimed: &f.deviceKey.PublicKey, key: other}
		}, wantStep: "complete", want: ErrSignature},
		{name: "device identity MAC", tamper: tamper{m3: payload(2, flip(-1))}, wantStep: "complete", want: ErrMAC},
		{name: "device identity kind", tamper: tamper{m3: identity(set(0, 0x03))}, wantStep: "complete", want: ErrMalformed},
		{name: "zero device id", tamper: tamper{m3: identity(func(pt []byte) []byte {
			clear(pt[1 : 1+deviceIDLen])
			return pt
		})}, wantStep: "complete", want: ErrMalformed},
		{name: "device id padding", tamper: tamper{m3: identity(set(identityLen-1, 1))}, wantStep: "complete", want: ErrMalformed},
		{name: "device signature length field", tamper: tamper{m3: payload(2, set(identityLen, 3))}, wantStep: "complete", want: ErrMalformed},
		{name: "enrolling key off the curve", enroll: true, tamper: tamper{m3: identity(xor(identityLen - 1))}, wantStep: "complete", want: ErrMalformed},
		{name: "client finish version", tamper: tamper{m3: at(set(0, 0xff))}, wantStep: "complete", want: ErrVersion},
		{name: "client finish type", tamper: tamper{m3: at(set(1, typeData))}, wantStep: "complete", want: ErrMalformed},
		{name: "client finish truncated", tamper: tamper{m3: at(func(m []byte) []byte { return m[:len(m)-1] })}, wantStep: "complete", want: ErrMAC},
		{name: "client finish empty", tamper: tamper{m3: at(func([]byte) []byte { return nil })}, wantStep: "complete", want: ErrMalformed},
		{name: "client finish too long", tamper: tamper{m3: at(func(m []byte) []byte {
			return append(m, make([]byte, MaxClientFinishSize+1-len(m))...)
		})}, wantStep: "complete", want: ErrMalformed},
		{name: "locked device", setup: func(f *fixture) {
			f.server.LookupDevice = func([16]byte) (*ecdsa.PublicKey, error) { return nil, errLocked }
		}, wantStep: "complete", want: errLocked},
		{name: "unknown device", setup: func(f *fixture) { f.client.DeviceID[0] ^= 1 }, wantStep: "complete", want: ErrUnknownDevice},
		{name: "lookup returns an empty key", setup: func(f *fixture) {
			f.server.LookupDevice = func([16]byte) (*ecdsa.PublicKey, error) { return &ecdsa.PublicKey{Curve: elliptic.P256()}, nil }
		}, wantStep: "complete", want: ErrUnknownDevice},
		{name: "lookup without a key", setup: func(f *fixture) {
			f.server.LookupDevice = func([16]byte) (*ecdsa.PublicKey, error) { return nil, nil }
		}, wantStep: "complete", want: ErrUnknownDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tt.enroll)
			if tt.setup != nil {
				tt.setup(f)
			}
			_, step, err := f.run(t, tt.tamper)
			if step != tt.wantStep || !errors.Is(err, tt.want) {
				t.Fatalf("failed at %q with %v; want %q with %v", step, err, tt.wantStep, tt.want)
			}
		})
	}
}

// A server that does not hold the pinned key but answers anyway, signing with the key it
// has, is caught by the device's pin check.
func TestHandshakeServerKeyNotPinned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.server.Keys = []crypto.Signer{newKey(t)}
	_, step, err := f.run(t, tamper{server: func(s *ServerHandshake) {
		s.keys[0].fingerprint = f.client.ServerKeyFingerprint
	}})
	if step != "finish" || !errors.Is(err, ErrServerKey) {
		t.Fatalf("failed at %q with %v; want finish with ErrServerKey", step, err)
	}
}

// The refusal LookupDevice returns stays visible under ErrUnknownDevice.
func TestHandshakeLookupErrorWrapped(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{errors.New("locked"), errors.New("revoked"), fmt.Errorf("store: %w", errors.New("not found"))} {
		f := newFixture(t, false)
		f.server.LookupDevice = func([16]byte) (*ecdsa.PublicKey, error) { return nil, cause }
		_, _, err := f.run(t, tamper{})
		if !errors.Is(err, ErrUnknownDevice) || !errors.Is(err, cause) {
			t.Fatalf("error %v does not wrap both ErrUnknownDevice and %v", err, cause)
		}
	}
}

// Flipping one bit at any position of any handshake message makes the handshake fail,
// at the receiver or later, and never panics.
func TestHandshakeTamperEveryByte(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.client.Rand = newStream("tamper client")
	f.client.Signer = newMemoSigner(f.deviceKey)
	f.server.Keys = []crypto.Signer{newMemoSigner(f.serverKey)}
	f.server.Rand = newStream("tamper server")
	fresh := func() *fixture {
		g := *f
		g.client.Rand, g.server.Rand = newStream("tamper client"), newStream("tamper server")
		return &g
	}
	o, step, err := fresh().run(t, tamper{})
	if err != nil {
		t.Fatalf("untampered handshake: %s: %v", step, err)
	}
	sizes := map[string]int{"client hello": len(o.m1), "server hello": len(o.m2), "client finish": len(o.m3)}
	for name, size := range sizes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for i := range size {
				flip := func(m []byte) []byte { m[i] ^= 1 << (i % 8); return m }
				var h tamper
				switch name {
				case "client hello":
					h.m1 = flip
				case "server hello":
					h.m2 = func(_ *ServerHandshake, m []byte) []byte { return flip(m) }
				default:
					h.m3 = func(_ *ServerHandshake, m []byte) []byte { return flip(m) }
				}
				if _, step, err := fresh().run(t, h); err == nil {
					t.Fatalf("byte %d flipped: handshake succeeded", i)
				} else if step == "" {
					t.Fatalf("byte %d flipped: no failing step for %v", i, err)
				}
			}
		})
	}
}

func TestHandshakeOutOfOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	newPair := func() (*ClientHandshake, *ServerHandshake) {
		c, err := NewClient(f.client)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewServer(f.server)
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}
	c, s := newPair()
	if _, _, err := c.Finish(nil); !errors.Is(err, ErrState) {
		t.Errorf("Finish before Start: %v", err)
	}
	if _, _, err := s.Complete(nil); !errors.Is(err, ErrState) {
		t.Errorf("Complete before Respond: %v", err)
	}
	c, s = newPair()
	m1, _ := c.Start()
	if _, err := c.Start(); !errors.Is(err, ErrState) {
		t.Errorf("second Start: %v", err)
	}
	m2, err := s.Respond(m1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Respond(m1); !errors.Is(err, ErrState) {
		t.Errorf("second Respond: %v", err)
	}
	m3, _, err := c.Finish(m2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Finish(m2); !errors.Is(err, ErrState) {
		t.Errorf("second Finish: %v", err)
	}
	if _, _, err := s.Complete(m3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Complete(m3); !errors.Is(err, ErrState) {
		t.Errorf("second Complete: %v", err)
	}
	// A failed step spends the handshake: a correct message afterwards is refused.
	c, s = newPair()
	m1, _ = c.Start()
	if _, err := s.Respond(m1[:10]); err == nil {
		t.Fatal("short client hello accepted")
	}
	if _, err := s.Respond(m1); !errors.Is(err, ErrState) {
		t.Errorf("Respond after a failed Respond: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), newStream("p384"))
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	lookup := func([16]byte) (*ecdsa.PublicKey, error) { return nil, nil }
	clients := map[string]ClientConfig{
		"no signer":               {DeviceID: [16]byte{1}},
		"P-384 signer":            {DeviceID: [16]byte{1}, Signer: p384},
		"enrolling with an id":    {DeviceID: [16]byte{1}, Signer: key, Enroll: true},
		"registered without id":   {Signer: key},
		"negative plaintext size": {DeviceID: [16]byte{1}, Signer: key, MaxPlaintext: -1},
	}
	for name, cfg := range clients {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient accepted %s", name)
		}
	}
	servers := map[string]ServerConfig{
		"no keys":                 {LookupDevice: lookup},
		"nil key":                 {Keys: []crypto.Signer{nil}, LookupDevice: lookup},
		"P-384 key":               {Keys: []crypto.Signer{key, p384}, LookupDevice: lookup},
		"no lookup":               {Keys: []crypto.Signer{key}},
		"negative plaintext size": {Keys: []crypto.Signer{key}, LookupDevice: lookup, MaxPlaintext: -5},
	}
	for name, cfg := range servers {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("NewServer accepted %s", name)
		}
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	want := sha256.Sum256(pointOf(t, &k.PublicKey))
	if Fingerprint(&k.PublicKey) != want {
		t.Fatal("fingerprint is not SHA-256 of the uncompressed point")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), newStream("p384"))
	if Fingerprint(nil) != [32]byte{} || Fingerprint(&p384.PublicKey) != [32]byte{} {
		t.Fatal("fingerprint of an unusable key is not zero")
	}
}
