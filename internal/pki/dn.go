package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A DN is a distinguished name as RFC 4514 writes it: its relative distinguished names
// most specific first (the reverse of their order in the certificate), each a set of
// attributes. ParseDN reads one from its string form, SubjectDN from a certificate; two
// names that compare equal under Key name the same subject.
type DN []RDN

// An RDN is one relative distinguished name: a set of attributes (usually one).
type RDN []Attribute

// An Attribute is one type and value. Type is the short name of a known attribute type
// (CN, O, OU, C, ...) or the dotted OID of another. Value is the string value; for a
// value that is not a string, Raw is set and Value holds its DER in lowercase hex (the
// "#" form of RFC 4514 §2.4).
type Attribute struct {
	Type  string
	Value string
	Raw   bool
}

// MaxDNLen bounds the string form ParseDN accepts.
const MaxDNLen = 1024

// attributeTypes are the short names of RFC 4514 §3 and the types bank and eIDAS
// certificates commonly carry, with their OIDs.
var attributeTypes = []struct {
	name string
	oid  asn1.ObjectIdentifier
}{
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}},
	{"SERIALNUMBER", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"STREET", asn1.ObjectIdentifier{2, 5, 4, 9}},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"TITLE", asn1.ObjectIdentifier{2, 5, 4, 12}},
	{"POSTALCODE", asn1.ObjectIdentifier{2, 5, 4, 17}},
	{"GN", asn1.ObjectIdentifier{2, 5, 4, 42}},
	{"ORGANIZATIONIDENTIFIER", asn1.ObjectIdentifier{2, 5, 4, 97}},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
	{"EMAILADDRESS", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
}

// typeAliases are other names in use for the types above.
var typeAliases = map[string]string{"E": "EMAILADDRESS", "S": "ST", "GIVENNAME": "GN", "SURNAME": "SN"}

// typeName returns the short name of oid, or its dotted form.
func typeName(oid asn1.ObjectIdentifier) string {
	for _, t := range attributeTypes {
		if t.oid.Equal(oid) {
			return t.name
		}
	}
	return oid.String()
}

// SubjectDN returns the subject of cert as it was encoded in the certificate.
func SubjectDN(cert *x509.Certificate) (DN, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(cert.RawSubject, &seq)
	if err != nil || len(rest) > 0 {
		return nil, errors.New("pki: the certificate's subject does not parse")
	}
	dn := make(DN, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		rdn := make(RDN, 0, len(seq[i]))
		for _, atv := range seq[i] {
			a := Attribute{Type: typeName(atv.Type)}
			if s, ok := atv.Value.(string); ok {
				a.Value = s
			} else {
				der, err := asn1.Marshal(atv.Value)
				if err != nil {
					return nil, fmt.Errorf("pki: an attribute of the certificate's subject: %w", err)
				}
				a.Value, a.Raw = hex.EncodeToString(der), true
			}
			rdn = append(rdn, a)
		}
		dn = append(dn, rdn.sorted())
	}
	return dn, nil
}

// ParseDN reads the string form of a distinguished name (RFC 4514 §3), as `openssl x509
// -noout -subject -nameopt RFC2253` prints it: "CN=billing,O=Example Bank,C=DE". Types
// are case-insensitive short names or dotted OIDs; values may use the escapes of §2.4,
// including "#" and the DER in hex.
func ParseDN(s string) (DN, error) {
	if len(s) > MaxDNLen {
		return nil, fmt.Errorf("a distinguished name is at most %d bytes", MaxDNLen)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("a distinguished name is UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("the distinguished name is empty")
	}
	p := dnParser{s: s}
	var dn DN
	for {
		rdn, err := p.rdn()
		if err != nil {
			return nil, err
		}
		dn = append(dn, rdn.sorted())
		if p.done() {
			return dn, nil
		}
		p.i++ // the ','
	}
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) done() bool { return p.i >= len(p.s) }

func (p *dnParser) skipSpace() {
	for !p.done() && p.s[p.i] == ' ' {
		p.i++
	}
}

// rdn reads attributes joined by '+' up to an unescaped ',' or the end.
func (p *dnParser) rdn() (RDN, error) {
	var rdn RDN
	for {
		a, err := p.attribute()
		if err != nil {
			return nil, err
		}
		rdn = append(rdn, a)
		if p.done() || p.s[p.i] == ',' {
			return rdn, nil
		}
		p.i++ // the '+'
	}
}

func (p *dnParser) attribute() (Attribute, error) {
	p.skipSpace()
	start := p.i
	for !p.done() && p.s[p.i] != '=' && p.s[p.i] != ',' && p.s[p.i] != '+' {
		p.i++
	}
	if p.done() || p.s[p.i] != '=' {
		return Attribute{}, fmt.Errorf("%.40q is not type=value", p.s[start:p.i])
	}
	typ, err := attributeType(strings.TrimSpace(p.s[start:p.i]))
	if err != nil {
		return Attribute{}, err
	}
	p.i++ // the '='
	p.skipSpace()
	if !p.done() && p.s[p.i] == '#' {
		return p.hexValue(typ)
	}
	value, err := p.stringValue()
	if err != nil {
		return Attribute{}, fmt.Errorf("the value of %s: %w", typ, err)
	}
	return Attribute{Type: typ, Value: value}, nil
}

// attributeType returns the canonical name of a type: the short name of a known one,
// else the dotted OID.
func attributeType(t string) (string, error) {
	up := strings.ToUpper(t)
	if alias, ok := typeAliases[up]; ok {
		up = alias
	}
	for _, known := range attributeTypes {
		if known.name == up {
			return known.name, nil
		}
	}
	if strings.HasPrefix(up, "OID.") {
		t = t[len("OID."):]
	}
	var oid asn1.ObjectIdentifier
	for part := range strings.SplitSeq(t, ".") {
		n := 0
		if part == "" || len(part) > 9 || (len(part) > 1 && part[0] == '0') {
			return "", fmt.Errorf("unknown attribute type %.40q (use a short name such as CN or a dotted OID)", t)
		}
		for _, c := range part {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("unknown attribute type %.40q (use a short name such as CN or a dotted OID)", t)
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return "", fmt.Errorf("attribute type %.40q is not a dotted OID", t)
	}
	return typeName(oid), nil
}

// hexValue reads "#" and the hex of a DER value; a string value is kept as its string.
func (p *dnParser) hexValue(typ string) (Attribute, error) {
	p.i++ // the '#'
	start := p.i
	for !p.done() && p.s[p.i] != ',' && p.s[p.i] != '+' && p.s[p.i] != ' ' {
		p.i++
	}
	digits := p.s[start:p.i]
	p.skipSpace()
	if !p.done() && p.s[p.i] != ',' && p.s[p.i] != '+' {
		return Attribute{}, fmt.Errorf("the value of %s: stray characters after its hex form", typ)
	}
	der, err := hex.DecodeString(digits)
	if err != nil || len(der) == 0 {
		return Attribute{}, fmt.Errorf("the value of %s: %.40q is not hex", typ, digits)
	}
	var v any
	if rest, err := asn1.Unmarshal(der, &v); err != nil || len(rest) > 0 {
		return Attribute{}, fmt.Errorf("the value of %s: its hex form is not one DER value", typ)
	}
	if s, ok := v.(string); ok {
		return Attribute{Type: typ, Value: s}, nil
	}
	return Attribute{Type: typ, Value: strings.ToLower(digits), Raw: true}, nil
}

// stringValue reads a value up to an unescaped ',' or '+', decoding the escapes of
// RFC 4514 §2.4 and dropping spaces around it that are not escaped.
func (p *dnParser) stringValue() (string, error) {
	var b []byte
	kept := 0 // length of b up to its last character that is not an unescaped space
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == ',' || c == '+':
			return p.value(b[:kept])
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("it ends in a lone backslash")
			}
			n := p.s[p.i+1]
			if strings.IndexByte(`,+"\<>;= #`, n) >= 0 {
				b = append(b, n)
				p.i += 2
			} else {
				if p.i+2 >= len(p.s) {
					return "", errors.New("a backslash is followed by neither a special character nor two hex digits")
				}
				x, err := hex.DecodeString(p.s[p.i+1 : p.i+3])
				if err != nil {
					return "", errors.New("a backslash is followed by neither a special character nor two hex digits")
				}
				b = append(b, x[0])
				p.i += 3
			}
			kept = len(b)
			continue
		case c == '"' || c == ';' || c == '<' || c == '>' || c == 0:
			return "", fmt.Errorf("%q must be escaped with a backslash", c)
		}
		b = append(b, c)
		if c != ' ' {
			kept = len(b)
		}
		p.i++
	}
	return p.value(b[:kept])
}

func (p *dnParser) value(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errors.New("its escapes do not make UTF-8")
	}
	return string(b), nil
}

// sorted returns the RDN's attributes in a fixed order: a set has none.
func (r RDN) sorted() RDN {
	slices.SortFunc(r, func(a, b Attribute) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return r
}

// String writes dn in the form ParseDN reads, with its attributes' short names.
func (dn DN) String() string {
	var b strings.Builder
	for i, rdn := range dn {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.Type)
			b.WriteByte('=')
			if a.Raw {
				b.WriteString("#" + a.Value)
				continue
			}
			writeEscaped(&b, a.Value)
		}
	}
	return b.String()
}

// writeEscaped writes v escaped as RFC 4514 §2.4 asks.
func writeEscaped(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(`,+"\<>;`, c) >= 0,
			i == 0 && (c == '#' || c == ' '),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(b, `\%02X`, c)
		default:
			b.WriteByte(c)
		}
	}
}

// Key is what two names that name the same subject share: the string form with string
// values compared without regard to case, as distinguishedNameMatch compares the
// attributes certificates carry (caseIgnoreMatch, RFC 4517 §4.2.11).
func (dn DN) Key() string { return strings.ToLower(dn.String()) }
