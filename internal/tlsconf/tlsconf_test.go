package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/testutil"
)

// fixture holds the certificates the tests share: a server CA with a server leaf for
// 127.0.0.1, a client CA, and client certificates of every kind the matrix needs.
type fixture struct {
	serverCA *pki.CA
	server   *pki.Leaf
	clientCA *pki.CA

	selfSigned *pki.Leaf
	otherCA    *pki.Leaf
	rightCA    *pki.Leaf
	expired    *pki.Leaf
	notYet     *pki.Leaf
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	now := time.Now()
	f := &fixture{}
	f.serverCA = newCA(t, "server CA")
	f.server = issueServer(t, f.serverCA)
	f.clientCA = newCA(t, "client CA")
	other := newCA(t, "other CA")
	valid := clientReq("client", now.Add(-time.Hour), now.Add(time.Hour))
	var err error
	if f.selfSigned, err = pki.SelfSigned(valid); err != nil {
		t.Fatal(err)
	}
	if f.otherCA, err = other.Issue(valid); err != nil {
		t.Fatal(err)
	}
	if f.rightCA, err = f.clientCA.Issue(valid); err != nil {
		t.Fatal(err)
	}
	if f.expired, err = f.clientCA.Issue(clientReq("expired", now.Add(-2*time.Hour), now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if f.notYet, err = f.clientCA.Issue(clientReq("not-yet", now.Add(time.Hour), now.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	return f
}

func newCA(t *testing.T, name string) *pki.CA {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA(name, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issueServer(t *testing.T, ca *pki.CA) *pki.Leaf {
	t.Helper()
	now := time.Now()
	leaf, err := ca.Issue(pki.LeafRequest{
		CommonName:  "127.0.0.1",
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		Server:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func clientReq(cn string, notBefore, notAfter time.Time) pki.LeafRequest {
	return pki.LeafRequest{CommonName: cn, NotBefore: notBefore, NotAfter: notAfter, Client: true}
}

// serve runs a real http.Server with src's config on a loopback listener until the test
// ends. The handler answers with the negotiated protocol and the peer certificate's
// fingerprint ("-" when there is none).
func serve(t *testing.T, src *Source) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer := "-"
			if len(r.TLS.PeerCertificates) > 0 {
				peer = Fingerprint(r.TLS.PeerCertificates[0])
			}
			fmt.Fprintf(w, "%s %s", r.Proto, peer)
		}),
		TLSConfig:         src.Config(),
		ReadHeaderTimeout: 5 * time.Second,
		// Refused handshakes are the point of several tests; keep them out of the output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close() // the listener error, if any, arrives on done
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return "https://" + ln.Addr().String() + "/"
}

type clientOpts struct {
	roots      *x509.CertPool
	cert       *tls.Certificate // always presented when set, whatever the server asks for
	maxVersion uint16
}

type result struct {
	proto    string // "HTTP/2.0"
	peer     string // fingerprint the handler saw, "-" for none
	serial   *big.Int
	version  uint16
	alpnUsed string
}

// get makes one request on a new connection (no session resumption) and returns what the
// server answered. TLS 1.3 refuses a client certificate only after the client's side of
// the handshake is done, so only a full request/response shows the outcome.
func get(t *testing.T, url string, o clientOpts) (result, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: o.roots, MaxVersion: o.maxVersion}
	if o.cert != nil {
		// The Go client would otherwise withhold a certificate whose issuer is not among
		// the CAs the server names; the server must be the one that refuses it.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return o.cert, nil
		}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return result{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	proto, peer, _ := strings.Cut(string(body), " ")
	return result{
		proto:    proto,
		peer:     peer,
		serial:   resp.TLS.PeerCertificates[0].SerialNumber,
		version:  resp.TLS.Version,
		alpnUsed: resp.TLS.NegotiatedProtocol,
	}, nil
}

func rootsOf(ca *pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func TestTLS13Only(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src, err := New(Options{CertPEM: f.server.CertPEM, KeyPEM: f.server.KeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, src)
	roots := rootsOf(f.serverCA)

	if _, err := get(t, url, clientOpts{roots: roots, maxVersion: tls.VersionTLS12}); err == nil {
		t.Error("TLS 1.2 client was served")
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.2 client refused with %v, want a protocol version alert", err)
	}

	res, err := get(t, url, clientOpts{roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if res.version != tls.VersionTLS13 || res.alpnUsed != "h2" || res.proto != "HTTP/2.0" {
		t.Errorf("negotiated version %x, ALPN %q, proto %q; want TLS 1.3 and h2", res.version, res.alpnUsed, res.proto)
	}

	cfg := src.Config()
	if cfg.MinVersion != tls.VersionTLS13 || cfg.MaxVersion != tls.VersionTLS13 {
		t.Error("Config() is not TLS 1.3 only")
	}
}

func TestClientAuthMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	clients := []struct {
		name string
		leaf *pki.Leaf
	}{
		{"no certificate", nil},
		{"self-signed", f.selfSigned},
		{"other CA", f.otherCA},
		{"right CA", f.rightCA},
		{"expired right CA", f.expired},
		{"not yet valid right CA", f.notYet},
	}
	modes := []struct {
		name   string
		mode   ClientAuth
		withCA bool
		// ok lists, in the order of clients, whether the request succeeds.
		ok []bool
	}{
		{"none", None, false, []bool{true, true, true, true, true, true}},
		{"optional without CA", Optional, false, []bool{true, true, true, true, false, false}},
		{"optional with CA", Optional, true, []bool{true, false, false, true, false, false}},
		{"require", Require, false, []bool{false, true, true, true, false, false}},
		{"verify", Verify, true, []bool{false, false, false, true, false, false}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{CertPEM: f.server.CertPEM, KeyPEM: f.server.KeyPEM, ClientAuth: m.mode}
			if m.withCA {
				opts.ClientCAPEM = f.clientCA.CertPEM
			}
			src, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			url := serve(t, src)
			for i, c := range clients {
				t.Run(c.name, func(t *testing.T) {
					o := clientOpts{roots: rootsOf(f.serverCA)}
					if c.leaf != nil {
						o.cert = &c.leaf.TLSCertificate
					}
					res, err := get(t, url, o)
					if (err == nil) != m.ok[i] {
						t.Fatalf("request error = %v, want success %v", err, m.ok[i])
					}
					if err != nil {
						return
					}
					want := "-"
					if m.mode != None && c.leaf != nil {
						want = Fingerprint(c.leaf.Cert)
					}
					if res.peer != want {
						t.Errorf("handler saw peer %q, want %q", res.peer, want)
					}
				})
			}
		})
	}
}

// files is a certificate, key and client CA on disk.
type files struct{ cert, key, ca string }

func writeFiles(t *testing.T, dir string, leaf *pki.Leaf, ca *pki.CA) files {
	t.Helper()
	fs := files{filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls-key.pem"), filepath.Join(dir, "client-ca.pem")}
	writeAtomic(t, fs.key, leaf.KeyPEM, 0o600)
	writeAtomic(t, fs.cert, leaf.CertPEM, 0o644)
	writeAtomic(t, fs.ca, ca.CertPEM, 0o644)
	return fs
}

// stepper hands out strictly increasing modification times, so a rewrite is always seen
// as a change even on a file system with coarse timestamps.
type stepper struct{ next time.Time }

func (s *stepper) touch(t *testing.T, paths ...string) {
	t.Helper()
	s.next = s.next.Add(time.Minute)
	for _, p := range paths {
		if err := os.Chtimes(p, s.next, s.next); err != nil {
			t.Fatal(err)
		}
	}
}

func writeAtomic(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := pki.WriteFileAtomic(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	certA, certB := f.server, issueServer(t, f.serverCA)
	fs := writeFiles(t, t.TempDir(), certA, f.clientCA)
	src, err := New(Options{
		CertFile: fs.cert, KeyFile: fs.key, ClientCAFile: fs.ca,
		ClientAuth:     Verify,
		ReloadInterval: time.Nanosecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, src)
	client := clientOpts{roots: rootsOf(f.serverCA), cert: &f.rightCA.TLSCertificate}
	servedSerial := func() *big.Int {
		res, err := get(t, url, client)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		return res.serial
	}
	if got := servedSerial(); got.Cmp(certA.Cert.SerialNumber) != 0 {
		t.Fatalf("serving serial %x, want certificate A", got)
	}

	clock := stepper{next: time.Now()}
	writeAtomic(t, fs.key, certB.KeyPEM, 0o600)
	writeAtomic(t, fs.cert, certB.CertPEM, 0o644)
	clock.touch(t, fs.key, fs.cert)
	testutil.Eventually(t, 10*time.Second, func() bool {
		return servedSerial().Cmp(certB.Cert.SerialNumber) == 0
	}, "new connections never saw certificate B")

	if src.Certificate().SerialNumber.Cmp(certB.Cert.SerialNumber) != 0 {
		t.Error("Certificate() does not report certificate B")
	}
	if _, err := get(t, url, clientOpts{roots: client.roots, cert: client.cert, maxVersion: tls.VersionTLS12}); err == nil {
		t.Error("TLS 1.2 client served after reload")
	}
	if _, err := get(t, url, clientOpts{roots: client.roots}); err == nil {
		t.Error("client without certificate served in verify mode after reload")
	}
	cfg, err := src.configForClient(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.MaxVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("reloaded config: versions %x-%x, client auth %v", cfg.MinVersion, cfg.MaxVersion, cfg.ClientAuth)
	}
}

func TestBrokenReplacementKeepsOldCertificate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	certA, certB := f.server, issueServer(t, f.serverCA)
	fs := writeFiles(t, t.TempDir(), certA, f.clientCA)
	logs := &testutil.SyncBuffer{}
	src, err := New(Options{
		CertFile: fs.cert, KeyFile: fs.key,
		ReloadInterval: time.Nanosecond,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, src)
	client := clientOpts{roots: rootsOf(f.serverCA)}
	servedSerial := func() *big.Int {
		res, err := get(t, url, client)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		return res.serial
	}

	// Certificate B with key A still on disk: the pair does not match.
	clock := stepper{next: time.Now()}
	writeAtomic(t, fs.cert, certB.CertPEM, 0o644)
	clock.touch(t, fs.cert)
	testutil.Eventually(t, 10*time.Second, func() bool {
		servedSerial()
		return strings.Contains(logs.String(), "TLS reload failed")
	}, "no warning about the mismatched pair")
	if got := servedSerial(); got.Cmp(certA.Cert.SerialNumber) != 0 {
		t.Errorf("serving serial %x after a broken replacement, want certificate A", got)
	}
	out := logs.String()
	if !strings.Contains(out, "does not match") {
		t.Errorf("warning does not give the reason: %s", out)
	}
	if strings.Contains(out, "-----BEGIN") || strings.Contains(out, string(certA.KeyPEM[40:80])) {
		t.Error("log contains key material")
	}
	if err := src.Reload(); err == nil {
		t.Error("forced Reload of a mismatched pair returned no error")
	}

	// The key arrives: B is served.
	writeAtomic(t, fs.key, certB.KeyPEM, 0o600)
	clock.touch(t, fs.key)
	testutil.Eventually(t, 10*time.Second, func() bool {
		return servedSerial().Cmp(certB.Cert.SerialNumber) == 0
	}, "certificate B not served once its key was written")
}

func TestForcedReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	certA, certB := f.server, issueServer(t, f.serverCA)
	fs := writeFiles(t, t.TempDir(), certA, f.clientCA)
	src, err := New(Options{CertFile: fs.cert, KeyFile: fs.key, ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, src)
	writeAtomic(t, fs.key, certB.KeyPEM, 0o600)
	writeAtomic(t, fs.cert, certB.CertPEM, 0o644)

	// Automatic checks are off: still A.
	res, err := get(t, url, clientOpts{roots: rootsOf(f.serverCA)})
	if err != nil {
		t.Fatal(err)
	}
	if res.serial.Cmp(certA.Cert.SerialNumber) != 0 {
		t.Fatal("certificate changed although automatic reload is off")
	}
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if res, err = get(t, url, clientOpts{roots: rootsOf(f.serverCA)}); err != nil {
		t.Fatal(err)
	}
	if res.serial.Cmp(certB.Cert.SerialNumber) != 0 {
		t.Error("Reload did not switch to certificate B")
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	fs := writeFiles(t, dir, f.server, f.clientCA)
	missing := filepath.Join(dir, "missing.pem")
	other := issueServer(t, f.serverCA)
	srv := f.server

	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"verify without CA", Options{CertPEM: srv.CertPEM, KeyPEM: srv.KeyPEM, ClientAuth: Verify}, "needs a client CA"},
		{"mismatched key inline", Options{CertPEM: srv.CertPEM, KeyPEM: other.KeyPEM}, "does not match"},
		{"mismatched key files", Options{CertFile: fs.cert, KeyPEM: other.KeyPEM}, "does not match"},
		{"missing certificate file", Options{CertFile: missing, KeyFile: fs.key}, "missing.pem"},
		{"missing key file", Options{CertFile: fs.cert, KeyFile: missing}, "missing.pem"},
		{"missing CA file", Options{CertFile: fs.cert, KeyFile: fs.key, ClientAuth: Verify, ClientCAFile: missing}, "missing.pem"},
		{"certificate inline and file", Options{CertFile: fs.cert, CertPEM: srv.CertPEM, KeyFile: fs.key}, "both inline and as a file"},
		{"key inline and file", Options{CertFile: fs.cert, KeyFile: fs.key, KeyPEM: srv.KeyPEM}, "both inline and as a file"},
		{"CA inline and file", Options{CertFile: fs.cert, KeyFile: fs.key, ClientAuth: Verify, ClientCAFile: fs.ca, ClientCAPEM: f.clientCA.CertPEM}, "both inline and as a file"},
		{"no certificate", Options{KeyFile: fs.key}, "no TLS certificate"},
		{"no key", Options{CertFile: fs.cert}, "no TLS key"},
		{"bad CA PEM", Options{CertFile: fs.cert, KeyFile: fs.key, ClientAuth: Verify, ClientCAPEM: []byte("not a certificate")}, "no PEM certificates"},
		{"CA with a key block", Options{CertFile: fs.cert, KeyFile: fs.key, ClientAuth: Optional, ClientCAPEM: srv.KeyPEM}, "unexpected PEM block"},
		{"CA with require", Options{CertFile: fs.cert, KeyFile: fs.key, ClientAuth: Require, ClientCAFile: fs.ca}, "does not check it"},
		{"unknown mode", Options{CertFile: fs.cert, KeyFile: fs.key, ClientAuth: "sometimes"}, "unknown TLS client auth mode"},
		{"garbage certificate", Options{CertPEM: []byte("garbage"), KeyPEM: srv.KeyPEM}, "(inline)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "-----BEGIN") {
				t.Errorf("error contains key material: %v", err)
			}
		})
	}
}

func TestParseClientAuth(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ClientAuth{
		"": None, "none": None, "optional": Optional, " Require ": Require, "VERIFY": Verify,
	} {
		got, err := ParseClientAuth(in)
		if err != nil || got != want {
			t.Errorf("ParseClientAuth(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseClientAuth("yes"); err == nil {
		t.Error(`ParseClientAuth("yes") succeeded`)
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got := Fingerprint(f.rightCA.Cert)
	if want := fmt.Sprintf("%x", sha256.Sum256(f.rightCA.Cert.Raw)); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	if len(got) != 64 || strings.ToLower(got) != got {
		t.Errorf("Fingerprint %q is not 64 lowercase hex digits", got)
	}
}
