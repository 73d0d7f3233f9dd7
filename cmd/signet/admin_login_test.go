package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/testutil"
)

// fakeIdP is a stand-in for the master realm's authorization and token endpoints (the
// authorization endpoint is not built yet) that checks what a real one checks: the PKCE
// S256 challenge against the verifier, the loopback redirect URI, the client and the
// scope. It also answers the admin API's realm listing for a refreshed token.
type fakeIdP struct {
	srv    *httptest.Server
	issuer string
	mu     sync.Mutex
	// challenge and redirect are those of the last authorization request.
	challenge, redirect string
	refreshes           int
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{}
	mux := http.NewServeMux()
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	f.issuer = f.srv.URL + "/realms/master"
	mux.HandleFunc("GET /realms/master/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": f.issuer, "token_endpoint": f.issuer + "/protocol/openid-connect/token"})
	})
	mux.HandleFunc("GET /realms/master/protocol/openid-connect/auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		redirect := q.Get("redirect_uri")
		if q.Get("client_id") != "signet-cli" || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			len(q.Get("code_challenge")) != 43 || !strings.Contains(q.Get("scope"), "signet.admin") || q.Get("state") == "" ||
			!strings.HasPrefix(redirect, "http://127.0.0.1:") || !strings.HasSuffix(redirect, "/callback") {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.challenge, f.redirect = q.Get("code_challenge"), redirect
		f.mu.Unlock()
		http.Redirect(w, r, redirect+"?"+url.Values{"code": {"the-code"}, "state": {q.Get("state")}, "iss": {f.issuer}}.Encode(), http.StatusSeeOther)
	})
	mux.HandleFunc("POST /realms/master/protocol/openid-connect/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case r.PostForm.Get("grant_type") == "authorization_code" && r.PostForm.Get("code") == "the-code" &&
			r.PostForm.Get("client_id") == "signet-cli" && r.PostForm.Get("redirect_uri") == f.redirect &&
			base64.RawURLEncoding.EncodeToString(sum[:]) == f.challenge:
			_, _ = io.WriteString(w, `{"access_token":"access-1","refresh_token":"refresh-1","token_type":"Bearer","expires_in":300}`)
		case r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("refresh_token") == "refresh-1" && r.PostForm.Get("client_id") == "signet-cli":
			f.refreshes++
			_, _ = io.WriteString(w, `{"access_token":"access-2","refresh_token":"refresh-2","token_type":"Bearer","expires_in":300}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		}
	})
	mux.HandleFunc("GET /admin/api/realms", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer access-2" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"the access token is not valid"}`)
			return
		}
		_, _ = io.WriteString(w, `{"items":[{"name":"master","display_name":"Master","enabled":true}]}`)
	})
	return f
}

// caFile writes the fake's certificate as a CA file.
func (f *fakeIdP) caFile(t *testing.T) string {
	return testutil.WriteTemp(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})))
}

// startLogin runs `signet admin login` in the background and returns the URL it prints
// and its exit code once it ends.
func startLogin(t *testing.T, env []string, args ...string) (authURL string, exit <-chan int, stdout *testutil.SyncBuffer) {
	t.Helper()
	stdout = &testutil.SyncBuffer{}
	var stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), append([]string{"admin", "login"}, args...), env, stdout, &stderr)
	}()
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "https://"); ok {
				authURL = "https://" + u
				return true
			}
		}
		select {
		case code := <-done:
			t.Fatalf("login exited with %d before printing a URL: %s", code, stderr.String())
		default:
		}
		return false
	}, "login printed no URL: %s", stdout)
	return authURL, done, stdout
}

func waitExit(t *testing.T, exit <-chan int) int {
	t.Helper()
	select {
	case code := <-exit:
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("login did not end")
		return -1
	}
}

// TestAdminLogin: login prints the authorization URL (S256 PKCE, loopback redirect on a
// port of its own), refuses a callback with another state, exchanges the code with the
// verifier and saves the tokens readable by the user only; a later command refreshes
// the expired access token and saves the new one.
func TestAdminLogin(t *testing.T) {
	t.Parallel()
	idp := newFakeIdP(t)
	credFile := filepath.Join(t.TempDir(), "signet", "credentials.json")
	env := []string{envAdminCredentials + "=" + credFile, "SIGNET_DATA_DIR=" + t.TempDir()}
	ca := idp.caFile(t)

	authURL, exit, stdout := startLogin(t, env, "--url", idp.srv.URL, "--ca-file", ca, "--timeout", "1m")
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, idp.issuer+"/protocol/openid-connect/auth?") {
		t.Fatalf("authorization URL %q", authURL)
	}
	loopback := u.Query().Get("redirect_uri")
	forged, err := http.Get(loopback + "?code=stolen&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusBadRequest {
		t.Fatalf("a callback with another state: %d", forged.StatusCode)
	}

	// The browser: the fake signs the user in at once and redirects to the loopback.
	resp, err := idp.srv.Client().Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Signed in") {
		t.Fatalf("callback page: %d %s", resp.StatusCode, page)
	}
	if code := waitExit(t, exit); code != exitOK {
		t.Fatalf("login exit %d: %s", code, stdout)
	}
	if !strings.Contains(stdout.String(), "not the admin API's URL") {
		t.Errorf("login did not say the URL was the PUBLIC one:\n%s", stdout)
	}
	st, err := os.Stat(credFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	creds, err := readCredentials(credFile)
	if err != nil || creds.Token.RefreshToken != "refresh-1" || creds.Issuer != idp.issuer || creds.CAFile != ca ||
		creds.TokenURL != idp.issuer+"/protocol/openid-connect/token" || creds.ClientID != "signet-cli" {
		t.Fatalf("saved %+v (%v)", creds, err)
	}

	// Expire the access token: the next command refreshes it and saves the new tokens.
	creds.Token.Expiry = time.Now().Add(-time.Minute)
	if err := writeCredentials(credFile, creds); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, env, "admin", "realm", "list", "--url", idp.srv.URL)
	if code != exitOK || !strings.Contains(out, "master") {
		t.Fatalf("realm list with a refreshed token: %d %s %s", code, out, errOut)
	}
	if again, _ := readCredentials(credFile); again.Token.AccessToken != "access-2" || again.Token.RefreshToken != "refresh-2" {
		t.Fatalf("refreshed tokens not saved: %+v", again.Token)
	}

	if code, out, _ := runCLI(t, env, "admin", "logout"); code != exitOK || !strings.Contains(out, "signed out") {
		t.Fatalf("logout: %d %s", code, out)
	}
	if _, err := os.Stat(credFile); !os.IsNotExist(err) {
		t.Fatal("logout left the credentials")
	}
}

// TestAdminLoginDenied: an error from the authorization server ends login with exit 1
// and saves nothing.
func TestAdminLoginDenied(t *testing.T) {
	t.Parallel()
	idp := newFakeIdP(t)
	credFile := filepath.Join(t.TempDir(), "credentials.json")
	env := []string{envAdminCredentials + "=" + credFile, "SIGNET_DATA_DIR=" + t.TempDir()}
	authURL, exit, _ := startLogin(t, env, "--url", idp.srv.URL, "--ca-file", idp.caFile(t))
	u, _ := url.Parse(authURL)
	q := u.Query()
	resp, err := http.Get(q.Get("redirect_uri") + "?" + url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := waitExit(t, exit); code != exitFailure {
		t.Fatalf("denied login exit %d", code)
	}
	if _, err := os.Stat(credFile); !os.IsNotExist(err) {
		t.Fatal("a denied login saved credentials")
	}
	if code, _, errOut := runCLI(t, env, "admin", "login", "--url", idp.srv.URL, "--ca-file", idp.caFile(t), "--timeout", "1ms"); code != exitFailure || !strings.Contains(errOut, "no sign-in arrived") {
		t.Fatalf("login timeout: %d %s", code, errOut)
	}
}

// TestAdminLoginThroughTheLoginPage: `signet admin login` against a real dev server. The
// administrator signs in on Signet's own login page with the one-time password printed
// at first start; the browser lands on the CLI's loopback callback; the saved token then
// drives the admin API.
func TestAdminLoginThroughTheLoginPage(t *testing.T) {
	t.Parallel()
	dir, out := devServerWithOutput(t)
	public, adminURL, password := "", "", ""
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "PUBLIC" {
			public = f[1]
		}
		if len(f) == 2 && f[0] == "ADMIN" {
			adminURL = f[1]
		}
		if _, rest, ok := strings.Cut(line, "one-time password "); ok {
			password = strings.Fields(rest)[0]
		}
	}
	if public == "" || password == "" {
		t.Fatalf("no PUBLIC URL or administrator password in:\n%s", out)
	}
	ca := filepath.Join(dir, "dev-ca", "ca.pem")
	env := []string{envAdminCredentials + "=" + filepath.Join(t.TempDir(), "credentials.json")}
	authURL, exit, stdout := startLogin(t, env, "--url", public, "--ca-file", ca, "--timeout", "1m")

	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	b := testutil.NewBrowser(t, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}, "")
	p := b.Login(b.Get(authURL), "admin", password)
	// The one-time password must be replaced at the first sign-in.
	if !strings.Contains(p.Body, `name="new_password"`) {
		t.Fatalf("the one-time password was not replaced at the first sign-in:\n%s", p.Body)
	}
	p = b.Submit(p, "update_password", url.Values{"new_password": {"the administrator's own"}, "confirm_password": {"the administrator's own"}})
	if p.Status != http.StatusOK || !strings.HasPrefix(p.URL.String(), "http://127.0.0.1:") {
		t.Fatalf("after the login page: %d at %s\n%s", p.Status, p.URL, p.Body)
	}
	if code := waitExit(t, exit); code != exitOK {
		t.Fatalf("login exit %d: %s", code, stdout)
	}
	code, list, errOut := runCLI(t, env, "admin", "realm", "list", "--url", adminURL)
	if code != exitOK || !strings.Contains(list, "master") || !strings.Contains(list, "demo") {
		t.Fatalf("realm list with the login's token: %d %s %s", code, list, errOut)
	}
}
