package admin

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// applyCertificates replaces c's TLS client certificates when either field is given: the
// fingerprints listed, then those of the PEM certificates, each once.
func (s ClientSettings) applyCertificates(c *store.Client) error {
	if s.TLSClientAuthSubjectDN != nil {
		c.TLSClientAuthSubjectDN = ""
		if strings.TrimSpace(*s.TLSClientAuthSubjectDN) != "" {
			dn, err := pki.ParseDN(*s.TLSClientAuthSubjectDN)
			if err != nil {
				return rest.BadRequest("tls_client_auth_subject_dn: %v", err)
			}
			// Kept as pki.DN writes it: shown the same however it was written.
			c.TLSClientAuthSubjectDN = dn.String()
		}
	}
	if s.TLSClientCertificates == nil && s.TLSClientCertificatePEMs == nil {
		return nil
	}
	var given, pems []string
	if s.TLSClientCertificates != nil {
		given = *s.TLSClientCertificates
	}
	if s.TLSClientCertificatePEMs != nil {
		pems = *s.TLSClientCertificatePEMs
	}
	// Bounded before any work: the lists can never be longer than the result.
	for _, l := range []struct {
		field string
		list  []string
	}{{"tls_client_certificates", given}, {"tls_client_certificate_pems", pems}} {
		if len(l.list) > store.MaxClientCertificates {
			return rest.BadRequest("%s may hold at most %d entries", l.field, store.MaxClientCertificates)
		}
	}
	fps := []string{}
	for _, raw := range given {
		fp := normalizeFingerprint(raw)
		if !store.ValidCertificateFingerprint(fp) {
			return rest.BadRequest("tls_client_certificates: %.100q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", raw)
		}
		if !slices.Contains(fps, fp) {
			fps = append(fps, fp)
		}
	}
	for i, p := range pems {
		fp, err := certificateFingerprint(p)
		if err != nil {
			return rest.BadRequest("tls_client_certificate_pems[%d] %v", i, err)
		}
		if !slices.Contains(fps, fp) {
			fps = append(fps, fp)
		}
	}
	c.TLSClientCertificates = fps
	return nil
}

// normalizeFingerprint returns fp as it is stored: lowercase hex without separators, so
// what `openssl x509 -fingerprint -sha256` prints is taken as it is.
func normalizeFingerprint(fp string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
}

// certificateFingerprint is the SHA-256 of the DER of the one certificate in pemText:
// what the listeners compute from the certificate a client presents.
func certificateFingerprint(pemText string) (string, error) {
	var der []byte
	rest := []byte(pemText)
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		switch {
		case block.Type != "CERTIFICATE":
			// A private key sent by mistake is refused, not kept or echoed.
			return "", fmt.Errorf("holds a %.40q PEM block; give the certificate alone", block.Type)
		case der != nil:
			return "", errors.New("holds more than one certificate; give the client's own certificate alone")
		}
		der = block.Bytes
	}
	if der == nil {
		return "", errors.New("holds no PEM certificate")
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return "", fmt.Errorf("is not an X.509 certificate: %v", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// checkCertificates checks the stored form: a few fingerprints, each well formed.
func checkCertificates(fps []string) error {
	if len(fps) > store.MaxClientCertificates {
		return rest.BadRequest("a client may have at most %d TLS client certificates (tls_client_certificates and tls_client_certificate_pems together)", store.MaxClientCertificates)
	}
	for _, fp := range fps {
		if !store.ValidCertificateFingerprint(fp) {
			return rest.BadRequest("tls_client_certificates: %q is not a SHA-256 fingerprint", fp)
		}
	}
	return nil
}

// certificatesFree refuses (409) certificates or a subject another client of the realm
// is already registered with: a caller's certificate must name one client, or which one
// calls cannot be told (the API listeners refuse such a certificate anyway).
func (a *API) certificatesFree(ctx context.Context, c store.Client) error {
	fps, subject := c.TLSClientCertificates, ""
	if c.TLSClientAuthSubjectDN != "" {
		dn, err := pki.ParseDN(c.TLSClientAuthSubjectDN)
		if err != nil {
			return rest.BadRequest("tls_client_auth_subject_dn: %v", err)
		}
		subject = dn.Key()
	}
	if len(fps) == 0 && subject == "" {
		return nil
	}
	cursor := ""
	for {
		page, err := a.st.ListClients(ctx, c.Realm, store.ListOptions{Limit: 500, Cursor: cursor})
		if err != nil {
			return rest.StoreError(err, realmWhat(c.Realm))
		}
		for _, other := range page.Items {
			if other.ID == c.ID {
				continue
			}
			for _, fp := range other.TLSClientCertificates {
				if slices.Contains(fps, fp) {
					return rest.Conflict("the certificate %s is registered for client %q already", fp, other.ID)
				}
			}
			if subject != "" && other.TLSClientAuthSubjectDN != "" {
				if dn, err := pki.ParseDN(other.TLSClientAuthSubjectDN); err == nil && dn.Key() == subject {
					return rest.Conflict("the subject %q is registered for client %q already", c.TLSClientAuthSubjectDN, other.ID)
				}
			}
		}
		if cursor = page.Next; cursor == "" {
			return nil
		}
	}
}
