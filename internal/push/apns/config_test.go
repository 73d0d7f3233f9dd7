package apns_test

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/push/apns"
)

func validConfig(t *testing.T) apns.Config {
	return apns.Config{
		Key:         newKeyPEM(t, elliptic.P256()),
		KeyID:       "ABC123DEFG",
		TeamID:      "DEF123GHIJ",
		Topic:       "com.example.signet",
		Environment: apns.Production,
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})

	tests := []struct {
		name   string
		change func(c *apns.Config)
		want   []string // substrings, one per expected problem; none means valid
	}{
		{"valid", func(*apns.Config) {}, nil},
		{"sandbox on 2197", func(c *apns.Config) { c.Environment, c.Port = apns.Sandbox, apns.AlternativePort }, nil},
		{"base URL without environment", func(c *apns.Config) { c.Environment, c.BaseURL = "", "https://127.0.0.1:9443" }, nil},
		{"no key", func(c *apns.Config) { c.Key = nil }, []string{"key is required"}},
		{"not PEM", func(c *apns.Config) { c.Key = []byte("not a key") }, []string{"PEM"}},
		{"PEM of garbage", func(c *apns.Config) {
			c.Key = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")})
		}, []string{"PKCS#8"}},
		{"P-384 key", func(c *apns.Config) { c.Key = newKeyPEM(t, elliptic.P384()) }, []string{"P-256"}},
		{"RSA key", func(c *apns.Config) { c.Key = rsaPEM }, []string{"P-256"}},
		{"short key id", func(c *apns.Config) { c.KeyID = "ABC" }, []string{"key id"}},
		{"team id with a space", func(c *apns.Config) { c.TeamID = "DEF123GHI " }, []string{"team id"}},
		{"no topic", func(c *apns.Config) { c.Topic = "" }, []string{"topic"}},
		{"no environment", func(c *apns.Config) { c.Environment = "" }, []string{"environment is required"}},
		{"unknown environment", func(c *apns.Config) { c.Environment = "development" }, []string{`"development"`}},
		{"port 8443", func(c *apns.Config) { c.Port = 8443 }, []string{"port 8443"}},
		{"port and base URL", func(c *apns.Config) { c.Port, c.BaseURL = 2197, "https://127.0.0.1:9443" }, []string{"either port or base URL"}},
		{"http base URL", func(c *apns.Config) { c.BaseURL = "http://127.0.0.1:9443" }, []string{"https"}},
		{"base URL with query", func(c *apns.Config) { c.BaseURL = "https://proxy.example.com/?x=1" }, []string{"query"}},
		{"everything wrong at once", func(c *apns.Config) {
			*c = apns.Config{Key: []byte("x"), KeyID: "k", TeamID: "t", Environment: "dev", Port: 80}
		}, []string{"PEM", "key id", "team id", "topic", `"dev"`, "port 80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig(t)
			tt.change(&cfg)
			err := cfg.Validate()
			_, newErr := apns.New(cfg)
			if len(tt.want) == 0 {
				if err != nil || newErr != nil {
					t.Fatalf("Validate = %v, New = %v, want both nil", err, newErr)
				}
				return
			}
			if err == nil || newErr == nil {
				t.Fatalf("Validate = %v, New = %v, want both to fail", err, newErr)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("Validate reported %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate = %v, want it to mention %q", err, want)
				}
			}
		})
	}
}

// A key's bytes never appear in a validation error.
func TestConfigErrorsQuoteNoKey(t *testing.T) {
	t.Parallel()
	cfg := validConfig(t)
	good := cfg.Key
	block, _ := pem.Decode(good)
	cfg.Key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: block.Bytes})
	cfg.KeyID = ""
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate = nil, want an error")
	}
	body := strings.Join(strings.Split(string(good), "\n")[1:3], "")
	if strings.Contains(err.Error(), body[:20]) || strings.Contains(err.Error(), "BEGIN") {
		t.Fatalf("Validate error quotes the key: %v", err)
	}
}

// Printing a Config, alone or inside another value, never prints its key.
func TestConfigPrintsNoKey(t *testing.T) {
	t.Parallel()
	cfg := validConfig(t)
	// The key as %s shows it (PEM text) and as %v shows it (a list of byte values).
	body := strings.Split(string(cfg.Key), "\n")[1]
	bytesShown := strings.Trim(fmt.Sprint(cfg.Key[40:52]), "[]")
	outer := struct{ APNs apns.Config }{cfg}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, outer} {
			got := fmt.Sprintf(format, v)
			if strings.Contains(got, body[:16]) || strings.Contains(got, "PRIVATE KEY") ||
				strings.Contains(got, bytesShown) {
				t.Errorf("%s of %T prints the key: %s", format, v, got)
			}
			if !strings.Contains(got, cfg.KeyID) {
				t.Errorf("%s of %T = %s, want the key id shown", format, v, got)
			}
		}
	}
}
