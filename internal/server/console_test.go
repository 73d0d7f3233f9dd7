package server

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/png"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
)

// consoleSignIn signs username in through the login pages the console sends the browser
// to, and waits for the console's first page.
func (b *browser) consoleSignIn(consoleURL, username, password string) {
	b.t.Helper()
	submit := `form:not(.secondary) button[type=submit]`
	b.run(
		chromedp.Navigate(consoleURL),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", username, chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("#password", chromedp.ByID),
		chromedp.SendKeys("#password", password, chromedp.ByID),
		chromedp.Click(submit, chromedp.ByQuery),
		chromedp.WaitVisible("header.console-header", chromedp.ByQuery),
	)
}

// text returns the text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run(chromedp.TextContent(sel, &s, chromedp.ByQuery))
	return strings.TrimSpace(s)
}

// decodeQR reads the QR code of a data: URL holding a PNG.
func decodeQR(t *testing.T, src string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("the QR image is not an inline PNG: %.60s", src)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the QR code on the page does not decode: %v", err)
	}
	return res.GetText()
}

// TestAdminConsole: in headless Chromium, a realm administrator signs in to the admin
// console through the realm's own login pages, creates a user and an activation code,
// and the test reads the QR code off the page; the SDK enrolls a phone with it; the
// administrator sees the phone appear and locks it, and the phone's next handshake
// fails. The administrator signs out, and an administrator of another realm gets 403 on
// the first realm's pages (the API's refusals are TestRealmAdminRoleSeparation's). A
// platform administrator sees realms, the dashboard and health. Every page passes the
// accessibility check and is kept as a screenshot; the users page fits 360 px.
func TestAdminConsole(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, p, httpc, platform, api := devAdmin(t)
	for _, realm := range []string{"alpha", "beta"} {
		mustAdmin(t, httpc, 201, "POST", api+"/realms", platform, map[string]any{"name": realm, "settings": map[string]any{"login_first_factors": []string{"password"}}})
		out := mustAdmin(t, httpc, 201, "POST", api+"/realms/"+realm+"/users", platform,
			map[string]any{"username": "boss", "password": "correct horse " + realm})
		mustAdmin(t, httpc, 204, "PUT", api+"/realms/"+realm+"/admins/"+out["id"].(string), platform, nil)
	}
	mustAdmin(t, httpc, 201, "POST", api+"/realms/master/users", platform, map[string]any{"username": "root", "password": "correct horse master"})

	b := newBrowser(t, chromium, true, "en-US")
	beta := s.URL(config.Admin) + "/admin/beta/console/"
	b.consoleSignIn(beta, "boss", "correct horse beta")
	if h := b.text("h1"); h != "Realm beta" {
		t.Fatalf("a realm administrator lands on %q", h)
	}
	b.checkAccessibility("realm")
	b.screenshot("realm")

	// Create a user.
	b.run(chromedp.Navigate(beta+"realms/beta/users"), chromedp.WaitVisible("#new-username", chromedp.ByID))
	b.checkAccessibility("users")
	b.screenshot("users")
	b.run(
		chromedp.SendKeys("#new-username", "carol", chromedp.ByID),
		chromedp.SendKeys("#new-email", "carol@example.com", chromedp.ByID),
		chromedp.Click("#create-user", chromedp.ByID),
		chromedp.WaitVisible("#new-activation", chromedp.ByID),
	)
	if h := b.text("h1"); h != "User carol" {
		t.Fatalf("after creating a user: %q", h)
	}
	var userURL string
	b.run(chromedp.Location(&userURL))
	b.checkAccessibility("user")
	b.screenshot("user")

	// An activation code, read off the page as a phone's camera would.
	var src string
	var ok bool
	b.run(
		chromedp.Click("#new-activation", chromedp.ByID),
		chromedp.WaitVisible("#activation-qr", chromedp.ByID),
		chromedp.AttributeValue("#activation-qr", "src", &src, &ok, chromedp.ByID),
	)
	payload := decodeQR(t, src)
	if shown := b.text("#activation-url"); payload != shown || !strings.HasPrefix(payload, s.URL(config.Device)) {
		t.Fatalf("the QR code says %q, the page %q", payload, shown)
	}
	b.checkAccessibility("activation")
	b.screenshot("activation")

	app := authenticator.New(authenticator.NewMemoryKeyStore())
	if err := app.TrustPEM(p.serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	phone, err := app.Enroll(payload, &authenticator.Enrollment{DisplayName: "Carol's phone", Platform: "android"})
	if err != nil {
		t.Fatalf("the SDK enrolls with the QR code off the page: %v", err)
	}
	id := phone.Identity()
	_ = phone.Close()

	// The administrator sees the phone and locks it (it is carol's only phone: the lock
	// needs the confirmation).
	row := "#device-" + id.DeviceID
	b.run(chromedp.Navigate(userURL), chromedp.WaitVisible(row, chromedp.ByQuery))
	if st := b.text(row + " .device-state"); st != "active" {
		t.Fatalf("the new phone is %q", st)
	}
	b.run(
		chromedp.SetValue("#state-"+id.DeviceID, "locked", chromedp.ByQuery),
		chromedp.Click("#force-"+id.DeviceID, chromedp.ByQuery),
		chromedp.Click(row+" button[type=submit]", chromedp.ByQuery),
		chromedp.WaitVisible(".flash", chromedp.ByQuery),
	)
	if st, flash := b.text(row+" .device-state"), b.text(".flash"); st != "locked" || flash != "Device locked." {
		t.Fatalf("after locking: state %q, message %q", st, flash)
	}
	if sess, err := app.Connect(id, nil); err == nil {
		_ = sess.Close()
		t.Fatal("a locked phone completed its handshake")
	}
	b.run(chromedp.Navigate(beta+"realms/beta/devices"), chromedp.WaitVisible(row, chromedp.ByQuery))
	b.checkAccessibility("devices")
	b.screenshot("devices")

	// Signing out ends the console session and the realm's session: the console asks to
	// sign in again.
	b.run(chromedp.Click("form.signout button", chromedp.ByQuery), chromedp.WaitVisible("#username", chromedp.ByID))

	// Another realm's administrator: 403 on this realm's pages.
	alpha := s.URL(config.Admin) + "/admin/alpha/console/"
	b.consoleSignIn(alpha, "boss", "correct horse alpha")
	for _, page := range []string{"realms/beta/", "realms/beta/users", "realms/beta/devices", "realms/alpha/../beta/users", "dashboard", "health"} {
		b.run(chromedp.Navigate(alpha + page))
		if h := b.text("h1"); h != "Forbidden" {
			t.Errorf("alpha's administrator at %s sees %q", page, h)
		}
	}
	b.screenshot("forbidden")
	b.run(chromedp.Navigate(alpha), chromedp.WaitVisible("form.signout button", chromedp.ByQuery))
	if h := b.text("h1"); h != "Realm alpha" {
		t.Fatalf("alpha's administrator lands on %q", h)
	}
	b.run(chromedp.Click("form.signout button", chromedp.ByQuery), chromedp.WaitVisible("#username", chromedp.ByID))

	// A platform administrator: realms, dashboard, health; pages fit a phone's width.
	b.consoleSignIn(s.URL(config.Admin)+"/admin/", "root", "correct horse master")
	if h := b.text("h1"); h != "Realms" {
		t.Fatalf("a platform administrator lands on %q", h)
	}
	b.checkAccessibility("home")
	b.screenshot("home")
	master := s.URL(config.Admin) + "/admin/master/console/"
	for _, page := range []string{"dashboard", "health"} {
		b.run(chromedp.Navigate(master+page), chromedp.WaitVisible("main h1", chromedp.ByQuery))
		b.checkAccessibility(page)
		b.screenshot(page)
		if n := b.count("main svg.plot"); page == "dashboard" && n != 5 {
			t.Errorf("the dashboard shows %d plots, want 5", n)
		}
	}
	b.run(chromedp.Navigate(master+"realms/beta/users"), chromedp.WaitVisible("#new-username", chromedp.ByID))
	b.narrow()
	b.run(chromedp.Reload(), chromedp.WaitVisible("#new-username", chromedp.ByID))
	b.noHorizontalScroll()
	b.screenshot("users-narrow")
	b.checkProblems()
}

// count is the number of elements matching sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	var n int
	b.run(chromedp.Evaluate(`document.querySelectorAll(`+"`"+sel+"`"+`).length`, &n))
	return n
}

// TestAdminConsoleForms: every form of the console is refused without its CSRF token or
// with another session's, and changes nothing; a callback with a state this browser did
// not start, or one already used, is refused with a page, not a 500; without a session a
// page starts a sign-in with PKCE at the realm's authorization endpoint.
func TestAdminConsoleForms(t *testing.T) {
	t.Parallel()
	s, p, httpc, platform, api := devAdmin(t)
	mustAdmin(t, httpc, 201, "POST", api+"/realms", platform, map[string]any{"name": "beta"})
	boss := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/users", platform, map[string]any{"username": "boss", "password": "correct horse beta"})
	carol := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/users", platform, map[string]any{"username": "carol"})
	mustAdmin(t, httpc, 204, "PUT", api+"/realms/beta/admins/"+boss["id"].(string), platform, nil)
	console := s.URL(config.Admin) + "/admin/beta/console/"

	// No session: a sign-in with PKCE starts.
	anon := testutil.NewBrowser(t, httpc.Transport, strings.TrimPrefix(s.URL(config.Admin), "https://"))
	start := anon.Get(console + "realms/beta/users")
	loc := start.Header.Get("Location")
	if start.Status != 302 || !strings.HasPrefix(loc, s.URL(config.Public)+"/realms/beta/protocol/openid-connect/auth?") ||
		!strings.Contains(loc, "code_challenge_method=S256") || !strings.Contains(loc, "client_id=signet-console") {
		t.Fatalf("without a session: %d %s", start.Status, loc)
	}
	// A callback this browser did not start.
	if p := anon.Get(console + "callback?state=forged&code=x"); p.Status != 400 {
		t.Fatalf("forged callback: %d", p.Status)
	}

	b := testutil.NewBrowser(t, httpc.Transport, "")
	p1 := b.Login(b.Get(console), "boss", "correct horse beta")
	if p1.Status != 200 || !strings.Contains(p1.Body, "<h1>Realm beta</h1>") {
		t.Fatalf("signed in: %d\n%s", p1.Status, p1.Body)
	}
	// The callback's code and state are used: replaying them is refused.
	if p := b.Get(p1.URL.String()); p.Status != 200 {
		t.Fatalf("reload: %d", p.Status)
	}
	userURL := console + "realms/beta/users/" + carol["id"].(string)
	app := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/clients", platform, map[string]any{"client_id": "app", "name": "App",
		"redirect_uris": []string{"https://app.example/cb"}})
	clientURL := console + "realms/beta/clients/app"
	keysBefore := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/keys", platform, nil)
	hook := mustAdmin(t, httpc, 201, "POST", api+"/realms/beta/webhooks", platform, map[string]any{"url": "https://hooks.example/in"})
	hookURL := console + "realms/beta/webhooks/" + hook["id"].(string)
	realmBefore := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta", platform, nil)
	forms := map[string]url.Values{
		console + "realms":                       {"name": {"gamma"}},
		console + "realms/beta/settings":         {"display_name": {"Changed"}},
		console + "realms/beta/users":            {"username": {"mallory"}},
		userURL:                                  {"email": {"x@example.com"}, "enabled": {"on"}},
		userURL + "/password":                    {"password": {"hijacked password"}},
		userURL + "/sessions/delete":             nil,
		userURL + "/activation":                  nil,
		userURL + "/admin":                       {"admin": {"on"}},
		console + "realms/beta/devices/d1/state": {"state": {"revoked"}},
		console + "logout":                       nil,
		console + "realms/beta/clients": {"client_id": {"mallory"}, "type": {"confidential"}, "grant_type": {"client_credentials"},
			"redirect_uris": {"https://mallory.example/cb"}},
		clientURL:                                        {"version": {"1"}, "name": {"Hijacked"}, "redirect_uris": {"https://mallory.example/cb"}},
		clientURL + "/secret":                            nil,
		clientURL + "/delete":                            nil,
		clientURL + "/certificates":                      {"pem": {string(p.clientCA.CertPEM)}},
		clientURL + "/certificates/delete":               {"fingerprint": {strings.Repeat("ab", 32)}},
		console + "realms/beta/keys/rotate":              {"alg": {"ES256"}},
		console + "realms/beta/push/unifiedpush":         {"subject": {"mailto:mallory@example.com"}},
		console + "realms/beta/push/unifiedpush/delete":  nil,
		console + "realms/beta/test-push":                {"device": {"d1"}},
		console + "realms/beta/webhooks":                 {"url": {"https://mallory.example/in"}, "enabled": {"on"}},
		console + "realms/beta/webhooks/callback-secret": {"grace": {"0"}},
		hookURL:                    {"url": {"https://mallory.example/in"}, "enabled": {"on"}},
		hookURL + "/rotate-secret": {"grace": {"0"}},
		hookURL + "/delete":        {"confirm": {"on"}},
		console + "realms/beta/webhook-deliveries/1/redeliver": nil,
	}
	other := csrfOfOtherSession(t, s, p)
	for u, form := range forms {
		for _, token := range []string{"", "forged", other} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if token != "" {
				f.Set("csrf_token", token)
			}
			if got := b.Post(u, f); got.Status != 403 {
				t.Errorf("POST %s with token %.8q: %d", u, token, got.Status)
			}
		}
	}
	// Nothing changed.
	if u := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/users/"+carol["id"].(string), platform, nil); u["email"] != "" {
		t.Errorf("carol changed: %v", u)
	}
	if r := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta", platform, nil); r["display_name"] != "" {
		t.Errorf("the realm changed: %v", r)
	}
	if l := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/admins", platform, nil); len(l["items"].([]any)) != 1 {
		t.Errorf("administrators changed: %v", l)
	}
	mustAdmin(t, httpc, 404, "GET", api+"/realms/beta/clients/mallory", platform, nil)
	if c := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/clients/app", platform, nil); c["version"] != app["version"] || c["name"] != "App" {
		t.Errorf("the client changed (its secret, certificates or settings): %v", c)
	}
	if k := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/keys", platform, nil); !reflect.DeepEqual(k, keysBefore) {
		t.Errorf("the signing keys changed: %v, were %v", k, keysBefore)
	}
	if l := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/push", platform, nil); len(l["items"].([]any)) != 0 {
		t.Errorf("a push credential was set: %v", l)
	}
	if l := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/webhooks", platform, nil); len(l["items"].([]any)) != 1 {
		t.Errorf("webhooks changed: %v", l)
	}
	if h := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta/webhooks/"+hook["id"].(string), platform, nil); h["version"] != hook["version"] || h["url"] != hook["url"] {
		t.Errorf("the webhook changed (its secret or settings): %v", h)
	}
	if r := mustAdmin(t, httpc, 200, "GET", api+"/realms/beta", platform, nil); !reflect.DeepEqual(r, realmBefore) {
		t.Errorf("the realm changed (its callback secret): %v, was %v", r, realmBefore)
	}
}

// csrfOfOtherSession is a valid form token of another console session (a second sign-in).
func csrfOfOtherSession(t *testing.T, s *Server, p *testPKI) string {
	t.Helper()
	httpc := client(pool(p.serverCA), 0, nil)
	b := testutil.NewBrowser(t, httpc.Transport, "")
	page := b.Login(b.Get(s.URL(config.Admin)+"/admin/beta/console/"), "boss", "correct horse beta")
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no form token on\n%s", page.Body)
	}
	return m[1]
}
