package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/push/fcm/fcmtest"
	"github.com/signet-auth/signet/internal/push/unifiedpush"
)

// TestAdminPushCommands: `signet admin push` sets a realm's APNs, FCM and UnifiedPush
// credentials from key files, lists and shows them without their secrets, warns when a
// new VAPID key pair replaces the one apps subscribed with, refuses bad input (the API's
// reason, exit 1) and missing flags (exit 2), deletes them, and sends a test wake-up,
// exiting 1 when none could be sent.
func TestAdminPushCommands(t *testing.T) {
	t.Parallel()
	dir := devServer(t)
	env := adminEnv(t, dir)
	admin := adminRunner(t, env)
	files := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	keyFile := write("AuthKey_ABCDE12345.p8", p8)
	sa := fcmtest.NewServiceAccountKey(t, "signet-cli-test", "https://oauth2.example.com/token")
	saFile := write("service-account.json", sa.JSON())
	vapid, vapidPublic, err := unifiedpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	vapidFile := write("vapid.key", []byte(vapid+"\n"))
	// Pieces of each secret that no output may hold.
	secrets := []string{strings.Split(string(p8), "\n")[1], strings.Split(sa.PrivateKey, "\n")[2], vapid}
	var outputs []string
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		out, errOut := admin(want, append([]string{"push"}, args...)...)
		outputs = append(outputs, out, errOut)
		return out, errOut
	}

	if out, _ := run(0, "list", "--realm", "demo"); !strings.Contains(out, "PROVIDER") || strings.Contains(out, "apns") {
		t.Fatalf("push list of a realm without credentials:\n%s", out)
	}
	out, _ := run(0, "set-apns", "--realm", "demo", "--key-file", keyFile, "--key-id", "ABCDE12345", "--team-id", "TEAM123456",
		"--topic", "com.example.authenticator", "--environment", "sandbox", "--port", "2197")
	for _, want := range []string{"settings.key_id", "ABCDE12345", "settings.port", "2197", "sandbox"} {
		if !strings.Contains(out, want) {
			t.Fatalf("set-apns lacks %q:\n%s", want, out)
		}
	}
	out, _ = run(0, "set-fcm", "--realm", "demo", "--service-account", saFile, "-o", "json")
	var fcm struct {
		Provider string `json:"provider"`
		Settings struct {
			ProjectID   string `json:"project_id"`
			ClientEmail string `json:"client_email"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(out), &fcm); err != nil || fcm.Provider != "fcm" || fcm.Settings.ProjectID != "signet-cli-test" || fcm.Settings.ClientEmail != sa.ClientEmail {
		t.Fatalf("set-fcm: %v\n%s", err, out)
	}
	run(0, "set-fcm", "--realm", "demo", "--service-account", saFile, "--project-id", "other-project")

	// A first VAPID identity with a new key pair; replacing it with another key warns.
	out, errOut := run(0, "set-unifiedpush", "--realm", "demo", "--subject", "mailto:ops@example.com")
	if !strings.Contains(out, "settings.application_server_key") || errOut != "" {
		t.Fatalf("set-unifiedpush without a key: %s\n%s", out, errOut)
	}
	out, errOut = run(0, "set-unifiedpush", "--realm", "demo", "--subject", "mailto:ops@example.com", "--vapid-key-file", vapidFile)
	if !strings.Contains(out, vapidPublic) || !strings.Contains(errOut, "must subscribe again") {
		t.Fatalf("set-unifiedpush with a key file: %s\n%s", out, errOut)
	}
	if _, errOut = run(0, "set-unifiedpush", "--realm", "demo", "--subject", "https://example.com/ops", "--vapid-key-file", vapidFile); errOut != "" {
		t.Fatalf("keeping the key warned: %s", errOut)
	}

	out, _ = run(0, "list", "--realm", "demo")
	for _, want := range []string{"apns", "fcm", "unifiedpush", "other-project", "https://example.com/ops"} {
		if !strings.Contains(out, want) {
			t.Fatalf("push list lacks %q:\n%s", want, out)
		}
	}
	out, _ = run(0, "list", "--realm", "demo", "-o", "json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("push list -o json: %v\n%s", err, out)
	}
	out, _ = run(0, "get", "--realm", "demo", "apns", "-o", "json")
	if !strings.Contains(out, `"team_id": "TEAM123456"`) {
		t.Fatalf("push get apns:\n%s", out)
	}

	// Refusals.
	_, errOut = run(1, "set-apns", "--realm", "demo", "--key-file", keyFile, "--key-id", "short", "--team-id", "TEAM123456",
		"--topic", "com.example.authenticator", "--environment", "staging")
	if !strings.Contains(errOut, "400 Bad Request") || !strings.Contains(errOut, "key id must be 10") || !strings.Contains(errOut, `"staging"`) {
		t.Fatalf("bad APNs credential: %s", errOut)
	}
	_, errOut = run(1, "set-apns", "--realm", "demo", "--key-file", saFile, "--key-id", "ABCDE12345", "--team-id", "TEAM123456",
		"--topic", "com.example.authenticator", "--environment", "production")
	if !strings.Contains(errOut, "PEM") {
		t.Fatalf("a key file that is not a .p8: %s", errOut)
	}
	_, errOut = run(2, "set-apns", "--realm", "demo", "--key-file", keyFile)
	if !strings.Contains(errOut, "--key-id, --team-id, --topic, --environment") {
		t.Fatalf("missing flags: %s", errOut)
	}
	run(2, "set-fcm", "--realm", "demo", "--service-account", filepath.Join(files, "missing.json"))
	run(2, "set-unifiedpush", "--realm", "demo")
	run(2, "list")
	if _, errOut = run(1, "get", "--realm", "demo", "gcm"); !strings.Contains(errOut, "404") {
		t.Fatalf("unknown provider: %s", errOut)
	}
	if _, errOut = run(1, "list", "--realm", "nope"); !strings.Contains(errOut, `realm "nope" not found`) {
		t.Fatalf("missing realm: %s", errOut)
	}

	// Test wake-ups: an unknown device is 404; the command-line authenticator registers
	// no push token, so a test push to it reaches the messaging role but is not sent.
	if _, errOut = run(1, "test", "--realm", "demo", "no-such-device"); !strings.Contains(errOut, "404") {
		t.Fatalf("test push to an unknown device: %s", errOut)
	}
	out, _ = admin(0, "activation", "create", "--realm", "demo", "--user", "demo", "-o", "json")
	var act struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(out), &act); err != nil {
		t.Fatalf("activation create: %v\n%s", err, out)
	}
	authEnv := []string{"SIGNET_AUTHENTICATOR_PASSPHRASE=correct horse battery staple"}
	if code, out, errOut := runCLI(t, authEnv, "authenticator", "--profile", filepath.Join(files, "authenticator.json"),
		"--ca", filepath.Join(dir, "dev-ca", "ca.pem"), "enroll", act.URL); code != exitOK {
		t.Fatalf("enroll: %d %s %s", code, out, errOut)
	}
	out, _ = admin(0, "device", "list", "--realm", "demo", "-o", "json")
	var devices []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &devices); err != nil || len(devices) != 1 {
		t.Fatalf("device list: %v\n%s", err, out)
	}
	out, errOut = run(1, "test", "--realm", "demo", devices[0].ID, "-o", "json")
	var status struct {
		Route string `json:"route"`
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil || status.Route != "no_registration" || !strings.Contains(errOut, "not sent: no_registration") {
		t.Fatalf("test push to a device without a push token: %v\n%s\n%s", err, out, errOut)
	}

	if out, _ = run(0, "delete", "--realm", "demo", "apns"); !strings.Contains(out, "deleted the apns push credential of realm demo") {
		t.Fatalf("delete: %s", out)
	}
	run(1, "get", "--realm", "demo", "apns")
	run(1, "delete", "--realm", "demo", "apns")

	for _, o := range outputs {
		for _, s := range secrets {
			if strings.Contains(o, s) {
				t.Fatalf("output holds a secret:\n%s", o)
			}
		}
	}
}
