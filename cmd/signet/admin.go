package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/server"
)

// Environment variables `signet admin` reads.
const (
	envAdminURL          = "SIGNET_ADMIN_URL"
	envAdminCAFile       = "SIGNET_ADMIN_CA_FILE"
	envAdminClientID     = "SIGNET_ADMIN_CLIENT_ID"
	envAdminClientSecret = "SIGNET_ADMIN_CLIENT_SECRET"
	envAdminCredentials  = "SIGNET_ADMIN_CREDENTIALS"
)

// adminRequestTimeout bounds every call the CLI makes.
const adminRequestTimeout = 30 * time.Second

// adminFlags are the flags every `signet admin` command shares.
type adminFlags struct {
	url          string
	caFile       string
	clientID     string
	clientSecret string
	output       string
	configFile   string
}

func newAdminCmd(e *env) *cobra.Command {
	f := &adminFlags{}
	c := &cobra.Command{
		Use:   "admin",
		Short: "Manage realms, users, clients, keys and sessions through the admin API",
		Long: "Call the admin API on the ADMIN listener.\n\n" +
			"Credentials, first found wins: --client-id/--client-secret (or " + envAdminClientID + "/" + envAdminClientSecret + ")\n" +
			"for a service account; the tokens `signet admin login` saved; in dev mode, the bootstrap client\n" +
			"that `signet serve --dev` writes to <data_dir>/" + server.BootstrapFile + ".\n" +
			"The admin URL comes from --url, " + envAdminURL + ", the saved login or the dev bootstrap file.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErr(errors.New("admin needs a subcommand: login, logout, realm, realm-admins, user, client, keys, session, activation, device, push or receipt"))
		},
	}
	pf := c.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "admin API base URL, the ADMIN listener's URL (default: $"+envAdminURL+", the saved login, or the dev bootstrap file)")
	pf.StringVar(&f.caFile, "ca-file", "", "PEM file with the CA that signed the server's certificate (default: $"+envAdminCAFile+")")
	pf.StringVar(&f.clientID, "client-id", "", "service account: client_id of a master-realm client with the signet.admin scope (default: $"+envAdminClientID+")")
	pf.StringVar(&f.clientSecret, "client-secret", "", "service account: its secret (default: $"+envAdminClientSecret+")")
	pf.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	pf.StringVarP(&f.configFile, "config", "c", "", "configuration file, to find the data directory in dev mode (default: $SIGNET_CONFIG)")
	c.AddCommand(newAdminLoginCmd(e, f), newAdminLogoutCmd(e), newAdminRealmCmd(e, f), newAdminRealmAdminsCmd(e, f), newAdminUserCmd(e, f),
		newAdminClientCmd(e, f), newAdminKeysCmd(e, f), newAdminSessionCmd(e, f), newAdminActivationCmd(e, f), newAdminDeviceCmd(e, f), newAdminPushCmd(e, f), newAdminReceiptCmd(e, f))
	return c
}

// credentials is what `signet admin login` saves.
type credentials struct {
	// AdminURL is empty when login was given the PUBLIC URL.
	AdminURL string        `json:"admin_url,omitempty"`
	Issuer   string        `json:"issuer"`
	TokenURL string        `json:"token_url"`
	ClientID string        `json:"client_id"`
	CAFile   string        `json:"ca_file,omitempty"`
	Token    *oauth2.Token `json:"token"`
}

// credentialsPath is where login saves its tokens.
func credentialsPath(e *env) (string, error) {
	if p := lookupEnv(e.environ, envAdminCredentials); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory for the saved login (set %s): %w", envAdminCredentials, err)
	}
	return filepath.Join(dir, "signet", "credentials.json"), nil
}

func readCredentials(path string) (*credentials, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(data, &c); err != nil || c.Token == nil || c.TokenURL == "" {
		return nil, fmt.Errorf("%s is damaged; run `signet admin login` again", path)
	}
	return &c, nil
}

func writeCredentials(path string, c *credentials) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return pki.WriteFileAtomic(path, append(data, '\n'), 0o600)
}

// devBootstrap reads the bootstrap file of the data directory the configuration names
// (as `signet serve --dev` finds it); nil when there is none.
func (f *adminFlags) devBootstrap(e *env) *server.AdminBootstrap {
	file := f.configFile
	if file == "" {
		file = lookupEnv(e.environ, "SIGNET_CONFIG")
	}
	cfg, _ := config.Load(file, e.environ, true) // only the data directory matters here
	data, err := os.ReadFile(filepath.Join(cfg.DataDir, server.BootstrapFile))
	if err != nil {
		return nil
	}
	var b server.AdminBootstrap
	if json.Unmarshal(data, &b) != nil || b.ClientSecret == "" {
		return nil
	}
	return &b
}

// first returns the first non-empty value.
func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// newHTTPClient trusts the system roots and caFile, speaks TLS 1.3 only and follows no
// redirects, so a token is only ever sent where it was addressed.
func newHTTPClient(caFile string) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageErr(fmt.Errorf("CA file: %w", err))
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, usageErr(fmt.Errorf("CA file %s holds no PEM certificate", caFile))
		}
	}
	return &http.Client{
		Timeout: adminRequestTimeout,
		Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// adminClient calls the admin API with a bearer token.
type adminClient struct {
	base   string // {admin URL}/admin/api
	http   *http.Client
	tokens oauth2.TokenSource
}

// connect picks the admin URL, the trust anchors and the credentials.
func (f *adminFlags) connect(ctx context.Context, e *env) (*adminClient, error) {
	credPath, err := credentialsPath(e)
	if err != nil {
		return nil, &exitError{code: exitFailure, err: err}
	}
	creds, err := readCredentials(credPath)
	if err != nil {
		return nil, &exitError{code: exitFailure, err: err}
	}
	boot := f.devBootstrap(e)
	var savedURL, bootURL string
	if creds != nil {
		savedURL = creds.AdminURL
	}
	if boot != nil {
		bootURL = boot.AdminURL
	}
	explicitURL := first(f.url, lookupEnv(e.environ, envAdminURL))
	adminURL := strings.TrimRight(first(explicitURL, savedURL, bootURL), "/")
	if adminURL == "" {
		return nil, usageErr(errors.New("no admin URL: pass --url, set " + envAdminURL + ", or run `signet admin login`"))
	}
	// Saved tokens and the bootstrap secret go only to the server they belong to; a
	// login made at the PUBLIC URL, which names no admin URL, only where the user says.
	useCreds := creds != nil && (strings.TrimRight(creds.AdminURL, "/") == adminURL || creds.AdminURL == "" && explicitURL != "")
	useBoot := boot != nil && strings.TrimRight(boot.AdminURL, "/") == adminURL
	caFile := first(f.caFile, lookupEnv(e.environ, envAdminCAFile))
	switch {
	case caFile == "" && useCreds:
		caFile = creds.CAFile
	case caFile == "" && useBoot:
		caFile = boot.CAFile
	}
	hc, err := newHTTPClient(caFile)
	if err != nil {
		return nil, err
	}
	clientID := first(f.clientID, lookupEnv(e.environ, envAdminClientID))
	clientSecret := first(f.clientSecret, lookupEnv(e.environ, envAdminClientSecret))
	var tokens oauth2.TokenSource
	switch {
	case clientID != "" || clientSecret != "":
		if clientID == "" || clientSecret == "" {
			return nil, usageErr(errors.New("a service account needs both --client-id and --client-secret"))
		}
		tokenURL, err := discoverTokenURL(ctx, hc, adminURL)
		if err != nil {
			return nil, &exitError{code: exitFailure, err: err}
		}
		tokens = clientCredentials(ctx, hc, clientID, clientSecret, tokenURL)
	case useCreds:
		tokens = savedTokens(ctx, hc, creds, credPath)
	case useBoot:
		tokens = clientCredentials(ctx, hc, boot.ClientID, boot.ClientSecret, boot.TokenURL)
	default:
		return nil, usageErr(errors.New("no credentials for " + adminURL + ": run `signet admin login`, or give --client-id and --client-secret"))
	}
	return &adminClient{base: adminURL + "/admin/api", http: hc, tokens: tokens}, nil
}

func clientCredentials(ctx context.Context, hc *http.Client, id, secret, tokenURL string) oauth2.TokenSource {
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL,
		Scopes: []string{"signet.admin"}, AuthStyle: oauth2.AuthStyleInHeader}
	return cc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc))
}

// savedTokens refreshes the saved login when its access token expires and saves the
// new tokens.
func savedTokens(ctx context.Context, hc *http.Client, c *credentials, path string) oauth2.TokenSource {
	conf := oauth2.Config{ClientID: c.ClientID, Endpoint: oauth2.Endpoint{TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	src := conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, hc), c.Token)
	return tokenSourceFunc(func() (*oauth2.Token, error) {
		tok, err := src.Token()
		if err != nil {
			return nil, fmt.Errorf("the saved login has expired; run `signet admin login` again: %w", err)
		}
		if tok.AccessToken != c.Token.AccessToken {
			c.Token = tok
			if err := writeCredentials(path, c); err != nil {
				return nil, err
			}
		}
		return tok, nil
	})
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// adminDocument is the part of the admin API's OpenAPI document the CLI reads: where
// the master realm's tokens come from.
type adminDocument struct {
	Components struct {
		SecuritySchemes struct {
			Signet struct {
				Flows struct {
					ClientCredentials struct {
						TokenURL string `json:"tokenUrl"`
					} `json:"clientCredentials"`
				} `json:"flows"`
			} `json:"signet"`
			OpenID struct {
				URL string `json:"openIdConnectUrl"`
			} `json:"openid"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

// fetchAdminDocument reads the admin API's OpenAPI document at adminURL.
func fetchAdminDocument(ctx context.Context, hc *http.Client, adminURL string) (*adminDocument, error) {
	var doc adminDocument
	if err := getJSON(ctx, hc, adminURL+"/admin/api/openapi.json", &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

func discoverTokenURL(ctx context.Context, hc *http.Client, adminURL string) (string, error) {
	doc, err := fetchAdminDocument(ctx, hc, adminURL)
	if err != nil {
		return "", fmt.Errorf("find the token endpoint: %w", err)
	}
	u := doc.Components.SecuritySchemes.Signet.Flows.ClientCredentials.TokenURL
	if u == "" {
		return "", fmt.Errorf("find the token endpoint: %s names none", adminURL)
	}
	return u, nil
}

// getJSON fetches a public JSON document.
func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// apiError is a problem document the admin API answered with.
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (e *apiError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%d %s", e.Status, e.Title)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
}

// call sends a request to the admin API. body, when not nil, is sent as JSON; a JSON
// answer is returned as it came. An error answer becomes an *apiError.
func (c *adminClient) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, err := c.tokens.Token()
	if err != nil {
		return nil, fmt.Errorf("get an access token: %w", err)
	}
	tok.SetAuthHeader(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		p := &apiError{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
		_ = json.Unmarshal(data, p)
		return nil, p
	}
	return data, nil
}

// listAll follows the pages of a listing (limit 0: every page) and returns the items.
func (c *adminClient) listAll(ctx context.Context, path string, query url.Values, limit int) ([]json.RawMessage, error) {
	var items []json.RawMessage
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for {
		if limit > 0 {
			q.Set("limit", fmt.Sprint(min(limit-len(items), 500)))
		}
		data, err := c.call(ctx, "GET", path+"?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var p struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, err
		}
		items = append(items, p.Items...)
		if p.Next == "" || limit > 0 && len(items) >= limit {
			return items, nil
		}
		q.Set("cursor", p.Next)
	}
}
