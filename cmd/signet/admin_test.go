package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/server"
	"github.com/signet-auth/signet/internal/testutil"
)

// devServer runs `signet serve --dev` in-process on loopback ports chosen by the kernel
// and returns its data directory once the admin bootstrap file is written (the
// listeners are up by then).
func devServer(t *testing.T) string {
	t.Helper()
	dir, _ := devServerWithOutput(t)
	return dir
}

// devServerWithOutput is devServer that also returns what the server printed.
func devServerWithOutput(t *testing.T, extraEnv ...string) (string, *testutil.SyncBuffer) {
	t.Helper()
	dir := t.TempDir()
	env := append([]string{"SIGNET_DATA_DIR=" + dir}, extraEnv...)
	for _, ep := range config.Endpoints {
		env = append(env, "SIGNET_"+string(ep)+"_ADDR=127.0.0.1:0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testutil.SyncBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"serve", "--dev"}, env, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Error("signet serve did not stop within 30s")
		}
	})
	testutil.Eventually(t, 60*time.Second, func() bool {
		select {
		case code := <-exited:
			t.Fatalf("signet serve exited with %d:\n%s", code, stderr.String())
		default:
		}
		_, err := os.Stat(filepath.Join(dir, server.BootstrapFile))
		return err == nil && strings.Contains(stdout.String(), "Admin API:")
	}, "the dev server did not come up:\n%s", &stderr)
	return dir, &stdout
}

// adminEnv is the environment of admin commands against the dev server in dir: the data
// directory (for the bootstrap file) and a credentials path of the test's own.
func adminEnv(t *testing.T, dir string) []string {
	return []string{"SIGNET_DATA_DIR=" + dir, envAdminCredentials + "=" + filepath.Join(t.TempDir(), "credentials.json")}
}

// adminRunner returns a function that runs `signet admin args...` in env, fails the
// test unless it exits with want, and returns its standard output and error.
func adminRunner(t *testing.T, env []string) func(want int, args ...string) (string, string) {
	return func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runCLI(t, env, append([]string{"admin"}, args...)...)
		if code != want {
			t.Fatalf("signet admin %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
}

// TestAdminCommandsAgainstDevServer: with nothing but the data directory of a dev
// server, `signet admin` finds the bootstrap credentials and manages realms, clients,
// users, keys and sessions; errors from the API are printed readably and exit 1; usage
// errors exit 2.
func TestAdminCommandsAgainstDevServer(t *testing.T) {
	t.Parallel()
	dir := devServer(t)
	env := adminEnv(t, dir)
	admin := adminRunner(t, env)

	out, _ := admin(0, "realm", "create", "acme", "--display-name", "ACME Corp")
	if !strings.Contains(out, "acme") || !strings.Contains(out, "ACME Corp") {
		t.Fatalf("realm create printed:\n%s", out)
	}
	out, _ = admin(0, "realm", "list")
	for _, want := range []string{"NAME", "acme", "demo", "master"} {
		if !strings.Contains(out, want) {
			t.Fatalf("realm list lacks %s:\n%s", want, out)
		}
	}
	out, _ = admin(0, "realm", "list", "-o", "json")
	var realms []map[string]any
	if err := json.Unmarshal([]byte(out), &realms); err != nil || len(realms) != 3 {
		t.Fatalf("realm list -o json: %v\n%s", err, out)
	}
	out, _ = admin(0, "realm", "get", "acme", "-o", "json")
	var realm map[string]any
	if err := json.Unmarshal([]byte(out), &realm); err != nil || realm["name"] != "acme" || realm["display_name"] != "ACME Corp" {
		t.Fatalf("realm get: %v %s", err, out)
	}
	out, _ = admin(0, "realm", "update", "acme", "--enabled=false")
	if !strings.Contains(out, "false") {
		t.Fatalf("realm update printed:\n%s", out)
	}
	admin(0, "realm", "update", "acme", "--enabled")

	// A confidential client's secret is printed once and works at the token endpoint.
	out, errOut := admin(0, "client", "create", "--realm", "acme", "billing", "--grant-type", "client_credentials", "--scope", "invoices", "-o", "json")
	var created struct {
		ClientID string `json:"client_id"`
		Secret   string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret == "" || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("client create: %v\n%s\n%s", err, out, errOut)
	}
	boot := readBootstrapFile(t, dir)
	if _, err := tokenFor(t, boot, "acme", created.ClientID, created.Secret); err != nil {
		t.Fatalf("the printed secret does not work: %v", err)
	}
	out, _ = admin(0, "client", "get", "--realm", "acme", "billing")
	if strings.Contains(out, created.Secret) || !strings.Contains(out, "has_secret") {
		t.Fatalf("client get:\n%s", out)
	}
	out, _ = admin(0, "client", "create", "--realm", "acme", "web", "--redirect-uri", "https://web.example/cb")
	if !strings.Contains(out, "client_secret") {
		t.Fatalf("client create (table):\n%s", out)
	}
	out, _ = admin(0, "client", "rotate-secret", "--realm", "acme", "billing", "-o", "json")
	var rotated struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &rotated); err != nil || rotated.Secret == "" || rotated.Secret == created.Secret {
		t.Fatalf("rotate-secret: %v %s", err, out)
	}
	if _, err := tokenFor(t, boot, "acme", "billing", created.Secret); err == nil {
		t.Fatal("the old secret still works")
	}
	out, _ = admin(0, "client", "list", "--realm", "acme")
	if !strings.Contains(out, "billing") || !strings.Contains(out, "web") {
		t.Fatalf("client list:\n%s", out)
	}
	admin(0, "client", "update", "--realm", "acme", "web", "--name", "Web shop")
	_, errOut = admin(1, "client", "create", "--realm", "acme", "evil", "--redirect-uri", "http://evil.example/cb")
	if !strings.Contains(errOut, "400") || !strings.Contains(errOut, "loopback") {
		t.Fatalf("bad redirect URI: %s", errOut)
	}
	admin(0, "client", "delete", "--realm", "acme", "web")

	// Users: a password from a file, lookup by username, disable, set a new password.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = admin(0, "user", "create", "--realm", "acme", "alice", "--email", "alice@example.com", "--first-name", "Alice", "--password-file", pwFile, "-o", "json")
	var alice map[string]any
	if err := json.Unmarshal([]byte(out), &alice); err != nil || alice["has_password"] != true || strings.Contains(out, "argon2") {
		t.Fatalf("user create: %v %s", err, out)
	}
	out, _ = admin(0, "user", "list", "--realm", "acme", "--search", "ali")
	if !strings.Contains(out, "alice@example.com") {
		t.Fatalf("user list:\n%s", out)
	}
	admin(0, "user", "update", "--realm", "acme", "alice", "--enabled=false", "--last-name", "Smith")
	out, _ = admin(0, "user", "get", "--realm", "acme", "alice", "-o", "json")
	var got struct {
		Enabled bool              `json:"enabled"`
		Profile map[string]string `json:"profile"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Enabled || got.Profile["given_name"] != "Alice" || got.Profile["family_name"] != "Smith" {
		t.Fatalf("user get after update: %v %s", err, out)
	}
	out, _ = admin(0, "user", "set-password", "--realm", "acme", "alice", "--generate", "--temporary")
	if !strings.Contains(out, "password set for alice: ") {
		t.Fatalf("set-password:\n%s", out)
	}
	out, _ = admin(0, "user", "enroll-totp", "--realm", "acme", "alice")
	if !strings.Contains(out, "TOTP enrolled for alice") || !strings.Contains(out, "otpauth://totp/") {
		t.Fatalf("enroll-totp:\n%s", out)
	}
	out, _ = admin(0, "user", "get", "--realm", "acme", "alice", "-o", "json")
	if !strings.Contains(out, `"totp_enabled": true`) {
		t.Fatalf("user after enroll-totp:\n%s", out)
	}
	admin(0, "user", "remove-totp", "--realm", "acme", "alice")
	admin(0, "session", "list", "--realm", "acme", "alice")
	admin(0, "session", "revoke", "--realm", "acme", "alice", "--all")
	admin(0, "user", "delete", "--realm", "acme", "alice")
	_, errOut = admin(1, "user", "get", "--realm", "acme", "alice")
	if !strings.Contains(errOut, "404 Not Found") {
		t.Fatalf("missing user: %s", errOut)
	}

	out, _ = admin(0, "keys", "rotate", "--realm", "acme")
	if !strings.Contains(out, "ES256") || !strings.Contains(out, "active") {
		t.Fatalf("keys rotate:\n%s", out)
	}
	admin(0, "keys", "list", "--realm", "acme")

	// Problems and usage.
	_, errOut = admin(1, "realm", "get", "nope")
	if !strings.Contains(errOut, `404 Not Found: realm "nope" not found`) {
		t.Fatalf("missing realm: %s", errOut)
	}
	_, errOut = admin(1, "realm", "delete", "master")
	if !strings.Contains(errOut, "cannot be deleted") {
		t.Fatalf("delete master: %s", errOut)
	}
	admin(1, "realm", "create", "acme")
	admin(2, "realm", "create")
	admin(2, "user", "list")
	admin(2, "realm", "list", "-o", "yaml")
	admin(2, "session", "revoke", "--realm", "acme", "alice")

	out, _ = admin(0, "realm", "delete", "acme")
	if !strings.Contains(out, "deleted realm acme") {
		t.Fatalf("realm delete: %s", out)
	}
	admin(1, "realm", "get", "acme")

	// A service account given on the command line is used instead of the bootstrap file.
	code, out, errOut := runCLI(t, env, "admin", "realm", "list", "--client-id", boot.ClientID, "--client-secret", "wrong")
	if code != exitFailure || !strings.Contains(errOut, "access token") {
		t.Fatalf("wrong service account secret: %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "admin", "realm", "list", "--client-id", boot.ClientID, "--client-secret", boot.ClientSecret)
	if code != exitOK || !strings.Contains(out, "master") {
		t.Fatalf("service account: %d %s", code, out)
	}
}

// TestAdminRealmSettings: realm settings given as flags (durations as Go durations)
// reach the API as seconds, only those given change, `realm get` shows them (a line each
// in a table, the API's object with -o json), and bad values are refused. A
// registration token printed by the CLI registers a client at the PUBLIC endpoint.
func TestAdminRealmSettings(t *testing.T) {
	t.Parallel()
	dir := devServer(t)
	admin := adminRunner(t, adminEnv(t, dir))
	type settings struct {
		Idle         int64  `json:"sso_idle_timeout"`
		Lifespan     int64  `json:"sso_max_lifespan"`
		Threshold    int    `json:"lockout_threshold"`
		Lock         int64  `json:"lockout_duration"`
		Registration string `json:"registration"`
		MaxDevices   int    `json:"device_max_per_user"`
	}
	read := func() settings {
		t.Helper()
		out, _ := admin(0, "realm", "get", "acme", "-o", "json")
		var r struct {
			Settings settings `json:"settings"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("realm get -o json: %v\n%s", err, out)
		}
		return r.Settings
	}

	admin(0, "realm", "create", "acme", "--lockout-threshold", "5")
	if got, want := read(), (settings{1800, 36000, 5, 300, "off", 10}); got != want {
		t.Fatalf("after create: %+v, want %+v", got, want)
	}
	admin(0, "realm", "update", "acme", "--sso-idle-timeout", "15m", "--sso-max-lifespan", "2h", "--lockout-duration", "90s", "--registration", "token", "--device-max-per-user", "3")
	if got, want := read(), (settings{900, 7200, 5, 90, "token", 3}); got != want {
		t.Fatalf("after update: %+v, want %+v", got, want)
	}
	out, _ := admin(0, "realm", "get", "acme")
	for _, want := range []string{"settings.sso_idle_timeout", "15m0s", "settings.sso_max_lifespan", "2h0m0s", "settings.lockout_threshold", "settings.registration"} {
		if !strings.Contains(out, want) {
			t.Fatalf("realm get lacks %q:\n%s", want, out)
		}
	}
	_, errOut := admin(1, "realm", "update", "acme", "--sso-idle-timeout", "3h")
	if !strings.Contains(errOut, "400") || !strings.Contains(errOut, "settings.sso_idle_timeout") {
		t.Fatalf("idle timeout over the lifespan: %s", errOut)
	}
	_, errOut = admin(1, "realm", "update", "acme", "--registration", "maybe")
	if !strings.Contains(errOut, "settings.registration") {
		t.Fatalf("unknown registration policy: %s", errOut)
	}
	admin(1, "realm", "update", "acme", "--lockout-threshold", "0")
	admin(1, "realm", "update", "acme", "--device-max-per-user", "101")
	admin(2, "realm", "update", "acme", "--lockout-duration", "1500ms")
	admin(2, "realm", "update", "acme", "--sso-idle-timeout", "soon")
	if got, want := read(), (settings{900, 7200, 5, 90, "token", 3}); got != want {
		t.Fatalf("refused updates changed the settings: %+v", got)
	}
	// The phone request policy: number matching and the per-user limits.
	admin(0, "realm", "update", "acme", "--number-matching", "off", "--max-pending-per-user", "1",
		"--denials-before-cooldown", "2", "--denial-window", "5m", "--cooldown", "30s")
	out, _ = admin(0, "realm", "get", "acme")
	for _, want := range []string{"settings.number_matching", "off", "settings.max_pending_per_user", "settings.denial_window", "5m0s", "settings.cooldown", "30s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("realm get lacks %q:\n%s", want, out)
		}
	}
	if _, errOut := admin(1, "realm", "update", "acme", "--max-pending-per-user", "21"); !strings.Contains(errOut, "settings.max_pending_per_user") {
		t.Fatalf("21 pending requests per user: %s", errOut)
	}
	admin(1, "realm", "update", "acme", "--number-matching", "type")

	boot := readBootstrapFile(t, dir)
	first, errOut := admin(0, "realm", "registration-token", "acme")
	first = strings.TrimSpace(first)
	if len(first) < 43 || !strings.Contains(errOut, "only its hash") {
		t.Fatalf("registration-token printed %q, note %q", first, errOut)
	}
	if code := registerClient(t, boot, "acme", first); code != 201 {
		t.Fatalf("registration with the printed token: %d", code)
	}
	out, _ = admin(0, "realm", "registration-token", "acme", "-o", "json")
	var second struct {
		Token string `json:"initial_access_token"`
	}
	if err := json.Unmarshal([]byte(out), &second); err != nil || second.Token == "" || second.Token == first {
		t.Fatalf("registration-token -o json: %v %s", err, out)
	}
	if code := registerClient(t, boot, "acme", first); code != 401 {
		t.Fatalf("registration with the replaced token: %d", code)
	}
	if code := registerClient(t, boot, "acme", second.Token); code != 201 {
		t.Fatalf("registration with the new token: %d", code)
	}
	admin(1, "realm", "registration-token", "nope")
}

// registerClient registers a client at realm's dynamic registration endpoint on the dev
// server with the initial access token and returns the status.
func registerClient(t *testing.T, boot server.AdminBootstrap, realm, token string) int {
	t.Helper()
	hc, err := newHTTPClient(boot.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := strings.Replace(boot.TokenURL, "/realms/master/protocol/openid-connect/token", "/realms/"+realm+"/clients-registrations/openid-connect", 1)
	req, err := http.NewRequest("POST", endpoint, strings.NewReader(`{"redirect_uris": ["https://rp.example/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminWithoutCredentials: with no URL and nothing saved, the command says what to
// do and exits 2; bootstrap credentials are never sent to another server.
func TestAdminWithoutCredentials(t *testing.T) {
	t.Parallel()
	env := adminEnv(t, t.TempDir())
	code, _, errOut := runCLI(t, env, "admin", "realm", "list")
	if code != exitUsage || !strings.Contains(errOut, "signet admin login") {
		t.Fatalf("no credentials: %d %s", code, errOut)
	}
	dir := t.TempDir()
	boot := `{"admin_url": "https://127.0.0.1:1", "token_url": "https://127.0.0.1:1/t", "client_id": "x", "client_secret": "s", "ca_file": ""}`
	if err := os.WriteFile(filepath.Join(dir, server.BootstrapFile), []byte(boot), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, adminEnv(t, dir), "admin", "realm", "list", "--url", "https://elsewhere.example")
	if code != exitUsage || !strings.Contains(errOut, "no credentials for https://elsewhere.example") {
		t.Fatalf("bootstrap for another server: %d %s", code, errOut)
	}
	for _, args := range [][]string{{"admin", "--help"}, {"admin", "login", "--help"}, {"admin", "realm", "create", "--help"}, {"admin", "client", "rotate-secret", "--help"}, {"admin", "realm", "registration-token", "--help"}, {"admin", "keys", "rotate", "--help"}} {
		if code, out, _ := runCLI(t, nil, args...); code != exitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	if code, _, _ := runCLI(t, nil, "admin"); code != exitUsage {
		t.Errorf("admin without a subcommand: exit %d", code)
	}
}

func readBootstrapFile(t *testing.T, dir string) server.AdminBootstrap {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, server.BootstrapFile))
	if err != nil {
		t.Fatal(err)
	}
	var b server.AdminBootstrap
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenFor gets a client_credentials token in realm from the dev server, trusting its CA.
func tokenFor(t *testing.T, boot server.AdminBootstrap, realm, id, secret string) (*oauth2.Token, error) {
	t.Helper()
	hc, err := newHTTPClient(boot.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, AuthStyle: oauth2.AuthStyleInHeader,
		TokenURL: strings.Replace(boot.TokenURL, "/realms/master/", "/realms/"+realm+"/", 1)}
	return cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, hc))
}

// TestAdminClientCertificates: `client create --tls-certificate` sends the file's
// certificate (never the key beside it) and the server stores its fingerprint, which
// `client get` shows with those given by --tls-certificate-sha256; `client update`
// replaces the list; bad files are usage errors, bad fingerprints the API's 400.
func TestAdminClientCertificates(t *testing.T) {
	t.Parallel()
	dir := devServer(t)
	admin := adminRunner(t, adminEnv(t, dir))
	certFile := func(cn string) (file, fp string) {
		leaf, err := pki.SelfSigned(pki.LeafRequest{CommonName: cn, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), Client: true})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(leaf.Cert.Raw)
		// Key first: the certificate is still found, and the key stays here.
		return testutil.WriteTemp(t, cn+".pem", string(leaf.KeyPEM)+string(leaf.CertPEM)), hex.EncodeToString(sum[:])
	}
	fileA, fpA := certFile("sender-a")
	fileB, fpB := certFile("sender-b")
	fpC := strings.Repeat("0c", 32)
	certs := func(out string) []string {
		t.Helper()
		var c struct {
			Certs []string `json:"tls_client_certificates"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil || c.Certs == nil {
			t.Fatalf("no tls_client_certificates (%v) in:\n%s", err, out)
		}
		return c.Certs
	}

	admin(0, "realm", "create", "acme")
	out, _ := admin(0, "client", "create", "--realm", "acme", "sender", "--grant-type", "client_credentials",
		"--scope", "signet:messaging:send", "--tls-certificate", fileA, "--tls-certificate-sha256", strings.ToUpper(fpC), "-o", "json")
	if got := certs(out); !slices.Equal(got, []string{fpC, fpA}) {
		t.Fatalf("created with %v, want [%s %s]", got, fpC, fpA)
	}
	out, _ = admin(0, "client", "get", "--realm", "acme", "sender")
	if !strings.Contains(out, "tls_client_certificates") || !strings.Contains(out, fpC+","+fpA) || strings.Contains(out, "BEGIN") {
		t.Fatalf("client get:\n%s", out)
	}

	admin(0, "client", "update", "--realm", "acme", "sender", "--tls-certificate", fileB)
	out, _ = admin(0, "client", "get", "--realm", "acme", "sender", "-o", "json")
	if got := certs(out); !slices.Equal(got, []string{fpB}) {
		t.Fatalf("after update %v, want [%s]", got, fpB)
	}
	admin(0, "client", "update", "--realm", "acme", "sender", "--name", "Sender")
	out, _ = admin(0, "client", "get", "--realm", "acme", "sender", "-o", "json")
	if got := certs(out); !slices.Equal(got, []string{fpB}) {
		t.Fatalf("an update without certificate flags changed them: %v", got)
	}

	_, errOut := admin(1, "client", "update", "--realm", "acme", "sender", "--tls-certificate-sha256", "abc123")
	if !strings.Contains(errOut, "400") || !strings.Contains(errOut, `"abc123"`) {
		t.Fatalf("bad fingerprint: %s", errOut)
	}
	keyOnly := testutil.WriteTemp(t, "key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	_, errOut = admin(2, "client", "update", "--realm", "acme", "sender", "--tls-certificate", keyOnly)
	if !strings.Contains(errOut, "no PEM certificate") {
		t.Fatalf("key-only file: %s", errOut)
	}
	admin(2, "client", "update", "--realm", "acme", "sender", "--tls-certificate", filepath.Join(t.TempDir(), "missing.pem"))

	admin(0, "client", "update", "--realm", "acme", "sender", "--tls-certificate-sha256=")
	out, _ = admin(0, "client", "get", "--realm", "acme", "sender", "-o", "json")
	if got := certs(out); len(got) != 0 {
		t.Fatalf("after removing every certificate: %v", got)
	}

	// A subject instead: kept in one written form, removed with an empty value.
	out, _ = admin(0, "client", "update", "--realm", "acme", "sender", "--tls-subject-dn", "cn=sender, O=Example Bank", "-o", "json")
	if !strings.Contains(out, `"tls_client_auth_subject_dn": "CN=sender,O=Example Bank"`) {
		t.Fatalf("after setting the subject:\n%s", out)
	}
	_, errOut = admin(1, "client", "update", "--realm", "acme", "sender", "--tls-subject-dn", "sender")
	if !strings.Contains(errOut, "400") || !strings.Contains(errOut, "tls_client_auth_subject_dn") {
		t.Fatalf("bad subject: %s", errOut)
	}
	out, _ = admin(0, "client", "update", "--realm", "acme", "sender", "--tls-subject-dn=", "-o", "json")
	if strings.Contains(out, "tls_client_auth_subject_dn") {
		t.Fatalf("after removing the subject:\n%s", out)
	}
}
