package outbound

import (
	"fmt"
	"net/netip"
)

// Class is the kind of an IP address, as far as outbound calls are concerned.
type Class uint8

// Address classes. The zero value is Invalid, so an unclassified address is never Public.
const (
	// Invalid is the zero netip.Addr.
	Invalid Class = iota
	// Public is a global unicast address: the only class allowed by default.
	Public
	// Loopback is 127.0.0.0/8 and ::1.
	Loopback
	// Private is 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918) and fc00::/7 (RFC 4193).
	Private
	// Shared is 100.64.0.0/10, the carrier-grade NAT range (RFC 6598).
	Shared
	// LinkLocal is 169.254.0.0/16, home of cloud metadata services such as
	// 169.254.169.254, and fe80::/10.
	LinkLocal
	// Unspecified is 0.0.0.0 and ::; connecting to it reaches the local host on Linux.
	Unspecified
	// Multicast is 224.0.0.0/4 and ff00::/8.
	Multicast
	// Broadcast is 255.255.255.255.
	Broadcast
	// Reserved is every other address that is not global unicast: 0.0.0.0/8, IETF
	// protocol assignments, documentation and benchmarking ranges, 240.0.0.0/4, and IPv6
	// outside 2000::/3 (IPv4-compatible ::/96, local-use NAT64 64:ff9b:1::/48, site-local,
	// discard-only) as well as 2001::/23 (Teredo, ORCHID) and the IPv6 documentation prefixes.
	Reserved
)

func (c Class) String() string {
	switch c {
	case Invalid:
		return "invalid"
	case Public:
		return "public"
	case Loopback:
		return "loopback"
	case Private:
		return "private"
	case Shared:
		return "shared (carrier-grade NAT)"
	case LinkLocal:
		return "link-local"
	case Unspecified:
		return "unspecified"
	case Multicast:
		return "multicast"
	case Broadcast:
		return "broadcast"
	case Reserved:
		return "reserved"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Classify returns the class of addr. It is a pure function: no lookups, no network.
//
// Forms that embed an IPv4 address take the class of the embedded address, because
// that is where a packet ends up: IPv4-mapped ::ffff:0:0/96, the NAT64 well-known prefix
// 64:ff9b::/96 (RFC 6052) and 6to4 2002::/16 (RFC 3056). So ::ffff:127.0.0.1 and
// 64:ff9b::7f00:1 are Loopback, while 64:ff9b::808:808 is Public.
func Classify(addr netip.Addr) Class {
	switch {
	case !addr.IsValid():
		return Invalid
	case addr.Is4() || addr.Is4In6():
		return classify4(addr.Unmap().As4())
	default:
		return classify6(addr.WithZone("").As16())
	}
}

// classify4 follows the IANA IPv4 special-purpose address registry (RFC 6890).
func classify4(a [4]byte) Class {
	switch {
	case a == [4]byte{}:
		return Unspecified
	case a[0] == 0: // 0.0.0.0/8 "this network" (RFC 791)
		return Reserved
	case a[0] == 10: // 10.0.0.0/8
		return Private
	case a[0] == 100 && a[1]&0xc0 == 64: // 100.64.0.0/10
		return Shared
	case a[0] == 127: // 127.0.0.0/8
		return Loopback
	case a[0] == 169 && a[1] == 254: // 169.254.0.0/16
		return LinkLocal
	case a[0] == 172 && a[1]&0xf0 == 16: // 172.16.0.0/12
		return Private
	case a[0] == 192 && a[1] == 168: // 192.168.0.0/16
		return Private
	case a[0] == 192 && a[1] == 0 && a[2] == 0, // 192.0.0.0/24 IETF protocol assignments
		a[0] == 192 && a[1] == 0 && a[2] == 2,    // 192.0.2.0/24 TEST-NET-1 (RFC 5737)
		a[0] == 192 && a[1] == 88 && a[2] == 99,  // 192.88.99.0/24 6to4 relay anycast, deprecated (RFC 7526)
		a[0] == 198 && a[1]&0xfe == 18,           // 198.18.0.0/15 benchmarking (RFC 2544)
		a[0] == 198 && a[1] == 51 && a[2] == 100, // 198.51.100.0/24 TEST-NET-2
		a[0] == 203 && a[1] == 0 && a[2] == 113:  // 203.0.113.0/24 TEST-NET-3
		return Reserved
	case a[0]&0xf0 == 224: // 224.0.0.0/4
		return Multicast
	case a == [4]byte{255, 255, 255, 255}:
		return Broadcast
	case a[0]&0xf0 == 240: // 240.0.0.0/4 reserved for future use (RFC 1112)
		return Reserved
	}
	return Public
}

// classify6 follows the IANA IPv6 special-purpose address registry; IPv4-mapped
// addresses never reach it.
func classify6(b [16]byte) Class {
	a := netip.AddrFrom16(b)
	switch {
	case a.IsUnspecified():
		return Unspecified
	case a.IsLoopback():
		return Loopback
	case a.IsMulticast():
		return Multicast
	case a.IsLinkLocalUnicast():
		return LinkLocal
	case a.IsPrivate(): // fc00::/7
		return Private
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && [8]byte(b[4:12]) == [8]byte{}:
		// 64:ff9b::/96: a NAT64 gateway forwards to the IPv4 address in the last 32 bits.
		return classify4([4]byte(b[12:]))
	case b[0] == 0x20 && b[1] == 0x02:
		// 2002::/16: 6to4 carries the IPv4 address in bits 16-47.
		return classify4([4]byte(b[2:6]))
	case b[0]&0xe0 != 0x20: // outside 2000::/3, the only range IANA allocates for global unicast
		return Reserved
	case b[0] == 0x20 && b[1] == 0x01 && b[2]&0xfe == 0x00, // 2001::/23 IETF protocol assignments (RFC 2928)
		b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8, // 2001:db8::/32 documentation (RFC 3849)
		b[0] == 0x3f && b[1] == 0xff && b[2]&0xf0 == 0x00:            // 3fff::/20 documentation (RFC 9637)
		return Reserved
	}
	return Public
}

// check decides whether the policy lets a call reach addr; plain is true for http://.
// It is the rule applied both before dialling (literal IP hosts) and on every address
// actually dialled.
func (p *Policy) check(addr netip.Addr, plain bool) error {
	addr = addr.WithZone("")
	for _, pfx := range p.AllowedCIDRs {
		if pfx.Contains(addr) || pfx.Contains(addr.Unmap()) {
			return nil
		}
	}
	switch c := Classify(addr); {
	case p.AllowPrivate && (c == Loopback || c == Private || c == Shared):
		return nil
	case c != Public:
		return refuse(ErrForbiddenTarget, "%s (%s address)", addr, c)
	case plain:
		return refuse(ErrForbiddenScheme, "plain http to public address %s; use https", addr)
	}
	return nil
}
