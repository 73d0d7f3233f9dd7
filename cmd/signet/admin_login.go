package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
)

// loginFlags are the flags of `signet admin login`.
type loginFlags struct {
	realm    string
	clientID string
	timeout  time.Duration
}

func newAdminLoginCmd(e *env, f *adminFlags) *cobra.Command {
	lf := loginFlags{}
	c := &cobra.Command{
		Use:   "login",
		Short: "Sign in with a browser (authorization code with PKCE) and save the tokens",
		Long: "Sign in as a platform administrator (a user of the master realm) or, with --realm R, as an\n" +
			"administrator of realm R (a user R names among its administrators), who manages R only.\n" +
			"The command prints a URL to open in a browser and waits for the sign-in to come back to a\n" +
			"one-time listener on 127.0.0.1 (RFC 8252). The tokens are saved to $" + envAdminCredentials + ",\n" +
			"or credentials.json in the signet folder of the user's configuration directory, readable by\n" +
			"the user only. --url is the ADMIN listener's URL (recommended) or the PUBLIC one.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return adminLogin(c.Context(), e, f, lf)
		},
	}
	c.Flags().StringVar(&lf.realm, "realm", "master", "realm to sign in to: master for a platform administrator, else the realm a realm administrator manages")
	c.Flags().StringVar(&lf.clientID, "client-id", "signet-cli", "public client the CLI signs in as")
	c.Flags().DurationVar(&lf.timeout, "timeout", 5*time.Minute, "how long to wait for the sign-in in the browser")
	return c
}

func newAdminLogoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "logout", Short: "Forget the saved login", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			path, err := credentialsPath(e)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return &exitError{code: exitFailure, err: err}
			}
			_, err = fmt.Fprintln(e.stdout, "signed out; removed "+path)
			return err
		},
	}
}

// oidcMetadata is the part of the discovery document login needs.
type oidcMetadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// loginTarget is where login signs in and what it saves.
type loginTarget struct {
	adminURL string
	issuer   string
	meta     oidcMetadata
}

// findIssuer reads the admin API's document at base when base is the ADMIN URL (it names
// the PUBLIC URL); otherwise base is taken as the PUBLIC URL. The realm's discovery
// document then gives the endpoints; until it names an authorization endpoint, the
// Keycloak path is used.
func findIssuer(ctx context.Context, hc *http.Client, base, realm string) (loginTarget, error) {
	t := loginTarget{}
	public := base
	if doc, err := fetchAdminDocument(ctx, hc, base); err == nil {
		if p, ok := strings.CutSuffix(doc.Components.SecuritySchemes.OpenID.URL, "/realms/master/.well-known/openid-configuration"); ok {
			t.adminURL, public = base, p
		}
	}
	t.issuer = public + "/realms/" + realm
	if err := getJSON(ctx, hc, t.issuer+"/.well-known/openid-configuration", &t.meta); err != nil {
		return t, fmt.Errorf("no OpenID provider for realm %s at %s: %w", realm, public, err)
	}
	// RFC 8414 §3.3: the metadata must be about the issuer it was fetched for.
	if t.meta.Issuer != t.issuer {
		return t, fmt.Errorf("the discovery document names issuer %q, not %q", t.meta.Issuer, t.issuer)
	}
	if t.meta.TokenEndpoint == "" {
		return t, errors.New("the discovery document names no token endpoint")
	}
	if t.meta.AuthorizationEndpoint == "" {
		t.meta.AuthorizationEndpoint = t.issuer + "/protocol/openid-connect/auth"
	}
	return t, nil
}

func adminLogin(ctx context.Context, e *env, f *adminFlags, lf loginFlags) error {
	base := strings.TrimRight(first(f.url, lookupEnv(e.environ, envAdminURL)), "/")
	caFile := first(f.caFile, lookupEnv(e.environ, envAdminCAFile))
	if boot := f.devBootstrap(e); boot != nil {
		base, caFile = first(base, boot.AdminURL), first(caFile, boot.CAFile)
	}
	if base == "" {
		return usageErr(errors.New("login needs --url (the ADMIN or PUBLIC URL) or " + envAdminURL))
	}
	credPath, err := credentialsPath(e)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	hc, err := newHTTPClient(caFile)
	if err != nil {
		return err
	}
	failed := func(err error) error { return &exitError{code: exitFailure, err: err} }
	target, err := findIssuer(ctx, hc, base, lf.realm)
	if err != nil {
		return failed(err)
	}
	// RFC 8252 §7.3 and §8.3: a loopback redirect on an IP literal, port chosen now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return failed(fmt.Errorf("listen for the sign-in: %w", err))
	}
	conf := oauth2.Config{
		ClientID:    lf.clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: target.meta.AuthorizationEndpoint, TokenURL: target.meta.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: fmt.Sprintf("http://%s/callback", ln.Addr()),
		Scopes:      []string{"openid", "signet.admin", "offline_access"},
	}
	verifier, state := oauth2.GenerateVerifier(), generatePassword()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
	deadline := time.Now().Add(lf.timeout)
	fmt.Fprintf(e.stdout, "Open this URL in a browser to sign in to %s:\n\n  %s\n\nWaiting until %s…\n",
		target.issuer, authURL, deadline.Format("15:04:05"))

	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	code, err := awaitCallback(waitCtx, ln, state, target.issuer)
	if err != nil {
		return failed(err)
	}
	exchangeCtx, cancelExchange := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, hc), adminRequestTimeout)
	defer cancelExchange()
	tok, err := conf.Exchange(exchangeCtx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return failed(fmt.Errorf("exchange the authorization code: %w", err))
	}
	creds := &credentials{AdminURL: target.adminURL, Issuer: target.issuer, TokenURL: target.meta.TokenEndpoint,
		ClientID: lf.clientID, CAFile: caFile, Token: tok}
	if err := writeCredentials(credPath, creds); err != nil {
		return failed(fmt.Errorf("save the login: %w", err))
	}
	fmt.Fprintf(e.stdout, "Signed in to %s; tokens saved to %s.\n", target.issuer, credPath)
	if target.adminURL == "" {
		fmt.Fprintf(e.stdout, "%s is not the admin API's URL: give it to the admin commands with --url or %s.\n", base, envAdminURL)
	}
	return nil
}

// callbackResult is what the browser brought to the loopback listener.
type callbackResult struct {
	code string
	err  error
}

// awaitCallback serves the loopback redirect until a response for state arrives or ctx
// ends. Requests for another state (a stale tab, a forgery) are refused and waited past.
func awaitCallback(ctx context.Context, ln net.Listener, state, issuer string) (string, error) {
	results := make(chan callbackResult, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			loginPage(w, http.StatusBadRequest, "This sign-in does not belong to the waiting command (state mismatch).")
			return
		}
		// RFC 9207: an iss parameter must name the issuer the request went to.
		if iss := q.Get("iss"); iss != "" && iss != issuer {
			loginPage(w, http.StatusBadRequest, "The answer came from another issuer.")
			deliver(results, callbackResult{err: fmt.Errorf("the authorization response came from issuer %q, not %q", iss, issuer)})
			return
		}
		if e := q.Get("error"); e != "" {
			loginPage(w, http.StatusOK, "Sign-in failed: "+e+". You can close this window.")
			deliver(results, callbackResult{err: fmt.Errorf("sign-in failed: %s %s", e, q.Get("error_description"))})
			return
		}
		code := q.Get("code")
		if code == "" {
			loginPage(w, http.StatusBadRequest, "The answer holds no authorization code.")
			return
		}
		loginPage(w, http.StatusOK, "Signed in. You can close this window and return to the terminal.")
		deliver(results, callbackResult{code: code})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	select {
	case res := <-results:
		return res.code, res.err
	case <-ctx.Done():
		return "", fmt.Errorf("no sign-in arrived: %w", ctx.Err())
	}
}

// deliver hands over the first result; later ones are dropped.
func deliver(ch chan<- callbackResult, r callbackResult) {
	select {
	case ch <- r:
	default:
	}
}

func loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>Signet</title><p>%s</p>\n", html.EscapeString(msg))
}
