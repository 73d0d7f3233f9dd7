package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/pki"
	"github.com/signet-auth/signet/internal/push/apns/apnstest"
	"github.com/signet-auth/signet/internal/testutil"
)

// devAdminWithAPNs is devAdmin with the messaging role sending to a fake APNs.
func devAdminWithAPNs(t *testing.T) (*Server, *testPKI, *http.Client, string, string, *apnstest.Server) {
	t.Helper()
	fake := apnstest.NewServer(t, apnstest.Config{TeamID: "TEAM123456", KeyID: "KEY1234567", Topic: "com.example.signet"})
	p := newTestPKI(t)
	cfg := p.testConfig(t, "none")
	cfg.Dev = true
	cfg.Messaging.APNsURL = fake.URL
	s := startServer(t, cfg, WithRootCAs(fake.CertPool()))
	httpc := client(pool(p.serverCA), 0, nil)
	platform, err := bootstrapToken(readBootstrap(t, cfg), httpc)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, httpc, platform, s.URL(config.Admin) + "/admin/api", fake
}

// clientToken asks the token endpoint for a client credentials token; the error is the
// endpoint's refusal.
func clientToken(httpc *http.Client, tokenURL, id, secret string) error {
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, httpc))
	if err == nil && tok.AccessToken == "" {
		err = errors.New("no access token")
	}
	return err
}

// flashAfter clicks sel (a submit button) and returns the message of the page the form
// ends at. The page it starts from must show no message, or the wait could end on it.
func (b *browser) flashAfter(sel string) string {
	b.t.Helper()
	if b.count(".flash") != 0 {
		b.t.Fatalf("flashAfter(%s) on a page that shows a message already: %q", sel, b.text(".flash"))
	}
	b.run(chromedp.Click(sel, chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery))
	return b.text(".flash")
}

// texts are the trimmed texts of the elements matching sel.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	var out []string
	b.run(chromedp.Evaluate(`[...document.querySelectorAll(`+"`"+sel+"`"+`)].map(e => e.textContent.trim())`, &out))
	return out
}

// html is the current page's markup.
func (b *browser) html() string {
	b.t.Helper()
	var s string
	b.run(chromedp.OuterHTML("html", &s, chromedp.ByQuery))
	return s
}

func itemStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestAdminConsoleClients: in headless Chromium, a realm administrator creates a
// confidential client with two redirect URIs; its secret is on the answer to the form
// and nowhere after, and it gets a client credentials token; rotating the secret
// refuses the old one and accepts the new; the redirect URIs are edited (and a refused
// edit keeps what was typed), a certificate for mutual TLS is added and removed, a
// public client is created and deleted, and the built-in client cannot be. The realm's
// signing keys rotate and the new key is in the JWKS. An APNs credential is set (and
// never shown back), and "Send test push" reaches the (fake) APNs for an enrolled
// phone, from the push page and from the phone's row. Every new page passes the
// accessibility check and is kept as a screenshot; the clients list and a client's page
// fit 360 px.
func TestAdminConsoleClients(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, p, httpc, platform, api, fake := devAdminWithAPNs(t)
	mustAdmin(t, httpc, 201, "POST", api+"/realms", platform, map[string]any{"name": "beta", "settings": map[string]any{"login_first_factors": []string{"password"}}})
	boss := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/users", platform, map[string]any{"username": "boss", "password": "correct horse beta"})
	mustAdmin(t, httpc, 204, "PUT", api+"/realms/beta/admins/"+boss["id"].(string), platform, nil)
	carol := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/users", platform, map[string]any{"username": "carol"})
	issuer := s.URL(config.Public) + "/realms/beta"
	tokenURL := issuer + "/protocol/openid-connect/token"

	b := newBrowser(t, chromium, true, "en-US")
	console := s.URL(config.Admin) + "/admin/beta/console/"
	realm := console + "realms/beta/"
	b.consoleSignIn(console, "boss", "correct horse beta")

	// The list shows the built-in clients; the nav marks the page.
	b.run(chromedp.Navigate(realm+"clients"), chromedp.WaitVisible("#clients", chromedp.ByID))
	if ids := b.texts("#clients tbody td:first-child"); !slices.Contains(ids, "signet-console") || !slices.Contains(ids, "signet-account") {
		t.Fatalf("the clients list shows %q", ids)
	}
	if cur := b.text(`nav a[aria-current="page"]`); cur != "Clients" {
		t.Errorf("the nav marks %q", cur)
	}
	b.checkAccessibility("clients")
	b.screenshot("clients")

	// Create a confidential client that may use client credentials.
	b.run(chromedp.Click("#new-client", chromedp.ByID), chromedp.WaitVisible("#client-id", chromedp.ByID))
	b.checkAccessibility("client-new")
	b.screenshot("client-new")
	b.run(
		chromedp.SendKeys("#client-id", "billing", chromedp.ByID),
		chromedp.SendKeys("#client-name", "Billing", chromedp.ByID),
		chromedp.SetValue("#redirect-uris", "https://billing.example/cb\nhttps://billing.example/cb2", chromedp.ByID),
		chromedp.Click("#grant-client_credentials", chromedp.ByID),
		chromedp.Click("#create-client", chromedp.ByID),
		chromedp.WaitVisible("#client-secret", chromedp.ByID),
	)
	secret := b.text("#client-secret")
	var loc string
	b.run(chromedp.Location(&loc))
	if len(secret) < 20 || strings.Contains(loc, secret) || !strings.Contains(b.text("main"), "it will not be shown again") {
		t.Fatalf("the secret page shows %q at %s:\n%s", secret, loc, b.text("main"))
	}
	b.checkAccessibility("client-secret")
	b.screenshot("client-secret")
	if err := clientToken(httpc, tokenURL, "billing", secret); err != nil {
		t.Fatalf("the secret off the page gets no token: %v", err)
	}
	got := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/billing", platform, nil)
	if uris := itemStrings(got["redirect_uris"]); !slices.Equal(uris, []string{"https://billing.example/cb", "https://billing.example/cb2"}) || got["public"] != false {
		t.Fatalf("the client as stored: %v", got)
	}

	// The client's page does not show the secret again, not even after a reload.
	b.run(chromedp.Click("#secret-done", chromedp.ByID), chromedp.WaitVisible("#client-settings", chromedp.ByID),
		chromedp.Reload(), chromedp.WaitVisible("#client-settings", chromedp.ByID))
	if strings.Contains(b.html(), secret) {
		t.Fatal("the client's page shows the secret")
	}
	b.checkAccessibility("client")
	b.screenshot("client")

	// Rotate: the old secret is refused, the new one works.
	b.run(chromedp.Click("#rotate-secret", chromedp.ByID), chromedp.WaitVisible("#client-secret", chromedp.ByID))
	rotated := b.text("#client-secret")
	if rotated == secret || len(rotated) < 20 {
		t.Fatalf("rotated secret %q", rotated)
	}
	var re *oauth2.RetrieveError
	if err := clientToken(httpc, tokenURL, "billing", secret); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("the old secret after rotation: %v", err)
	}
	if err := clientToken(httpc, tokenURL, "billing", rotated); err != nil {
		t.Fatalf("the rotated secret: %v", err)
	}

	// Edit the redirect URIs; a URI the API refuses comes back with its reason and what
	// was typed.
	clientURL := realm + "clients/billing"
	b.run(chromedp.Navigate(clientURL), chromedp.WaitVisible("#client-settings", chromedp.ByID),
		chromedp.SetValue("#redirect-uris", "https://billing.example/cb\nhttp://billing.example/plain", chromedp.ByID),
		chromedp.Click("#save-client", chromedp.ByID), chromedp.WaitVisible(".flash-error", chromedp.ByQuery))
	var typed string
	b.run(chromedp.Value("#redirect-uris", &typed, chromedp.ByID))
	if msg := b.text(".flash-error"); !strings.Contains(msg, "plain http") || !strings.Contains(typed, "http://billing.example/plain") {
		t.Fatalf("a refused edit says %q and keeps %q", msg, typed)
	}
	b.run(chromedp.Navigate(clientURL), chromedp.WaitVisible("#client-settings", chromedp.ByID),
		chromedp.SetValue("#redirect-uris", "https://billing.example/cb\nhttps://billing.example/other", chromedp.ByID))
	if msg := b.flashAfter("#save-client"); msg != "Client saved." {
		t.Fatalf("after saving: %q", msg)
	}
	got = mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/billing", platform, nil)
	if uris := itemStrings(got["redirect_uris"]); !slices.Equal(uris, []string{"https://billing.example/cb", "https://billing.example/other"}) {
		t.Fatalf("redirect URIs after the edit: %v", uris)
	}
	if err := clientToken(httpc, tokenURL, "billing", rotated); err != nil {
		t.Fatalf("the secret after an edit: %v", err)
	}

	// A certificate for mutual TLS: added from its PEM, listed by fingerprint, removed.
	now := time.Now()
	leaf, err := p.clientCA.Issue(pki.LeafRequest{CommonName: "billing", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), Client: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Cert.Raw)
	fp := hex.EncodeToString(sum[:])
	b.run(chromedp.Navigate(clientURL), chromedp.WaitVisible("#certificate-pem", chromedp.ByID),
		chromedp.SetValue("#certificate-pem", string(leaf.CertPEM), chromedp.ByID))
	if msg := b.flashAfter("#add-certificate"); msg != "Certificate "+fp+" added." {
		t.Fatalf("after adding the certificate: %q", msg)
	}
	got = mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/billing", platform, nil)
	if fps := itemStrings(got["tls_client_certificates"]); !slices.Equal(fps, []string{fp}) {
		t.Fatalf("certificates after adding: %v", fps)
	}
	b.run(chromedp.Navigate(clientURL), chromedp.WaitVisible("#remove-"+fp, chromedp.ByID))
	if msg := b.flashAfter("#remove-" + fp); msg != "Certificate "+fp+" removed." {
		t.Fatalf("after removing the certificate: %q", msg)
	}
	got = mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/billing", platform, nil)
	if fps := got["tls_client_certificates"]; fps != nil && len(fps.([]any)) != 0 {
		t.Fatalf("certificates after removing: %v", fps)
	}

	// The secret is in the answer to the form itself (200, not stored for a redirect), and
	// the answer is not kept by any cache.
	hb := testutil.NewBrowser(t, httpc.Transport, "")
	hb.Login(hb.Get(console), "boss", "correct horse beta")
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(hb.Get(clientURL).Body)
	if csrf == nil {
		t.Fatal("no form token on the client's page")
	}
	answer := hb.Post(clientURL+"/secret", url.Values{"csrf_token": {csrf[1]}})
	m := regexp.MustCompile(`<code id="client-secret"[^>]*>([^<]+)</code>`).FindStringSubmatch(answer.Body)
	if answer.Status != 200 || answer.URL.String() != clientURL+"/secret" || answer.Header.Get("Cache-Control") != "no-store" || m == nil {
		t.Fatalf("the rotation's answer: %d at %s, Cache-Control %q:\n%s", answer.Status, answer.URL, answer.Header.Get("Cache-Control"), answer.Body)
	}
	if err := clientToken(httpc, tokenURL, "billing", m[1]); err != nil {
		t.Fatalf("the secret of the answer: %v", err)
	}
	if next := hb.Get(clientURL); strings.Contains(next.Body, m[1]) {
		t.Fatal("the page after the rotation shows the secret")
	}

	// A public client: no secret, straight to its page; then deleted after a confirmation.
	b.run(chromedp.Navigate(realm+"new-client"), chromedp.WaitVisible("#client-id", chromedp.ByID),
		chromedp.SendKeys("#client-id", "spa", chromedp.ByID),
		chromedp.Click("#type-public", chromedp.ByID),
		chromedp.SetValue("#redirect-uris", "https://spa.example/cb", chromedp.ByID))
	if msg := b.flashAfter("#create-client"); msg != "Client spa created." || b.count("#client-secret") != 0 {
		t.Fatalf("after creating a public client: %q", msg)
	}
	if got := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/spa", platform, nil); got["public"] != true || got["has_secret"] != false {
		t.Fatalf("the public client as stored: %v", got)
	}
	b.run(chromedp.Click("#delete-client", chromedp.ByID), chromedp.WaitVisible("button.danger", chromedp.ByQuery))
	b.checkAccessibility("client-delete")
	if msg := b.flashAfter("button.danger"); msg != "Client spa deleted." {
		t.Fatalf("after deleting: %q", msg)
	}
	mustAdmin(t, httpc, 404, "GET", api+"/realms/beta/clients/spa", platform, nil)

	// A built-in client offers no deletion, and the API's refusal is shown if asked.
	b.run(chromedp.Navigate(realm+"clients/signet-account"), chromedp.WaitVisible("#client-settings", chromedp.ByID))
	if b.count("#delete-client") != 0 {
		t.Error("the built-in client offers to be deleted")
	}
	b.run(chromedp.Navigate(realm+"clients/signet-account/delete"), chromedp.WaitVisible("button.danger", chromedp.ByQuery))
	if msg := b.flashAfter("button.danger"); !strings.Contains(msg, "built-in client") || b.count(".flash-error") != 1 {
		t.Fatalf("deleting a built-in client: %q", msg)
	}
	mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/signet-account", platform, nil)

	// Keys: rotating publishes a new key, listed and in the JWKS.
	b.run(chromedp.Navigate(realm+"keys"), chromedp.WaitVisible("#rotate-keys", chromedp.ByID))
	before := b.texts(".key-id")
	if len(before) == 0 {
		t.Fatal("no signing keys listed")
	}
	b.checkAccessibility("keys")
	b.screenshot("keys")
	if msg := b.flashAfter("#rotate-keys"); !strings.HasPrefix(msg, "ES256 keys rotated") {
		t.Fatalf("after rotating: %q", msg)
	}
	after := b.texts(".key-id")
	var fresh []string
	for _, kid := range after {
		if !slices.Contains(before, kid) {
			fresh = append(fresh, kid)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("keys before %q, after %q: want one new", before, after)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		resp, err := httpc.Get(issuer + "/protocol/openid-connect/certs")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if json.NewDecoder(resp.Body).Decode(&set) != nil {
			return false
		}
		return slices.ContainsFunc(set.Keys, func(k map[string]any) bool { return k["kid"] == fresh[0] })
	}, "the new key %s in the realm's JWKS", fresh[0])

	// Push: a phone with an APNs registration; a test push without a credential says so.
	act := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/users/"+carol["id"].(string)+"/activations", platform, map[string]any{})
	app := authenticator.New(authenticator.NewMemoryKeyStore())
	if err := app.TrustPEM(p.serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	pushToken := strings.Repeat("c0ffee", 8)
	phone, err := app.Enroll(act["url"].(string), &authenticator.Enrollment{DisplayName: "Carol's phone", Platform: "ios", PushProvider: "apns", PushToken: pushToken})
	if err != nil {
		t.Fatal(err)
	}
	deviceID := phone.Identity().DeviceID
	_ = phone.Close()

	b.run(chromedp.Navigate(realm+"push"), chromedp.WaitVisible("#send-test-push", chromedp.ByID),
		chromedp.SetValue("#test-device", deviceID, chromedp.ByID))
	b.checkAccessibility("push")
	b.screenshot("push")
	if msg := b.flashAfter("#send-test-push"); !strings.Contains(msg, "no APNs (Apple) credential") || b.count(".flash-error") != 1 {
		t.Fatalf("a test push without a credential: %q", msg)
	}

	// Set the APNs credential: the key is never shown back.
	b.run(chromedp.Navigate(realm+"push"), chromedp.WaitVisible("#save-apns", chromedp.ByID),
		chromedp.SetValue("#apns-key", string(fake.KeyPEM), chromedp.ByID),
		chromedp.SendKeys("#apns-key-id", fake.KeyID, chromedp.ByID),
		chromedp.SendKeys("#apns-team-id", fake.TeamID, chromedp.ByID),
		chromedp.SendKeys("#apns-topic", fake.Topic, chromedp.ByID))
	if msg := b.flashAfter("#save-apns"); msg != "APNs (Apple) credential saved." {
		t.Fatalf("after saving the APNs credential: %q", msg)
	}
	if st := b.text("#push-apns .push-state"); st != "set" {
		t.Errorf("the APNs credential is %q", st)
	}
	keyLines := strings.Split(strings.TrimSpace(string(fake.KeyPEM)), "\n")
	if doc := b.html(); strings.Contains(doc, keyLines[1]) {
		t.Fatal("the push page shows the APNs key")
	}
	var keyID string
	b.run(chromedp.Value("#apns-key-id", &keyID, chromedp.ByID))
	if keyID != fake.KeyID {
		t.Errorf("the APNs form shows key ID %q", keyID)
	}

	// Send a test push: APNs gets it for the phone's token.
	b.run(chromedp.Navigate(realm+"push"), chromedp.WaitVisible("#send-test-push", chromedp.ByID),
		chromedp.SetValue("#test-device", deviceID, chromedp.ByID))
	if msg := b.flashAfter("#send-test-push"); msg != "Test push to Carol's phone delivered: APNs (Apple) accepted it." {
		t.Fatalf("a test push: %q", msg)
	}
	if n := fake.Notifications(); len(n) != 1 || n[0].Token != pushToken {
		t.Fatalf("APNs got %+v", n)
	}
	b.checkAccessibility("push-sent")
	b.screenshot("push-sent")

	// The same from the phone's row on the devices page.
	b.run(chromedp.Navigate(realm+"devices"), chromedp.WaitVisible("#test-push-"+deviceID, chromedp.ByID))
	if msg := b.flashAfter("#test-push-" + deviceID); !strings.Contains(msg, "delivered") {
		t.Fatalf("a test push from the devices page: %q", msg)
	}
	if h := b.text("h1"); h != "Devices" || len(fake.Notifications()) != 2 {
		t.Fatalf("after a test push from the devices page: %q, %d notifications", h, len(fake.Notifications()))
	}

	// Delete the credential, after a confirmation.
	b.run(chromedp.Navigate(realm+"push"), chromedp.Click("#push-apns a.danger-link", chromedp.ByQuery),
		chromedp.WaitVisible("button.danger", chromedp.ByQuery))
	if msg := b.flashAfter("button.danger"); msg != "APNs (Apple) credential deleted." {
		t.Fatalf("after deleting the credential: %q", msg)
	}
	if st := b.text("#push-apns .push-state"); st != "not set" {
		t.Errorf("after deleting, the APNs credential is %q", st)
	}

	// At 360 px the clients list and a client's page do not scroll sideways, however
	// long a client's id or URIs.
	long := "https://billing.example/" + strings.Repeat("very-long-path-segment/", 8) + "cb"
	mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/clients", platform, map[string]any{
		"client_id": "a-client-with-a-rather-long-identifier-" + strings.Repeat("x", 40), "redirect_uris": []string{long},
	})
	b.narrow()
	b.run(chromedp.Navigate(realm+"clients"), chromedp.WaitVisible("#clients", chromedp.ByID))
	b.noHorizontalScroll()
	b.screenshot("clients-narrow")
	b.run(chromedp.Navigate(realm+"clients/a-client-with-a-rather-long-identifier-"+strings.Repeat("x", 40)), chromedp.WaitVisible("#client-settings", chromedp.ByID))
	b.noHorizontalScroll()
	b.screenshot("client-narrow")
	b.run(chromedp.Navigate(realm+"push"), chromedp.WaitVisible("#save-apns", chromedp.ByID))
	b.noHorizontalScroll()
	b.run(chromedp.Navigate(realm+"keys"), chromedp.WaitVisible("#rotate-keys", chromedp.ByID))
	b.noHorizontalScroll()
	b.checkProblems()
}
