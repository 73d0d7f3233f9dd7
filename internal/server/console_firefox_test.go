package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/internal/testutil/marionette"
)

// TestAdminConsoleFirefox: the admin console works in Firefox as in Chromium. Driven
// over Marionette, a realm administrator signs in through the realm's login pages,
// reaches the users page's search field from the skip link by keyboard, creates a user
// and a webhook through the forms (reading the secret), opens the clients, events,
// webhooks and deliveries pages, sees the users and events pages fit 360 px, and signs
// out. The Chromium tests (TestAdminConsole, TestAdminConsoleEventsAndWebhooks) go
// deeper; this one catches what only Firefox gets wrong.
func TestAdminConsoleFirefox(t *testing.T) {
	firefox := testutil.Firefox(t)
	t.Parallel()
	s, _, httpc, platform, api := devAdmin(t)
	mustAdmin(t, httpc, 201, "POST", api+"/realms", platform, map[string]any{"name": "delta", "settings": map[string]any{"login_first_factors": []string{"password"}}})
	boss := mustAdmin(t, httpc, 201, "POST", api+"/realms/delta/users", platform, map[string]any{"username": "boss", "password": "correct horse delta"})
	mustAdmin(t, httpc, 204, "PUT", api+"/realms/delta/admins/"+boss["id"].(string), platform, nil)

	const wait = 20 * time.Second
	b := marionette.Start(t, firefox)
	console := s.URL(config.Admin) + "/admin/delta/console/"
	realm := console + "realms/delta/"
	heading := func(want string) {
		t.Helper()
		if h := b.Text("main h1"); h != want {
			t.Fatalf("at %s the heading is %q, want %q", b.URL(), h, want)
		}
	}

	// Sign in through the login pages: username, then password.
	submit := `form:not(.secondary) button[type=submit]`
	b.Navigate(console)
	b.WaitFor("#username", wait)
	b.SendKeys("#username", "boss")
	b.Click(submit)
	b.WaitFor("#password", wait)
	b.SendKeys("#password", "correct horse delta")
	b.Click(submit)
	b.WaitFor("header.console-header", wait)
	heading("Realm delta")

	// From the top of the users page: Tab reaches the skip link, Enter follows it, and
	// the next Tab lands in the search field, past the navigation.
	b.Navigate(realm + "users")
	b.WaitFor("#new-username", wait)
	heading("Users")
	b.PressKeys(marionette.Tab)
	if got := focused(t, b); got != "a.skip" {
		t.Errorf("the first Tab focuses %s, want the skip link", got)
	}
	b.PressKeys(marionette.Enter, marionette.Tab)
	if got := focused(t, b); got != "input#search" {
		t.Errorf("Tab after the skip link focuses %s, want the search field", got)
	}

	// Create a user.
	b.SendKeys("#new-username", "carol")
	b.SendKeys("#new-email", "carol@example.com")
	b.Click("#create-user")
	b.WaitFor("#new-activation", wait)
	heading("User carol")

	for _, page := range []struct{ path, heading string }{
		{"clients", "Clients"}, {"events", "Events"}, {"webhook-deliveries", "Webhook deliveries"},
	} {
		b.Navigate(realm + page.path)
		b.WaitFor("main h1", wait)
		heading(page.heading)
	}

	// Subscribe a webhook; its secret is shown once.
	b.Navigate(realm + "webhooks")
	b.WaitFor("#new-url", wait)
	heading("Webhooks")
	b.SendKeys("#new-url", "https://hooks.example.invalid/signet")
	b.SendKeys("#new-types", "user.*")
	b.SendKeys("#new-description", "users")
	b.Click("#create-webhook")
	b.WaitFor("#webhook-secret", wait)
	if secret := b.Text("#webhook-secret"); !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the new webhook's secret reads %q", secret)
	}

	// A small phone's width: the pages do not scroll sideways.
	b.SetViewport(narrowWidth, narrowHeight)
	for _, page := range []string{"users", "events"} {
		b.Navigate(realm + page)
		b.WaitFor("main h1", wait)
		fitsWidth(t, b, narrowWidth)
	}

	// Signing out ends the session: the console asks to sign in again.
	b.Click("form.signout button")
	b.WaitFor("#username", wait)
}

// focused names the element that has the focus, as tag#id.class.
func focused(t *testing.T, b *marionette.Browser) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(b.Execute(`const e = document.activeElement;
		return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "")`), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fitsWidth fails the test when the current page is wider than its viewport, which
// must be width CSS pixels (less a classic scroll bar); it names what sticks out.
func fitsWidth(t *testing.T, b *marionette.Browser, width int) {
	t.Helper()
	var got struct {
		ScrollWidth int      `json:"scrollWidth"`
		ClientWidth int      `json:"clientWidth"`
		InnerWidth  int      `json:"innerWidth"`
		Wide        []string `json:"wide"`
	}
	if err := json.Unmarshal(b.Execute(`const w = document.documentElement.clientWidth;
		const wide = [];
		for (const e of document.body.querySelectorAll("*")) {
			const r = e.getBoundingClientRect();
			if (r.right > w + 0.5 && wide.length < 10) {
				wide.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " (right edge " + Math.round(r.right) + ")");
			}
		}
		return {scrollWidth: document.documentElement.scrollWidth, clientWidth: w, innerWidth: window.innerWidth, wide};`), &got); err != nil {
		t.Fatal(err)
	}
	if got.InnerWidth != width || got.ClientWidth > width || got.ClientWidth < width-20 {
		t.Fatalf("at %s the window is %d px wide, the page %d px, want %d", b.URL(), got.InnerWidth, got.ClientWidth, width)
	}
	if got.ScrollWidth > got.ClientWidth {
		t.Errorf("%s scrolls sideways: %d px of content in a %d px window; wider: %s", b.URL(), got.ScrollWidth, got.ClientWidth, strings.Join(got.Wide, ", "))
	}
}
