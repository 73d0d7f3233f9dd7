package account

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/web"
)

// TestSignInRedirect: without a console session every page sends the browser to the
// realm's authorization endpoint as the built-in public client with PKCE (S256), a
// state bound to the browser by a __Host- cookie, and a nonce; /account goes to
// /account/; an unknown realm is a 404 page.
func TestSignInRedirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.browser(t)

	page := u.raw(t, "GET", e.base(), nil)
	if page.Status != http.StatusSeeOther || page.Header.Get("Location") != "/realms/r/account/" {
		t.Fatalf("/account: %d %s", page.Status, page.Header.Get("Location"))
	}
	for _, path := range []string{"/", "/devices", "/sessions", "/devices/enroll"} {
		page := u.raw(t, "GET", e.base()+path, nil)
		loc, err := url.Parse(page.Header.Get("Location"))
		if page.Status != http.StatusSeeOther || err != nil {
			t.Fatalf("%s: %d %s", path, page.Status, page.Header.Get("Location"))
		}
		q := loc.Query()
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.srv.URL+"/realms/r/protocol/openid-connect/auth" {
			t.Errorf("%s: sent to %s", path, got)
		}
		want := map[string]string{"client_id": DefaultClientID, "response_type": "code", "code_challenge_method": "S256",
			"redirect_uri": e.base() + "/callback", "scope": "openid profile email"}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s: %s=%q, want %q", path, k, q.Get(k), v)
			}
		}
		if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 22 || len(q.Get("nonce")) < 22 || q.Has("prompt") {
			t.Errorf("%s: authorization request %v", path, q)
		}
		if c := page.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-signet_account_state="+q.Get("state")) ||
			!strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
			t.Errorf("%s: state cookie %q", path, c)
		}
	}
	if page := u.raw(t, "GET", e.srv.URL+"/realms/nope/account/", nil); page.Status != http.StatusNotFound || !strings.Contains(page.Body, "This realm does not exist") {
		t.Errorf("unknown realm: %d\n%s", page.Status, page.Body)
	}
	// The whole sign-in, as a user makes it, ends on the page asked for.
	page = u.Get(e.base() + "/sessions")
	page = u.Login(page, "alice", testPassword)
	if page.Status != http.StatusOK || page.URL.Path != "/realms/r/account/sessions" || !strings.Contains(page.Body, "Your sessions") {
		t.Fatalf("after signing in: %d %s\n%s", page.Status, page.URL, page.Body)
	}
}

// TestCallbackRefusals: a callback whose state is not the one this browser started, one
// used before, an error from the provider, and a code that does not redeem all end on an
// error page that offers to sign in again; none is a 500, and none signs anyone in.
func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := func(u *user) string {
		page := u.raw(t, "GET", e.base()+"/", nil)
		loc, _ := url.Parse(page.Header.Get("Location"))
		return loc.Query().Get("state")
	}
	cb := e.base() + "/callback?"
	iss := url.QueryEscape(e.srv.URL + "/realms/r")
	for name, tc := range map[string]struct {
		query  func(state string) string
		status int
		text   string
	}{
		"wrong state":    {func(string) string { return "state=forged&code=x&iss=" + iss }, 400, "could not be completed"},
		"no state":       {func(string) string { return "code=x&iss=" + iss }, 400, "could not be completed"},
		"bad code":       {func(s string) string { return "state=" + s + "&code=nonsense&iss=" + iss }, 400, "could not be completed"},
		"wrong issuer":   {func(s string) string { return "state=" + s + "&code=x&iss=https%3A%2F%2Fevil.example" }, 400, "could not be completed"},
		"denied":         {func(s string) string { return "state=" + s + "&error=access_denied&iss=" + iss }, 403, "cancelled"},
		"other error":    {func(s string) string { return "state=" + s + "&error=server_error&iss=" + iss }, 400, "could not be completed"},
		"markup in code": {func(s string) string { return "state=" + s + "&code=%3Cscript%3E&iss=" + iss }, 400, "could not be completed"},
	} {
		t.Run(name, func(t *testing.T) {
			u := e.browser(t)
			page := u.raw(t, "GET", cb+tc.query(start(u)), nil)
			if page.Status != tc.status || !strings.Contains(page.Body, tc.text) || !strings.Contains(page.Body, `href="/realms/r/account/"`) ||
				strings.Contains(page.Body, "<script>") {
				t.Fatalf("%d\n%s", page.Status, page.Body)
			}
			if got := u.raw(t, "GET", e.base()+"/", nil); got.Status != http.StatusSeeOther {
				t.Fatalf("signed in after a refused callback: %d", got.Status)
			}
		})
	}
	t.Run("state used twice", func(t *testing.T) {
		u := e.browser(t)
		page := u.Get(e.base() + "/")
		page = u.Submit(page, "username", url.Values{"username": {"alice"}})
		// Stop at the redirect to the callback and take it twice.
		action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(page.Body)[1]
		target, _ := page.URL.Parse(strings.ReplaceAll(action, "&amp;", "&"))
		resp := u.raw(t, "POST", target.String(), url.Values{"csrf_token": {csrf(t, page)}, "step": {"password"}, "password": {testPassword}})
		callback := resp.Header.Get("Location")
		if !strings.HasPrefix(callback, e.base()+"/callback?") {
			t.Fatalf("the login answered %d %s", resp.Status, callback)
		}
		// Keep the state cookie for the second try.
		jar := u.Client.Jar
		cookies := jar.Cookies(target)
		if first := u.raw(t, "GET", callback, nil); first.Status != http.StatusSeeOther {
			t.Fatalf("first callback: %d\n%s", first.Status, first.Body)
		}
		jar.SetCookies(target, cookies)
		if again := u.raw(t, "GET", callback, nil); again.Status != http.StatusBadRequest {
			t.Fatalf("second callback: %d\n%s", again.Status, again.Body)
		}
	})
}

// TestPages: a signed-in user sees every page in the console's own layout (navigation,
// sign-out button, the development-mode notice), in German too, and what users stored
// arrives escaped.
func TestPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	evil := `<script>alert(1)</script>`
	if _, err := e.st.UpdateUser(context.Background(), testRealm, e.users["alice"].ID, func(u store.User) (store.User, error) {
		u.Profile.GivenName, u.Profile.Website = evil, `javascript:alert(1)`
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.addDevice(t, "alice", evil)
	u, _ := e.signIn(t, "alice")
	for _, tc := range []struct{ path, heading string }{
		{"/", "Your profile"}, {"/security", "Security"}, {"/devices", "Your phones"}, {"/sessions", "Your sessions"}, {"/activity", "Recent sign-ins"},
	} {
		page := u.Get(e.base() + tc.path)
		for _, want := range []string{"<h1>" + tc.heading + "</h1>", `aria-current="page"`, `id="sign-out"`, "Signed in as alice",
			"Development mode", `href="/static/account.css"`, `<main id="main"`, "<nav "} {
			if !strings.Contains(page.Body, want) {
				t.Errorf("%s lacks %q:\n%s", tc.path, want, page.Body)
			}
		}
		if strings.Contains(page.Body, "<script") || strings.Contains(page.Body, " style=") {
			t.Errorf("%s: markup or inline style:\n%s", tc.path, page.Body)
		}
		if csp := page.Header.Get("Content-Security-Policy"); csp != web.ContentSecurityPolicy || page.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", tc.path, page.Header)
		}
	}
	req, _ := http.NewRequest("GET", e.base()+"/devices", nil)
	req.Header.Set("Accept-Language", "de-DE")
	if page := u.Do(req); !strings.Contains(page.Body, "<h1>Ihre Telefone</h1>") || !strings.Contains(page.Body, `lang="de"`) {
		t.Errorf("German devices page:\n%s", page.Body)
	}
	if page := u.Get(e.base() + "/nothing-here"); page.Status != http.StatusNotFound {
		t.Errorf("unknown page: %d", page.Status)
	}
	if css := u.Get(e.srv.URL + "/static/account.css"); css.Status != http.StatusOK || !strings.Contains(css.Body, ".account-nav") {
		t.Errorf("account.css: %d", css.Status)
	}
}

// TestCSRF: every form needs the token of its own console session; a missing, forged or
// another session's token is a 403 page and changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, page := e.signIn(t, "alice")
	bob, bobPage := e.signIn(t, "bob")
	form := func(token string) url.Values {
		v := url.Values{"given_name": {"Mallory"}}
		if token != "" {
			v.Set("csrf_token", token)
		}
		return v
	}
	for name, token := range map[string]string{"missing": "", "forged": strings.Repeat("A", 75), "bob's": csrf(t, bobPage)} {
		got := alice.raw(t, "POST", e.base()+"/profile", form(token))
		if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "The form has expired") {
			t.Errorf("%s token: %d\n%s", name, got.Status, got.Body)
		}
	}
	for _, path := range []string{"/sessions/end-others", "/password", "/totp/remove", "/logout"} {
		if got := alice.raw(t, "POST", e.base()+path, url.Values{}); got.Status != http.StatusForbidden {
			t.Errorf("%s without a token: %d", path, got.Status)
		}
	}
	if u, _ := e.st.GetUser(context.Background(), testRealm, e.users["alice"].ID); u.Profile.GivenName != "Alice" {
		t.Fatalf("a refused form changed the profile: %+v", u.Profile)
	}
	if got := alice.post(t, page, "/profile", form("")); got.Status != http.StatusSeeOther {
		t.Fatalf("with the right token: %d\n%s", got.Status, got.Body)
	}
	_ = bob
}

// TestNoCrossUserAccess: alice can neither rename, lock nor remove bob's phone, nor sign
// out his session: each is "not found", and nothing of bob's changes.
func TestNoCrossUserAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	bobs := e.addDevice(t, "bob", "bob's phone")
	e.addDevice(t, "bob", "bob's other phone")
	_, _ = e.signIn(t, "bob")
	alice, page := e.signIn(t, "alice")
	for _, action := range []string{"rename", "lock", "remove"} {
		got := alice.post(t, page, "/devices/"+bobs.ID+"/"+action, url.Values{"name": {"mine now"}, "confirm": {"yes"}})
		if got.Status != http.StatusNotFound || !strings.Contains(got.Body, "This phone was not found") {
			t.Errorf("%s bob's phone: %d\n%s", action, got.Status, got.Body)
		}
	}
	for _, id := range []string{"no-such-phone", strings.Repeat("x", 300), "%C3%28"} {
		if got := alice.post(t, page, "/devices/"+id+"/lock", nil); got.Status != http.StatusNotFound {
			t.Errorf("locking phone %q: %d\n%s", id, got.Status, got.Body)
		}
	}
	if d, err := e.st.GetDevice(ctx, testRealm, bobs.ID); err != nil || d.DisplayName != "bob's phone" || d.State != store.DeviceActive {
		t.Fatalf("bob's phone after alice's tries: %+v, %v", d, err)
	}
	ss, err := e.st.ListUserSessions(ctx, testRealm, e.users["bob"].ID)
	if err != nil || len(ss) != 1 {
		t.Fatalf("bob's sessions: %v, %v", ss, err)
	}
	for _, id := range []string{ss[0].ID, "no-such-session", ""} {
		if got := alice.post(t, page, "/sessions/end", url.Values{"session": {id}}); got.Status != http.StatusNotFound {
			t.Errorf("ending session %q: %d\n%s", id, got.Status, got.Body)
		}
	}
	if _, err := e.st.GetSession(ctx, testRealm, ss[0].ID); err != nil {
		t.Fatalf("bob's session after alice's try: %v", err)
	}
	if got := alice.post(t, page, "/sessions/end-others", nil); got.Status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere else: %d", got.Status)
	}
	if _, err := e.st.GetSession(ctx, testRealm, ss[0].ID); err != nil {
		t.Fatalf("alice's sign-out everywhere else ended bob's session: %v", err)
	}
}

// TestDevices: the user renames, locks and removes their own phones; the last active one
// only after confirming; each change is in the audit log under the user.
func TestDevices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	one := e.addDevice(t, "alice", "Pixel")
	two := e.addDevice(t, "alice", "iPhone")
	u, page := e.signIn(t, "alice")
	page = u.Get(e.base() + "/devices")
	for _, want := range []string{"Pixel", "iPhone", "Active", "android", `id="add-device"`} {
		if !strings.Contains(page.Body, want) {
			t.Fatalf("devices page lacks %q:\n%s", want, page.Body)
		}
	}
	if got := u.post(t, page, "/devices/"+one.ID+"/rename", url.Values{"name": {"  "}}); got.Status != http.StatusBadRequest ||
		!strings.Contains(got.Body, "1 to 100 printable characters") {
		t.Fatalf("empty name: %d\n%s", got.Status, got.Body)
	}
	if got := u.post(t, page, "/devices/"+one.ID+"/rename", url.Values{"name": {"Work phone"}}); got.Status != http.StatusSeeOther ||
		got.Header.Get("Location") != "/realms/r/account/devices?done=renamed" {
		t.Fatalf("rename: %d %s", got.Status, got.Header.Get("Location"))
	}
	if got := u.post(t, page, "/devices/"+two.ID+"/lock", nil); got.Status != http.StatusSeeOther {
		t.Fatalf("lock: %d\n%s", got.Status, got.Body)
	}
	// one is the last active phone now.
	got := u.post(t, page, "/devices/"+one.ID+"/remove", nil)
	if got.Status != http.StatusConflict || !strings.Contains(got.Body, "last active phone") || !strings.Contains(got.Body, `id="confirm-last"`) {
		t.Fatalf("remove the last phone: %d\n%s", got.Status, got.Body)
	}
	if got := u.post(t, got, "/devices/"+one.ID+"/remove", url.Values{"confirm": {"yes"}}); got.Status != http.StatusSeeOther {
		t.Fatalf("confirmed removal: %d\n%s", got.Status, got.Body)
	}
	if _, err := e.st.GetDevice(ctx, testRealm, one.ID); err == nil {
		t.Fatal("the removed phone is still there")
	}
	if d, _ := e.st.GetDevice(ctx, testRealm, two.ID); d.State != store.DeviceLocked {
		t.Fatalf("locked phone: %+v", d)
	}
	page = u.Get(e.base() + "/devices?done=locked")
	if !strings.Contains(page.Body, "Locked") || !strings.Contains(page.Body, "The phone is locked.") {
		t.Fatalf("after the changes:\n%s", page.Body)
	}
	audit, err := e.st.ListAuditEvents(ctx, testRealm, store.AuditFilter{UserID: e.users["alice"].ID}, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit.Items {
		if a.Actor == "user:"+e.users["alice"].ID {
			actions = append(actions, a.Action)
		}
	}
	if !slices.Equal(actions, []string{"removed", "locked", "renamed"}) {
		t.Fatalf("audit of alice's own changes: %v", actions)
	}
}

// TestEnrollNeedsFreshApproval: adding a phone sends the user to sign in again
// (prompt=login) unless they just did for it; after that the page shows an activation
// code and its QR code once, and loading it again asks again.
func TestEnrollNeedsFreshApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, _ := e.signIn(t, "alice")
	page := u.raw(t, "GET", e.base()+"/devices/enroll", nil)
	loc, _ := url.Parse(page.Header.Get("Location"))
	if page.Status != http.StatusSeeOther || loc.Path != "/realms/r/protocol/openid-connect/auth" ||
		loc.Query().Get("prompt") != "login" || loc.Query().Get("login_hint") != "alice" {
		t.Fatalf("enroll without a fresh approval: %d %s", page.Status, page.Header.Get("Location"))
	}
	// The SSO session alone does not answer prompt=login: the login page asks again.
	login := u.Get(loc.String())
	if !strings.Contains(login.Body, `id="username"`) {
		t.Fatalf("prompt=login did not ask:\n%s", login.Body)
	}
	page = u.Login(login, "alice", testPassword)
	if page.URL.Path != "/realms/r/account/devices/enroll" || !strings.Contains(page.Body, `id="activation-code"`) {
		t.Fatalf("after the fresh sign-in: %d %s\n%s", page.Status, page.URL, page.Body)
	}
	m := regexp.MustCompile(`data-payload="([^"]+)"`).FindStringSubmatch(page.Body)
	if m == nil || !strings.HasPrefix(m[1], "https://device.example.com:8888/enroll#") || !strings.Contains(page.Body, `src="data:image/png;base64,`) {
		t.Fatalf("enroll page:\n%s", page.Body)
	}
	codes, err := e.st.ListActivationCodes(context.Background(), testRealm, e.users["alice"].ID, store.ListOptions{})
	if err != nil || len(codes.Items) != 1 || codes.Items[0].CreatedBy != "user:"+e.users["alice"].ID {
		t.Fatalf("activation codes %+v, %v", codes.Items, err)
	}
	// One approval, one code.
	if again := u.raw(t, "GET", e.base()+"/devices/enroll", nil); again.Status != http.StatusSeeOther ||
		!strings.Contains(again.Header.Get("Location"), "prompt=login") {
		t.Fatalf("enroll again: %d %s", again.Status, again.Header.Get("Location"))
	}

	// An approval older than five minutes does not count.
	if _, err := e.console.update(context.Background(), sessionOf(t, e, u), func(rec *record) {
		rec.Approved = time.Now().Add(-freshApproval - time.Second)
	}); err != nil {
		t.Fatal(err)
	}
	if stale := u.raw(t, "GET", e.base()+"/devices/enroll", nil); stale.Status != http.StatusSeeOther ||
		!strings.Contains(stale.Header.Get("Location"), "prompt=login") {
		t.Fatalf("enroll with a stale approval: %d %s", stale.Status, stale.Header.Get("Location"))
	}
}

// sessionOf is the console session of u's browser, as the handlers see it.
func sessionOf(t *testing.T, e *env, u *user) *request {
	t.Helper()
	target, _ := url.Parse(e.base() + "/")
	for _, c := range u.Client.Jar.Cookies(target) {
		if c.Name == "__Host-signet_account_"+testRealm {
			entry, err := e.console.eph.Get(context.Background(), recordKey(c.Value))
			if err != nil {
				t.Fatal(err)
			}
			q := &request{id: c.Value}
			if err := json.Unmarshal(entry.Value, &q.sess); err != nil {
				t.Fatal(err)
			}
			return q
		}
	}
	t.Fatal("no console session cookie")
	return nil
}

// TestPasswordChange: a wrong current password is refused (and counts towards the
// lockout), mismatched or short new passwords too; the right one changes it, signs the
// user out everywhere else and the new password signs in.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	other, _ := e.signIn(t, "alice")
	u, _ := e.signIn(t, "alice")
	page := u.Get(e.base() + "/security")
	for name, tc := range map[string]struct {
		form url.Values
		text string
	}{
		"wrong current": {url.Values{"current_password": {"wrong password"}, "new_password": {"new password 1"}, "confirm_password": {"new password 1"}}, "current password is not right"},
		"differ":        {url.Values{"current_password": {testPassword}, "new_password": {"new password 1"}, "confirm_password": {"new password 2"}}, "two passwords differ"},
		"short":         {url.Values{"current_password": {testPassword}, "new_password": {"short"}, "confirm_password": {"short"}}, "8 to 256 characters"},
	} {
		got := u.post(t, page, "/password", tc.form)
		if got.Status != http.StatusBadRequest || !strings.Contains(got.Body, tc.text) {
			t.Errorf("%s: %d\n%s", name, got.Status, got.Body)
		}
	}
	if stored, _ := e.st.GetUser(ctx, testRealm, e.users["alice"].ID); stored.PasswordHash != e.users["alice"].PasswordHash || stored.FailedLogins != 1 {
		t.Fatalf("after refused changes: hash changed %v, failed logins %d", stored.PasswordHash != e.users["alice"].PasswordHash, stored.FailedLogins)
	}
	got := u.post(t, page, "/password", url.Values{"current_password": {testPassword}, "new_password": {"a new passphrase"}, "confirm_password": {"a new passphrase"}})
	if got.Status != http.StatusSeeOther || got.Header.Get("Location") != "/realms/r/account/security?done=password" {
		t.Fatalf("change: %d %s\n%s", got.Status, got.Header.Get("Location"), got.Body)
	}
	// This browser goes on; the other one is signed out.
	if page := u.Get(e.base() + "/security?done=password"); !strings.Contains(page.Body, "Your password is changed") {
		t.Fatalf("after the change:\n%s", page.Body)
	}
	if page := other.Get(e.base() + "/"); !strings.Contains(page.Body, `id="username"`) {
		t.Fatalf("the other session still works:\n%s", page.Body)
	}
	if logs := e.logs.String(); strings.Contains(logs, testPassword) || strings.Contains(logs, "a new passphrase") || strings.Contains(logs, "wrong password") {
		t.Errorf("a password is in the log:\n%s", logs)
	}
	fresh := e.browser(t)
	if page := fresh.Login(fresh.Get(e.base()+"/"), "alice", "a new passphrase"); page.URL.Path != "/realms/r/account/" {
		t.Fatalf("the new password does not sign in: %s\n%s", page.URL, page.Body)
	}
}

// TestTOTP: the user sets up an authenticator app (QR code, then a code from it), and
// removes it again; a wrong code is refused.
func TestTOTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u, page := e.signIn(t, "alice")
	if got := u.Get(e.base() + "/totp"); got.URL.Path != "/realms/r/account/security" {
		t.Fatalf("TOTP page without a key being set up: %s", got.URL)
	}
	got := u.post(t, page, "/totp/setup", nil)
	if got.Status != http.StatusSeeOther || got.Header.Get("Location") != "/realms/r/account/totp" {
		t.Fatalf("setup: %d %s", got.Status, got.Header.Get("Location"))
	}
	page = u.Get(e.base() + "/totp")
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page.Body)
	if m == nil || !strings.Contains(page.Body, `src="data:image/png;base64,`) {
		t.Fatalf("TOTP page:\n%s", page.Body)
	}
	if stored, _ := e.st.GetUser(ctx, testRealm, e.users["alice"].ID); len(stored.TOTPSecret) != 0 {
		t.Fatal("the key is stored before it was confirmed")
	}
	if got := u.post(t, page, "/totp/confirm", url.Values{"otp": {"000000"}}); got.Status != http.StatusBadRequest || !strings.Contains(got.Body, "Invalid code") {
		t.Fatalf("wrong code: %d\n%s", got.Status, got.Body)
	}
	code, err := pqtotp.GenerateCode(m[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := u.post(t, page, "/totp/confirm", url.Values{"otp": {code}}); got.Status != http.StatusSeeOther {
		t.Fatalf("right code: %d\n%s", got.Status, got.Body)
	}
	if stored, _ := e.st.GetUser(ctx, testRealm, e.users["alice"].ID); len(stored.TOTPSecret) == 0 {
		t.Fatal("the confirmed key is not stored")
	}
	page = u.Get(e.base() + "/security")
	if !strings.Contains(page.Body, "is on") {
		t.Fatalf("security page:\n%s", page.Body)
	}
	if got := u.post(t, page, "/totp/remove", nil); got.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d", got.Status)
	}
	if stored, _ := e.st.GetUser(ctx, testRealm, e.users["alice"].ID); len(stored.TOTPSecret) != 0 {
		t.Fatal("the removed key is still stored")
	}
}

// TestProfile: the profile saves; a taken e-mail address, a javascript: link and a
// malformed birth date are refused with a message and the form keeps what was typed.
func TestProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, page := e.signIn(t, "alice")
	form := func(mod func(url.Values)) url.Values {
		v := url.Values{"email": {"alice@example.com"}, "given_name": {"Alicia"}, "family_name": {"Liddell"}, "birthdate": {"1852-05-04"},
			"website": {"https://example.com/alice"}, "formatted": {"1 Wonder Lane\r\nOxford"}}
		if mod != nil {
			mod(v)
		}
		return v
	}
	for name, tc := range map[string]struct {
		mod    func(url.Values)
		status int
		text   string
	}{
		"taken email":  {func(v url.Values) { v.Set("email", "BOB@example.com") }, 409, "used by another account"},
		"bad email":    {func(v url.Values) { v.Set("email", "not-an-address") }, 400, "valid e-mail address"},
		"javascript":   {func(v url.Values) { v.Set("website", "javascript:alert(1)") }, 400, "must start with https://"},
		"birthdate":    {func(v url.Values) { v.Set("birthdate", "4 May") }, 400, "YYYY-MM-DD"},
		"control char": {func(v url.Values) { v.Set("nickname", "a\x00b") }, 400, "not allowed"},
	} {
		got := u.post(t, page, "/profile", form(tc.mod))
		if got.Status != tc.status || !strings.Contains(got.Body, tc.text) || !strings.Contains(got.Body, `value="Alicia"`) {
			t.Errorf("%s: %d\n%s", name, got.Status, got.Body)
		}
	}
	if got := u.post(t, page, "/profile", form(func(v url.Values) { v.Set("email", "alice@wonderland.example") })); got.Status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", got.Status, got.Body)
	}
	stored, _ := e.st.GetUser(context.Background(), testRealm, e.users["alice"].ID)
	if stored.Username != "alice" || stored.Email != "alice@wonderland.example" || stored.EmailVerified ||
		stored.Profile.GivenName != "Alicia" || stored.Profile.Address.Formatted != "1 Wonder Lane\nOxford" {
		t.Fatalf("stored %+v", stored)
	}
}

// TestSessionsAndSignOut: the sessions page lists this browser and another; signing the
// other out ends its console session too (its next page asks to sign in), and the
// console's sign-out ends the SSO session through the provider's logout.
func TestSessionsAndSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	other, _ := e.signIn(t, "alice")
	u, _ := e.signIn(t, "alice")
	page := u.Get(e.base() + "/sessions")
	if !strings.Contains(page.Body, "This browser") || !strings.Contains(page.Body, "Another session") || !strings.Contains(page.Body, "password") {
		t.Fatalf("sessions page:\n%s", page.Body)
	}
	ss, _ := e.st.ListUserSessions(ctx, testRealm, e.users["alice"].ID)
	otherID := sessionOf(t, e, other).sess.SID
	if len(ss) != 2 {
		t.Fatalf("sessions %v", ss)
	}
	if got := u.post(t, page, "/sessions/end", url.Values{"session": {otherID}}); got.Status != http.StatusSeeOther {
		t.Fatalf("end the other session: %d\n%s", got.Status, got.Body)
	}
	if got := other.raw(t, "GET", e.base()+"/", nil); got.Status != http.StatusSeeOther || !strings.Contains(got.Header.Get("Location"), "/protocol/openid-connect/auth") {
		t.Fatalf("the ended session's console: %d %s", got.Status, got.Header.Get("Location"))
	}
	if page := other.Get(e.base() + "/"); !strings.Contains(page.Body, `id="username"`) {
		t.Fatalf("the ended session still signs in:\n%s", page.Body)
	}

	// Sign-out: through the provider's logout, back to the console, which asks to sign in.
	page = u.Get(e.base() + "/")
	got := u.post(t, page, "/logout", nil)
	loc, _ := url.Parse(got.Header.Get("Location"))
	if got.Status != http.StatusSeeOther || loc.Path != "/realms/r/protocol/openid-connect/logout" ||
		loc.Query().Get("post_logout_redirect_uri") != e.base()+"/" || loc.Query().Get("id_token_hint") == "" {
		t.Fatalf("sign-out: %d %s", got.Status, got.Header.Get("Location"))
	}
	page = u.Get(loc.String())
	if !strings.Contains(page.Body, `id="username"`) {
		t.Fatalf("after signing out:\n%s", page.Body)
	}
	if ss, _ := e.st.ListUserSessions(ctx, testRealm, e.users["alice"].ID); len(ss) != 0 {
		t.Fatalf("sessions left after signing out: %v", ss)
	}
}

// TestLockedUserLeaves: a user locked (or disabled) while signed in is out of the
// console at the next request.
func TestLockedUserLeaves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, _ := e.signIn(t, "alice")
	if _, err := e.st.UpdateUser(context.Background(), testRealm, e.users["alice"].ID, func(u store.User) (store.User, error) {
		u.LockedUntil = time.Now().Add(time.Hour)
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := u.raw(t, "GET", e.base()+"/", nil); got.Status != http.StatusSeeOther || !strings.Contains(got.Header.Get("Location"), "/protocol/openid-connect/auth") {
		t.Fatalf("a locked user's console: %d %s", got.Status, got.Header.Get("Location"))
	}
}

// TestActivity: the outcomes of the user's requests are listed with their kind, client
// and phone, and so are the user's sign-ins with a password and the refused passwords
// and codes; other users' are not.
func TestActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.addDevice(t, "alice", "Pixel")
	now := time.Now()
	var events []store.Event
	for _, ev := range []authn.Event{
		{Type: "authn.created", RequestID: "q1", Kind: authn.KindPushLogin, ClientID: DefaultClientID, UserID: e.users["alice"].ID},
		{Type: "authn.approved", RequestID: "q1", Kind: authn.KindPushLogin, ClientID: DefaultClientID, UserID: e.users["alice"].ID, DeviceID: d.ID},
		{Type: "authn.denied", RequestID: "q2", Kind: authn.KindCIBA, ClientID: "shop", UserID: e.users["alice"].ID, DeviceID: d.ID},
		{Type: "authn.denied", RequestID: "q3", Kind: authn.KindQRLogin, ClientID: "bobs-app", UserID: e.users["bob"].ID},
	} {
		ev.Realm, ev.At = testRealm, now
		events = append(events, ev.Record())
	}
	for _, a := range []login.Attempt{
		{Type: login.EventFailed, ClientID: "wiki", UserID: e.users["alice"].ID, Method: login.MethodTOTP, Reason: login.RefusedInvalid},
		{Type: login.EventSucceeded, ClientID: "shop", UserID: e.users["alice"].ID, Method: login.MethodPassword, AMR: []string{login.AMRPassword}},
		{Type: login.EventFailed, ClientID: "bobs-app", UserID: e.users["bob"].ID, Method: login.MethodPassword, Reason: login.RefusedLocked},
	} {
		a.Realm, a.At = testRealm, now
		rec, ok := a.Record()
		if !ok {
			t.Fatalf("no event of %+v", a)
		}
		events = append(events, rec)
	}
	if _, err := e.st.AppendEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	u, _ := e.signIn(t, "alice")
	page := u.Get(e.base() + "/activity")
	for _, want := range []string{"Sign-in with your phone: <span class=\"state-ok\">approved</span>", "Request from an application: <span class=\"state-bad\">denied</span>",
		"Sign-in with your password: <span class=\"state-ok\">signed in</span>",
		"Sign-in with your password and an authenticator code: <span class=\"state-bad\">refused</span>",
		"Signet account console", "shop", "wiki", "Pixel"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("activity lacks %q:\n%s", want, page.Body)
		}
	}
	if strings.Contains(page.Body, "bobs-app") || strings.Count(page.Body, `class="panel item"`) != 4 {
		t.Errorf("activity shows what it should not:\n%s", page.Body)
	}
}

// TestTemplateKeys: every key the console's templates translate exists in every catalog,
// and every page is in the escaping test below.
func TestTemplateKeys(t *testing.T) {
	t.Parallel()
	cat, err := web.NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("templates/*.html")
	key := regexp.MustCompile(`\{\{-?\s*t "([^"]+)"`)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range key.FindAllStringSubmatch(string(b), -1) {
			n++
			for _, locale := range cat.Locales() {
				if got := cat.T(locale, m[1]); strings.HasPrefix(got, "[[") {
					t.Errorf("%s: key %q missing in %s", f, m[1], locale)
				}
			}
		}
	}
	// Keys the handlers choose.
	var chosen []string
	for _, f := range flashes {
		chosen = append(chosen, f.key)
	}
	for _, m := range []map[string]string{methodKeys, outcomeKeys, methodKindKeys} {
		for _, k := range m {
			chosen = append(chosen, k)
		}
	}
	for _, k := range kindKeys {
		chosen = append(chosen, k)
	}
	for _, s := range []store.DeviceState{store.DeviceActive, store.DeviceLocked, store.DeviceRevoked} {
		chosen = append(chosen, "account.device.state."+string(s))
	}
	for _, k := range chosen {
		if strings.HasPrefix(cat.T("en", k), "[[") {
			t.Errorf("key %q missing", k)
		}
	}
	if n < 50 {
		t.Fatalf("found only %d keys; is the pattern right?", n)
	}
}
