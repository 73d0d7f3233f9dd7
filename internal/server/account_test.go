package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/admin"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestBrowserAccountConsole, as a user would: the user signs in to the account console
// with the phone, removes an old phone, adds a new one after signing in again, and signs
// out a session made elsewhere with the password. The removed phone and the ended session
// stop working: the phone's open channel is refused and it cannot connect again, the
// session's cookie no longer signs in and the refresh token issued in it is refused.
// Every page passes axe-core's serious and critical rules and fits a 360 px phone.
func TestBrowserAccountConsole(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, p, rp, rpClient := devWithRP(t)
	ctx := context.Background()
	public := s.URL(config.Public)
	issuer := public + "/realms/demo"
	if _, err := s.store.GetClient(ctx, "demo", admin.AccountClientID); err != nil {
		t.Fatalf("the built-in account client: %v", err)
	}

	// Two phones; the old one stays connected until it is removed.
	_, phone := enrollPhoneWith(t, s, p, &authenticator.Enrollment{DisplayName: "Main phone", Platform: "android"})
	requests := phoneListener{reqs: make(chan *authenticator.Request, 4)}
	phone.SetListener(requests)
	oldApp, old := enrollPhoneWith(t, s, p, &authenticator.Enrollment{DisplayName: "Old phone", Platform: "ios"})
	oldID := old.Identity()

	// Another session: an application signed in with the password on another browser,
	// holding a refresh token issued in that session.
	signetHost := strings.TrimPrefix(public, "https://")
	other := testutil.NewBrowser(t, rpClient.Transport, signetHost)
	app := oauth2.Config{ClientID: s.demo.ClientID, ClientSecret: s.demo.Secret, RedirectURL: rp.URL + "/callback",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/protocol/openid-connect/auth", TokenURL: issuer + "/protocol/openid-connect/token"},
		Scopes:   []string{"openid", "profile"}}
	appCtx := context.WithValue(ctx, oauth2.HTTPClient, rpClient)
	authorize := func(extra ...oauth2.AuthCodeOption) (testutil.Page, string) {
		verifier := oauth2.GenerateVerifier()
		return other.Get(app.AuthCodeURL("st", append(extra, oauth2.S256ChallengeOption(verifier))...)), verifier
	}
	page, verifier := authorize()
	page = other.Login(page, s.demoUser.Username, s.demoUser.Password)
	code := codeOf(t, page, rp.URL)
	tok, err := app.Exchange(appCtx, code, oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("the other session's tokens: %v (refresh token %t)", err, tok != nil && tok.RefreshToken != "")
	}
	refresh := func(rt string) (*oauth2.Token, error) {
		return app.TokenSource(appCtx, &oauth2.Token{RefreshToken: rt}).Token()
	}
	refreshed, err := refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh before the sign-out: %v", err)
	}
	otherSID := sessionID(t, other, public)

	b := newBrowser(t, chromium, true, "en-US")
	b.narrow()
	// check runs the checks every page of the console must pass.
	check := func(name string) {
		t.Helper()
		b.checkAccessibility("account " + name)
		b.noHorizontalScroll()
		b.screenshot(name)
	}
	// approve answers the phone sign-in the page waits on with the number it shows.
	approve := func() {
		t.Helper()
		var number string
		b.run(chromedp.Click("#phone-login", chromedp.ByID), matchNumber(&number))
		select {
		case r := <-requests.reqs:
			mustAnswer(t, "approved")(phone.Approve(r, number))
		case <-time.After(20 * time.Second):
			t.Fatal("the phone got no request")
		}
	}

	// Sign in with the phone.
	b.run(
		chromedp.Navigate(issuer+"/account"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
	)
	approve()
	var heading string
	b.run(chromedp.WaitVisible("#save-profile", chromedp.ByID), chromedp.Text("h1", &heading, chromedp.ByQuery))
	if heading != "Your profile" {
		t.Fatalf("the console's first page says %q", heading)
	}
	check("profile")

	// Remove the old phone.
	b.run(chromedp.Click(`a[href$="/account/devices"]`, chromedp.ByQuery), chromedp.WaitVisible("#device-"+oldID.DeviceID, chromedp.ByID))
	check("devices")
	var notice string
	b.run(
		chromedp.Click("#device-"+oldID.DeviceID+` form[action$="/remove"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(".message-notice", chromedp.ByQuery),
		chromedp.Text(".message-notice", &notice, chromedp.ByQuery),
	)
	if notice != "The phone is removed." {
		t.Errorf("after removing: %q", notice)
	}
	var listed int
	b.run(chromedp.Evaluate(`document.querySelectorAll("#device-`+oldID.DeviceID+`").length`, &listed))
	if listed != 0 {
		t.Error("the removed phone is still listed")
	}
	// The removed phone's open channel is served no further, and it cannot connect again.
	if _, err := old.Pending(); err == nil {
		t.Error("the removed phone's open session still lists requests")
	}
	if again, err := oldApp.Connect(oldID, nil); err == nil {
		again.Close()
		t.Error("the removed phone connected again")
	}

	// Add a phone: a fresh sign-in first, then the activation code, which a new phone
	// redeems.
	b.run(chromedp.Click("#add-device", chromedp.ByID), chromedp.WaitVisible("#phone-login", chromedp.ByID))
	approve()
	var payload string
	var ok bool
	b.run(chromedp.WaitVisible("#activation-code", chromedp.ByID),
		chromedp.AttributeValue("#activation-qr", "data-payload", &payload, &ok, chromedp.ByID))
	check("enroll")
	newApp := authenticator.New(authenticator.NewMemoryKeyStore())
	if err := newApp.TrustPEM(p.serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	newPhone, err := newApp.Enroll(payload, &authenticator.Enrollment{DisplayName: "New phone"})
	if err != nil {
		t.Fatalf("enroll with the console's activation code: %v", err)
	}
	defer newPhone.Close()
	b.run(chromedp.Click("#enroll-done", chromedp.ByID), chromedp.WaitVisible("#device-"+newPhone.Identity().DeviceID, chromedp.ByID))

	// Sign the other session out.
	b.run(chromedp.Click(`a[href$="/account/sessions"]`, chromedp.ByQuery), chromedp.WaitVisible("#session-"+otherSID, chromedp.ByID))
	check("sessions")
	b.run(
		chromedp.Click("#session-"+otherSID+" button", chromedp.ByQuery),
		chromedp.WaitVisible(".message-notice", chromedp.ByQuery),
		chromedp.Text(".message-notice", &notice, chromedp.ByQuery),
	)
	if notice != "The session is signed out." {
		t.Errorf("after signing the session out: %q", notice)
	}
	// Its cookie no longer signs in: the application gets login_required, not a code.
	page, _ = authorize(oauth2.SetAuthURLParam("prompt", "none"))
	if loc := page.Header.Get("Location"); page.Status != http.StatusSeeOther || !strings.Contains(loc, "error=login_required") {
		t.Errorf("the ended session's cookie: %d %s", page.Status, loc)
	}
	// Its refresh token is refused.
	if _, err := refresh(refreshed.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("the ended session's refresh token: %v", err)
	}

	b.run(chromedp.Click(`a[href$="/account/security"]`, chromedp.ByQuery), chromedp.WaitVisible("#change-password", chromedp.ByID))
	check("security")
	var activity string
	b.run(chromedp.Click(`a[href$="/account/activity"]`, chromedp.ByQuery), chromedp.WaitVisible(".items", chromedp.ByQuery),
		chromedp.Text("main", &activity, chromedp.ByQuery))
	if !strings.Contains(activity, "Sign-in with your phone: approved") || !strings.Contains(activity, "Main phone") {
		t.Errorf("activity page:\n%s", activity)
	}
	check("activity")

	// Signing out ends the SSO session too: the console asks to sign in again.
	b.run(chromedp.Click("#sign-out", chromedp.ByID), chromedp.WaitVisible("#username", chromedp.ByID))
	if ss, err := s.store.ListUserSessions(ctx, "demo", phoneUser(t, s)); err != nil || len(ss) != 0 {
		t.Errorf("sessions after signing out: %d, %v", len(ss), err)
	}
	b.checkProblems()
}

// codeOf reads the authorization code from a redirect to the relying party at rpURL.
func codeOf(t *testing.T, page testutil.Page, rpURL string) string {
	t.Helper()
	loc, err := url.Parse(page.Header.Get("Location"))
	if page.Status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), rpURL) || loc.Query().Get("code") == "" {
		t.Fatalf("no code for the application: %d %s\n%s", page.Status, page.Header.Get("Location"), page.Body)
	}
	return loc.Query().Get("code")
}

// sessionID is the SSO session of b's demo-realm cookie.
func sessionID(t *testing.T, b *testutil.Browser, public string) string {
	t.Helper()
	u, _ := url.Parse(public + "/")
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == session.Cookie("demo").Name() {
			id, _, _ := strings.Cut(c.Value, ".")
			return id
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// phoneUser is the demo user's id.
func phoneUser(t *testing.T, s *Server) string {
	t.Helper()
	u, err := s.store.GetUserByUsername(context.Background(), "demo", s.demoUser.Username)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
