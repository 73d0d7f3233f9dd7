package server

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestEveryListenerIsTLS13Only: on every listener a TLS 1.2 client is refused and a TLS 1.3
// client gets an answer over HTTP/2; DEVICE answers over HTTP/1.1, which WebSocket needs.
func TestEveryListenerIsTLS13Only(t *testing.T) {
	p := newTestPKI(t)
	s := startServer(t, p.testConfig(t, "none"))
	for _, ep := range config.Endpoints {
		t.Run(string(ep), func(t *testing.T) {
			assertTLS12Refused(t, p, s.URL(ep))
			resp, err := get(client(pool(p.serverCA), 0, nil), s.URL(ep)+"/")
			if err != nil {
				t.Fatalf("TLS 1.3 client refused: %v", err)
			}
			proto := 2
			if ep == config.Device {
				proto = 1
			}
			if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || resp.ProtoMajor != proto {
				t.Fatalf("negotiated %v HTTP/%d, want TLS 1.3 and HTTP/%d", resp.TLS, resp.ProtoMajor, proto)
			}
		})
	}
}

// TestClientAuthMatrix: in each mode, on every listener, each kind of client certificate is
// accepted or refused as PRODUCT.md says.
func TestClientAuthMatrix(t *testing.T) {
	p := newTestPKI(t)
	want := map[string]map[string]bool{
		"none":     {"none": true, "self-signed": true, "wrong CA": true, "right CA": true, "expired": true},
		"optional": {"none": true, "self-signed": false, "wrong CA": false, "right CA": true, "expired": false},
		"require":  {"none": false, "self-signed": true, "wrong CA": true, "right CA": true, "expired": false},
		"verify":   {"none": false, "self-signed": false, "wrong CA": false, "right CA": true, "expired": false},
	}
	for _, mode := range []string{"none", "optional", "require", "verify"} {
		t.Run(mode, func(t *testing.T) {
			s := startServer(t, p.testConfig(t, mode))
			for _, ep := range config.Endpoints {
				for kind, ok := range want[mode] {
					_, err := get(client(pool(p.serverCA), 0, p.clients[kind]), s.URL(ep)+"/")
					if ok && err != nil {
						t.Errorf("%s: %s certificate refused: %v", ep, kind, err)
					}
					if !ok && err == nil {
						t.Errorf("%s: %s certificate accepted", ep, kind)
					}
				}
			}
		})
	}
}

// TestCertificateReloadOnEveryListener: replacing the certificate files switches every
// listener to the new certificate without a restart; TLS 1.2 stays refused and the
// client-auth mode stays in force.
func TestCertificateReloadOnEveryListener(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.testConfig(t, "verify")
	s := startServer(t, cfg)
	good := client(pool(p.serverCA), 0, p.clients["right CA"])
	for _, ep := range config.Endpoints {
		_, _, serial := p.writeServerCert(t, cfg.DataDir, strings.ToLower(string(ep)))
		testutil.Eventually(t, 15*time.Second, func() bool {
			resp, err := get(good, s.URL(ep)+"/")
			return err == nil && resp.TLS.PeerCertificates[0].SerialNumber.String() == serial
		}, "%s never served the replaced certificate", ep)
		assertTLS12Refused(t, p, s.URL(ep))
		if _, err := get(client(pool(p.serverCA), 0, nil), s.URL(ep)+"/"); err == nil {
			t.Errorf("%s: verify mode lost after reload: client without certificate served", ep)
		}
	}
}

// assertTLS12Refused: a TLS 1.2 client fails with a protocol-version alert (not some
// unrelated error such as a bad certificate).
func assertTLS12Refused(t *testing.T, p *testPKI, url string) {
	t.Helper()
	_, err := get(client(pool(p.serverCA), tls.VersionTLS12, p.clients["right CA"]), url+"/")
	if err == nil {
		t.Fatalf("%s: TLS 1.2 client was served", url)
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("%s: TLS 1.2 client failed for another reason: %v", url, err)
	}
}
