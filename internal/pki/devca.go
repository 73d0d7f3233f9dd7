package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dev certificate lifetimes and file names. The CA outlives many leaves so a browser or OS
// that was told to trust it keeps trusting the listeners across leaf renewals.
const (
	devCAValidity   = 10 * 365 * 24 * time.Hour
	devLeafValidity = 365 * 24 * time.Hour
	// devMinRemaining is how long an existing certificate must still be valid to be reused.
	devMinRemaining = 30 * 24 * time.Hour
	// backdate absorbs small clock differences between the server and its clients.
	backdate = time.Minute

	devCACommonName = "Signet Development CA"
	devCAFile       = "ca.pem"
	devCAKeyFile    = "ca-key.pem"
)

// EnsureDevCA returns the development CA stored in dir (ca.pem and ca-key.pem), creating
// it when it is missing or has less than 30 days left. Starting again reuses the same CA,
// so it only has to be trusted once. caFile is the path of the CA certificate.
func EnsureDevCA(dir string) (ca *CA, caFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("dev CA: %w", err)
	}
	caFile = filepath.Join(dir, devCAFile)
	keyFile := filepath.Join(dir, devCAKeyFile)
	certPEM, keyPEM, exists, err := readPair(caFile, keyFile)
	if err != nil {
		return nil, "", fmt.Errorf("dev CA: %w", err)
	}
	now := time.Now()
	if exists {
		ca, err := LoadCA(certPEM, keyPEM)
		if err != nil {
			// Refuse rather than overwrite: someone may have chosen to trust this CA.
			return nil, "", fmt.Errorf("dev CA in %s: %w", dir, err)
		}
		if validFor(ca.Cert, now, devMinRemaining) {
			return ca, caFile, nil
		}
	}
	ca, err = NewCA(devCACommonName, now.Add(-backdate), now.Add(devCAValidity))
	if err != nil {
		return nil, "", fmt.Errorf("dev CA: %w", err)
	}
	// Key first: a crash in between leaves an unusable pair that the next start replaces.
	if err := WriteFileAtomic(keyFile, ca.KeyPEM, 0o600); err != nil {
		return nil, "", fmt.Errorf("dev CA: %w", err)
	}
	if err := WriteFileAtomic(caFile, ca.CertPEM, 0o644); err != nil {
		return nil, "", fmt.Errorf("dev CA: %w", err)
	}
	return ca, caFile, nil
}

// EnsureDevLeaf returns the paths of a development server certificate dir/<name>.pem and
// its key dir/<name>-key.pem. An existing pair is reused when it is signed by ca, is valid
// for at least 30 more days and covers every host (DNS names or IP addresses); otherwise a
// new one-year certificate is issued and written atomically.
func EnsureDevLeaf(ca *CA, dir, name string, hosts []string) (certFile, keyFile string, err error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", "", fmt.Errorf("dev certificate: invalid name %q", name)
	}
	if len(hosts) == 0 {
		return "", "", fmt.Errorf("dev certificate %s: no hosts", name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("dev certificate %s: %w", name, err)
	}
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	now := time.Now()

	certPEM, keyPEM, exists, err := readPair(certFile, keyFile)
	if err != nil {
		return "", "", fmt.Errorf("dev certificate %s: %w", name, err)
	}
	if exists && reusableLeaf(ca, certPEM, keyPEM, hosts, now) {
		return certFile, keyFile, nil
	}

	req := LeafRequest{
		CommonName: hosts[0],
		NotBefore:  now.Add(-backdate),
		NotAfter:   now.Add(devLeafValidity),
		Server:     true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			req.IPAddresses = append(req.IPAddresses, ip)
		} else {
			req.DNSNames = append(req.DNSNames, strings.ToLower(h))
		}
	}
	leaf, err := ca.Issue(req)
	if err != nil {
		return "", "", fmt.Errorf("dev certificate %s: %w", name, err)
	}
	if err := WriteFileAtomic(keyFile, leaf.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("dev certificate %s: %w", name, err)
	}
	if err := WriteFileAtomic(certFile, leaf.CertPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("dev certificate %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// DevHosts returns the hosts a development certificate covers by default: localhost, the
// loopback addresses and, when known, the machine's hostname.
func DevHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		hosts = append(hosts, h)
	}
	return hosts
}

// reusableLeaf reports whether an existing pair can keep serving: the key matches, it
// chains to ca (and only ca) for server use, is valid long enough and names every host.
func reusableLeaf(ca *CA, certPEM, keyPEM []byte, hosts []string, now time.Time) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return false
	}
	if !validFor(cert, now, devMinRemaining) {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// validFor reports whether cert is valid at now and still for at least d afterwards.
func validFor(cert *x509.Certificate, now time.Time, d time.Duration) bool {
	return !now.Before(cert.NotBefore) && now.Add(d).Before(cert.NotAfter)
}
