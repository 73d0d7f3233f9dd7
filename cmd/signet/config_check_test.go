package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/testutil"
)

// validEnv configures TLS files for every listener so that a configuration is valid.
func validEnv(t *testing.T) []string {
	cert, key := testutil.CertificateFiles(t)
	kek, err := keys.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SIGNET_DATA_DIR=" + t.TempDir(), "SIGNET_KEYS_ENCRYPTION_KEY=" + kek}
	for _, ep := range config.Endpoints {
		env = append(env, "SIGNET_"+string(ep)+"_TLS_CERTIFICATE_FILE="+cert, "SIGNET_"+string(ep)+"_TLS_KEY_FILE="+key)
	}
	return env
}

func writeYAML(t *testing.T, body string) string { return testutil.WriteTemp(t, "signet.yaml", body) }

// namesKey reports whether a problem line of `config check` names key exactly, as its YAML
// key or its environment variable, not merely as a substring of another key.
func namesKey(out, key string) bool {
	for _, line := range strings.Split(out, "\n") {
		k, _, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		for _, tok := range strings.FieldsFunc(k, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
			if tok == key || strings.HasSuffix(tok, "/"+key) {
				return true
			}
		}
	}
	return false
}

func TestValidConfigurationPasses(t *testing.T) {
	t.Parallel()
	env := append(validEnv(t), "SIGNET_PUBLIC_ADDR=127.0.0.2:7443", "SIGNET_ADMIN_ADDR=127.0.0.1:7443")
	if code, out, errOut := runCLI(t, env, "config", "check"); code != exitOK || !strings.Contains(out, "valid") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
}

// TestDevCheckReportsOnlyRealProblems: in dev mode missing certificates are not problems
// (dev mode issues them), and `config check --dev` writes nothing.
func TestDevCheckReportsOnlyRealProblems(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	code, _, errOut := runCLI(t, []string{"SIGNET_DATA_DIR=" + dir, "SIGNET_NO_SUCH_KEY=1"}, "config", "check", "--dev")
	if code != exitUsage || !strings.Contains(errOut, "1 problem(s)") || !namesKey(errOut, "SIGNET_NO_SUCH_KEY") {
		t.Fatalf("exit %d, output:\n%s", code, errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("config check --dev created the data directory (%v)", err)
	}
}

// TestBrokenConfigurations is the `config check` table: each broken configuration must be
// refused with a problem naming the key at fault.
func TestBrokenConfigurations(t *testing.T) {
	t.Parallel()
	cert, key := testutil.CertificateFiles(t)
	_, otherKey := testutil.CertificateFiles(t)
	base := validEnv(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		yaml string
		env  []string
		key  string // must appear in a problem's key
	}{
		{"unknown yaml key", "listeners:\n  public:\n    adress: :1\n", nil, "listeners.public.adress"},
		{"unknown top-level key", "databse:\n  url: x\n", nil, "databse"},
		{"unknown env var", "", []string{"SIGNET_PUBLC_ADDR=:1"}, "SIGNET_PUBLC_ADDR"},
		{"bad address", "", []string{"SIGNET_API_ADDR=localhost"}, "SIGNET_API_ADDR"},
		{"bad port", "", []string{"SIGNET_DEVICE_ADDR=:99999"}, "SIGNET_DEVICE_ADDR"},
		{"bad host", "", []string{"SIGNET_ADMIN_ADDR=bad host!:8444"}, "SIGNET_ADMIN_ADDR"},
		{"duplicate port", "", []string{"SIGNET_ADMIN_ADDR=:8443"}, "SIGNET_ADMIN_ADDR"},
		{"key without certificate", "", []string{"SIGNET_GRPC_TLS_CERTIFICATE_FILE=", "SIGNET_GRPC_TLS_KEY_FILE=" + key}, "SIGNET_GRPC_TLS_CERTIFICATE"},
		{"certificate without key", "", []string{"SIGNET_OPS_TLS_KEY_FILE=", "SIGNET_OPS_TLS_CERTIFICATE_FILE=" + cert}, "SIGNET_OPS_TLS_KEY"},
		{"missing certificate file", "", []string{"SIGNET_PUBLIC_TLS_CERTIFICATE_FILE=/nonexistent/cert.pem"}, "SIGNET_PUBLIC_TLS_*"},
		{"garbage certificate file", "", []string{"SIGNET_PUBLIC_TLS_CERTIFICATE_FILE=" + garbage}, "SIGNET_PUBLIC_TLS_*"},
		{"key of another certificate", "", []string{"SIGNET_DEVICE_TLS_KEY_FILE=" + otherKey}, "SIGNET_DEVICE_TLS_*"},
		{"client CA holding a private key", "", []string{"SIGNET_API_TLS_CLIENT_AUTH=verify", "SIGNET_API_TLS_CLIENT_CA_FILE=" + key}, "SIGNET_API_TLS_*"},
		{"tls off with client auth", "", []string{"SIGNET_ADMIN_TLS=off", "SIGNET_ADMIN_TLS_CERTIFICATE_FILE=", "SIGNET_ADMIN_TLS_KEY_FILE=", "SIGNET_ADMIN_TLS_CLIENT_AUTH=verify"}, "SIGNET_ADMIN_TLS"},
		{"tls off with a certificate", "", []string{"SIGNET_ADMIN_TLS=off"}, "SIGNET_ADMIN_TLS"},
		{"same port on a host and on every interface", "", []string{"SIGNET_PUBLIC_ADDR=:7443", "SIGNET_ADMIN_ADDR=127.0.0.1:7443"}, "SIGNET_ADMIN_ADDR"},
		{"verify without CA", "", []string{"SIGNET_API_TLS_CLIENT_AUTH=verify"}, "SIGNET_API_TLS_CLIENT_CA"},
		{"client CA that is never checked", "", []string{"SIGNET_API_TLS_CLIENT_CA_FILE=" + cert}, "SIGNET_API_TLS_CLIENT_CA"},
		{"bad client auth", "", []string{"SIGNET_API_TLS_CLIENT_AUTH=sometimes"}, "SIGNET_API_TLS_CLIENT_AUTH"},
		{"bad tls switch", "", []string{"SIGNET_API_TLS=maybe"}, "SIGNET_API_TLS"},
		{"malformed database url", "", []string{"SIGNET_DATABASE_URL=postgres://%zz"}, "SIGNET_DATABASE_URL"},
		{"database url without scheme", "", []string{"SIGNET_DATABASE_URL=/var/lib/signet.db"}, "SIGNET_DATABASE_URL"},
		{"database url unknown scheme", "", []string{"SIGNET_DATABASE_URL=mysql://db/signet"}, "SIGNET_DATABASE_URL"},
		{"postgres url without database", "", []string{"SIGNET_DATABASE_URL=postgres://db.internal"}, "SIGNET_DATABASE_URL"},
		{"sqlite url with host", "", []string{"SIGNET_DATABASE_URL=sqlite://data/signet.db"}, "SIGNET_DATABASE_URL"},
		{"key-encryption key missing", "", []string{"SIGNET_KEYS_ENCRYPTION_KEY="}, "SIGNET_KEYS_ENCRYPTION_KEY"},
		{"key-encryption key too short", "", []string{"SIGNET_KEYS_ENCRYPTION_KEY=c2hvcnQ="}, "SIGNET_KEYS_ENCRYPTION_KEY"},
		{"rotation shorter than pre-publication", "", []string{"SIGNET_KEYS_ROTATION_PERIOD=24h", "SIGNET_KEYS_PREPUBLISH_FOR=48h"}, "SIGNET_KEYS_ROTATION_PERIOD"},
		{"bad redis url", "", []string{"SIGNET_REDIS_URL=memcached://x"}, "SIGNET_REDIS_URL"},
		{"redis url with an unknown parameter", "", []string{"SIGNET_REDIS_URL=redis://127.0.0.1:6379?bogus=1"}, "SIGNET_REDIS_URL"},
		{"redis url with a bad database", "", []string{"SIGNET_REDIS_URL=redis://127.0.0.1:6379/notanumber"}, "SIGNET_REDIS_URL"},
		{"bad public url", "", []string{"SIGNET_PUBLIC_PUBLIC_URL=id.example.com"}, "SIGNET_PUBLIC_PUBLIC_URL"},
		{"public url with trailing slash", "", []string{"SIGNET_PUBLIC_PUBLIC_URL=https://id.example.com/"}, "SIGNET_PUBLIC_PUBLIC_URL"},
		{"unknown role", "", []string{"SIGNET_ROLES=idp,web"}, "SIGNET_ROLES"},
		{"bad log format", "", []string{"SIGNET_LOG_FORMAT=xml"}, "SIGNET_LOG_FORMAT"},
		{"bad duration", "", []string{"SIGNET_SHUTDOWN_TIMEOUT=soon"}, "SIGNET_SHUTDOWN_TIMEOUT"},
		{"bad boolean", "", []string{"SIGNET_DATABASE_AUTO_MIGRATE=perhaps"}, "SIGNET_DATABASE_AUTO_MIGRATE"},
		{"bad path prefix", "path_prefix: auth/\n", nil, "path_prefix"},
		{"mapping where value expected", "listeners: 5\n", nil, "listeners"},
		{"top level not a mapping", "- a\n- b\n", nil, "signet.yaml"},
		{"invalid yaml", "listeners: [\n", nil, "signet.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"config", "check"}
			if c.yaml != "" {
				args = append(args, "--config", writeYAML(t, c.yaml))
			}
			code, _, errOut := runCLI(t, append(append([]string(nil), base...), c.env...), args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; output:\n%s", code, exitUsage, errOut)
			}
			if !namesKey(errOut, c.key) {
				t.Fatalf("no problem names %s; got:\n%s", c.key, errOut)
			}
		})
	}
}
