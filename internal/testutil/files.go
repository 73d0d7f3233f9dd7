package testutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
)

// CertificateFiles writes a valid self-signed localhost certificate and its key into a
// temporary directory and returns their paths.
func CertificateFiles(t testing.TB) (cert, key string) {
	t.Helper()
	leaf, err := pki.SelfSigned(pki.LeafRequest{CommonName: "localhost", DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cert = WriteTemp(t, "cert.pem", string(leaf.CertPEM))
	key = filepath.Join(filepath.Dir(cert), "key.pem")
	if err := os.WriteFile(key, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// WriteTemp writes body to a file called name in a new temporary directory.
func WriteTemp(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
