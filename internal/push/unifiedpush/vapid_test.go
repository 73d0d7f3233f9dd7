package unifiedpush

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/outbound"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	priv, _, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	// The order of P-256: a 32-byte value that is not a valid scalar.
	order := "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE"
	tests := []struct {
		name string
		cfg  Config
		want []string // every problem, all reported at once
	}{
		{"valid mailto", Config{VAPIDPrivateKey: priv, Subject: "mailto:ops@example.com"}, nil},
		{"valid https", Config{VAPIDPrivateKey: priv, Subject: "https://signet.example.com/contact"}, nil},
		{"padded key", Config{VAPIDPrivateKey: priv + "=", Subject: "mailto:ops@example.com"}, nil},
		{"empty", Config{}, []string{"VAPID private key is required", "VAPID subject is required"}},
		{"bad key and subject", Config{VAPIDPrivateKey: "not*base64", Subject: "ops@example.com"},
			[]string{"not base64url", "must be a mailto: or https: URI"}},
		{"short key", Config{VAPIDPrivateKey: priv[:20], Subject: "mailto:ops@example.com"}, []string{"is 15 bytes, want the 32-byte"}},
		{"zero scalar", Config{VAPIDPrivateKey: base64.RawURLEncoding.EncodeToString(make([]byte, 32)), Subject: "mailto:a@b"},
			[]string{"not a valid P-256 private key"}},
		{"scalar = order", Config{VAPIDPrivateKey: order, Subject: "mailto:a@b"}, []string{"not a valid P-256 private key"}},
		{"mailto without address", Config{VAPIDPrivateKey: priv, Subject: "mailto:ops"}, []string{"not a mailto: address"}},
		{"http subject", Config{VAPIDPrivateKey: priv, Subject: "http://example.com"}, []string{"must be a mailto: or https: URI"}},
		{"https without host", Config{VAPIDPrivateKey: priv, Subject: "https:///contact"}, []string{"has no host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if tt.cfg.VAPIDPrivateKey != "" && strings.Contains(err.Error(), tt.cfg.VAPIDPrivateKey) {
				t.Errorf("Validate() repeats the private key: %q", err)
			}
		})
	}
}

func TestNewRefusesBadConfigAndNoClient(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Subject: "http://x"}, nil)
	if err == nil {
		t.Fatal("New accepted an empty key, a bad subject and no client")
	}
	for _, w := range []string{"private key is required", "mailto: or https:", "outbound client is required"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("New() = %q, want it to contain %q", err, w)
		}
	}
}

func TestGenerateVAPIDKey(t *testing.T) {
	t.Parallel()
	priv, pub, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	raw := b64(t, pub)
	if _, err := ecdh.P256().NewPublicKey(raw); err != nil || len(raw) != 65 || raw[0] != 0x04 {
		t.Fatalf("applicationServerKey is not an uncompressed P-256 point (%d bytes): %v", len(raw), err)
	}
	s, err := New(Config{VAPIDPrivateKey: priv, Subject: "mailto:ops@example.com"}, outbound.New(outbound.DefaultPolicy()))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ApplicationServerKey(); got != pub {
		t.Fatalf("ApplicationServerKey() = %s, want the generated %s", got, pub)
	}
	priv2, _, _ := GenerateVAPIDKey()
	if priv2 == priv {
		t.Fatal("two generated keys are equal")
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://push.example.net/wpush/v2/abc?x=1", "https://push.example.net"},
		{"HTTPS://Push.Example.NET:443/x", "https://push.example.net"},
		{"https://push.example.net:8443/x", "https://push.example.net:8443"},
		{"http://10.0.0.5:80/up", "http://10.0.0.5"},
		{"http://10.0.0.5:8080/up", "http://10.0.0.5:8080"},
		{"https://[2001:DB8::1]/x", "https://[2001:db8::1]"},
		{"https://[2001:db8::1]:9443/x", "https://[2001:db8::1]:9443"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Origin(u); got != tt.want {
			t.Errorf("Origin(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestTopic(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 33)
	tests := []struct {
		name, in string
		asIs     bool
	}{
		{"valid", "login-42_A", true},
		{"32 chars", strings.Repeat("Z", 32), true},
		{"33 chars", long, false},
		{"colon", "req:1234", false},
		{"space", "sign in", false},
		{"non-ASCII", "anmeldung-ü", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Topic(tt.in)
			if tt.asIs {
				if got != tt.in {
					t.Fatalf("Topic(%q) = %q, want it unchanged", tt.in, got)
				}
				return
			}
			// RFC 8030 §5.4: at most 32 characters of the base64url alphabet.
			if !validTopic(got) || len(got) != 32 {
				t.Fatalf("Topic(%q) = %q, not 32 base64url characters", tt.in, got)
			}
			if Topic(tt.in) != got {
				t.Fatal("Topic is not deterministic: equal ids would not collapse")
			}
			if Topic(tt.in+"x") == got {
				t.Fatal("different ids map to the same topic")
			}
		})
	}
}

// Printing a Config, alone or inside another value, never prints its private key.
func TestConfigPrintsNoKey(t *testing.T) {
	t.Parallel()
	priv, _, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{VAPIDPrivateKey: priv, Subject: subject}
	outer := struct{ Push Config }{cfg}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, outer} {
			got := fmt.Sprintf(format, v)
			if strings.Contains(got, priv[:12]) {
				t.Errorf("%s of %T prints the key: %s", format, v, got)
			}
			if !strings.Contains(got, subject) {
				t.Errorf("%s of %T = %s, want the subject shown", format, v, got)
			}
		}
	}
}
