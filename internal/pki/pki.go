// Package pki generates the X.509 certificates Signet makes for itself: a small ECDSA
// P-256 certificate authority, the leaf certificates it issues, and self-signed leaves.
//
// These are development and test certificates only. Dev mode uses them for its listeners
// (see devca.go) and tests use them to exercise TLS; production listeners are configured
// with certificates from a real CA.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CA is a certificate authority that can issue leaf certificates.
type CA struct {
	// Cert is the parsed CA certificate.
	Cert *x509.Certificate
	// CertPEM is Cert encoded as a PEM "CERTIFICATE" block.
	CertPEM []byte
	// KeyPEM is the CA private key as a PEM "PRIVATE KEY" (PKCS #8) block.
	KeyPEM []byte

	key crypto.Signer
}

// LeafRequest describes a leaf certificate to issue.
type LeafRequest struct {
	CommonName string
	// Subject, when set, is the whole subject name (CommonName is then ignored): a
	// client certificate mapped to an API client by its subject carries more than a CN.
	Subject     *pkix.Name
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore and NotAfter bound the validity period; NotAfter must be after NotBefore.
	NotBefore time.Time
	NotAfter  time.Time
	// Server and Client select the extended key usages (TLS server / TLS client auth).
	Server bool
	Client bool
}

// Leaf is an issued certificate with its private key.
type Leaf struct {
	// Cert is the parsed certificate (the same value as TLSCertificate.Leaf).
	Cert *x509.Certificate
	// CertPEM is the certificate as a PEM "CERTIFICATE" block.
	CertPEM []byte
	// KeyPEM is the private key as a PEM "PRIVATE KEY" (PKCS #8) block.
	KeyPEM []byte
	// TLSCertificate is ready for a tls.Config, with Leaf parsed.
	TLSCertificate tls.Certificate
}

// NewCA creates a self-signed ECDSA P-256 CA valid from notBefore to notAfter. It may only
// sign leaf certificates (path length zero).
func NewCA(commonName string, notBefore, notAfter time.Time) (*CA, error) {
	if !notAfter.After(notBefore) {
		return nil, errors.New("new CA: notAfter must be after notBefore")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new CA: create certificate: %w", err)
	}
	cert, keyPEM, err := parseIssued(der, key)
	if err != nil {
		return nil, fmt.Errorf("new CA: %w", err)
	}
	return &CA{Cert: cert, CertPEM: encodeCert(der), KeyPEM: keyPEM, key: key}, nil
}

// LoadCA parses a CA certificate and its private key (PKCS #8 or SEC 1 EC PEM) and checks
// that they belong together and that the certificate is a CA.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("load CA: parse certificate: %w", err)
		}
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("load CA: certificate is not a CA certificate")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("load CA: private key cannot sign")
	}
	return &CA{Cert: cert, CertPEM: encodeCert(cert.Raw), KeyPEM: keyPEM, key: signer}, nil
}

// Issue signs a new leaf certificate for req with a fresh P-256 key.
func (ca *CA) Issue(req LeafRequest) (*Leaf, error) {
	leaf, err := newLeaf(req, ca.Cert, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue %q: %w", req.CommonName, err)
	}
	return leaf, nil
}

// SelfSigned creates a leaf certificate signed by its own key (not a CA).
func SelfSigned(req LeafRequest) (*Leaf, error) {
	leaf, err := newLeaf(req, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("self-signed %q: %w", req.CommonName, err)
	}
	return leaf, nil
}

// newLeaf issues req signed by parent/parentKey, or self-signed when parent is nil.
func newLeaf(req LeafRequest, parent *x509.Certificate, parentKey crypto.Signer) (*Leaf, error) {
	if !req.NotAfter.After(req.NotBefore) {
		return nil, errors.New("NotAfter must be after NotBefore")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{CommonName: req.CommonName}
	if req.Subject != nil {
		subject = *req.Subject
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		NotBefore:             req.NotBefore,
		NotAfter:              req.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, keyPEM, err := parseIssued(der, key)
	if err != nil {
		return nil, err
	}
	return &Leaf{
		Cert:    cert,
		CertPEM: encodeCert(der),
		KeyPEM:  keyPEM,
		TLSCertificate: tls.Certificate{
			Certificate: [][]byte{der},
			PrivateKey:  key,
			Leaf:        cert,
		},
	}, nil
}

func parseIssued(der []byte, key *ecdsa.PrivateKey) (*x509.Certificate, []byte, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	// RFC 5280 §4.1.2.2: the serial must be positive.
	return n.Add(n, big.NewInt(1)), nil
}
