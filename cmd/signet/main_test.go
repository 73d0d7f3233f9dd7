package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
)

// runCLI runs the command in-process and returns its exit code and output.
func runCLI(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	if code, out, _ := runCLI(t, nil, "version"); code != exitOK || !strings.HasPrefix(out, "signet ") {
		t.Fatalf("version: %d %q", code, out)
	}
	for _, cmd := range [][]string{{"--help"}, {"serve", "--help"}, {"config", "check", "--help"}, {"config", "docs", "--help"}, {"migrate", "up", "--help"}, {"migrate", "status", "--help"}, {"version", "--help"}, {"keys", "generate-kek", "--help"}, {"bench", "token", "--help"}, {"bench", "login", "--help"}} {
		if code, out, _ := runCLI(t, nil, cmd...); code != exitOK || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: exit %d, output %q", cmd, code, out)
		}
	}
	if code, _, _ := runCLI(t, nil, "nonsense"); code != exitUsage {
		t.Errorf("unknown command exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCLI(t, nil, "serve", "--no-such-flag"); code != exitUsage {
		t.Errorf("unknown flag exit %d, want %d", code, exitUsage)
	}
}

func TestConfigCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "listners: {}\nlisteners:\n  api:\n    tls_client_auth: verify\n")
	code, _, errOut := runCLI(t, []string{"SIGNET_DATABASE_URL=mysql://x/y", "SIGNET_OPS_ADDR=nowhere"}, "config", "check", "--config", file)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, key := range []string{"listners", "SIGNET_DATABASE_URL", "SIGNET_OPS_ADDR", "SIGNET_API_TLS_CLIENT_CA", "SIGNET_PUBLIC_TLS_CERTIFICATE"} {
		if !namesKey(errOut, key) {
			t.Errorf("config check output lacks %s:\n%s", key, errOut)
		}
	}
	dir := t.TempDir()
	code, out, errOut := runCLI(t, []string{"SIGNET_DATA_DIR=" + dir}, "config", "check", "--dev")
	if code != exitOK || !strings.Contains(out, "valid") {
		t.Fatalf("dev config check: %d %s %s", code, out, errOut)
	}
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	env := []string{"SIGNET_DATA_DIR=" + t.TempDir()}
	code, out, _ := runCLI(t, env, "migrate", "status")
	if code != exitPending || !strings.Contains(out, "pending") {
		t.Fatalf("status on a new database: %d %q", code, out)
	}
	if code, out, errOut := runCLI(t, env, "migrate", "up"); code != exitOK || !strings.Contains(out, "applied 0001") {
		t.Fatalf("up: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, env, "migrate", "up"); code != exitOK || !strings.Contains(out, "0 migration(s) applied") {
		t.Fatalf("second up: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, env, "migrate", "status"); code != exitOK || strings.Contains(out, "pending") {
		t.Fatalf("status after up: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, []string{"SIGNET_DATABASE_URL=postgres://"}, "migrate", "up"); code != exitUsage || !strings.Contains(errOut, "SIGNET_DATABASE_URL") {
		t.Fatalf("bad database URL: %d %q", code, errOut)
	}
}

// buildBinary compiles signet once per test binary run.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "signet")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// devProcess is a running `signet serve --dev` and what it printed.
type devProcess struct {
	cmd    *exec.Cmd
	urls   map[string]string
	caFile string
	// demoSecret is the demo client's secret as printed.
	demoSecret string
	stderr     *testutil.SyncBuffer
	done       chan error
}

// startDev starts the binary in dev mode on loopback ports chosen by the kernel and reads
// the URLs and CA path it prints.
func startDev(t *testing.T, bin, dataDir string) *devProcess {
	t.Helper()
	env := append(os.Environ(), "SIGNET_DATA_DIR="+dataDir)
	for _, ep := range config.Endpoints {
		env = append(env, "SIGNET_"+string(ep)+"_ADDR=127.0.0.1:0")
	}
	cmd := exec.Command(bin, "serve", "--dev")
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, urls: map[string]string{}, stderr: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.done <- cmd.Wait()
	}()
	deadline := time.After(60 * time.Second)
	for p.demoSecret == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("signet exited before printing its URLs; stderr:\n%s", p.stderr)
			}
			f := strings.Fields(line)
			if len(f) == 2 && strings.HasPrefix(f[1], "https://") {
				p.urls[f[0]] = f[1]
			}
			if ca, ok := strings.CutPrefix(strings.TrimSpace(line), "CA certificate: "); ok {
				p.caFile = ca
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "client demo-app, secret "); ok {
				p.demoSecret = rest
			}
		case <-deadline:
			t.Fatalf("no URLs printed within 60s; stderr:\n%s", p.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// TestDevModeSmoke starts the real binary with --dev, fetches /health over TLS trusting
// only the printed CA, stops it with SIGTERM, and starts it again on the same data.
func TestDevModeSmoke(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startDev(t, bin, dataDir)
	for _, ep := range config.Endpoints {
		if p.urls[string(ep)] == "" {
			t.Errorf("no URL printed for %s", ep)
		}
	}
	caPEM, err := os.ReadFile(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("printed CA file holds no certificate")
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	req, _ := http.NewRequest("GET", p.urls["OPS"]+"/health", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /health with the dev CA: %v", err)
	}
	var rep struct {
		Status string `json:"status"`
		Dev    bool   `json:"dev"`
	}
	err = json.NewDecoder(resp.Body).Decode(&rep)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || rep.Status != "up" || !rep.Dev {
		t.Fatalf("health: %d %+v %v", resp.StatusCode, rep, err)
	}
	for _, ep := range config.Endpoints { // every listener trusts the same CA
		resp, err := c.Get(p.urls[string(ep)] + "/")
		if err != nil {
			t.Errorf("%s with the dev CA: %v", ep, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if !strings.Contains(p.stderr.String(), "development mode") {
		t.Error("the log does not say dev mode")
	}
	// The printed demo client gets a token, as the printed curl line does.
	form := url.Values{"grant_type": {"client_credentials"}}
	treq, _ := http.NewRequest("POST", p.urls["PUBLIC"]+"/realms/demo/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	treq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	treq.SetBasicAuth("demo-app", p.demoSecret)
	tresp, err := c.Do(treq)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(tresp.Body).Decode(&tok)
	tresp.Body.Close()
	if err != nil || tresp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("demo client_credentials: %d %v", tresp.StatusCode, err)
	}

	stop := func(p *devProcess) {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, p.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("signet did not stop within 30s of SIGTERM")
		}
		if !strings.Contains(p.stderr.String(), "signet stopped") {
			t.Errorf("no clean stop in the log:\n%s", p.stderr)
		}
	}
	stop(p)

	kekFile := filepath.Join(dataDir, "dev-kek")
	kek, err := os.ReadFile(kekFile)
	if st, statErr := os.Stat(kekFile); statErr != nil || err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("dev key-encryption key: %v %v %v", st, statErr, err)
	}

	// Starting again reuses the data directory: same CA, same key-encryption key, same database.
	p2 := startDev(t, bin, dataDir)
	if kek2, err := os.ReadFile(kekFile); err != nil || !bytes.Equal(kek, kek2) {
		t.Fatalf("second start changed the dev key-encryption key (%v)", err)
	}
	caPEM2, err := os.ReadFile(p2.caFile)
	if err != nil || !bytes.Equal(caPEM, caPEM2) {
		t.Fatalf("second start made a new CA (%v)", err)
	}
	if strings.Contains(p2.stderr.String(), "applied migration") {
		t.Error("second start applied migrations again")
	}
	stop(p2)
}

// TestNewerSchemaIsRefused: a database migrated by a newer build is reported by
// `migrate status` and refused by `migrate up` and `serve`.
func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"SIGNET_DATA_DIR=" + dir}
	for _, ep := range config.Endpoints {
		env = append(env, "SIGNET_"+string(ep)+"_ADDR=127.0.0.1:0")
	}
	if code, _, errOut := runCLI(t, env, "migrate", "up"); code != exitOK {
		t.Fatalf("up: %s", errOut)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("INSERT INTO signet_schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 0)")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "migrate", "status")
	if code != exitFailure || !strings.Contains(out, "9999") || !strings.Contains(out, "unknown to this build") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, env, "migrate", "up"); code != exitFailure || !strings.Contains(errOut, "9999") {
		t.Fatalf("up against a newer schema: exit %d %s", code, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"serve", "--dev"}, env, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "9999") {
		t.Fatalf("serve against a newer schema: exit %d %s", code, stderr.String())
	}
}

func TestReadDevBanner(t *testing.T) {
	t.Parallel()
	banner := "Signet dev is running in development mode.\n  PUBLIC  https://127.0.0.1:1234\n  CA certificate: /d/ca.pem\nDemo realm \"demo\": issuer https://127.0.0.1:1234/realms/demo\n  client demo-app, secret s3cr3t\n  (for example: curl ...)\n  user demo, password pw d\n"
	b, err := readDevBanner(bufio.NewScanner(strings.NewReader(banner)))
	if err != nil || b != (devBanner{public: "https://127.0.0.1:1234", secret: "s3cr3t", ca: "/d/ca.pem", user: "demo", password: "pw d"}) {
		t.Fatalf("%+v %v", b, err)
	}
	if _, err := readDevBanner(bufio.NewScanner(strings.NewReader("nothing\n"))); err == nil {
		t.Fatal("a banner without the demo client was accepted")
	}
}
