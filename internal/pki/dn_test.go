package pki

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"
)

func TestParseDN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"CN=billing,O=Example Bank,C=DE", "CN=billing,O=Example Bank,C=DE"},
		// Types are case-insensitive, aliases and OIDs are the short names, spaces
		// around separators go.
		{" cn = billing , o=Example Bank ,c=DE ", "CN=billing,O=Example Bank,C=DE"},
		{"2.5.4.3=billing,OID.2.5.4.10=Example Bank", "CN=billing,O=Example Bank"},
		{"E=ops@example.com,S=Bavaria,GivenName=Ada", "EMAILADDRESS=ops@example.com,ST=Bavaria,GN=Ada"},
		// Escapes: specials, hex UTF-8, a kept trailing space.
		{`CN=Smith\, J.,O=A\+B\;C,OU=M\C3\BCnchen,L=x\ `, `CN=Smith\, J.,O=A\+B\;C,OU=München,L=x\ `},
		{`CN=\#hash,O=\ lead`, `CN=\#hash,O=\ lead`},
		// A multi-valued RDN is a set: its order does not count.
		{"OU=b+CN=a,O=x", "CN=a+OU=b,O=x"},
		// The hex form of a string value is the string; of another value, the hex.
		{"CN=#0c0762696c6c696e67", "CN=billing"},
		{"1.2.3.4=#020105", "1.2.3.4=#020105"},
		{"ORGANIZATIONIDENTIFIER=PSDDE-BAFIN-123456", "ORGANIZATIONIDENTIFIER=PSDDE-BAFIN-123456"},
		{"CN=", "CN="},
		{"CN=a=b", "CN=a=b"},
	} {
		dn, err := ParseDN(tc.in)
		if err != nil {
			t.Errorf("ParseDN(%q): %v", tc.in, err)
			continue
		}
		if got := dn.String(); got != tc.want {
			t.Errorf("ParseDN(%q) = %q, want %q", tc.in, got, tc.want)
		}
		again, err := ParseDN(dn.String())
		if err != nil || again.String() != dn.String() {
			t.Errorf("ParseDN(%q) does not read back: %q, %v", dn.String(), again, err)
		}
	}
}

func TestParseDNRefuses(t *testing.T) {
	for _, in := range []string{
		"", "   ", "billing", "CN", "CN=a,", ",CN=a", "CN=a+", "CN=a,,O=b", "XX=a", "1=a", "1.02=a", "1.2.x=a",
		`CN=a"b`, "CN=a;b", "CN=a<b", "CN=a>b", `CN=a\`, `CN=a\zz`, `CN=a\4`, `CN=\ff\fe`, "CN=#zz", "CN=#", "CN=#0c02aa",
		"CN=#0c0161 x", "CN=a\x00b", "CN=\xff", strings.Repeat("CN=a,", 300) + "CN=a",
	} {
		if dn, err := ParseDN(in); err == nil {
			t.Errorf("ParseDN(%q) = %q, want an error", in, dn)
		}
	}
}

// TestSubjectDN: the subject of a certificate, read from its DER, matches the string form
// an operator writes for it, whatever the case of the values.
func TestSubjectDN(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	leaf, err := ca.Issue(LeafRequest{
		Subject: &pkix.Name{CommonName: "billing, eu", Organization: []string{"Example Bank"}, Country: []string{"DE"},
			OrganizationalUnit: []string{"Payments"},
			ExtraNames:         []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: "PSDDE-BAFIN-123456"}}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), Client: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	dn, err := SubjectDN(leaf.Cert)
	if err != nil {
		t.Fatal(err)
	}
	const want = `ORGANIZATIONIDENTIFIER=PSDDE-BAFIN-123456,CN=billing\, eu,OU=Payments,O=Example Bank,C=DE`
	if dn.String() != want {
		t.Fatalf("SubjectDN = %q, want %q", dn, want)
	}
	written, err := ParseDN(`organizationIdentifier=psdde-bafin-123456, CN=Billing\2C EU, OU=payments, O=example bank, C=de`)
	if err != nil {
		t.Fatal(err)
	}
	if written.Key() != dn.Key() {
		t.Errorf("keys differ: %q and %q", written.Key(), dn.Key())
	}
	for _, other := range []string{
		`CN=billing\, eu,OU=Payments,O=Example Bank,C=DE`, // one attribute short
		`ORGANIZATIONIDENTIFIER=PSDDE-BAFIN-123456,CN=billing\, eu,OU=Payments,O=Example Bank,C=FR`,
		`C=DE,O=Example Bank,OU=Payments,CN=billing\, eu,ORGANIZATIONIDENTIFIER=PSDDE-BAFIN-123456`, // reversed
	} {
		o, err := ParseDN(other)
		if err != nil {
			t.Fatal(err)
		}
		if o.Key() == dn.Key() {
			t.Errorf("%q matches %q", other, dn)
		}
	}
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{"CN=a,O=b", `CN=a\,b+OU=c`, "CN=#0c0161", "1.2.3=#020105", `CN=\C3\BC`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ParseDN(s)
		if err != nil {
			return
		}
		again, err := ParseDN(dn.String())
		if err != nil {
			t.Fatalf("ParseDN(%q) gave %q, which does not parse: %v", s, dn.String(), err)
		}
		if again.String() != dn.String() {
			t.Fatalf("ParseDN(%q): %q reads back as %q", s, dn.String(), again.String())
		}
	})
}
