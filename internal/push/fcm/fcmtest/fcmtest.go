// Package fcmtest runs a fake Firebase Cloud Messaging service for tests: Google's OAuth2
// token endpoint for service accounts (RFC 7523 JWT bearer grant) and the FCM HTTP v1
// send endpoint, each an HTTP/2 server over TLS on loopback. Both check what the real
// services check and answer with their documented errors, so a sender that works
// against the fake speaks the real protocol.
//
// Start one with New, hand a sender [Server.ServiceAccount] (a fresh key whose token_uri
// points at the fake), [Server.URL] as its base URL and [Server.CertPool] as its trust
// roots, then read what arrived with [Server.Requests] and script failures with
// [Server.FailNext], [Server.Unregister], [Server.FailNextTokens] and the latency knobs.
//
// Time: access-token expiry follows the clock given with WithClock, so a test can expire
// tokens without waiting. JWT assertions are checked against the wall clock, because
// golang.org/x/oauth2/google (x/oauth2/jwt underneath) stamps their iat and exp with
// time.Now.
package fcmtest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Scopes a service account may ask for that let its access token send messages
// (FCM HTTP v1 "Authorize send requests": firebase.messaging, or the broader
// cloud-platform).
const (
	Scope              = "https://www.googleapis.com/auth/firebase.messaging"
	CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
)

// DefaultProjectID is the project a Server serves unless WithProjectID says otherwise.
const DefaultProjectID = "signet-fcmtest"

// DefaultTokenLifetime is the expires_in of issued access tokens, as Google issues them.
const DefaultTokenLifetime = time.Hour

// maxRecorded caps how many requests a Server keeps for Requests, so a benchmark's
// millions of sends do not pile up; the older half is dropped when it is reached.
const maxRecorded = 10000

// Server is a running fake FCM service. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base of the FCM HTTP v1 API (for fcm.Config.BaseURL), without a
	// trailing slash: sends go to URL + "/v1/projects/{ProjectID}/messages:send".
	URL string
	// TokenURL is the OAuth2 token endpoint, the token_uri of ServiceAccount.
	TokenURL string
	// ProjectID is the Firebase project the fake serves.
	ProjectID string

	fcm, oauth *httptest.Server
	pool       *x509.CertPool
	now        func() time.Time
	done       chan struct{} // closed at cleanup, ends latency waits
	conns      atomic.Int64  // TLS connections accepted by the FCM endpoint

	mu            sync.Mutex
	accounts      map[string]*account    // by client_email
	tokens        map[string]accessToken // by access token
	lifetime      time.Duration
	issued        int
	tokenFailures []tokenFailure
	tokenLatency  time.Duration
	unregistered  map[string]bool
	failures      []Failure
	latency       time.Duration
	requests      []Request
	sends         int // requests to messages:send, all answers
	nextID        int
}

// Option configures a Server.
type Option func(*Server)

// WithProjectID sets the Firebase project the fake serves (default DefaultProjectID).
func WithProjectID(id string) Option { return func(s *Server) { s.ProjectID = id } }

// WithClock sets the clock that access tokens expire by (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenLifetime sets the lifetime (expires_in) of access tokens issued from now on
// (default DefaultTokenLifetime).
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// New starts the fake token endpoint and FCM endpoint; both stop when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		ProjectID:    DefaultProjectID,
		now:          time.Now,
		done:         make(chan struct{}),
		accounts:     map[string]*account{},
		tokens:       map[string]accessToken{},
		lifetime:     DefaultTokenLifetime,
		unregistered: map[string]bool{},
	}
	for _, opt := range opts {
		opt(s)
	}

	s.oauth = httptest.NewUnstartedServer(http.HandlerFunc(s.serveToken))
	s.oauth.EnableHTTP2 = true
	s.oauth.StartTLS()
	s.TokenURL = s.oauth.URL + "/token"

	s.fcm = httptest.NewUnstartedServer(http.HandlerFunc(s.serveFCM))
	s.fcm.EnableHTTP2 = true
	s.fcm.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.fcm.StartTLS()
	s.URL = s.fcm.URL

	s.pool = x509.NewCertPool()
	s.pool.AddCert(s.oauth.Certificate())
	s.pool.AddCert(s.fcm.Certificate())

	t.Cleanup(func() {
		close(s.done)
		s.fcm.Close()
		s.oauth.Close()
	})
	return s
}

// CertPool returns a pool that trusts both endpoints' certificates.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Client returns an HTTP client that trusts both endpoints and speaks HTTP/2 to them.
func (s *Server) Client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   tlsConfig(s.pool),
			ForceAttemptHTTP2: true,
		},
		Timeout: 10 * time.Second,
	}
}

// Connections reports how many TLS connections the FCM endpoint has accepted.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// TokensIssued reports how many access tokens the token endpoint has issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// SetTokenLifetime sets the lifetime (expires_in) of access tokens issued from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// RevokeAccessTokens makes every access token issued so far invalid, as when Google
// revokes them early: the FCM endpoint answers 401 UNAUTHENTICATED to them.
func (s *Server) RevokeAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// FailNextTokens makes the token endpoint answer the next n token requests with status
// and the OAuth2 error code oauthError (RFC 6749 §5.2), for example 503 and
// "temporarily_unavailable", or 400 and "invalid_grant". A Retry-After header is sent
// with retryAfter when it is not empty.
func (s *Server) FailNextTokens(n, status int, oauthError, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.tokenFailures = append(s.tokenFailures, tokenFailure{status, oauthError, retryAfter})
	}
}

// SetTokenLatency makes the token endpoint wait d before answering (or until the client
// gives up).
func (s *Server) SetTokenLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenLatency = d
}

// Unregister makes the FCM endpoint answer sends to these registration tokens with
// 404 UNREGISTERED, as for an app that was uninstalled.
func (s *Server) Unregister(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tok := range tokens {
		s.unregistered[tok] = true
	}
}

// FailNext makes the FCM endpoint answer the next n valid, authenticated sends with f.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// SetLatency makes the FCM endpoint wait d before answering (or until the client gives
// up).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns the requests the FCM endpoint received, oldest first. Only the most
// recent ones are kept: past 10,000, the older half is dropped.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Sends reports how many requests the FCM endpoint has answered, whatever the answer.
func (s *Server) Sends() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends
}

// Delivered returns the messages the FCM endpoint accepted (answered 200 and not
// validate_only), oldest first, out of the recorded requests.
func (s *Server) Delivered() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, r := range s.requests {
		if r.Status == http.StatusOK && !r.ValidateOnly {
			out = append(out, r.Message)
		}
	}
	return out
}

func tlsConfig(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// wait blocks for d, or until the request is abandoned or the server stops.
func (s *Server) wait(r *http.Request, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
	case <-s.done:
	}
}
