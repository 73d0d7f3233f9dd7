package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func newTestCA(t *testing.T) *CA {
	t.Helper()
	now := time.Now()
	ca, err := NewCA("Test CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func leafReq(cn string, server, client bool) LeafRequest {
	now := time.Now()
	return LeafRequest{
		CommonName:  cn,
		DNSNames:    []string{cn},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(time.Hour),
		Server:      server,
		Client:      client,
	}
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestNewCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("CA certificate lacks CA basic constraints")
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
		t.Errorf("key usage = %v, want %v", c.KeyUsage, want)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 129 {
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key is %T, want ECDSA P-256", c.PublicKey)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool(c)}); err != nil {
		t.Errorf("CA does not verify as its own root: %v", err)
	}
	other := newTestCA(t)
	if c.SerialNumber.Cmp(other.Cert.SerialNumber) == 0 {
		t.Error("two CAs share a serial number")
	}
}

func TestIssueChainUsages(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	server, err := ca.Issue(leafReq("localhost", true, false))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(leafReq("client-1", false, true))
	if err != nil {
		t.Fatal(err)
	}
	serverUse := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientUse := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

	tests := []struct {
		name    string
		leaf    *Leaf
		roots   *x509.CertPool
		dnsName string
		usages  []x509.ExtKeyUsage
		ok      bool
	}{
		{"server for server auth", server, pool(ca.Cert), "localhost", serverUse, true},
		{"server by IP", server, pool(ca.Cert), "127.0.0.1", serverUse, true},
		{"server for other host", server, pool(ca.Cert), "example.com", serverUse, false},
		{"server for client auth", server, pool(ca.Cert), "", clientUse, false},
		{"client for client auth", client, pool(ca.Cert), "", clientUse, true},
		{"client for server auth", client, pool(ca.Cert), "", serverUse, false},
		{"client against other CA", client, pool(newTestCA(t).Cert), "", clientUse, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.leaf.Cert.Verify(x509.VerifyOptions{
				Roots: tt.roots, DNSName: tt.dnsName, KeyUsages: tt.usages,
			})
			if (err == nil) != tt.ok {
				t.Errorf("verify error = %v, want ok=%v", err, tt.ok)
			}
		})
	}

	if server.TLSCertificate.Leaf != server.Cert || len(server.TLSCertificate.Certificate) != 1 {
		t.Error("TLS certificate is not ready (leaf or chain missing)")
	}
	if server.Cert.SerialNumber.Cmp(client.Cert.SerialNumber) == 0 {
		t.Error("two leaves share a serial number")
	}
}

func TestSelfSigned(t *testing.T) {
	t.Parallel()
	leaf, err := SelfSigned(leafReq("self", false, true))
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Cert.IsCA {
		t.Error("self-signed leaf is a CA")
	}
	if err := leaf.Cert.CheckSignatureFrom(leaf.Cert); err == nil {
		t.Error("a non-CA certificate should not be accepted as its own issuer")
	}
	if !bytes.Equal(leaf.Cert.RawIssuer, leaf.Cert.RawSubject) {
		t.Error("issuer is not the subject")
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{
		Roots: pool(newTestCA(t).Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err == nil {
		t.Error("self-signed leaf verified against an unrelated CA")
	}
}

func TestIssueRejectsBadValidity(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	req := leafReq("x", true, false)
	req.NotAfter = req.NotBefore
	if _, err := ca.Issue(req); err == nil {
		t.Error("Issue accepted NotAfter == NotBefore")
	}
	if _, err := SelfSigned(req); err == nil {
		t.Error("SelfSigned accepted NotAfter == NotBefore")
	}
	now := time.Now()
	if _, err := NewCA("x", now, now.Add(-time.Second)); err == nil {
		t.Error("NewCA accepted notAfter before notBefore")
	}
}

func TestLoadCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	loaded, err := LoadCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.CertPEM, ca.CertPEM) || !loaded.Cert.Equal(ca.Cert) {
		t.Error("loaded CA differs from the original")
	}
	leaf, err := loaded.Issue(leafReq("localhost", true, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool(ca.Cert), DNSName: "localhost"}); err != nil {
		t.Errorf("leaf from loaded CA does not chain to the original: %v", err)
	}

	other := newTestCA(t)
	if _, err := LoadCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Error("LoadCA accepted a key that does not match")
	}
	if _, err := LoadCA(leaf.CertPEM, leaf.KeyPEM); err == nil {
		t.Error("LoadCA accepted a leaf certificate")
	}
	if _, err := LoadCA([]byte("not pem"), ca.KeyPEM); err == nil {
		t.Error("LoadCA accepted garbage")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "two" {
		t.Errorf("content = %q, want %q", got, "two")
	}
	assertMode(t, path, 0o600)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the target (temp file left behind?)", len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s mode = %v, want %v", filepath.Base(path), got, want)
	}
}
