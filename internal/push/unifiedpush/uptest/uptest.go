// Package uptest is a Web Push receiver for tests: it plays a UnifiedPush distributor's
// push service (an autopush-like server over HTTP/2 and TLS) together with the phone
// behind it. It creates subscriptions with their own keys, checks each push message
// request as a push service does (RFC 8030 headers, RFC 8292 VAPID), decrypts the body
// as the phone would (RFC 8291) and records what it received.
//
// Answers follow RFC 8030 and Mozilla autopush's documented error codes: 201 Created
// with a Location on success, and on failure a JSON body
// {"code":…,"errno":…,"error":…,"message":…}:
//
//	404 errno 102  unknown subscription
//	410 errno 106  subscription removed (Unsubscribe)
//	401 errno 109  no "vapid" Authorization (RFC 8292 §4.2: authentication absent)
//	403 errno 109  invalid VAPID: bad k, bad or unverifiable JWT, aud not this origin,
//	               exp passed or more than 24 h ahead, sub not mailto:/https:, or k
//	               not the key a restricted subscription was made for (RFC 8292 §4.2)
//	400 errno 111  TTL missing (RFC 8030 §5.2)
//	400 errno 112  TTL not delta-seconds
//	400 errno 113  Topic not ≤ 32 base64url characters (RFC 8030 §5.4)
//	400            Urgency not very-low, low, normal or high (RFC 8030 §5.3)
//	400 errno 110  Content-Encoding not exactly aes128gcm (RFC 8291 §4), or a body that
//	               does not decrypt
//	413 errno 104  body over 4096 octets (RFC 8030 §7.2)
//
// A real push service cannot decrypt and would accept an undecryptable message, which the
// phone then drops; the receiver refuses it instead, so a broken encryption fails loudly.
// It also requires VAPID on every push, as Signet always sends it.
package uptest

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
)

// MaxBody is the payload size a push service must accept (RFC 8030 §7.2); larger bodies
// get 413.
const MaxBody = 4096

// Option configures a Server.
type Option func(*Server)

// WithHosts adds host names the server's certificate covers and that subscriptions can
// use (see OnHost), for example to give it several origins; resolve them to Addr with
// outboundtest.Resolver. 127.0.0.1, ::1 and localhost are always covered.
func WithHosts(names ...string) Option {
	return func(s *Server) {
		for _, n := range names {
			s.hosts[strings.ToLower(n)] = true
		}
	}
}

// WithClock makes the server judge VAPID token expiry by now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is a running receiver. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, https://127.0.0.1:<port>.
	URL string

	tb    testing.TB
	srv   *httptest.Server
	pool  *x509.CertPool
	port  string
	hosts map[string]bool
	now   func() time.Time

	mu       sync.Mutex
	subs     map[string]*subscription
	received []Push
	failLeft int
	failure  Failure
	messages int
	conns    int
}

type subscription struct {
	private    *ecdh.PrivateKey
	auth       []byte
	restricted string // applicationServerKey the subscription is bound to, or ""
	gone       bool
}

// Subscription is one subscription the server made, as a phone holds it.
type Subscription struct {
	// ID is the last path segment of the endpoint.
	ID string
	// Endpoint is the push resource URL.
	Endpoint string
	// Token is the W3C PushSubscription JSON the phone registers as its push token.
	Token string
	// PrivateKey and Auth are the phone's keys (RFC 8291 §3.1, §3.2).
	PrivateKey *ecdh.PrivateKey
	Auth       []byte
}

// Push is one request the server received and what it made of it.
type Push struct {
	Subscription string // ID, "" if the path named none
	Status       int    // the status the server answered
	Reason       string // why it refused; "" when accepted
	Proto        string // "HTTP/2.0" for HTTP/2
	Host         string // the request's Host (authority)

	TTL             string
	Urgency         string
	Topic           string
	ContentEncoding string
	ContentType     string

	VAPIDToken string // the JWT of "vapid t=", as received
	VAPIDKey   string // k=
	Claims     Claims // the JWT's claims, once its signature verified

	Body      []byte // as received
	Plaintext []byte // decrypted; nil unless accepted
}

// Failure is an answer the server gives instead of processing a request.
type Failure struct {
	Status     int
	RetryAfter string // Retry-After value; "" sends none
	// Errno for the JSON body; 0 picks autopush's errno for Status.
	Errno int
}

// New starts a receiver over HTTP/2 and TLS on loopback and stops it when tb ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		tb:    tb,
		hosts: map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true},
		now:   time.Now,
		subs:  map[string]*subscription{},
	}
	for _, opt := range opts {
		opt(s)
	}
	var names []string
	for h := range s.hosts {
		if _, err := netip.ParseAddr(h); err != nil {
			names = append(names, h)
		}
	}
	now := time.Now()
	leaf, err := pki.SelfSigned(pki.LeafRequest{
		CommonName:  "uptest push service",
		DNSNames:    names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		Server:      true,
	})
	if err != nil {
		tb.Fatalf("uptest: certificate: %v", err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.EnableHTTP2 = true
	// RFC 8030 §8: push services use HTTP over TLS.
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate}, MinVersion: tls.VersionTLS12}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected in tests
	s.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.StartTLS()
	tb.Cleanup(s.srv.Close)

	s.pool = x509.NewCertPool()
	s.pool.AddCert(leaf.Cert)
	s.URL = s.srv.URL
	_, s.port, _ = net.SplitHostPort(s.srv.Listener.Addr().String())
	return s
}

// CertPool trusts the server's certificate (for outbound.WithRootCAs).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client is an HTTP/2 client that trusts the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Addr is the address the server listens on.
func (s *Server) Addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.srv.Listener.Addr().String())
}

// SubscribeOption configures one subscription.
type SubscribeOption func(*subscribeConfig)

type subscribeConfig struct {
	host       string
	restricted string
}

// OnHost makes the endpoint use host name (given to WithHosts) instead of 127.0.0.1.
func OnHost(name string) SubscribeOption { return func(c *subscribeConfig) { c.host = name } }

// RestrictedTo binds the subscription to an application server key, base64url (RFC 8292
// §4, the Push API's applicationServerKey): pushes signed with another key get 403.
func RestrictedTo(applicationServerKey string) SubscribeOption {
	return func(c *subscribeConfig) { c.restricted = applicationServerKey }
}

// Subscribe creates a subscription with a fresh P-256 key pair and auth secret.
func (s *Server) Subscribe(opts ...SubscribeOption) *Subscription {
	s.tb.Helper()
	c := subscribeConfig{host: "127.0.0.1"}
	for _, opt := range opts {
		opt(&c)
	}
	if !s.hosts[strings.ToLower(c.host)] {
		s.tb.Fatalf("uptest: host %q not given to WithHosts", c.host)
	}
	private, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.tb.Fatalf("uptest: subscription key: %v", err)
	}
	auth := make([]byte, 16) // RFC 8291 §3.2
	idBytes := make([]byte, 24)
	_, _ = rand.Read(auth)
	_, _ = rand.Read(idBytes)
	id := base64.RawURLEncoding.EncodeToString(idBytes)
	endpoint := "https://" + net.JoinHostPort(c.host, s.port) + "/wpush/v2/" + id

	token, err := json.Marshal(map[string]any{
		"endpoint":       endpoint,
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(private.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(auth),
		},
	})
	if err != nil {
		s.tb.Fatalf("uptest: token: %v", err)
	}
	s.mu.Lock()
	s.subs[id] = &subscription{private: private, auth: auth, restricted: c.restricted}
	s.mu.Unlock()
	return &Subscription{ID: id, Endpoint: endpoint, Token: string(token), PrivateKey: private, Auth: auth}
}

// Unsubscribe removes a subscription: pushes to it get 410 Gone from now on.
func (s *Server) Unsubscribe(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.subs[id]; ok {
		sub.gone = true
	}
}

// FailNext answers the next n requests with f, whatever they hold.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLeft, s.failure = n, f
}

// Connections is how many connections clients have opened so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Received returns every request so far, in arrival order.
func (s *Server) Received() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.received...)
}

// Delivered returns the accepted pushes so far, in arrival order.
func (s *Server) Delivered() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Push
	for _, p := range s.received {
		if p.Status == http.StatusCreated {
			out = append(out, p)
		}
	}
	return out
}

// errnoFor is autopush's errno for a status (autopush errors.md).
var errnoFor = map[int]int{
	http.StatusBadRequest:            110,
	http.StatusUnauthorized:          109,
	http.StatusForbidden:             109,
	http.StatusNotFound:              102,
	http.StatusGone:                  106,
	http.StatusRequestEntityTooLarge: 104,
	http.StatusTooManyRequests:       201,
	http.StatusInternalServerError:   999,
	http.StatusServiceUnavailable:    201,
}

// refusal is an error answer.
type refusal struct {
	status int
	errno  int
	reason string
}

func refuse(status, errno int, format string, args ...any) *refusal {
	return &refusal{status: status, errno: errno, reason: fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := Push{
		Proto:           r.Proto,
		Host:            r.Host,
		TTL:             r.Header.Get("TTL"),
		Urgency:         r.Header.Get("Urgency"),
		Topic:           r.Header.Get("Topic"),
		ContentEncoding: r.Header.Get("Content-Encoding"),
		ContentType:     r.Header.Get("Content-Type"),
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/wpush/v2/"); ok {
		p.Subscription = id
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		s.finish(w, &p, refuse(http.StatusBadRequest, 0, "read body: %v", err))
		return
	}
	p.Body = body

	s.mu.Lock()
	injected := s.failLeft > 0
	if injected {
		s.failLeft--
	}
	f := s.failure
	sub := s.subs[p.Subscription]
	s.mu.Unlock()
	if injected {
		errno := f.Errno
		if errno == 0 {
			errno = errnoFor[f.Status]
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		s.finish(w, &p, refuse(f.Status, errno, "injected failure"))
		return
	}
	s.finish(w, &p, s.check(r, &p, sub))
}

// check validates one push message request (RFC 8030 §5) and decrypts it.
func (s *Server) check(r *http.Request, p *Push, sub *subscription) *refusal {
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, 0, "method %s, want POST", r.Method)
	}
	host := strings.ToLower(hostOnly(r.Host))
	if !s.hosts[host] || sub == nil {
		return refuse(http.StatusNotFound, 102, "no such subscription")
	}
	if sub.gone {
		return refuse(http.StatusGone, 106, "subscription was removed")
	}

	a, err := parseAuthorization(r.Header.Get("Authorization"))
	if err == errNoAuth {
		return refuse(http.StatusUnauthorized, 109, "no vapid authorization")
	}
	if err != nil {
		return refuse(http.StatusForbidden, 109, "%v", err)
	}
	p.VAPIDToken, p.VAPIDKey = a.token, a.key
	claims, err := verifyToken(a, origin(r.Host), s.now())
	p.Claims = claims
	if err != nil {
		return refuse(http.StatusForbidden, 109, "%v", err)
	}
	if sub.restricted != "" && strings.TrimRight(a.key, "=") != strings.TrimRight(sub.restricted, "=") {
		return refuse(http.StatusForbidden, 109, "k is not the key the subscription is restricted to")
	}

	ttl, ok := r.Header["Ttl"]
	if !ok || len(ttl) == 0 {
		return refuse(http.StatusBadRequest, 111, "missing TTL header")
	}
	if !deltaSeconds(ttl[0]) || len(ttl) > 1 {
		return refuse(http.StatusBadRequest, 112, "TTL %q is not delta-seconds", ttl[0])
	}
	if u, ok := r.Header["Urgency"]; ok {
		if len(u) != 1 || !validUrgency(u[0]) {
			return refuse(http.StatusBadRequest, 0, "Urgency %q is not very-low, low, normal or high", p.Urgency)
		}
	}
	if t, ok := r.Header["Topic"]; ok {
		if len(t) != 1 || !validTopic(t[0]) {
			return refuse(http.StatusBadRequest, 113, "Topic is not 1 to 32 base64url characters")
		}
	}
	// RFC 8291 §4: exactly one Content-Encoding value, aes128gcm.
	if ce := r.Header.Values("Content-Encoding"); len(ce) != 1 || ce[0] != "aes128gcm" {
		return refuse(http.StatusBadRequest, 110, "Content-Encoding %q, want aes128gcm", strings.Join(ce, ", "))
	}
	if len(p.Body) > MaxBody {
		return refuse(http.StatusRequestEntityTooLarge, 104, "body of %d octets exceeds %d", len(p.Body), MaxBody)
	}
	plaintext, err := Decrypt(p.Body, sub.private, sub.auth)
	if err != nil {
		return refuse(http.StatusBadRequest, 110, "%v", err)
	}
	p.Plaintext = plaintext
	return nil
}

// finish records p and writes the answer.
func (s *Server) finish(w http.ResponseWriter, p *Push, ref *refusal) {
	s.mu.Lock()
	if ref == nil {
		p.Status = http.StatusCreated
		s.messages++
		// RFC 8030 §5: 201 with the push message resource in Location.
		w.Header().Set("Location", "/m/"+strconv.Itoa(s.messages))
	} else {
		p.Status, p.Reason = ref.status, ref.reason
	}
	s.received = append(s.received, *p)
	s.mu.Unlock()

	if ref == nil {
		w.WriteHeader(http.StatusCreated)
		return
	}
	body := map[string]any{"code": ref.status, "error": http.StatusText(ref.status), "message": ref.reason}
	if ref.errno != 0 {
		body["errno"] = ref.errno
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ref.status)
	_ = json.NewEncoder(w).Encode(body)
}

// origin is this push service's origin as the request addressed it: what a VAPID aud
// must name (RFC 8292 §2).
func origin(host string) string {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, ""
	}
	h = strings.ToLower(h)
	if port == "" || port == "443" {
		if strings.Contains(h, ":") {
			return "https://[" + h + "]"
		}
		return "https://" + h
	}
	return "https://" + net.JoinHostPort(h, port)
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

// deltaSeconds reports whether v is RFC 9110 §1.2.2 delta-seconds: one or more digits.
func deltaSeconds(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// validUrgency: RFC 8030 §5.3's four levels.
func validUrgency(v string) bool {
	switch v {
	case "very-low", "low", "normal", "high":
		return true
	}
	return false
}

// validTopic: RFC 8030 §5.4, at most 32 characters of the base64url alphabet.
func validTopic(v string) bool {
	if v == "" || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
