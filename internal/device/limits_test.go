package device

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// enrolled enrolls a device for the harness user and returns the app and identity.
func (h *harness) enrolled() (*authenticator.Authenticator, *authenticator.Identity) {
	h.t.Helper()
	app := authenticator.New(authenticator.NewMemoryKeyStore())
	s, err := app.Enroll(h.activation().URL, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer s.Close()
	return app, s.Identity()
}

// A device that is unknown, locked or revoked, or that pins another server key, does
// not get a session.
func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app, id := h.enrolled()
	if s, err := app.Connect(id, nil); err != nil {
		t.Fatalf("the enrolled device cannot connect: %v", err)
	} else {
		s.Close()
	}
	reg := Registry{Store: h.st}

	unknown := *id
	var other [16]byte
	_, _ = rand.Read(other[:])
	unknown.DeviceID = hex.EncodeToString(other[:])
	wrongPin := *id
	wrongPin.Fingerprint = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for name, ident := range map[string]*authenticator.Identity{"unknown device": &unknown, "another pinned key": &wrongPin} {
		if s, err := app.Connect(ident, nil); err == nil {
			s.Close()
			t.Errorf("%s connected", name)
		}
	}
	for _, state := range []store.DeviceState{store.DeviceLocked, store.DeviceRevoked} {
		if _, err := reg.SetState(context.Background(), "demo", id.DeviceID, state, "test", true); err != nil {
			t.Fatal(err)
		}
		if s, err := app.Connect(id, nil); err == nil {
			s.Close()
			t.Errorf("a %s device connected", state)
		}
	}
}

// Every way an activation code can be wrong gets its own clear error, and nothing enrolls.
func TestEnrollmentErrors(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now())
	h := newHarness(t, "sqlite", func(c *Config) { c.Now = clock.Now })
	ctx := context.Background()
	if _, err := h.st.CreateRealm(ctx, store.Realm{Name: "other", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	expired := h.activation()
	fresh := h.activation()
	clock.Advance(DefaultActivationTTL + time.Second)
	later := h.activation()
	withRealm := func(u, realm string) string { return strings.Replace(u, "realm=demo", "realm="+realm, 1) }
	withCode := func(u, code string) string {
		i := strings.Index(u, "code=")
		return u[:i+5] + code + u[i+5+26:]
	}
	for _, tc := range []struct {
		name, url, code string
	}{
		{"expired", expired.URL, "code_expired"},
		{"another realm", withRealm(fresh.URL, "other"), "code_wrong_realm"},
		{"no such realm", withRealm(fresh.URL, "nowhere"), "code_wrong_realm"},
		{"unknown code", withCode(later.URL, strings.Repeat("A", 26)), "code_invalid"},
		{"malformed code", withCode(later.URL, strings.Repeat("1", 26)), "code_invalid"},
	} {
		_, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(tc.url, nil)
		if !isServerError(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	page, err := h.st.ListDevices(ctx, "demo", store.DeviceFilter{}, store.ListOptions{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("%d devices enrolled by bad codes (%v)", len(page.Items), err)
	}
	// The still valid code enrolls, typed in lower case too.
	lower := withCode(later.URL, strings.ToLower(later.Code))
	if s, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(lower, nil); err != nil {
		t.Fatalf("a valid code typed in lower case: %v", err)
	} else {
		s.Close()
	}
}

// Enrollment attempts from one address are throttled.
func TestEnrollmentThrottled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) { c.EnrollmentsPerIP = 2 })
	bad := strings.Replace(h.activation().URL, "code=", "code=X", 1)
	bad = bad[:len(bad)-1]
	var codes []string
	for range 3 {
		_, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(bad, nil)
		var code string
		if se, ok := err.(*authenticator.ServerError); ok {
			code = se.Code
		}
		codes = append(codes, code)
	}
	if codes[2] != "rate_limited" {
		t.Fatalf("third attempt from one address: %v", codes)
	}
}

// A request answered after the user was locked is refused, and stays pending.
func TestLockedUserCannotApprove(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app, id := h.enrolled()
	s, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := newRequestListener()
	s.SetListener(l)
	ctx := context.Background()
	r := h.ask(nil)
	// Wait for the request's delivery: done while the user is still active, it cannot
	// end the connection for the lock that follows before the approval is refused.
	got := l.next(t)
	if _, err := h.st.UpdateUser(ctx, "demo", h.user.ID, func(u store.User) (store.User, error) {
		u.LockedUntil = time.Now().Add(time.Hour)
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Approve(got, r.MatchNumber); !isServerError(err, "user_disabled") {
		t.Fatalf("approval by a locked user: %v", err)
	}
	if stored := h.stored(r.ID); stored.State != authn.Pending {
		t.Fatalf("the request is %s", stored.State)
	}
}

// rawUpgrade opens a WebSocket to the harness without running the handshake.
func (h *harness) rawUpgrade() net.Conn {
	h.t.Helper()
	u := strings.Replace(strings.Replace(h.url, "https://", "wss://", 1), "http://", "ws://", 1)
	d := ws.Dialer{Timeout: 10 * time.Second}
	if h.roots != nil {
		d.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: h.roots}
	}
	nc, _, _, err := d.Dial(context.Background(), u+Path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { nc.Close() })
	return nc
}

// closedSoon waits (up to 10 s) for the server to end the connection and returns the
// close code it sent, or 0 when it sent none.
func closedSoon(t *testing.T, nc net.Conn) ws.StatusCode {
	t.Helper()
	code, _ := closeFrame(t, nc, nc)
	return code
}

// closeFrame reads r (nc's data, or a reader holding some of it already) until the
// connection ends, within 10 s, and returns the close frame's code and reason (zero
// values when the server sent none).
func closeFrame(t *testing.T, nc net.Conn, r io.Reader) (ws.StatusCode, string) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		hdr, err := ws.ReadHeader(r)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the connection open")
			}
			return 0, ""
		}
		payload := make([]byte, hdr.Length)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, ""
		}
		if hdr.OpCode == ws.OpClose {
			return ws.ParseCloseFrameData(payload)
		}
	}
}

// tcpClosedSoon connects without speaking and fails unless the server ends the
// connection, without answering, within 10 s.
func tcpClosedSoon(t *testing.T, h *harness, what string) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatalf("%s: the server answered", what)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

func writeClientFrame(t *testing.T, nc net.Conn, op ws.OpCode, payload []byte) {
	t.Helper()
	frame := ws.NewFrame(op, true, payload)
	frame = ws.MaskFrameInPlace(frame)
	if err := ws.WriteFrame(nc, frame); err != nil {
		t.Fatal(err)
	}
}

// Slow, oversized, textual or too frequent clients are cut off.
func TestChannelLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) {
		c.HandshakeTimeout = 300 * time.Millisecond
		c.MaxMessage = 1024
		c.IdleTimeout = 500 * time.Millisecond
	})
	t.Run("silent client", func(t *testing.T) {
		closedSoon(t, h.rawUpgrade())
	})
	t.Run("silent TCP client", func(t *testing.T) {
		tcpClosedSoon(t, h, "a client that sends nothing")
	})
	t.Run("oversized message", func(t *testing.T) {
		nc := h.rawUpgrade()
		writeClientFrame(t, nc, ws.OpBinary, make([]byte, 4096))
		if code := closedSoon(t, nc); code != ws.StatusMessageTooBig {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("text message", func(t *testing.T) {
		nc := h.rawUpgrade()
		writeClientFrame(t, nc, ws.OpText, []byte("hello"))
		if code := closedSoon(t, nc); code != ws.StatusUnsupportedData {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("garbage handshake", func(t *testing.T) {
		nc := h.rawUpgrade()
		writeClientFrame(t, nc, ws.OpBinary, []byte("not a ClientHello"))
		if code := closedSoon(t, nc); code != ws.StatusPolicyViolation {
			t.Fatalf("close code %d", code)
		}
	})
	t.Run("idle session", func(t *testing.T) {
		app, id := h.enrolled()
		s, err := app.Connect(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sessionEnds(t, s, "an idle session was not closed")
	})
}

func TestHandshakesPerIPLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) { c.HandshakesPerIP = 3 })
	app, id := h.enrolled() // the first handshake
	for i := range 2 {
		s, err := app.Connect(id, nil)
		if err != nil {
			t.Fatalf("handshake %d: %v", i+2, err)
		}
		s.Close()
	}
	if s, err := app.Connect(id, nil); err == nil {
		s.Close()
		t.Fatal("a fourth handshake within the minute was served")
	}
}

// A user has at most the realm's device_max_per_user devices that are not revoked.
func TestDeviceLimitPerUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	ctx := context.Background()
	if _, err := h.st.UpdateRealm(ctx, "demo", func(r store.Realm) (store.Realm, error) {
		r.Attributes = map[string]string{AttrMaxDevices: "1"}
		return r, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, first := h.enrolled()
	if _, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(h.activation().URL, nil); !isServerError(err, "device_limit") {
		t.Fatalf("second device over the limit: %v", err)
	}
	// Revoking the first makes room.
	if _, err := (Registry{Store: h.st}).SetState(ctx, "demo", first.DeviceID, store.DeviceRevoked, "test", true); err != nil {
		t.Fatal(err)
	}
	h.enrolled()
}

// A device revoked while connected is served nothing more on that connection.
func TestRevokedWhileConnected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app, id := h.enrolled()
	s, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := (Registry{Store: h.st}).SetState(context.Background(), "demo", id.DeviceID, store.DeviceRevoked, "test", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pending(); !isServerError(err, "user_disabled") {
		t.Fatalf("listing after the revocation: %v", err)
	}
	sessionEnds(t, s, "the connection of a revoked device stayed open")
}

// sessionEnds waits (up to 10 s) for the server to end an SDK session.
func sessionEnds(t *testing.T, s *authenticator.Session, msg string) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}

// A user disabled after the code was made enrolls nothing, and the code stays usable.
func TestEnrollmentOfDisabledUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	act := h.activation()
	ctx := context.Background()
	setEnabled := func(on bool) {
		if _, err := h.st.UpdateUser(ctx, "demo", h.user.ID, func(u store.User) (store.User, error) { u.Enabled = on; return u, nil }); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	if _, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(act.URL, nil); !isServerError(err, "user_disabled") {
		t.Fatalf("enrollment of a disabled user: %v", err)
	}
	setEnabled(true)
	if s, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(act.URL, nil); err != nil {
		t.Fatalf("the code after the user was enabled again: %v", err)
	} else {
		s.Close()
	}
}

// Control characters in what a device sends are a bad request, not a store failure.
func TestEnrollmentFieldsChecked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	act := h.activation()
	_, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(act.URL, &authenticator.Enrollment{DisplayName: "phone\x00"})
	if !isServerError(err, "bad_request") {
		t.Fatalf("a control character in the name: %v", err)
	}
	// The code was not spent.
	if s, err := authenticator.New(authenticator.NewMemoryKeyStore()).Enroll(act.URL, &authenticator.Enrollment{DisplayName: "phone"}); err != nil {
		t.Fatal(err)
	} else {
		s.Close()
	}
}

// Requests for one user are limited (push bombing): the pending ones, and a cooldown
// after denials; a disabled user or one without devices is asked nothing.
func TestRequestsPerUserLimited(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	ctx := context.Background()
	n := authn.NewRequest{Realm: "demo", Kind: authn.KindPushLogin, ClientID: "bank-app", UserID: h.user.ID, Binding: []byte("b")}
	if _, err := Ask(ctx, h.st, h.reqs, time.Now(), n); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("a user without devices: %v, want ErrNoDevice", err)
	}
	h.enrolled()
	for range 3 {
		h.ask(nil)
	}
	if _, err := Ask(ctx, h.st, h.reqs, time.Now(), n); !errors.Is(err, authn.ErrTooManyPending) {
		t.Fatalf("a fourth pending request: %v, want ErrTooManyPending", err)
	}
	if _, err := h.st.UpdateUser(ctx, "demo", h.user.ID, func(u store.User) (store.User, error) { u.Enabled = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Ask(ctx, h.st, h.reqs, time.Now(), n); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("a disabled user: %v, want ErrUserDisabled", err)
	}
}

// An enrollment session that does not enroll ends after its window, pings or not.
func TestEnrollmentSessionWindow(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	nc, _ := h.rawSession(t)
	// Keep pinging well within the idle timeout; the window still closes the session.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				frame := ws.MaskFrameInPlace(ws.NewPingFrame(nil))
				if ws.WriteFrame(nc, frame) != nil {
					return
				}
			}
		}
	}()
	closedSoon(t, nc)
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Behind a trusted proxy, per-address limits count the client the proxy names, and a
// client cannot make up the address of its own hop.
func TestLimitsCountTheClientBehindAProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) {
		c.HandshakesPerIP = 2
		c.HandshakeTimeout = 300 * time.Millisecond
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	// closeReason upgrades with the given X-Forwarded-For, sends nothing, and returns the
	// reason of the close frame: "too many handshakes" at once, or "handshake failed"
	// when the handshake timeout ends a connection the limit let through.
	closeReason := func(forwarded string) string {
		d := ws.Dialer{Timeout: 10 * time.Second, Header: ws.HandshakeHeaderHTTP(http.Header{"X-Forwarded-For": {forwarded}})}
		nc, br, _, err := d.Dial(context.Background(), strings.Replace(h.url, "http://", "ws://", 1)+Path)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var r io.Reader = nc
		if br != nil { // the close frame may have come with the upgrade's answer
			r = br
		}
		code, reason := closeFrame(t, nc, r)
		if code == 0 {
			t.Fatalf("%s: no close frame", forwarded)
		}
		return reason
	}
	for i := range 3 {
		if got := closeReason(fmt.Sprintf("198.51.100.%d", i+1)); got != "handshake failed" {
			t.Fatalf("client %d behind the proxy: %q", i+1, got)
		}
	}
	// One client, counted as itself, whatever it puts left of the proxy's entry.
	var reasons []string
	for i := range 3 {
		reasons = append(reasons, closeReason(fmt.Sprintf("10.9.9.%d, 203.0.113.7", i)))
	}
	if reasons[2] != "too many handshakes" {
		t.Fatalf("one client behind the proxy, three handshakes: %q", reasons)
	}
	// IPv6 clients are counted per /64.
	reasons = reasons[:0]
	for i := range 3 {
		reasons = append(reasons, closeReason(fmt.Sprintf("2001:db8:1:2::%x", i+1)))
	}
	if reasons[2] != "too many handshakes" {
		t.Fatalf("three addresses of one /64: %q", reasons)
	}
}

// A node holds at most MaxConnections; one more is closed as it arrives.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", func(c *Config) { c.MaxConnections = 1 })
	first := h.rawUpgrade()
	defer first.Close()
	testutil.Eventually(t, 10*time.Second, func() bool { return h.srv.Connections() == 1 }, "the first connection was not counted")
	tcpClosedSoon(t, h, "a connection over the cap")
}

// A connection updates its device (hello, push token) at most every updateInterval,
// and a hello that changes nothing writes nothing.
func TestDeviceUpdatesPaced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite", nil)
	app, id := h.enrolled()
	countAudit := func() int {
		page, err := h.st.ListAuditEvents(context.Background(), "demo", store.AuditFilter{DeviceID: id.DeviceID}, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	before := countAudit()
	s, err := app.Connect(id, nil) // a hello that changes nothing
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := countAudit(); n != before {
		t.Fatalf("an unchanged hello wrote %d audit rows", n-before)
	}
	if err := s.UpdatePushToken("fcm", "first"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePushToken("fcm", "second"); !isServerError(err, "rate_limited") {
		t.Fatalf("a second update at once: %v", err)
	}
	if err := s.UpdatePushToken("fcm", "first"); err != nil {
		t.Fatalf("repeating the stored token: %v", err)
	}
}

// "This wasn't me" denies the request, raises an event, and applies the realm's policy:
// the device is locked by default, the user when the realm says so.
func TestNotMeReport(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"", NotMeLockUser, NotMeReport} {
		t.Run("policy="+policy, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "sqlite", nil)
			ctx := context.Background()
			if policy != "" {
				if _, err := h.st.UpdateRealm(ctx, "demo", func(r store.Realm) (store.Realm, error) {
					r.Attributes = map[string]string{AttrNotMePolicy: policy}
					return r, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			app, id := h.enrolled()
			s, err := app.Connect(id, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := h.ask(nil)
			got, err := s.Fetch(r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if state, err := s.ReportNotMe(got); err != nil || state != "denied" {
				t.Fatalf("ReportNotMe: %q, %v", state, err)
			}
			if stored := h.stored(r.ID); stored.State != authn.Denied || !stored.Answer.NotMe {
				t.Fatalf("the request is %s, not-me %v", stored.State, stored.Answer.NotMe)
			}
			testutil.Eventually(t, 5*time.Second, func() bool {
				page, err := h.st.ListEvents(ctx, "demo", store.EventFilter{Type: "authn.reported", Subject: r.ID}, store.ListOptions{})
				return err == nil && len(page.Items) == 1
			}, "no authn.reported event in the log")
			d, err := h.st.GetDevice(ctx, "demo", id.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			u, err := h.st.GetUser(ctx, "demo", h.user.ID)
			if err != nil {
				t.Fatal(err)
			}
			locked := time.Now().Before(u.LockedUntil)
			switch policy {
			case "":
				if d.State != store.DeviceLocked || locked {
					t.Errorf("default policy: device %s, user locked %v; want the device locked", d.State, locked)
				}
			case NotMeLockUser:
				if d.State != store.DeviceActive || !locked {
					t.Errorf("lock_user: device %s, user locked %v; want the user locked", d.State, locked)
				}
			case NotMeReport:
				if d.State != store.DeviceActive || locked {
					t.Errorf("report: device %s, user locked %v; want neither locked", d.State, locked)
				}
			}
		})
	}
}
