package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/store"
)

// adminGet calls the admin API at url with token and decodes the JSON answer.
func adminGet(t *testing.T, c *http.Client, url, token string) (int, map[string]any) {
	t.Helper()
	return adminCall(t, c, "GET", url, token, nil)
}

func itemNames(body map[string]any, key string) []string {
	var out []string
	items, _ := body["items"].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)[key].(string))
	}
	return out
}

// TestDevSeedsMasterRealmAndAdminAPI: a dev start creates the master realm with the CLI
// client and an administrator whose one-time password is printed once and stored only
// as a hash, the demo user, and the bootstrap credentials file; those credentials get a
// token the admin API on the ADMIN listener accepts. A restart keeps every secret and
// prints no administrator password; a start outside dev mode disables the bootstrap
// client.
func TestDevSeedsMasterRealmAndAdminAPI(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	s := startServer(t, cfg)
	var out strings.Builder
	s.PrintURLs(&out)
	banner := out.String()
	m := regexp.MustCompile(`administrator "admin" created with the one-time password (\S+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no administrator password printed:\n%s", banner)
	}
	adminPassword := m[1]
	ctx := context.Background()
	st := s.Store()
	u, err := st.GetUserByUsername(ctx, admin.MasterRealm, AdminUsername)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.passwords.Verify(ctx, adminPassword, u.PasswordHash); !ok || u.Attributes[admin.PasswordTemporaryAttribute] != "true" || !u.Enabled {
		t.Fatalf("administrator %+v does not hold the printed one-time password", u)
	}
	out.Reset()
	s.PrintURLs(&out)
	if strings.Contains(out.String(), adminPassword) {
		t.Fatal("the administrator password was printed twice")
	}

	du := regexp.MustCompile(`user demo, password (\S+)`).FindStringSubmatch(banner)
	if du == nil {
		t.Fatalf("no demo user printed:\n%s", banner)
	}
	demo, err := st.GetUserByUsername(ctx, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.passwords.Verify(ctx, du[1], demo.PasswordHash); !ok {
		t.Fatal("the printed demo password does not verify")
	}

	cli, err := st.GetClient(ctx, admin.MasterRealm, CLIClientID)
	if err != nil || !cli.Public || cli.AuthMethod != "none" || !slices.Contains(cli.Scopes, admin.Scope) ||
		!slices.Equal(cli.RedirectURIs, []string{"http://127.0.0.1/callback"}) {
		t.Fatalf("CLI client %+v (%v)", cli, err)
	}

	boot := readBootstrap(t, cfg)
	if boot.AdminURL != s.URL(config.Admin) || boot.TokenURL != s.URL(config.Public)+"/realms/master/protocol/openid-connect/token" ||
		boot.ClientID != BootstrapClientID || boot.CAFile != DevCAFile(cfg) || boot.ClientSecret == "" {
		t.Fatalf("bootstrap file %+v", boot)
	}
	if _, err := os.Stat(boot.CAFile); err != nil {
		t.Fatalf("bootstrap CA file: %v", err)
	}
	httpc := client(pool(p.serverCA), 0, nil)
	token, err := bootstrapToken(boot, httpc)
	if err != nil {
		t.Fatal(err)
	}
	code, body := adminGet(t, httpc, boot.AdminURL+"/admin/api/realms", token)
	if names := itemNames(body, "name"); code != 200 || !slices.Contains(names, "master") || !slices.Contains(names, "demo") {
		t.Fatalf("admin API: %d %v", code, body)
	}
	if code, body := adminGet(t, httpc, boot.AdminURL+"/admin/api/realms", ""); code != 401 || body["status"] != float64(401) {
		t.Fatalf("admin API without a token: %d %v", code, body)
	}

	// A restart keeps the secrets and creates no second administrator.
	stop(t, s)
	s2 := startServer(t, cfg)
	out.Reset()
	s2.PrintURLs(&out)
	if strings.Contains(out.String(), "one-time password") || !strings.Contains(out.String(), du[1]) {
		t.Fatalf("second start printed:\n%s", out.String())
	}
	if again := readBootstrap(t, cfg); again.ClientSecret != boot.ClientSecret {
		t.Fatal("the bootstrap secret changed across a restart")
	}
	admins, _ := s2.Store().ListUsers(ctx, admin.MasterRealm, store.UserFilter{}, store.ListOptions{})
	if len(admins.Items) != 1 {
		t.Fatalf("master realm users after a restart: %d", len(admins.Items))
	}
	stop(t, s2)

	// Outside dev mode the bootstrap client stops working.
	prod := cfg
	prod.Dev = false
	s3 := startServer(t, prod)
	boot.TokenURL = s3.URL(config.Public) + "/realms/master/protocol/openid-connect/token"
	if _, err := bootstrapToken(boot, httpc); err == nil {
		t.Fatal("the bootstrap client works outside dev mode")
	}
}

func stop(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func readBootstrap(t *testing.T, cfg config.Config) AdminBootstrap {
	t.Helper()
	path := filepath.Join(cfg.DataDir, BootstrapFile)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap file: %v %v", st, err)
	}
	data, _ := os.ReadFile(path)
	var b AdminBootstrap
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func bootstrapToken(b AdminBootstrap, c *http.Client) (string, error) {
	cc := clientcredentials.Config{ClientID: b.ClientID, ClientSecret: b.ClientSecret, TokenURL: b.TokenURL,
		Scopes: []string{admin.Scope}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, c))
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// TestAdminRoleAlone: a node that runs only the admin role (no PUBLIC listener) accepts
// master-realm tokens issued by an idp node on the same database, because it derives
// the same issuer from the PUBLIC listener's configured URL.
func TestAdminRoleAlone(t *testing.T) {
	p := newTestPKI(t)
	idpCfg := p.testConfig(t, "none")
	idpCfg.Listeners.Public.PublicURL = "https://idp.signet.test"
	idpCfg.Roles = []string{config.RoleOps, config.RoleIdP}
	idp := startServer(t, idpCfg)

	ctx := context.Background()
	hasher, err := oidc.NewPeppers(idp.Store(), idp.keyring).Hasher(ctx, admin.MasterRealm)
	if err != nil {
		t.Fatal(err)
	}
	secret := oidc.NewSecret()
	if _, err := idp.Store().CreateClient(ctx, store.Client{
		Realm: admin.MasterRealm, ID: "ops-robot", Enabled: true, AuthMethod: oidc.AuthClientSecretBasic,
		SecretHash: hasher.Hash(secret), GrantTypes: []string{"client_credentials"}, Scopes: []string{admin.Scope},
	}); err != nil {
		t.Fatal(err)
	}
	httpc := client(pool(p.serverCA), 0, nil)
	token, err := bootstrapToken(AdminBootstrap{ClientID: "ops-robot", ClientSecret: secret,
		TokenURL: "https://" + idp.Addr(config.Public) + "/realms/master/protocol/openid-connect/token"}, httpc)
	if err != nil {
		t.Fatal(err)
	}

	adminCfg := idpCfg
	adminCfg.Roles = []string{config.RoleOps, config.RoleAdmin}
	adm := startServer(t, adminCfg)
	if adm.URL(config.Public) != "" {
		t.Fatal("the admin node runs PUBLIC")
	}
	api := "https://" + adm.Addr(config.Admin) + "/admin/api"
	if code, body := adminGet(t, httpc, api+"/realms/master", token); code != 200 || body["name"] != "master" {
		t.Fatalf("admin-only node: %d %v", code, body)
	}
	_, doc := adminGet(t, httpc, api+"/openapi.json", "")
	flows := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)["signet"].(map[string]any)["flows"].(map[string]any)
	if got := flows["clientCredentials"].(map[string]any)["tokenUrl"]; got != "https://idp.signet.test/realms/master/protocol/openid-connect/token" {
		t.Fatalf("tokenUrl %v", got)
	}
}
