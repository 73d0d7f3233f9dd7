// Package tlsconf builds the TLS configuration of one listener: TLS 1.3 only, a client
// authentication mode, and certificates that are re-read when their files change.
//
// Every *tls.Config this package returns has MinVersion and MaxVersion set to TLS 1.3,
// also after a reload; a reload replaces the certificate, key and client CA, never the
// client-auth mode or the protocol version.
//
// Client authentication modes:
//
//   - none: no client certificate is requested (tls.NoClientCert).
//   - optional: a certificate is requested but not required. With a client CA it must
//     chain to that CA (tls.VerifyClientCertIfGiven); without one any certificate is
//     accepted (tls.RequestClientCert).
//   - require: a certificate is required but not verified against a CA
//     (tls.RequireAnyClientCert). The application maps its Fingerprint to a registered
//     client; connecting is separate from being allowed to call anything.
//   - verify: a certificate chaining to the client CA, valid for client authentication, is
//     required (tls.RequireAndVerifyClientCert).
//
// In every mode a client certificate whose validity period does not include the current
// time (Options.Now) is refused, including in the modes that otherwise accept unverified
// certificates.
//
// Reload: when certificate, key or client CA come from files, a handshake that starts
// more than Options.ReloadInterval after the last check stats those files (identity,
// modification time, size). When they changed, the new files are loaded; if loading fails
// (a half-written file, a key that does not match) the previous certificate keeps serving
// and a warning with the reason is logged. Source.Reload forces a reload, for example on
// SIGHUP.
package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ClientAuth is a listener's client certificate policy; see the package documentation.
type ClientAuth string

// Client authentication modes, as written in configuration.
const (
	None     ClientAuth = "none"
	Optional ClientAuth = "optional"
	Require  ClientAuth = "require"
	Verify   ClientAuth = "verify"
)

// DefaultReloadInterval is how often, at most, handshakes check the files for changes when
// Options.ReloadInterval is zero.
const DefaultReloadInterval = time.Second

// ParseClientAuth parses a configured mode, case-insensitively. The empty string is None.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch m := ClientAuth(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return None, nil
	case None, Optional, Require, Verify:
		return m, nil
	default:
		return "", fmt.Errorf("unknown TLS client auth mode %q (want none, optional, require or verify)", s)
	}
}

// Options configure a Source. Each of certificate, key and client CA is given either
// inline as PEM or as a file path, never both.
type Options struct {
	CertFile string
	KeyFile  string
	CertPEM  []byte
	KeyPEM   []byte

	// ClientAuth is the client certificate mode; empty means None.
	ClientAuth ClientAuth
	// ClientCAFile or ClientCAPEM hold the CA certificates client certificates must chain
	// to. Required for Verify, optional for Optional, refused for None and Require (where
	// it would not be checked).
	ClientCAFile string
	ClientCAPEM  []byte

	// ReloadInterval bounds how often handshakes check the files for changes. Zero means
	// DefaultReloadInterval; a tiny positive value (time.Nanosecond) checks on every
	// handshake; a negative value turns automatic checks off (Reload still works).
	ReloadInterval time.Duration
	// NextProtos are the ALPN protocols offered; default "h2", "http/1.1".
	NextProtos []string
	// Logger receives reload warnings; nil discards them.
	Logger *slog.Logger
	// Now is the clock used to check certificate validity; nil means time.Now.
	Now func() time.Time
}

// Source holds a listener's current TLS material and hands out per-handshake configs.
// It is safe for concurrent use.
type Source struct {
	opts       Options
	clientAuth tls.ClientAuthType
	nextProtos []string
	logger     *slog.Logger
	now        func() time.Time
	interval   time.Duration

	current atomic.Pointer[state]

	// Reload checks: start anchors a monotonic clock; lastCheck is nanoseconds since it.
	start     time.Time
	lastCheck atomic.Int64

	mu   sync.Mutex // serializes loads
	seen stamps     // file stamps of the last load attempt, guarded by mu
}

// state is one immutable generation of TLS material.
type state struct {
	config *tls.Config
	leaf   *x509.Certificate
}

// New loads and validates the certificate, key and client CA.
func New(opts Options) (*Source, error) {
	if err := checkExclusive("TLS certificate", opts.CertFile, opts.CertPEM); err != nil {
		return nil, err
	}
	if err := checkExclusive("TLS key", opts.KeyFile, opts.KeyPEM); err != nil {
		return nil, err
	}
	if opts.ClientCAFile != "" && len(opts.ClientCAPEM) > 0 {
		return nil, errors.New("TLS client CA given both inline and as a file; give one")
	}
	mode, err := ParseClientAuth(string(opts.ClientAuth))
	if err != nil {
		return nil, err
	}
	hasCA := opts.ClientCAFile != "" || len(opts.ClientCAPEM) > 0
	s := &Source{
		opts:       opts,
		nextProtos: slices.Clone(opts.NextProtos),
		logger:     opts.Logger,
		now:        opts.Now,
		interval:   opts.ReloadInterval,
		start:      time.Now(),
	}
	switch {
	case mode == None:
		s.clientAuth = tls.NoClientCert
	case mode == Optional && hasCA:
		s.clientAuth = tls.VerifyClientCertIfGiven
	case mode == Optional:
		s.clientAuth = tls.RequestClientCert
	case mode == Require:
		s.clientAuth = tls.RequireAnyClientCert
	case mode == Verify:
		s.clientAuth = tls.RequireAndVerifyClientCert
	}
	switch {
	case mode == Verify && !hasCA:
		return nil, errors.New("TLS client auth verify needs a client CA")
	case (mode == None || mode == Require) && hasCA:
		return nil, fmt.Errorf("TLS client CA given but client auth is %s, which does not check it; use verify or optional", mode)
	}
	if len(s.nextProtos) == 0 {
		s.nextProtos = []string{"h2", "http/1.1"}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.interval == 0 {
		s.interval = DefaultReloadInterval
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the config to give to http.Server (or tls.NewListener). Its
// GetConfigForClient hands each handshake the current certificate, reloading it first
// when the files changed.
func (s *Source) Config() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		NextProtos:         slices.Clone(s.nextProtos),
		GetConfigForClient: s.configForClient,
	}
}

// Certificate returns the leaf certificate currently served, for example to report its
// expiry.
func (s *Source) Certificate() *x509.Certificate {
	return s.current.Load().leaf
}

// Reload re-reads certificate, key and client CA now. On error the previous material
// keeps serving and the error is returned (not logged).
func (s *Source) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadLocked(s.stat())
}

func (s *Source) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	s.maybeReload()
	return s.current.Load().config, nil
}

// maybeReload stats the files when the interval has passed and loads them if they
// changed. Only one handshake per interval does the check; the others go on unblocked.
func (s *Source) maybeReload() {
	if s.interval < 0 || !s.hasFiles() {
		return
	}
	now := int64(time.Since(s.start))
	last := s.lastCheck.Load()
	if now-last < int64(s.interval) || !s.lastCheck.CompareAndSwap(last, now) {
		return
	}
	st := s.stat()
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.equal(s.seen) {
		return
	}
	if err := s.loadLocked(st); err != nil {
		s.logger.Warn("TLS reload failed; still serving the previous certificate",
			"cert_file", s.opts.CertFile, "key_file", s.opts.KeyFile,
			"client_ca_file", s.opts.ClientCAFile, "error", err)
		return
	}
	s.logger.Info("TLS certificate reloaded", "cert_file", s.opts.CertFile,
		"serial", s.current.Load().leaf.SerialNumber.Text(16))
}

func (s *Source) hasFiles() bool {
	return s.opts.CertFile != "" || s.opts.KeyFile != "" || s.opts.ClientCAFile != ""
}

// loadLocked reads everything and, if it is all valid, makes it current. st are the file
// stamps taken before reading, so a change during the read is seen by the next check.
func (s *Source) loadLocked(st stamps) error {
	s.seen = st
	certPEM, err := readOrInline("TLS certificate", s.opts.CertFile, s.opts.CertPEM)
	if err != nil {
		return err
	}
	keyPEM, err := readOrInline("TLS key", s.opts.KeyFile, s.opts.KeyPEM)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The tls errors name the problem (no PEM data, key mismatch) and carry no key material.
		return fmt.Errorf("TLS certificate %s and key %s: %w",
			describe(s.opts.CertFile), describe(s.opts.KeyFile), err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("TLS certificate %s: %w", describe(s.opts.CertFile), err)
		}
	}
	var clientCAs *x509.CertPool
	if s.opts.ClientCAFile != "" || len(s.opts.ClientCAPEM) > 0 {
		caPEM, err := readOrInline("TLS client CA", s.opts.ClientCAFile, s.opts.ClientCAPEM)
		if err != nil {
			return err
		}
		if clientCAs, err = parseCAs(caPEM); err != nil {
			return fmt.Errorf("TLS client CA %s: %w", describe(s.opts.ClientCAFile), err)
		}
	}
	s.current.Store(&state{
		config: &tls.Config{
			MinVersion:       tls.VersionTLS13,
			MaxVersion:       tls.VersionTLS13,
			Certificates:     []tls.Certificate{pair},
			NextProtos:       slices.Clone(s.nextProtos),
			ClientAuth:       s.clientAuth,
			ClientCAs:        clientCAs,
			Time:             s.now,
			VerifyConnection: s.verifyConnection,
		},
		leaf: leaf,
	})
	return nil
}

// verifyConnection refuses a client certificate outside its validity period. The chain
// is already verified by crypto/tls in the modes that verify; this covers those that do
// not. Unlike VerifyPeerCertificate it also runs on resumed sessions.
func (s *Source) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf, now := cs.PeerCertificates[0], s.now()
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("tls: client certificate not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("tls: client certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// Fingerprint is the lowercase hex SHA-256 of a certificate's DER encoding, the key by
// which a client certificate maps to a registered API client.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

func checkExclusive(what, file string, inline []byte) error {
	switch {
	case file != "" && len(inline) > 0:
		return fmt.Errorf("%s given both inline and as a file; give one", what)
	case file == "" && len(inline) == 0:
		return fmt.Errorf("no %s given", what)
	}
	return nil
}

func readOrInline(what, file string, inline []byte) ([]byte, error) {
	if file == "" {
		return inline, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return data, nil
}

// describe names a PEM source in errors without its content.
func describe(file string) string {
	if file == "" {
		return "(inline)"
	}
	return file
}

// parseCAs parses every CERTIFICATE block; unlike CertPool.AppendCertsFromPEM it fails on
// a bad block instead of skipping it.
func parseCAs(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificates found")
	}
	return pool, nil
}

// stamps identify the contents of the watched files without reading them.
type stamps [3]stamp

type stamp struct {
	info os.FileInfo // nil when not a file source or when stat failed
	err  string
}

func (s *Source) stat() stamps {
	var st stamps
	for i, f := range []string{s.opts.CertFile, s.opts.KeyFile, s.opts.ClientCAFile} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			st[i].err = err.Error()
			continue
		}
		st[i].info = fi
	}
	return st
}

func (a stamps) equal(b stamps) bool {
	for i := range a {
		x, y := a[i], b[i]
		if x.err != y.err || (x.info == nil) != (y.info == nil) {
			return false
		}
		if x.info == nil {
			continue
		}
		// A rename over the file changes its identity even if time and size match.
		if !os.SameFile(x.info, y.info) || !x.info.ModTime().Equal(y.info.ModTime()) || x.info.Size() != y.info.Size() {
			return false
		}
	}
	return true
}
