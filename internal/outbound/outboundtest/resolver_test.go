package outboundtest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestResolver(t *testing.T) {
	t.Parallel()
	r := Resolver(map[string][]netip.Addr{
		"API.Example.com.": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"v4.example.com":   {netip.MustParseAddr("192.0.2.7")},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	tests := []struct {
		host string
		want []string
	}{
		{"api.example.com", []string{"127.0.0.1", "::1"}},
		{"API.EXAMPLE.COM.", []string{"127.0.0.1", "::1"}},
		{"v4.example.com", []string{"192.0.2.7"}},
	}
	for _, tt := range tests {
		got, err := r.LookupNetIP(ctx, "ip", tt.host)
		if err != nil {
			t.Fatalf("LookupNetIP(%q): %v", tt.host, err)
		}
		var s []string
		for _, a := range got {
			s = append(s, a.Unmap().String())
		}
		slices.Sort(s)
		if !slices.Equal(s, tt.want) {
			t.Errorf("LookupNetIP(%q) = %v, want %v", tt.host, s, tt.want)
		}
	}

	_, err := r.LookupNetIP(ctx, "ip", "unknown.example.com")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown name: err = %v, want not found", err)
	}
}
