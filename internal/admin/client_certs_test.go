package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
)

// clientCert makes a self-signed client certificate and returns its PEM and its SHA-256
// fingerprint as the listeners compute it (over the DER).
func clientCert(t *testing.T, cn string) (pemText, fp string, keyPEM string) {
	t.Helper()
	leaf, err := pki.SelfSigned(pki.LeafRequest{CommonName: cn, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), Client: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Cert.Raw)
	return string(leaf.CertPEM), hex.EncodeToString(sum[:]), string(leaf.KeyPEM)
}

// TestClientCertificates: a client's TLS client certificates are set as fingerprints or
// as PEM certificates (the server computes the fingerprint), shown as fingerprints only,
// replaced as a whole by PATCH under If-Match, and refused, naming the entry, when
// malformed or too many.
func TestClientCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	ctx := context.Background()
	pemA, fpA, keyA := clientCert(t, "sender-a")
	pemB, fpB, _ := clientCert(t, "sender-b")
	fpC := strings.Repeat("c3", 32)
	// As `openssl x509 -fingerprint -sha256` prints it.
	var colons []string
	for i := 0; i < len(fpC); i += 2 {
		colons = append(colons, strings.ToUpper(fpC[i:i+2]))
	}

	resp := e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "sender", "grant_types": []string{"client_credentials"}, "scopes": []string{"signet:messaging:send"},
		"tls_client_certificates":     []string{strings.Join(colons, ":"), fpA},
		"tls_client_certificate_pems": []string{pemA},
	}})
	var created Client
	resp.json(t, &created)
	if want := []string{fpC, fpA}; !slices.Equal(created.TLSClientCertificates, want) {
		t.Fatalf("created with certificates %v, want %v (the PEM's fingerprint once)", created.TLSClientCertificates, want)
	}
	if strings.Contains(string(resp.body), "BEGIN CERTIFICATE") || strings.Contains(string(resp.body), "pems") {
		t.Fatalf("the answer shows the PEM: %s", resp.body)
	}
	stored, err := e.st.GetClient(ctx, "acme", "sender")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored.TLSClientCertificates, []string{fpC, fpA}) {
		t.Fatalf("stored %v", stored.TLSClientCertificates)
	}
	var got Client
	get := e.call(t, 200, request{method: "GET", path: "/realms/acme/clients/sender"})
	get.json(t, &got)
	if !slices.Equal(got.TLSClientCertificates, []string{fpC, fpA}) {
		t.Fatalf("GET shows %v", got.TLSClientCertificates)
	}
	etag := get.header.Get("ETag")

	// A client created without certificates shows an empty list.
	var plain Client
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "plain", "grant_types": []string{"client_credentials"}}}).json(t, &plain)
	if plain.TLSClientCertificates == nil || len(plain.TLSClientCertificates) != 0 {
		t.Fatalf("a client without certificates shows %#v", plain.TLSClientCertificates)
	}

	// PATCH replaces the list; a stale If-Match changes nothing.
	var patched Client
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/sender", header: map[string]string{"If-Match": etag},
		body: map[string]any{"tls_client_certificate_pems": []string{pemB}}}).json(t, &patched)
	if !slices.Equal(patched.TLSClientCertificates, []string{fpB}) {
		t.Fatalf("after PATCH %v, want [%s]", patched.TLSClientCertificates, fpB)
	}
	e.problem(t, 412, request{method: "PATCH", path: "/realms/acme/clients/sender", header: map[string]string{"If-Match": etag},
		body: map[string]any{"tls_client_certificates": []string{}}})
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/sender", body: map[string]any{"name": "Sender"}}).json(t, &patched)
	if !slices.Equal(patched.TLSClientCertificates, []string{fpB}) {
		t.Fatalf("a PATCH without the fields changed the certificates: %v", patched.TLSClientCertificates)
	}

	// A certificate names one client: another client of the realm cannot take it.
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "copycat", "grant_types": []string{"client_credentials"}, "tls_client_certificates": []string{fpB}}})
	e.problem(t, 409, request{method: "PATCH", path: "/realms/acme/clients/plain", body: map[string]any{"tls_client_certificates": []string{fpB}}})

	nine := make([]string, 9)
	for i := range nine {
		nine[i] = strings.Repeat(string(rune('0'+i)), 64)
	}
	for name, tc := range map[string]struct {
		body map[string]any
		want string // in the problem's detail
	}{
		"short fingerprint":     {map[string]any{"tls_client_certificates": []string{fpA, "abc123"}}, `"abc123"`},
		"not hex":               {map[string]any{"tls_client_certificates": []string{strings.Repeat("zz", 32)}}, `"zzzz`},
		"sha1 fingerprint":      {map[string]any{"tls_client_certificates": []string{strings.Repeat("ab", 20)}}, "tls_client_certificates"},
		"nine fingerprints":     {map[string]any{"tls_client_certificates": nine}, "at most 8"},
		"nine together":         {map[string]any{"tls_client_certificates": nine[:7], "tls_client_certificate_pems": []string{pemA, pemB}}, "at most 8"},
		"not PEM":               {map[string]any{"tls_client_certificate_pems": []string{"hello"}}, "tls_client_certificate_pems[0] holds no PEM certificate"},
		"private key":           {map[string]any{"tls_client_certificate_pems": []string{pemB, pemA + keyA}}, "tls_client_certificate_pems[1]"},
		"two certificates":      {map[string]any{"tls_client_certificate_pems": []string{pemA + pemB}}, "more than one"},
		"broken DER":            {map[string]any{"tls_client_certificate_pems": []string{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}, "not an X.509 certificate"},
		"fingerprints not list": {map[string]any{"tls_client_certificates": fpA}, "tls_client_certificates"},
	} {
		t.Run(name, func(t *testing.T) {
			p := e.problem(t, 400, request{method: "PATCH", path: "/realms/acme/clients/sender", body: tc.body})
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tc.want) {
				t.Errorf("detail %q does not name %q", detail, tc.want)
			}
			if strings.Contains(p["detail"].(string), "PRIVATE KEY-----") {
				t.Errorf("the problem echoes the key: %v", p["detail"])
			}
			body := map[string]any{"client_id": "bad", "grant_types": []string{"client_credentials"}}
			for k, v := range tc.body {
				body[k] = v
			}
			e.problem(t, 400, request{method: "POST", path: "/realms/acme/clients", body: body})
		})
	}
	if c, err := e.st.GetClient(ctx, "acme", "sender"); err != nil || !slices.Equal(c.TLSClientCertificates, []string{fpB}) {
		t.Fatalf("refused changes were stored: %v %v", c.TLSClientCertificates, err)
	}
	if _, err := e.st.GetClient(ctx, "acme", "bad"); err == nil {
		t.Fatal("a refused client was stored")
	}
	// The key sent by mistake is in no log (its first line of base64 would be).
	if keyLine := strings.Split(keyA, "\n")[1]; strings.Contains(e.logs.String(), keyLine) {
		t.Fatalf("the log holds the private key:\n%s", e.logs.String())
	}

	// Eight is the most; an empty list removes them all.
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/sender", body: map[string]any{"tls_client_certificates": nine[:8]}}).json(t, &patched)
	if len(patched.TLSClientCertificates) != 8 {
		t.Fatalf("eight certificates: %v", patched.TLSClientCertificates)
	}
	patched = Client{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/sender", body: map[string]any{"tls_client_certificates": []string{}}}).json(t, &patched)
	if patched.TLSClientCertificates == nil || len(patched.TLSClientCertificates) != 0 {
		t.Fatalf("after clearing %#v", patched.TLSClientCertificates)
	}
}

// TestClientSubjectDN: a client's certificate subject is kept in one written form
// however it was given, shown, removed with an empty string, refused naming the fault
// when it does not parse, and refused (409) when another client of the realm has the
// same subject in any case.
func TestClientSubjectDN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	var created Client
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "billing", "grant_types": []string{"client_credentials"}, "scopes": []string{"signet:users:read"},
		"tls_client_auth_subject_dn": " cn = billing , o=Example Bank, 2.5.4.6=DE",
	}}).json(t, &created)
	const want = "CN=billing,O=Example Bank,C=DE"
	if created.TLSClientAuthSubjectDN != want {
		t.Fatalf("created with subject %q, want %q", created.TLSClientAuthSubjectDN, want)
	}
	if c, err := e.st.GetClient(t.Context(), "acme", "billing"); err != nil || c.TLSClientAuthSubjectDN != want {
		t.Fatalf("stored %q, %v", c.TLSClientAuthSubjectDN, err)
	}

	// Another client cannot take the same subject, however it is written.
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "twin", "grant_types": []string{"client_credentials"}, "tls_client_auth_subject_dn": "CN=BILLING,O=example bank,C=de"}})
	e.call(t, 201, request{method: "POST", path: "/realms/acme/clients", body: map[string]any{
		"client_id": "twin", "grant_types": []string{"client_credentials"}, "tls_client_auth_subject_dn": "CN=billing-2,O=Example Bank,C=DE"}})
	e.problem(t, 409, request{method: "PATCH", path: "/realms/acme/clients/twin", body: map[string]any{"tls_client_auth_subject_dn": want}})
	// The client itself may write it again.
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{"tls_client_auth_subject_dn": "cn=billing,o=Example Bank,c=DE"}})

	for input, fault := range map[string]string{
		"billing":                         "not type=value",
		"CN=a;b":                          "escaped",
		"XX=a":                            "unknown attribute type",
		"CN=a,":                           "not type=value",
		"CN=" + strings.Repeat("a", 1100): "at most 1024",
	} {
		p := e.problem(t, 400, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{"tls_client_auth_subject_dn": input}})
		if detail, _ := p["detail"].(string); !strings.Contains(detail, "tls_client_auth_subject_dn") || !strings.Contains(detail, fault) {
			t.Errorf("%.20q: detail %q does not name the field and %q", input, detail, fault)
		}
	}

	var cleared Client
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/billing", body: map[string]any{"tls_client_auth_subject_dn": ""}}).json(t, &cleared)
	if cleared.TLSClientAuthSubjectDN != "" {
		t.Fatalf("after clearing: %q", cleared.TLSClientAuthSubjectDN)
	}
	// Once cleared, the subject is free.
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/clients/twin", body: map[string]any{"tls_client_auth_subject_dn": want}})
}
