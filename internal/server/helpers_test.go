package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/pki"
)

// testPKI is a server CA (trusted by test clients) and a client CA (trusted by listeners
// in verify mode), plus the client certificates of the client-auth matrix.
type testPKI struct {
	serverCA, clientCA, otherCA *pki.CA
	clients                     map[string]*tls.Certificate // by matrix case; "none" is nil
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	now := time.Now()
	mk := func(name string) *pki.CA {
		ca, err := pki.NewCA(name, now.Add(-time.Hour), now.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	p := &testPKI{serverCA: mk("server CA"), clientCA: mk("client CA"), otherCA: mk("other CA"), clients: map[string]*tls.Certificate{}}
	client := func(issue func(pki.LeafRequest) (*pki.Leaf, error), from, to time.Time) *tls.Certificate {
		leaf, err := issue(pki.LeafRequest{CommonName: "client", NotBefore: from, NotAfter: to, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		return &leaf.TLSCertificate
	}
	p.clients["none"] = nil
	p.clients["self-signed"] = client(pki.SelfSigned, now.Add(-time.Hour), now.Add(time.Hour))
	p.clients["wrong CA"] = client(p.otherCA.Issue, now.Add(-time.Hour), now.Add(time.Hour))
	p.clients["right CA"] = client(p.clientCA.Issue, now.Add(-time.Hour), now.Add(time.Hour))
	p.clients["expired"] = client(p.clientCA.Issue, now.Add(-2*time.Hour), now.Add(-time.Hour))
	return p
}

// serverLeaf issues a loopback server certificate and writes it to dir/name(-key).pem.
func (p *testPKI) writeServerCert(t *testing.T, dir, name string) (certFile, keyFile string, serial string) {
	t.Helper()
	leaf, err := p.serverCA.Issue(pki.LeafRequest{
		CommonName: name, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), Server: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := pki.WriteFileAtomic(keyFile, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFileAtomic(certFile, leaf.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// Make the change visible to a stat-based check even within one mtime tick.
	later := time.Now().Add(time.Duration(certsWritten.Add(1)) * time.Second)
	_ = os.Chtimes(certFile, later, later)
	_ = os.Chtimes(keyFile, later, later)
	return certFile, keyFile, leaf.Cert.SerialNumber.String()
}

// certsWritten only spreads file times apart; parallel tests write certificates too.
var certsWritten atomic.Int64

// testConfig is a valid configuration with every listener on a loopback port of its own,
// TLS from files under dir, the given client-auth mode and the client CA.
func (p *testPKI) testConfig(t *testing.T, mode string) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default(false)
	cfg.DataDir = dir
	cfg.ShutdownTimeout = 10 * time.Second
	kek, err := keys.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys.EncryptionKey = kek
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, p.clientCA.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, ep := range config.Endpoints {
		l := cfg.Listener(ep)
		l.Addr = "127.0.0.1:0"
		l.TLSCertificateFile, l.TLSKeyFile, _ = p.writeServerCert(t, dir, strings.ToLower(string(ep)))
		l.TLSClientAuth = mode
		if mode == "optional" || mode == "verify" {
			l.TLSClientCAFile = caFile
		}
	}
	return cfg
}

func startServer(t *testing.T, cfg config.Config, opts ...Option) *Server {
	t.Helper()
	s, err := New(cfg, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// client builds an HTTPS client trusting roots, limited to TLS version max (0 = any),
// presenting cert when not nil. It sends cert whatever CAs the server lists, so a
// certificate from the wrong CA is really sent and refused by the server rather than
// withheld by the client.
func client(roots *x509.CertPool, maxVersion uint16, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: roots, MaxVersion: maxVersion}
	if cert != nil {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, DisableKeepAlives: true},
	}
}

func pool(ca *pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// get performs a whole request: in TLS 1.3 a refused client certificate only shows once
// the client reads the server's answer.
func get(c *http.Client, url string) (*http.Response, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, err
}
