package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Default limits of DefaultPolicy; New also uses them for zero fields.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 1 << 20
)

// Policy says which targets a Client may reach and how long and how much it may read.
type Policy struct {
	// AllowPrivate permits loopback, private (RFC 1918, fc00::/7) and carrier-grade NAT
	// (100.64.0.0/10) addresses, for deployments whose webhooks or relying parties live
	// on an internal network. It deliberately does not permit link-local addresses
	// (169.254.169.254 is the cloud metadata service), unspecified, multicast, broadcast
	// or reserved ones: list those in AllowedCIDRs if a deployment really needs them.
	// Plain http is allowed to the addresses it permits.
	AllowPrivate bool
	// AllowedCIDRs are address ranges permitted whatever their class, plain http
	// included.
	AllowedCIDRs []netip.Prefix
	// AllowedHosts are exact host names (ASCII, without port; case and a trailing dot
	// are ignored) that skip the address rule: whatever they resolve to is dialled, over
	// https or plain http. A different name resolving to the same address is still
	// checked.
	AllowedHosts []string
	// Timeout bounds a whole call: dial, TLS handshake, request, headers and body.
	Timeout time.Duration
	// MaxBodyBytes caps the response body; a longer body fails with ErrTooLarge.
	MaxBodyBytes int64
	// MinTLSVersion is the lowest TLS version offered to https targets. Values below
	// TLS 1.2 are raised to TLS 1.2.
	MinTLSVersion uint16
}

// DefaultPolicy is the policy for targets named by third parties: public addresses only,
// 10 s per call, 1 MiB per response, TLS 1.2 or newer.
//
// Why TLS 1.2 when Signet's own listeners accept only TLS 1.3 (internal/tlsconf): the
// listeners are ours, so we choose their protocol; a relying party's jwks_uri or a
// customer's webhook receiver is not ours, and TLS 1.2 with Go's default cipher suites
// (ECDHE, AEAD only) is still sound and still common there. TLS 1.0 and 1.1 are never
// offered.
func DefaultPolicy() Policy {
	return Policy{
		Timeout:       DefaultTimeout,
		MaxBodyBytes:  DefaultMaxBodyBytes,
		MinTLSVersion: tls.VersionTLS12,
	}
}

// ParseCIDRs parses configured address ranges such as "10.0.0.0/8" or "fd00::/8". A bare
// address ("10.1.2.3") stands for itself alone. Every invalid entry is reported at once.
func ParseCIDRs(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range ss {
		s = strings.TrimSpace(s)
		var pfx netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			pfx, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				if a.Zone() != "" {
					err = errors.New("zone not allowed")
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("address range %q: %w", s, err))
			continue
		}
		out = append(out, pfx.Masked())
	}
	return out, errors.Join(errs...)
}

// normalized fills zero limits from DefaultPolicy and copies the slices, so a caller
// changing its Policy afterwards cannot change a Client.
func (p Policy) normalized() Policy {
	d := DefaultPolicy()
	if p.Timeout <= 0 {
		p.Timeout = d.Timeout
	}
	if p.MaxBodyBytes <= 0 {
		p.MaxBodyBytes = d.MaxBodyBytes
	}
	if p.MaxBodyBytes == math.MaxInt64 { // leaves room for the one extra byte read to detect overflow
		p.MaxBodyBytes--
	}
	if p.MinTLSVersion < tls.VersionTLS12 {
		p.MinTLSVersion = tls.VersionTLS12
	}
	cidrs := make([]netip.Prefix, 0, len(p.AllowedCIDRs))
	for _, pfx := range p.AllowedCIDRs {
		if pfx.IsValid() {
			cidrs = append(cidrs, pfx.Masked())
		}
	}
	p.AllowedCIDRs = cidrs
	hosts := make([]string, 0, len(p.AllowedHosts))
	for _, h := range p.AllowedHosts {
		if h = canonicalHost(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	p.AllowedHosts = hosts
	return p
}

// canonicalHost lower-cases a host name and drops one trailing dot.
func canonicalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}
