package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/testutil"
)

// TestAdminRealmAdmins: a platform administrator names, lists and removes a realm's
// administrators with `signet admin realm-admins` (by username, in a table and as JSON;
// unknown users and the master realm are refused with exit 1, usage errors exit 2). A
// realm administrator signs in to its own realm with `signet admin login --realm`, and
// the saved login lists that realm's users but is refused for another realm, and for its
// own once it is no longer named.
func TestAdminRealmAdmins(t *testing.T) {
	t.Parallel()
	dir, serverOut := devServerWithOutput(t)
	admin := adminRunner(t, adminEnv(t, dir))
	adminURL := ""
	for _, line := range strings.Split(serverOut.String(), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "ADMIN" {
			adminURL = f[1]
		}
	}
	if adminURL == "" {
		t.Fatalf("no ADMIN URL in:\n%s", serverOut)
	}

	admin(0, "realm", "create", "acme")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse acme boss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin(0, "user", "create", "--realm", "acme", "boss", "--password-file", pwFile)
	admin(0, "user", "create", "--realm", "acme", "worker")

	out, _ := admin(0, "realm-admins", "list", "--realm", "acme")
	if strings.TrimSpace(out) == "" || strings.Contains(out, "boss") || !strings.Contains(out, "USERNAME") {
		t.Fatalf("realm-admins list of a realm without administrators:\n%s", out)
	}
	out, _ = admin(0, "realm-admins", "add", "--realm", "acme", "boss")
	if !strings.Contains(out, "boss is an administrator of realm acme") {
		t.Fatalf("realm-admins add printed:\n%s", out)
	}
	admin(0, "realm-admins", "add", "--realm", "acme", "boss") // twice changes nothing
	out, _ = admin(0, "realm-admins", "list", "--realm", "acme")
	if !strings.Contains(out, "boss") || strings.Contains(out, "worker") {
		t.Fatalf("realm-admins list:\n%s", out)
	}
	out, _ = admin(0, "realm-admins", "list", "--realm", "acme", "-o", "json")
	var admins []struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	if err := json.Unmarshal([]byte(out), &admins); err != nil || len(admins) != 1 || admins[0].Username != "boss" || admins[0].ID == "" {
		t.Fatalf("realm-admins list -o json: %v\n%s", err, out)
	}
	if _, errOut := admin(1, "realm-admins", "add", "--realm", "acme", "nobody"); !strings.Contains(errOut, "404") {
		t.Fatalf("adding an unknown user: %s", errOut)
	}
	if _, errOut := admin(1, "realm-admins", "add", "--realm", "master", "admin"); !strings.Contains(errOut, "409") {
		t.Fatalf("naming an administrator of master: %s", errOut)
	}
	admin(2, "realm-admins", "list")
	admin(2, "realm-admins", "add", "--realm", "acme")
	admin(2, "realm-admins")

	// boss signs in to acme with the CLI, on acme's own login page.
	ca := filepath.Join(dir, "dev-ca", "ca.pem")
	env := []string{envAdminCredentials + "=" + filepath.Join(t.TempDir(), "credentials.json")}
	authURL, exit, stdout := startLogin(t, env, "--url", adminURL, "--realm", "acme", "--ca-file", ca, "--timeout", "1m")
	if !strings.Contains(authURL, "/realms/acme/") {
		t.Fatalf("authorization URL %q is not acme's", authURL)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	b := testutil.NewBrowser(t, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}, "")
	if p := b.Login(b.Get(authURL), "boss", "correct horse acme boss"); p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), "http://127.0.0.1:") {
		t.Fatalf("after the login page: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	if code := waitExit(t, exit); code != exitOK || !strings.Contains(stdout.String(), "Signed in to ") {
		t.Fatalf("login exit %d: %s", code, stdout)
	}
	creds, err := readCredentials(env[0][len(envAdminCredentials)+1:])
	if err != nil || !strings.HasSuffix(creds.Issuer, "/realms/acme") || creds.AdminURL != adminURL {
		t.Fatalf("saved login %+v (%v)", creds, err)
	}
	bossCLI := adminRunner(t, env)
	out, _ = bossCLI(0, "user", "list", "--realm", "acme", "--url", adminURL)
	if !strings.Contains(out, "boss") || !strings.Contains(out, "worker") {
		t.Fatalf("a realm administrator's user list:\n%s", out)
	}
	if _, errOut := bossCLI(1, "user", "list", "--realm", "demo", "--url", adminURL); !strings.Contains(errOut, "403") {
		t.Fatalf("a realm administrator listing another realm: %s", errOut)
	}

	out, _ = admin(0, "realm-admins", "remove", "--realm", "acme", "boss")
	if !strings.Contains(out, "boss is no longer an administrator of realm acme") {
		t.Fatalf("realm-admins remove printed:\n%s", out)
	}
	if out, _ = admin(0, "realm-admins", "list", "--realm", "acme"); strings.Contains(out, "boss") {
		t.Fatalf("removed administrator still listed:\n%s", out)
	}
	if _, errOut := bossCLI(1, "user", "list", "--realm", "acme", "--url", adminURL); !strings.Contains(errOut, "403") {
		t.Fatalf("a removed realm administrator: %s", errOut)
	}
}
