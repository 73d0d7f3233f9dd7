// Package outboundtest helps tests of code that makes outbound calls: a resolver that
// answers from a fixed table, so a test can give a loopback server a public-looking name
// (and exercise the outbound address rules on it) without any real DNS traffic.
package outboundtest

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// DNS record types (RFC 1035 §3.2.2, RFC 3596 §2.1).
const (
	typeA    = 1
	typeAAAA = 28
)

// Resolver returns a resolver for outbound.WithResolver that answers A and AAAA queries
// for the names in hosts (case-insensitive, trailing dot ignored) and "no such host" for
// every other name. It never opens a socket: each query travels over an in-memory pipe.
// Names in /etc/hosts, such as localhost, are still answered from there.
func Resolver(hosts map[string][]netip.Addr) *net.Resolver {
	table := make(map[string][]netip.Addr, len(hosts))
	for name, addrs := range hosts {
		table[strings.TrimSuffix(strings.ToLower(name), ".")] = slices.Clone(addrs)
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			// The goroutine ends when the resolver closes its end after the exchange.
			go serve(server, table)
			return client, nil
		},
	}
}

// serve answers queries in DNS-over-TCP framing (a two-byte length before each message,
// RFC 1035 §4.2.2), which the Go resolver uses on any connection that is not a
// net.PacketConn.
func serve(c net.Conn, table map[string][]netip.Addr) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		query := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, query); err != nil {
			return
		}
		reply, ok := answer(query, table)
		if !ok {
			return
		}
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(reply))), reply...)); err != nil {
			return
		}
	}
}

// answer builds the reply to one query (RFC 1035 §4.1): the header, the question echoed,
// and one record per matching address.
func answer(query []byte, table map[string][]netip.Addr) ([]byte, bool) {
	if len(query) < 12 {
		return nil, false
	}
	var labels []string
	i := 12
	for {
		if i >= len(query) {
			return nil, false
		}
		l := int(query[i])
		i++
		if l == 0 {
			break
		}
		if l&0xc0 != 0 || i+l > len(query) {
			return nil, false
		}
		labels = append(labels, string(query[i:i+l]))
		i += l
	}
	if i+4 > len(query) {
		return nil, false
	}
	qtype := binary.BigEndian.Uint16(query[i:])
	question := query[12 : i+4]

	addrs, known := table[strings.ToLower(strings.Join(labels, "."))]
	var records [][]byte
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case qtype == typeA && a.Is4(), qtype == typeAAAA && a.Is6():
			records = append(records, a.AsSlice())
		}
	}
	// QR, AA, RD, RA; RCODE 3 (NXDOMAIN) for unknown names.
	flags := uint16(0x8580)
	if !known {
		flags |= 3
	}
	reply := append([]byte(nil), query[0:2]...) // ID
	reply = binary.BigEndian.AppendUint16(reply, flags)
	reply = binary.BigEndian.AppendUint16(reply, 1)
	reply = binary.BigEndian.AppendUint16(reply, uint16(len(records)))
	reply = append(reply, 0, 0, 0, 0) // no authority, no additional records
	reply = append(reply, question...)
	for _, rdata := range records {
		reply = append(reply, 0xc0, 12) // name: pointer to the question's name
		reply = binary.BigEndian.AppendUint16(reply, qtype)
		reply = binary.BigEndian.AppendUint16(reply, 1)  // class IN
		reply = binary.BigEndian.AppendUint32(reply, 60) // TTL
		reply = binary.BigEndian.AppendUint16(reply, uint16(len(rdata)))
		reply = append(reply, rdata...)
	}
	return reply, true
}
