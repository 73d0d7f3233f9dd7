// Package apnstest runs a fake Apple Push Notification service for tests: HTTP/2 over
// TLS on loopback, checking provider tokens, headers and payloads the way APNs does and
// answering with Apple's status codes and {"reason": ...} bodies.
//
// The fake follows "Sending notification requests to APNs", "Establishing a token-based
// connection to APNs" and "Handling notification responses from APNs". Where Apple
// accepts a notification it would not deliver (a background push with an alert, an
// alert push without one) the fake is stricter and answers 400 BadPayload, so a test
// catches the mistake; Apple documents no reason for a payload that is not JSON, and
// the fake uses BadPayload for that too.
package apnstest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults for the zero Config.
const (
	DefaultTeamID = "SIGNETTEAM"
	DefaultKeyID  = "SIGNETKEY1"
	DefaultTopic  = "com.example.signet"
)

// Limits APNs enforces.
const (
	MaxPayload    = 4096
	MaxCollapseID = 64
	// TokenMaxAge is the age past which APNs answers ExpiredProviderToken.
	TokenMaxAge = time.Hour
	// clockSkew is how far in the future an iat may be before the token is refused.
	clockSkew = time.Minute
)

// Config sets up a Server. Zero fields take the defaults above.
type Config struct {
	TeamID string
	KeyID  string
	Topic  string
	// PublicKey verifies provider tokens. Nil generates a key pair; Server.KeyPEM then
	// holds the private key as a .p8 file.
	PublicKey *ecdsa.PublicKey
	// Clock ages provider tokens (time.Now when nil).
	Clock func() time.Time
	// CountOnly keeps no request (Requests and Notifications stay empty) and only counts
	// them (Answered): for load, where keeping each would grow without bound.
	CountOnly bool
}

// Failure is an answer the server gives instead of processing a request.
type Failure struct {
	Status     int
	Reason     string
	RetryAfter string // the Retry-After header, when not empty
	// Reset, when true, answers nothing and resets the stream (HTTP/2 RST_STREAM) while
	// the connection stays up, as a server failing one request does. Such a request is
	// not recorded.
	Reset bool
}

// Request is one HTTP/2 request the server answered, with its answer.
type Request struct {
	Token   string      // the device token from the path
	Header  http.Header // as received, authorization included
	Payload []byte
	Status  int
	Reason  string
}

// Server is a running fake APNs. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. https://127.0.0.1:41234 (use as apns.Config.BaseURL).
	URL    string
	TeamID string
	KeyID  string
	Topic  string
	// KeyPEM is the generated signing key (PKCS#8 PEM), nil when Config.PublicKey was set.
	KeyPEM []byte

	srv   *httptest.Server
	pub   *ecdsa.PublicKey
	clock func() time.Time

	mu           sync.Mutex
	failures     []Failure
	unregistered map[string]time.Time
	requests     []Request
	tokens       map[string]time.Time // verified provider tokens and their iat
	conns        int
	stall        chan struct{} // while non-nil, requests wait for it to close
	countOnly    bool
	answered     int64
}

// NewServer starts a fake APNs that tb closes at its end.
func NewServer(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a fake APNs outside a test (the bench tool's); Close stops it.
func Start(cfg Config) (*Server, error) {
	s := &Server{
		TeamID:       cmp(cfg.TeamID, DefaultTeamID),
		KeyID:        cmp(cfg.KeyID, DefaultKeyID),
		Topic:        cmp(cfg.Topic, DefaultTopic),
		pub:          cfg.PublicKey,
		clock:        cfg.Clock,
		unregistered: map[string]time.Time{},
		tokens:       map[string]time.Time{},
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.pub == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("apnstest: generate key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("apnstest: marshal key: %w", err)
		}
		s.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		s.pub = &key.PublicKey
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	// Apple: HTTP/2 and TLS 1.2 or later. httptest then offers only "h2" in ALPN.
	// A client that offers ALPN protocols without "h2" or "http/1.1" fails the
	// handshake; HTTP/1.1 clients reach serveHTTP, which refuses them.
	s.srv.EnableHTTP2 = true
	s.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	s.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	s.countOnly = cfg.CountOnly
	return s, nil
}

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Close stops the server (NewServer registers it with tb.Cleanup too).
func (s *Server) Close() {
	s.mu.Lock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
	s.mu.Unlock()
	s.srv.Close()
}

// DropConnections closes every client connection, as when APNs goes away.
func (s *Server) DropConnections() { s.srv.CloseClientConnections() }

// CertPool trusts the server's certificate (for apns.WithRootCAs).
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.srv.Certificate())
	return pool
}

// Certificate is the server's certificate; it names 127.0.0.1, ::1 and example.com.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// FailNext answers the next n requests that carry a valid provider token with f.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// Unregister makes the device token answer 410 Unregistered, as for an app removed at
// the given time.
func (s *Server) Unregister(token string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unregistered[strings.ToLower(token)] = at
}

// Stall holds every request from now on until release is called (or the client gives
// up), to play a slow APNs.
func (s *Server) Stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.stall = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall == ch {
				s.stall = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Requests returns every HTTP/2 request answered so far, refused ones included, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Notifications returns the accepted notifications (status 200), in order.
func (s *Server) Notifications() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Status == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// ProviderTokens counts the distinct provider tokens whose signature verified.
func (s *Server) ProviderTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}

// Connections counts the connections clients opened.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// apnsError is one refusal. Status and reasons: "Handling notification responses from
// APNs", Understand error codes.
type apnsError struct {
	status         int
	reason         string
	retryAfter     string
	unregisteredAt time.Time // for 410
}

func refuse(status int, reason string) *apnsError { return &apnsError{status: status, reason: reason} }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Apple echoes the request's apns-id, or makes one up.
	id := r.Header.Get("apns-id")
	if !isUUID(id) {
		id = newUUID()
	}
	w.Header().Set("apns-id", id)

	if r.ProtoMajor != 2 {
		// APNs speaks HTTP/2 only. The server offers only "h2" in ALPN, but Go's TLS
		// lets a client that offered "http/1.1" (or nothing) through; it ends here.
		w.Header().Set("Connection", "close")
		http.Error(w, "HTTP/2 required", http.StatusHTTPVersionNotSupported)
		return
	}
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	rec := Request{Token: strings.TrimPrefix(r.URL.Path, "/3/device/"), Header: r.Header.Clone(), Payload: body}
	e := s.process(r, rec.Token, body, readErr)
	switch e {
	case errGaveUp:
		return
	case errReset:
		// net/http resets the stream of a handler that panics with ErrAbortHandler.
		panic(http.ErrAbortHandler)
	}
	if e == nil {
		rec.Status = http.StatusOK
		w.WriteHeader(http.StatusOK)
	} else {
		rec.Status, rec.Reason = e.status, e.reason
		s.answer(w, e)
	}
	s.mu.Lock()
	s.answered++
	if !s.countOnly {
		s.requests = append(s.requests, rec)
	}
	s.mu.Unlock()
}

// Answered counts the requests answered so far, kept or not.
func (s *Server) Answered() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered
}

// errGaveUp means the client went away while the server stalled; errReset that the
// stream is to be reset (Failure.Reset).
var (
	errGaveUp = &apnsError{}
	errReset  = &apnsError{}
)

// process decides the answer to one request: nil for 200.
func (s *Server) process(r *http.Request, token string, body []byte, readErr error) *apnsError {
	if e := s.checkRequest(r); e != nil {
		return e
	}
	if e := s.checkProviderToken(r.Header); e != nil {
		return e
	}

	s.mu.Lock()
	stall := s.stall
	var fail *Failure
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		fail = &f
	}
	s.mu.Unlock()

	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return errGaveUp
		}
	}
	switch {
	case fail != nil && fail.Reset:
		return errReset
	case fail != nil:
		return &apnsError{status: fail.Status, reason: fail.Reason, retryAfter: fail.RetryAfter}
	case readErr != nil:
		return refuse(http.StatusBadRequest, "BadPayload")
	}
	return s.checkNotification(token, r.Header, body)
}

// answer writes Apple's error body: {"reason": ...}, plus "timestamp" (milliseconds
// since the epoch) when the token was unregistered.
func (s *Server) answer(w http.ResponseWriter, e *apnsError) {
	body := map[string]any{"reason": e.reason}
	if e.status == http.StatusGone {
		at := e.unregisteredAt
		if at.IsZero() { // a 410 from FailNext
			at = s.clock()
		}
		body["timestamp"] = at.UnixMilli()
	}
	if e.retryAfter != "" {
		w.Header().Set("Retry-After", e.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

// checkRequest checks method, path and duplicated headers.
func (s *Server) checkRequest(r *http.Request) *apnsError {
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	switch {
	case !ok:
		return refuse(http.StatusNotFound, "BadPath")
	case token == "":
		return refuse(http.StatusBadRequest, "MissingDeviceToken")
	}
	for name, values := range r.Header {
		if len(values) > 1 && (strings.HasPrefix(strings.ToLower(name), "apns-") || strings.EqualFold(name, "authorization")) {
			return refuse(http.StatusBadRequest, "DuplicateHeaders")
		}
	}
	return nil
}

// checkProviderToken verifies "authorization: bearer <jwt>" ("Establishing a
// token-based connection to APNs"): ES256 signed by the registered key, kid the key id,
// iss the team id, iat neither older than an hour nor in the future. A token whose
// signature verified is remembered (and counted) and not verified again.
func (s *Server) checkProviderToken(h http.Header) *apnsError {
	auth := h.Get("authorization")
	if auth == "" {
		return refuse(http.StatusForbidden, "MissingProviderToken")
	}
	scheme, jwt, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return refuse(http.StatusForbidden, "InvalidProviderToken")
	}
	s.mu.Lock()
	issued, known := s.tokens[jwt]
	s.mu.Unlock()
	if !known {
		var e *apnsError
		if issued, e = s.verifyProviderToken(jwt); e != nil {
			return e
		}
		s.mu.Lock()
		s.tokens[jwt] = issued
		s.mu.Unlock()
	}
	now := s.clock()
	switch {
	case issued.After(now.Add(clockSkew)):
		return refuse(http.StatusForbidden, "InvalidProviderToken")
	case now.Sub(issued) > TokenMaxAge:
		return refuse(http.StatusForbidden, "ExpiredProviderToken")
	}
	return nil
}

// verifyProviderToken checks the JWT's form, header, issuer and signature, and returns
// its iat.
func (s *Server) verifyProviderToken(jwt string) (time.Time, *apnsError) {
	invalid := refuse(http.StatusForbidden, "InvalidProviderToken")
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, invalid
	}
	enc := base64.RawURLEncoding
	headerJSON, err1 := enc.DecodeString(parts[0])
	claimsJSON, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || len(sig) != 64 {
		return time.Time{}, invalid
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Iat json.RawMessage `json:"iat"`
	}
	if json.Unmarshal(headerJSON, &header) != nil || json.Unmarshal(claimsJSON, &claims) != nil {
		return time.Time{}, invalid
	}
	// APNs supports ES256 only; other algorithms, "none" included, are refused.
	if header.Alg != "ES256" || header.Kid != s.KeyID || claims.Iss != s.TeamID {
		return time.Time{}, invalid
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r := new(big.Int).SetBytes(sig[:32])
	sv := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(s.pub, digest[:], r, sv) {
		return time.Time{}, invalid
	}
	iat, err := strconv.ParseInt(string(claims.Iat), 10, 64)
	if err != nil {
		return time.Time{}, invalid
	}
	return time.Unix(iat, 0), nil
}

var pushTypes = map[string]bool{
	"alert": true, "background": true, "location": true, "voip": true, "complication": true,
	"fileprovider": true, "mdm": true, "liveactivity": true, "pushtotalk": true,
	"widgets": true, "controls": true,
}

// checkNotification checks headers, device token and payload ("Sending notification
// requests to APNs").
func (s *Server) checkNotification(token string, h http.Header, body []byte) *apnsError {
	topic := h.Get("apns-topic")
	switch {
	case topic == "":
		return refuse(http.StatusBadRequest, "MissingTopic")
	case topic != s.Topic:
		return refuse(http.StatusBadRequest, "BadTopic")
	}
	pushType := h.Get("apns-push-type")
	if !pushTypes[pushType] {
		return refuse(http.StatusBadRequest, "InvalidPushType")
	}
	// Apple: priority 10 (immediate), 5 (power-aware) or 1; absent means 10.
	// Background pushes must be 5.
	priority := h.Get("apns-priority")
	if priority == "" {
		priority = "10"
	}
	if priority != "10" && priority != "5" && priority != "1" || pushType == "background" && priority != "5" {
		return refuse(http.StatusBadRequest, "BadPriority")
	}
	if exp := h.Get("apns-expiration"); exp != "" {
		if _, err := strconv.ParseUint(exp, 10, 63); err != nil {
			return refuse(http.StatusBadRequest, "BadExpirationDate")
		}
	}
	if len(h.Get("apns-collapse-id")) > MaxCollapseID {
		return refuse(http.StatusBadRequest, "BadCollapseId")
	}
	if id := h.Get("apns-id"); id != "" && !isUUID(id) {
		return refuse(http.StatusBadRequest, "BadMessageId")
	}
	if _, err := hex.DecodeString(token); err != nil {
		return refuse(http.StatusBadRequest, "BadDeviceToken")
	}
	switch {
	case len(body) == 0:
		return refuse(http.StatusBadRequest, "PayloadEmpty")
	case len(body) > MaxPayload:
		return refuse(http.StatusRequestEntityTooLarge, "PayloadTooLarge")
	}
	if !payloadFits(pushType, body) {
		return refuse(http.StatusBadRequest, "BadPayload")
	}
	s.mu.Lock()
	at, gone := s.unregistered[strings.ToLower(token)]
	s.mu.Unlock()
	if gone {
		return &apnsError{status: http.StatusGone, reason: "Unregistered", unregisteredAt: at}
	}
	return nil
}

// payloadFits reports whether body is a JSON object with an "aps" dictionary that
// matches the push type: an alert for alert pushes, content-available 1 and nothing
// visible for background ones.
func payloadFits(pushType string, body []byte) bool {
	var p struct {
		APS *map[string]json.RawMessage `json:"aps"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&p) != nil || dec.More() || p.APS == nil || *p.APS == nil {
		return false
	}
	a := *p.APS
	switch pushType {
	case "alert":
		_, ok := a["alert"]
		return ok
	case "background":
		_, alert := a["alert"]
		_, sound := a["sound"]
		_, badge := a["badge"]
		return string(a["content-available"]) == "1" && !alert && !sound && !badge
	}
	return true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:])
}
