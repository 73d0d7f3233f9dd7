package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/pki"
)

// DevCAFile is where dev mode keeps the CA certificate that signs its listener certificates.
func DevCAFile(cfg config.Config) string {
	p, err := filepath.Abs(filepath.Join(cfg.DataDir, "dev-ca", "ca.pem"))
	if err != nil {
		return filepath.Join(cfg.DataDir, "dev-ca", "ca.pem")
	}
	return p
}

// PrepareDev creates the data directory, the development CA and a certificate for every
// TLS listener that has none configured, and points the listeners at them. Certificates
// are reused when the server starts again. It changes nothing outside dev mode.
func PrepareDev(cfg *config.Config) error {
	if !cfg.Dev {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	caDir := filepath.Dir(DevCAFile(*cfg))
	ca, _, err := pki.EnsureDevCA(caDir)
	if err != nil {
		return fmt.Errorf("development CA: %w", err)
	}
	if cfg.Keys.EncryptionKey == "" {
		kek, err := ensureDevKEK(filepath.Join(cfg.DataDir, "dev-kek"))
		if err != nil {
			return err
		}
		cfg.Keys.EncryptionKey = kek
	}
	hosts := pki.DevHosts()
	for _, ep := range config.Endpoints {
		l := cfg.Listener(ep)
		if !l.TLSEnabled() || l.TLSKey != "" || l.TLSKeyFile != "" || l.TLSCertificate != "" || l.TLSCertificateFile != "" {
			continue
		}
		cert, key, err := pki.EnsureDevLeaf(ca, caDir, strings.ToLower(string(ep)), hosts)
		if err != nil {
			return fmt.Errorf("development certificate for %s: %w", ep, err)
		}
		l.TLSCertificateFile, l.TLSKeyFile = cert, key
	}
	return nil
}

// ensureDevKEK reads the development key-encryption key, creating it on first start, so
// that signing keys sealed in one run open in the next.
func ensureDevKEK(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("read development key-encryption key: %w", err)
	}
	kek, err := keys.GenerateKEK()
	if err != nil {
		return "", err
	}
	if err := pki.WriteFileAtomic(path, []byte(kek+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write development key-encryption key: %w", err)
	}
	return kek, nil
}
