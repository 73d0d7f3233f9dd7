package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/pki"
)

// tlsFiles writes a valid certificate and key and returns their paths.
func tlsFiles(t *testing.T) (cert, key string) {
	t.Helper()
	leaf, err := pki.SelfSigned(pki.LeafRequest{CommonName: "localhost", DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), Server: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(cert, leaf.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, leaf.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// validEnv configures TLS files for every listener so that a config is valid.
func validEnv(t *testing.T) []string {
	cert, key := tlsFiles(t)
	var env []string
	for _, ep := range Endpoints {
		env = append(env, "SIGNET_"+string(ep)+"_TLS_CERTIFICATE_FILE="+cert, "SIGNET_"+string(ep)+"_TLS_KEY_FILE="+key)
	}
	return env
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "signet.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadAndValidate(file string, env []string) Problems {
	cfg, ps := Load(file, env, false)
	if err := cfg.Validate(); err != nil {
		ps = append(ps, err.(Problems)...)
	}
	return ps
}

func TestValidConfiguration(t *testing.T) {
	t.Parallel()
	env := validEnv(t)
	file := writeYAML(t, `
data_dir: /var/lib/signet
roles: [idp, ops]
log: {format: text, level: debug}
database:
  url: postgres://signet@db.internal:5432/signet
redis:
  url: redis://127.0.0.1:6379/0
listeners:
  public:
    addr: 0.0.0.0:443
    public_url: https://id.example.com/auth
  ops:
    tls: "off"
shutdown_timeout: 30s
`)
	cfg, ps := Load(file, append(env, "SIGNET_API_ADDR=127.0.0.1:9445", "SIGNET_TEST_POSTGRES_URL=x", "SIGNET_CONFIG="+file), false)
	if len(ps) > 0 {
		t.Fatalf("load problems: %v", ps)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if cfg.Listeners.Public.Addr != "0.0.0.0:443" || cfg.Listeners.API.Addr != "127.0.0.1:9445" {
		t.Errorf("addresses not loaded: %+v", cfg.Listeners)
	}
	if cfg.Listeners.Ops.TLSEnabled() {
		t.Error("tls: off not applied")
	}
	if cfg.ShutdownTimeout != 30*time.Second || cfg.Log.Format != "text" || len(cfg.Roles) != 2 {
		t.Errorf("file values not applied: %+v", cfg)
	}
}

func TestEmptyFileAndSections(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "{}\n", "listeners: {}\nlog:\n"} {
		if _, ps := Load(writeYAML(t, body), nil, false); len(ps) > 0 {
			t.Errorf("%q: %v", body, ps)
		}
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "listeners:\n  public:\n    addr: 127.0.0.1:1000\n")
	cfg, ps := Load(file, []string{"SIGNET_PUBLIC_ADDR=127.0.0.1:2000"}, false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if cfg.Listeners.Public.Addr != "127.0.0.1:2000" {
		t.Errorf("env did not override file: %s", cfg.Listeners.Public.Addr)
	}
}

func TestSecretFileVariant(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "db-url")
	if err := os.WriteFile(secret, []byte("postgres://u:p@db/signet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, ps := Load("", []string{"SIGNET_DATABASE_URL_FILE=" + secret}, false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if cfg.Database.URL != "postgres://u:p@db/signet" {
		t.Errorf("DATABASE_URL_FILE not read: %q", cfg.Database.URL)
	}
	file := writeYAML(t, "redis:\n  url_file: "+secret+"\n")
	cfg, ps = Load(file, nil, false)
	if len(ps) > 0 || cfg.Redis.URL != "postgres://u:p@db/signet" {
		t.Errorf("url_file in YAML not read: %q %v", cfg.Redis.URL, ps)
	}
	_, ps = Load("", []string{"SIGNET_DATABASE_URL_FILE=" + secret, "SIGNET_DATABASE_URL=x"}, false)
	if !mentions(ps, "SIGNET_DATABASE_URL_FILE") {
		t.Errorf("inline and _FILE together not refused: %v", ps)
	}
}

func mentions(ps Problems, key string) bool {
	for _, p := range ps {
		if strings.Contains(p.Key, key) {
			return true
		}
	}
	return false
}

// TestBrokenConfigurations is the `config check` table: each broken configuration must be
// refused with a problem naming the key at fault.
func TestBrokenConfigurations(t *testing.T) {
	t.Parallel()
	cert, key := tlsFiles(t)
	base := validEnv(t)
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
		{"missing certificate file", "", []string{"SIGNET_PUBLIC_TLS_CERTIFICATE_FILE=/nonexistent/cert.pem"}, "SIGNET_PUBLIC_TLS_CERTIFICATE_FILE"},
		{"verify without CA", "", []string{"SIGNET_API_TLS_CLIENT_AUTH=verify"}, "SIGNET_API_TLS_CLIENT_CA"},
		{"client CA that is never checked", "", []string{"SIGNET_API_TLS_CLIENT_CA_FILE=" + cert}, "SIGNET_API_TLS_CLIENT_CA"},
		{"bad client auth", "", []string{"SIGNET_API_TLS_CLIENT_AUTH=sometimes"}, "SIGNET_API_TLS_CLIENT_AUTH"},
		{"bad tls switch", "", []string{"SIGNET_API_TLS=maybe"}, "SIGNET_API_TLS"},
		{"malformed database url", "", []string{"SIGNET_DATABASE_URL=postgres://%zz"}, "SIGNET_DATABASE_URL"},
		{"database url without scheme", "", []string{"SIGNET_DATABASE_URL=/var/lib/signet.db"}, "SIGNET_DATABASE_URL"},
		{"database url unknown scheme", "", []string{"SIGNET_DATABASE_URL=mysql://db/signet"}, "SIGNET_DATABASE_URL"},
		{"postgres url without database", "", []string{"SIGNET_DATABASE_URL=postgres://db.internal"}, "SIGNET_DATABASE_URL"},
		{"sqlite url with host", "", []string{"SIGNET_DATABASE_URL=sqlite://data/signet.db"}, "SIGNET_DATABASE_URL"},
		{"bad redis url", "", []string{"SIGNET_REDIS_URL=memcached://x"}, "SIGNET_REDIS_URL"},
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
			file := ""
			if c.yaml != "" {
				file = writeYAML(t, c.yaml)
			}
			ps := loadAndValidate(file, append(append([]string(nil), base...), c.env...))
			if !mentions(ps, c.key) {
				t.Fatalf("no problem names %s; got:\n%v", c.key, ps)
			}
		})
	}
}

// TestEveryProblemAtOnce: several mistakes are all reported in one run.
func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "bogus: 1\nlisteners:\n  api:\n    tls_client_auth: verify\n")
	ps := loadAndValidate(file, []string{"SIGNET_DATABASE_URL=nope://", "SIGNET_PUBLIC_ADDR=x"})
	for _, key := range []string{"bogus", "SIGNET_DATABASE_URL", "SIGNET_PUBLIC_ADDR", "SIGNET_API_TLS_CLIENT_CA", "SIGNET_DEVICE_TLS_CERTIFICATE"} {
		if !mentions(ps, key) {
			t.Errorf("missing problem for %s in:\n%v", key, ps)
		}
	}
}

func TestDocsAreCurrent(t *testing.T) {
	t.Parallel()
	want := Markdown()
	got, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/configuration.md is out of date; regenerate it with: go run ./cmd/signet config docs > docs/configuration.md")
	}
	for _, f := range Fields() {
		if f.Doc == "" {
			t.Errorf("key %s has no doc", f.YAML)
		}
	}
}
