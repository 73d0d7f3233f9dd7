package outbound

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want Class
	}{
		// Loopback, in every spelling that reaches it.
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"::ffff:127.0.0.1", Loopback},
		{"64:ff9b::7f00:1", Loopback},
		{"2002:7f00:1::1", Loopback},
		// Private.
		{"10.0.0.1", Private},
		{"::ffff:10.0.0.1", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"192.168.1.1", Private},
		{"fc00::1", Private},
		{"fd12:3456:789a::1", Private},
		{"64:ff9b::a00:1", Private},
		// Carrier-grade NAT.
		{"100.64.0.1", Shared},
		{"100.127.255.255", Shared},
		{"::ffff:100.64.0.1", Shared},
		// Link-local, including the cloud metadata address.
		{"169.254.169.254", LinkLocal},
		{"169.254.0.1", LinkLocal},
		{"::ffff:169.254.169.254", LinkLocal},
		{"64:ff9b::a9fe:a9fe", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"febf::1", LinkLocal},
		// Unspecified and "this network".
		{"0.0.0.0", Unspecified},
		{"::", Unspecified},
		{"::ffff:0.0.0.0", Unspecified},
		{"0.1.2.3", Reserved},
		{"0.255.255.255", Reserved},
		// Multicast and broadcast.
		{"224.0.0.1", Multicast},
		{"239.255.255.255", Multicast},
		{"ff02::1", Multicast},
		{"ff0e::1", Multicast},
		{"::ffff:224.0.0.1", Multicast},
		{"255.255.255.255", Broadcast},
		// Reserved IPv4.
		{"192.0.0.1", Reserved},
		{"192.0.2.1", Reserved},
		{"192.88.99.1", Reserved},
		{"198.18.0.1", Reserved},
		{"198.19.255.255", Reserved},
		{"198.51.100.1", Reserved},
		{"203.0.113.1", Reserved},
		{"240.0.0.1", Reserved},
		{"254.255.255.255", Reserved},
		// Reserved IPv6: outside 2000::/3 and special ranges inside it.
		{"::7f00:1", Reserved},         // IPv4-compatible, deprecated
		{"64:ff9b:1::a00:1", Reserved}, // local-use NAT64 (RFC 8215)
		{"100::1", Reserved},           // discard-only
		{"fec0::1", Reserved},          // site-local, deprecated
		{"5f00::1", Reserved},          // SRv6 SIDs
		{"2001::1", Reserved},          // Teredo
		{"2001:2::1", Reserved},        // benchmarking
		{"2001:10::1", Reserved},       // ORCHID
		{"2001:db8::1", Reserved},      // documentation
		{"3fff::1", Reserved},          // documentation
		// Public, including the neighbours of every forbidden range.
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"::ffff:8.8.8.8", Public},
		{"64:ff9b::808:808", Public},
		{"2002:808:808::1", Public},
		{"2001:4860:4860::8888", Public},
		{"2606:4700:4700::1111", Public},
		{"1.0.0.0", Public},
		{"9.255.255.255", Public},
		{"11.0.0.0", Public},
		{"100.63.255.255", Public},
		{"100.128.0.0", Public},
		{"126.255.255.255", Public},
		{"128.0.0.0", Public},
		{"169.253.255.255", Public},
		{"169.255.0.0", Public},
		{"172.15.255.255", Public},
		{"172.32.0.0", Public},
		{"192.0.1.1", Public},
		{"192.167.255.255", Public},
		{"192.169.0.0", Public},
		{"192.31.196.1", Public}, // AS112, globally reachable
		{"198.17.255.255", Public},
		{"198.20.0.0", Public},
		{"223.255.255.255", Public},
		{"2001:200::1", Public},
		{"3ffe::1", Public},
		{"3fff:1000::1", Public},
	}
	for _, tt := range tests {
		if got := Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Classify(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if got := Classify(netip.Addr{}); got != Invalid {
		t.Errorf("Classify(zero Addr) = %v, want invalid", got)
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	cidrs, err := ParseCIDRs([]string{"169.254.169.254/32", "192.0.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultPolicy()
	private := DefaultPolicy()
	private.AllowPrivate = true
	allowed := DefaultPolicy()
	allowed.AllowedCIDRs = cidrs

	tests := []struct {
		name   string
		policy Policy
		addr   string
		plain  bool
		want   error
	}{
		{"public https", def, "8.8.8.8", false, nil},
		{"public plain http", def, "8.8.8.8", true, ErrForbiddenScheme},
		{"public v6 https", def, "2001:4860:4860::8888", false, nil},
		{"loopback", def, "127.0.0.1", false, ErrForbiddenTarget},
		{"mapped private", def, "::ffff:10.0.0.1", false, ErrForbiddenTarget},
		{"metadata", def, "169.254.169.254", false, ErrForbiddenTarget},
		{"AllowPrivate loopback", private, "127.0.0.1", false, nil},
		{"AllowPrivate loopback plain", private, "127.0.0.1", true, nil},
		{"AllowPrivate v6 loopback", private, "::1", true, nil},
		{"AllowPrivate private", private, "192.168.1.1", true, nil},
		{"AllowPrivate ULA", private, "fd00::1", true, nil},
		{"AllowPrivate CGNAT", private, "100.64.0.1", true, nil},
		{"AllowPrivate NAT64 loopback", private, "64:ff9b::7f00:1", false, nil},
		{"AllowPrivate keeps metadata out", private, "169.254.169.254", false, ErrForbiddenTarget},
		{"AllowPrivate keeps link-local out", private, "fe80::1", false, ErrForbiddenTarget},
		{"AllowPrivate keeps unspecified out", private, "0.0.0.0", false, ErrForbiddenTarget},
		{"AllowPrivate keeps multicast out", private, "224.0.0.1", false, ErrForbiddenTarget},
		{"AllowPrivate keeps broadcast out", private, "255.255.255.255", false, ErrForbiddenTarget},
		{"AllowPrivate still wants https to public", private, "8.8.8.8", true, ErrForbiddenScheme},
		{"CIDR metadata", allowed, "169.254.169.254", true, nil},
		{"CIDR mapped form", allowed, "::ffff:169.254.169.254", false, nil},
		{"CIDR documentation", allowed, "192.0.2.55", false, nil},
		{"CIDR neighbour", allowed, "169.254.169.253", false, ErrForbiddenTarget},
		{"CIDR does not open loopback", allowed, "127.0.0.1", false, ErrForbiddenTarget},
	}
	for _, tt := range tests {
		p := tt.policy.normalized()
		err := p.check(netip.MustParseAddr(tt.addr), tt.plain)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: check(%s, plain=%v) = %v, want %v", tt.name, tt.addr, tt.plain, err, tt.want)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := ParseCIDRs([]string{"10.0.0.0/8", " 192.168.1.5 ", "fd00::/8", "2001:db8::1", "10.1.2.3/16"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.5/32", "fd00::/8", "2001:db8::1/128", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("ParseCIDRs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParseCIDRs[%d] = %v, want %v", i, got[i], want[i])
		}
	}

	_, err = ParseCIDRs([]string{"10.0.0.0/33", "nope", "fe80::1%eth0", ""})
	if err == nil {
		t.Fatal("ParseCIDRs accepted invalid ranges")
	}
	for _, s := range []string{`"10.0.0.0/33"`, `"nope"`, `"fe80::1%eth0"`, `""`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

func TestEndsInNumber(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"127.1":           true,
		"2130706433":      true,
		"0x7f000001":      true,
		"0x7f.0.0.1":      true,
		"0177.0.0.1":      true,
		"127.000.000.001": true,
		"1.2.3.4.":        true,
		"0x":              true,
		"example.com":     false,
		"1.example.com":   false,
		"example.123a":    false,
		"localhost":       false,
		"0xg":             false,
	}
	for host, want := range tests {
		if got := endsInNumber(host); got != want {
			t.Errorf("endsInNumber(%q) = %v, want %v", host, got, want)
		}
	}
}
