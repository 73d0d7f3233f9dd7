package device

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/sigma"
	"github.com/signet-auth/signet/sigma/message"
)

// rawSession opens an enrollment session by hand, so a test writes the channel's bytes
// as it likes: split over several writes or several messages in one.
func (h *harness) rawSession(t *testing.T) (net.Conn, *sigma.Session) {
	t.Helper()
	nc := h.rawUpgrade()
	return nc, h.enrollHandshake(t, nc)
}

// enrollHandshake runs SIGMA-I as an enrolling device over an upgraded connection.
func (h *harness) enrollHandshake(t *testing.T, nc net.Conn) *sigma.Session {
	t.Helper()
	hs, err := sigma.NewClient(sigma.ClientConfig{ServerKeyFingerprint: h.srv.Fingerprint(), Signer: mustKey(t), Enroll: true})
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := hs.Start()
	writeClientFrame(t, nc, ws.OpBinary, hello)
	finish, sess, err := hs.Finish(readServerMessage(t, nc))
	if err != nil {
		t.Fatal(err)
	}
	writeClientFrame(t, nc, ws.OpBinary, finish)
	return sess
}

func readServerMessage(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr, err := ws.ReadHeader(nc)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, hdr.Length)
	if _, err := io.ReadFull(nc, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pingFrame is a whole masked WebSocket message carrying a sealed ping with the given id.
func pingFrame(t *testing.T, sess *sigma.Session, id uint64) []byte {
	t.Helper()
	return paddedPingFrame(t, sess, id, 0)
}

func readAnswer(t *testing.T, nc net.Conn, sess *sigma.Session) message.Envelope {
	t.Helper()
	plain, err := sess.Open(readServerMessage(t, nc))
	if err != nil {
		t.Fatal(err)
	}
	var out message.Envelope
	if err := json.Unmarshal(plain, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// serverConn is the server's side of the one connection the harness holds.
func (h *harness) serverConn(t *testing.T) *conn {
	t.Helper()
	var c *conn
	testutil.Eventually(t, 10*time.Second, func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		for _, x := range h.srv.conns {
			c = x
		}
		return len(h.srv.conns) == 1
	}, "the server does not hold exactly one connection")
	return c
}

func (c *conn) holdsPartial() bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.partial != nil
}

// Messages are handled whatever the reads that bring them: one split over several
// reads, several in one read, and one read ending in the start of the next.
func TestMessagesAcrossReads(t *testing.T) {
	for _, mode := range []string{"poller", "goroutine"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "sqlite", func(c *Config) { c.noPoller = mode == "goroutine" })
			nc, sess := h.rawSession(t)
			c := h.serverConn(t)
			write := func(b []byte) {
				t.Helper()
				if _, err := nc.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			expect := func(id uint64) {
				t.Helper()
				if a := readAnswer(t, nc, sess); a.ID != id || a.Type != message.OKType(message.TypePing) {
					t.Fatalf("answer %+v, want the ping %d answered", a, id)
				}
			}

			// One message over three reads: the server keeps the start until the rest comes.
			f := pingFrame(t, sess, 1)
			write(f[:1])
			testutil.Eventually(t, 10*time.Second, c.holdsPartial, "the first byte was not kept")
			write(f[1:10])
			write(f[10:])
			expect(1)
			if c.holdsPartial() {
				t.Fatal("a handled message left bytes behind")
			}

			// Two messages in one write, then one ending in the start of another.
			write(append(pingFrame(t, sess, 2), pingFrame(t, sess, 3)...))
			expect(2)
			expect(3)
			f4, f5 := pingFrame(t, sess, 4), pingFrame(t, sess, 5)
			write(append(f4, f5[:7]...))
			expect(4)
			testutil.Eventually(t, 10*time.Second, c.holdsPartial, "the next message's start was not kept")
			write(f5[7:])
			expect(5)
		})
	}
}

// shortMessageWindow gives a message in progress 300 ms (the handshake timeout) and an
// idle connection an hour.
func shortMessageWindow(c *Config) {
	c.HandshakeTimeout = 300 * time.Millisecond
	c.IdleTimeout = time.Hour
}

// A message that has begun must be complete within the handshake timeout, however long
// the idle timeout: a client cannot hold a half-sent message, and its buffer, open.
func TestPartialMessageTimesOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", shortMessageWindow)
	nc, sess := h.rawSession(t)
	write := func(b []byte) {
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// A whole message first: the session is open and answers.
	write(pingFrame(t, sess, 1))
	if a := readAnswer(t, nc, sess); a.ID != 1 {
		t.Fatalf("answer %+v", a)
	}
	f := pingFrame(t, sess, 2)
	write(f[:len(f)-1])
	closedSoon(t, nc)
}

// deviceConnGoroutines counts the goroutines inside a connection's code.
func deviceConnGoroutines(t *testing.T) int {
	t.Helper()
	return countGoroutines(t, func(g string) bool { return strings.Contains(g, "internal/device.(*conn)") })
}

// countGoroutines counts the goroutines whose dump (status line and stack) match.
func countGoroutines(t *testing.T, match func(string) bool) int {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if match(g) {
			n++
		}
	}
	return n
}

// With the poller, an idle authenticated connection holds no goroutine; without it
// (other platforms), one each.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	// Not parallel: it counts the goroutines of the whole test binary.
	for _, mode := range []string{"poller", "goroutine"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, "sqlite", func(c *Config) { c.noPoller = mode == "goroutine" })
			app, id := h.enrolled()
			const n = 8
			for range n {
				s, err := app.Connect(id, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				// Each session works, and then idles.
				if _, err := s.Pending(); err != nil {
					t.Fatal(err)
				}
			}
			want := 0
			if mode == "goroutine" {
				want = n
			}
			testutil.Eventually(t, 10*time.Second, func() bool { return deviceConnGoroutines(t) == want },
				"%d goroutines in connection code, want %d", deviceConnGoroutines(t), want)
		})
	}
}

// The end-to-end path over each way of holding a connection: TLS on the listener with the
// poller (crypto/tls reading a parked socket) and a goroutine per connection.
func TestChannelModes(t *testing.T) {
	certFile, keyFile := testutil.CertificateFiles(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]func(*Config){
		"TLS": func(c *Config) {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
		},
		"TLS, goroutine": func(c *Config) {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
			c.noPoller = true
		},
		"goroutine": func(c *Config) { c.noPoller = true },
	}
	for name, tune := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "sqlite", tune)
			app := authenticator.New(authenticator.NewMemoryKeyStore())
			if err := app.TrustPEM(pem); err != nil {
				t.Fatal(err)
			}
			s, err := app.Enroll(h.activation().URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			id := s.Identity()
			s.Close()
			s, err = app.Connect(id, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			l := newRequestListener()
			s.SetListener(l)
			for i := range 3 {
				r := h.ask(func(n *authn.NewRequest) { n.Text = "Sign in " + string(rune('A'+i)) })
				got := l.next(t)
				if got.ID != r.ID {
					t.Fatalf("delivered %s, want %s", got.ID, r.ID)
				}
				if state, err := s.Approve(got, r.MatchNumber); err != nil || state != "approved" {
					t.Fatalf("approve: %q, %v", state, err)
				}
			}
		})
	}
}

// A connect stores the device's last-seen time, batched: soon, without a write of its
// own, and what is still waiting at shutdown is stored then.
func TestLastSeenStored(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	h := newHarness(t, "sqlite", func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	app, id := h.enrolled()
	enrolled, err := h.st.GetDevice(context.Background(), "demo", id.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	// Within a minute of the last one, a connect stores nothing.
	s, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Two minutes on, it stores the time.
	skew.Store(int64(2 * time.Minute))
	s, err = app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testutil.Eventually(t, 10*time.Second, func() bool {
		d, err := h.st.GetDevice(context.Background(), "demo", id.DeviceID)
		return err == nil && d.LastSeenAt.Sub(enrolled.LastSeenAt) >= 2*time.Minute-time.Second
	}, "the last-seen time was not stored")

	// Noted just before a shutdown: stored by it.
	h.srv.seen.note("demo", id.DeviceID, enrolled.LastSeenAt.Add(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := h.st.GetDevice(context.Background(), "demo", id.DeviceID)
	// Stored times are kept to the millisecond at least.
	if want := enrolled.LastSeenAt.Add(time.Hour); err != nil || d.LastSeenAt.Sub(want).Abs() > time.Millisecond {
		t.Fatalf("after shutdown: last seen %v (%v), want %v", d.LastSeenAt, err, want)
	}
}

// tlsHarness is a harness whose listener has TLS, with rawUpgrade trusting it.
func tlsHarness(t *testing.T, tune func(*Config)) *harness {
	t.Helper()
	certFile, keyFile := testutil.CertificateFiles(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "sqlite", func(c *Config) {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
		if tune != nil {
			tune(c)
		}
	})
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	h.roots = x509.NewCertPool()
	h.roots.AppendCertsFromPEM(pem)
	return h
}

// paddedPingFrame is pingFrame with the JSON padded with spaces to size bytes, if shorter.
func paddedPingFrame(t *testing.T, sess *sigma.Session, id uint64, size int) []byte {
	t.Helper()
	plain, _ := json.Marshal(message.Envelope{ID: id, Type: message.TypePing})
	plain = append(plain, bytes.Repeat([]byte(" "), max(0, size-len(plain)))...)
	sealed, err := sess.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewFrame(ws.OpBinary, true, sealed))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Over TLS, crypto/tls reads ahead of what a worker asks for: input it holds must be
// handled though the socket has nothing more to report. A message near the size limit
// takes many reads; many small ones come in one write.
func TestTLSInputHeldByTLSIsHandled(t *testing.T) {
	t.Parallel()
	h := tlsHarness(t, nil)
	nc, sess := h.rawSession(t)
	big := paddedPingFrame(t, sess, 1, DefaultMaxMessage-64)
	if _, err := nc.Write(big); err != nil {
		t.Fatal(err)
	}
	if a := readAnswer(t, nc, sess); a.ID != 1 {
		t.Fatalf("answer %+v to the large message", a)
	}
	var many []byte
	const n = 60
	for i := range n {
		many = append(many, pingFrame(t, sess, uint64(2+i))...)
	}
	if _, err := nc.Write(many); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if a := readAnswer(t, nc, sess); a.ID != uint64(2+i) {
			t.Fatalf("answer %+v, want the ping %d", a, 2+i)
		}
	}
}

// A control message split over reads puts the idle deadline back once complete: the
// shorter deadline of a message in progress does not outlive it.
func TestSplitPongKeepsTheConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", shortMessageWindow)
	nc, sess := h.rawSession(t)
	c := h.serverConn(t)
	// Enrolled over this session, it becomes a device's, with the idle deadline (an
	// enrollment session has a short window of its own).
	enroll, _ := json.Marshal(message.Envelope{ID: 1, Type: message.TypeEnroll, Realm: "demo", Code: h.activation().Code})
	sealed, err := sess.Seal(enroll)
	if err != nil {
		t.Fatal(err)
	}
	writeClientFrame(t, nc, ws.OpBinary, sealed)
	if a := readAnswer(t, nc, sess); a.Type != message.OKType(message.TypeEnroll) {
		t.Fatalf("enrollment answer %+v", a)
	}
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewFrame(ws.OpPong, true, []byte("beat")))); err != nil {
		t.Fatal(err)
	}
	pong := b.Bytes()
	if _, err := nc.Write(pong[:3]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, c.holdsPartial, "the pong's start was not kept")
	if _, err := nc.Write(pong[3:]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return !c.holdsPartial() }, "the pong was not completed")
	// Well past the handshake timeout the connection is still open and answers.
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server sent something unasked")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("the connection ended after a split pong: %v", err)
	}
	if _, err := nc.Write(pingFrame(t, sess, 2)); err != nil {
		t.Fatal(err)
	}
	if a := readAnswer(t, nc, sess); a.ID != 2 {
		t.Fatalf("answer %+v", a)
	}
}

// A connection closed while its device was being read or enrolled (a shutdown, the
// enrollment window) is not filed in the hub, and a deadline moved after the close does
// not set its timer again.
func TestClosedConnectionNotAdopted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	a, b := net.Pipe()
	defer b.Close()
	c := &conn{srv: h.srv, nc: a}
	if !h.srv.track(c) {
		t.Fatal("not tracked")
	}
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.finish()
	if c.adopt(store.Device{Realm: "demo", ID: "d1", UserID: h.user.ID}, h.user) {
		t.Fatal("a closed connection was adopted")
	}
	if got := h.srv.hub.connected("demo", h.user.ID); len(got) != 0 {
		t.Fatalf("the hub holds %d closed connections", len(got))
	}
	c.extend(time.Now().Add(time.Hour))
	if c.timer.Stop() {
		t.Fatal("the deadline set the closed connection's timer again")
	}
}

// Past the limit of openings waiting on their clients, a client that connects and says
// nothing holds no goroutine until it speaks; then its handshake runs as any other.
func TestSilentClientsHoldNoGoroutine(t *testing.T) {
	// Not parallel: it counts the goroutines of the whole test binary. Every opening
	// counts as over the limit of openings waiting on their clients.
	h := newHarness(t, "sqlite", func(c *Config) { c.blockedOpenings = -1 })
	addr := strings.TrimPrefix(h.url, "http://")
	var silent []net.Conn
	for range 8 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		silent = append(silent, nc)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return h.srv.Connections() == len(silent) },
		"the server holds %d connections, want %d", h.srv.Connections(), len(silent))
	testutil.Eventually(t, 10*time.Second, func() bool { return deviceConnGoroutines(t) == 0 },
		"%d goroutines in connection code for silent clients", deviceConnGoroutines(t))

	// The first of them speaks: upgrade, handshake, a ping answered.
	d := ws.Dialer{Timeout: 10 * time.Second, NetDial: func(context.Context, string, string) (net.Conn, error) { return silent[0], nil }}
	nc, _, _, err := d.Dial(context.Background(), "ws://"+addr+Path)
	if err != nil {
		t.Fatal(err)
	}
	sess := h.enrollHandshake(t, nc)
	if _, err := nc.Write(pingFrame(t, sess, 1)); err != nil {
		t.Fatal(err)
	}
	if a := readAnswer(t, nc, sess); a.ID != 1 {
		t.Fatalf("answer %+v", a)
	}
}

// A shutdown closes connections that never spoke at once, with nothing written to them:
// no WebSocket close frame before an upgrade, and with TLS no wait on a handshake that a
// write would start.
func TestShutdownClosesSilentClients(t *testing.T) {
	for _, mode := range []string{"plain", "TLS"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tune := func(c *Config) {
				c.blockedOpenings = -1 // parked in the poller until they speak
				c.HandshakeTimeout = time.Hour
			}
			var h *harness
			if mode == "TLS" {
				h = tlsHarness(t, tune)
			} else {
				h = newHarness(t, "sqlite", tune)
			}
			addr := h.url[strings.LastIndex(h.url, "/")+1:]
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			testutil.Eventually(t, 10*time.Second, func() bool { return h.srv.Connections() == 1 }, "the connection was not accepted")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.srv.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := nc.Read(make([]byte, 64))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the connection stayed open after the shutdown")
			}
			if n != 0 {
				t.Fatalf("%d bytes written to a client that never spoke", n)
			}
			if c := h.srv.Connections(); c != 0 {
				t.Fatalf("%d connections after the shutdown", c)
			}
		})
	}
}
