package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/testutil"
)

// validEnv configures TLS files for every listener so that a config is valid.
func validEnv(t *testing.T) []string {
	cert, key := testutil.CertificateFiles(t)
	env := []string{"SIGNET_KEYS_ENCRYPTION_KEY=AjI36SWMFEYM7gmiR58fWRqoMd2suayNbpWoT13Yd6o="}
	for _, ep := range Endpoints {
		env = append(env, "SIGNET_"+string(ep)+"_TLS_CERTIFICATE_FILE="+cert, "SIGNET_"+string(ep)+"_TLS_KEY_FILE="+key)
	}
	return env
}

func writeYAML(t *testing.T, body string) string { return testutil.WriteTemp(t, "signet.yaml", body) }

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
	env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "SIGNET_OPS_") })
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

// mentions reports whether a problem's key names key exactly (as the YAML key or the
// environment variable), not merely as a substring.
func mentions(ps Problems, key string) bool {
	for _, p := range ps {
		for _, tok := range strings.FieldsFunc(p.Key, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
			if tok == key {
				return true
			}
		}
	}
	return false
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

// TestDeviceLimits: the device section loads from the file and the environment (the
// environment winning), and Validate names every bad limit by key and variable.
func TestDeviceLimits(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "device:\n  handshakes_per_ip_per_minute: 500\n  idle_timeout: 90s\n")
	env := append(validEnv(t), "SIGNET_DEVICE_HANDSHAKES_PER_IP_PER_MINUTE=100000",
		"SIGNET_DEVICE_ENROLLMENTS_PER_IP_PER_MINUTE=20", "SIGNET_DEVICE_HANDSHAKE_TIMEOUT=3s", "SIGNET_DEVICE_MAX_MESSAGE_BYTES=8192",
		"SIGNET_DEVICE_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.7,2001:db8::/32")
	cfg, ps := Load(file, env, false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DeviceConfig{HandshakesPerIPPerMinute: 100000, EnrollmentsPerIPPerMinute: 20,
		HandshakeTimeout: 3 * time.Second, IdleTimeout: 90 * time.Second, MaxMessageBytes: 8192, MaxConnections: 100000,
		TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}}
	if !reflect.DeepEqual(cfg.Device, want) {
		t.Errorf("device section %+v, want %+v", cfg.Device, want)
	}
	if d := Default(false).Device; d.HandshakesPerIPPerMinute != 120 || d.EnrollmentsPerIPPerMinute != 10 || d.MaxMessageBytes != 64<<10 {
		t.Errorf("defaults changed: %+v", d)
	}

	bad := append(validEnv(t), "SIGNET_DEVICE_HANDSHAKES_PER_IP_PER_MINUTE=0", "SIGNET_DEVICE_ENROLLMENTS_PER_IP_PER_MINUTE=-1",
		"SIGNET_DEVICE_HANDSHAKE_TIMEOUT=0s", "SIGNET_DEVICE_IDLE_TIMEOUT=-1m", "SIGNET_DEVICE_MAX_MESSAGE_BYTES=10",
		"SIGNET_DEVICE_TRUSTED_PROXIES=10.0.0.0/8,proxy.example.com")
	ps = loadAndValidate("", bad)
	for _, key := range []string{"SIGNET_DEVICE_HANDSHAKES_PER_IP_PER_MINUTE", "SIGNET_DEVICE_ENROLLMENTS_PER_IP_PER_MINUTE",
		"SIGNET_DEVICE_HANDSHAKE_TIMEOUT", "SIGNET_DEVICE_IDLE_TIMEOUT", "SIGNET_DEVICE_MAX_MESSAGE_BYTES", "device.max_message_bytes", "SIGNET_DEVICE_TRUSTED_PROXIES"} {
		if !mentions(ps, key) {
			t.Errorf("missing problem for %s in:\n%v", key, ps)
		}
	}
	if _, ps := Load("", []string{"SIGNET_DEVICE_IDLE_TIMEOUT=soon"}, false); !mentions(ps, "SIGNET_DEVICE_IDLE_TIMEOUT") {
		t.Errorf("unparsable duration not reported: %v", ps)
	}
	// A node without the device role does not check the section.
	if ps := loadAndValidate("", append(bad, "SIGNET_ROLES=idp")); mentions(ps, "SIGNET_DEVICE_HANDSHAKE_TIMEOUT") {
		t.Errorf("device limits checked without the device role: %v", ps)
	}
}

// TestAuthnLimits: the push-bombing limits load from the file and the environment, reach
// their defaults otherwise, and every bad one is named.
func TestAuthnLimits(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "authn:\n  max_pending: 5\n  cooldown: 30s\n")
	cfg, ps := Load(file, append(validEnv(t), "SIGNET_AUTHN_MAX_CREATED=50", "SIGNET_AUTHN_DENIAL_WINDOW=1h"), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := AuthnConfig{MaxPending: 5, MaxCreated: 50, CreatedWindow: 10 * time.Minute,
		DenialsBeforeCooldown: 3, DenialWindow: time.Hour, Cooldown: 30 * time.Second}
	if cfg.Authn != want {
		t.Errorf("authn section %+v, want %+v", cfg.Authn, want)
	}
	bad := append(validEnv(t), "SIGNET_AUTHN_MAX_PENDING=0", "SIGNET_AUTHN_MAX_CREATED=-1", "SIGNET_AUTHN_CREATED_WINDOW=0s",
		"SIGNET_AUTHN_DENIALS_BEFORE_COOLDOWN=0", "SIGNET_AUTHN_DENIAL_WINDOW=-1m", "SIGNET_AUTHN_COOLDOWN=0s")
	ps = loadAndValidate("", bad)
	for _, key := range []string{"SIGNET_AUTHN_MAX_PENDING", "SIGNET_AUTHN_MAX_CREATED", "SIGNET_AUTHN_CREATED_WINDOW",
		"SIGNET_AUTHN_DENIALS_BEFORE_COOLDOWN", "SIGNET_AUTHN_DENIAL_WINDOW", "SIGNET_AUTHN_COOLDOWN"} {
		if !mentions(ps, key) {
			t.Errorf("missing problem for %s in:\n%v", key, ps)
		}
	}
	if ps := loadAndValidate("", append(validEnv(t), "SIGNET_AUTHN_MAX_PENDING=20")); !mentions(ps, "authn.max_pending") {
		t.Errorf("max_pending above max_created not reported: %v", ps)
	}
}

// TestMessagingSettings: the messaging section loads, and each bad value is named.
func TestMessagingSettings(t *testing.T) {
	t.Parallel()
	cfg, ps := Load("", append(validEnv(t), "SIGNET_MESSAGING_APNS_URL=https://apns-proxy.internal:8443",
		"SIGNET_MESSAGING_REMINDER_AFTER=45s", "SIGNET_MESSAGING_TITLE=Anmeldung"), false)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := MessagingConfig{APNsURL: "https://apns-proxy.internal:8443", Title: "Anmeldung", ReminderAfter: 45 * time.Second, SendTimeout: 10 * time.Second}
	if cfg.Messaging != want {
		t.Errorf("messaging section %+v, want %+v", cfg.Messaging, want)
	}
	bad := append(validEnv(t), "SIGNET_MESSAGING_APNS_URL=http://apns.example", "SIGNET_MESSAGING_FCM_URL=::",
		"SIGNET_MESSAGING_TITLE= ", "SIGNET_MESSAGING_REMINDER_AFTER=-1s", "SIGNET_MESSAGING_SEND_TIMEOUT=0s")
	ps = loadAndValidate("", bad)
	for _, key := range []string{"SIGNET_MESSAGING_APNS_URL", "SIGNET_MESSAGING_FCM_URL", "SIGNET_MESSAGING_TITLE",
		"SIGNET_MESSAGING_REMINDER_AFTER", "SIGNET_MESSAGING_SEND_TIMEOUT"} {
		if !mentions(ps, key) {
			t.Errorf("missing problem for %s in:\n%v", key, ps)
		}
	}
	if ps := loadAndValidate("", append(bad, "SIGNET_ROLES=idp")); mentions(ps, "SIGNET_MESSAGING_TITLE") {
		t.Errorf("messaging settings checked without the messaging role: %v", ps)
	}
}
