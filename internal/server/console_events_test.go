package server

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestAdminConsoleEventsAndWebhooks: in headless Chromium, a realm administrator
// subscribes a webhook (its secret shown once), a phone is enrolled and locked, and the
// administrator finds both events in the event log by type pattern and time, the lock in
// the audit log with who made it, and their deliveries; disabling the webhook fails
// them, and a failed delivery is redelivered. The secret's rotation shows a new one; the
// webhook is removed. Every page passes the accessibility check and is kept as a
// screenshot; the events page fits 360 px.
func TestAdminConsoleEventsAndWebhooks(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, p, httpc, platform, api := devAdmin(t)
	mustAdmin(t, httpc, 201, "POST", api+"/realms", platform, map[string]any{"name": "gamma", "settings": map[string]any{"login_first_factors": []string{"password"}}})
	boss := mustAdmin(t, httpc, 201, "POST", api+"/realms/gamma/users", platform, map[string]any{"username": "boss", "password": "correct horse gamma"})
	mustAdmin(t, httpc, 204, "PUT", api+"/realms/gamma/admins/"+boss["id"].(string), platform, nil)
	dave := mustAdmin(t, httpc, 201, "POST", api+"/realms/gamma/users", platform, map[string]any{"username": "dave"})

	b := newBrowser(t, chromium, true, "en-US")
	console := s.URL(config.Admin) + "/admin/gamma/console/"
	realm := console + "realms/gamma/"
	b.consoleSignIn(console, "boss", "correct horse gamma")

	// Subscribe a webhook to device events; its secret is shown once.
	b.run(chromedp.Navigate(realm+"webhooks"), chromedp.WaitVisible("#new-url", chromedp.ByID))
	b.checkAccessibility("webhooks")
	b.run(
		chromedp.SendKeys("#new-url", "https://hooks.example.invalid/signet", chromedp.ByID),
		chromedp.SendKeys("#new-types", "device.*", chromedp.ByID),
		chromedp.SendKeys("#new-description", "phones", chromedp.ByID),
		chromedp.Click("#create-webhook", chromedp.ByID),
		chromedp.WaitVisible("#webhook-secret", chromedp.ByID),
	)
	secret := b.text("#webhook-secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the new webhook's secret reads %q", secret)
	}
	b.checkAccessibility("webhook-secret")
	b.screenshot("webhook-secret")
	b.run(chromedp.Click("#secret-done", chromedp.ByID), chromedp.WaitVisible("#save-webhook", chromedp.ByID))
	var hookURL, page string
	b.run(chromedp.Location(&hookURL), chromedp.OuterHTML("html", &page, chromedp.ByQuery))
	if strings.Contains(page, secret) {
		t.Fatal("the webhook's page shows its secret again")
	}

	// A phone is enrolled and locked: two device events, two deliveries.
	act := mustAdmin(t, httpc, 201, "POST", api+"/realms/gamma/users/"+dave["id"].(string)+"/activations", platform, map[string]any{})
	app := authenticator.New(authenticator.NewMemoryKeyStore())
	if err := app.TrustPEM(p.serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	phone, err := app.Enroll(act["url"].(string), &authenticator.Enrollment{DisplayName: "Dave's phone", Platform: "ios"})
	if err != nil {
		t.Fatal(err)
	}
	deviceID := phone.Identity().DeviceID
	_ = phone.Close()
	mustAdmin(t, httpc, 200, "PATCH", api+"/realms/gamma/devices/"+deviceID+"?force=true", platform, map[string]any{"state": "locked"})

	// The event log, by type pattern and by time.
	types := func(query string) []string {
		t.Helper()
		b.run(chromedp.Navigate(realm+"events"+query), chromedp.WaitVisible("#filter-events", chromedp.ByID))
		var out []string
		b.run(chromedp.Evaluate(`[...document.querySelectorAll("tr.event .event-type")].map(e => e.textContent)`, &out))
		return out
	}
	if got := types("?type=device.*"); strings.Join(got, " ") != "device.locked device.enrolled" {
		t.Errorf("device events: %q", got)
	}
	b.checkAccessibility("events")
	b.screenshot("events")
	if got := types("?type=device.locked&user=" + dave["id"].(string)); strings.Join(got, " ") != "device.locked" {
		t.Errorf("dave's locks: %q", got)
	}
	if got := types("?type=device.*&since=2999-01-01T00:00"); len(got) != 0 {
		t.Errorf("events from the future: %q", got)
	}
	if got := types("?type=device.*&until=2000-01-01T00:00"); len(got) != 0 {
		t.Errorf("events before 2000: %q", got)
	}
	// The filter form keeps what was typed.
	var typed string
	b.run(chromedp.Value("#type", &typed, chromedp.ByID))
	if typed != "device.*" {
		t.Errorf("the type field holds %q", typed)
	}
	b.narrow()
	b.run(chromedp.Reload(), chromedp.WaitVisible("#filter-events", chromedp.ByID))
	b.noHorizontalScroll()
	b.screenshot("events-narrow")
	b.wide()

	// The audit log names who locked the phone.
	b.run(chromedp.Navigate(realm+"audit?device="+deviceID), chromedp.WaitVisible("#filter-audit", chromedp.ByID))
	b.checkAccessibility("audit")
	b.screenshot("audit")
	var actions []string
	b.run(chromedp.Evaluate(`[...document.querySelectorAll("tr.audit .audit-action")].map(e => e.textContent)`, &actions))
	if !strings.Contains(strings.Join(actions, " "), "lock") {
		t.Errorf("the phone's audit log: %q", actions)
	}

	// Deliveries: two, both pending; disabling the webhook fails them.
	states := func(query string) []string {
		t.Helper()
		b.run(chromedp.Navigate(realm+"webhook-deliveries"+query), chromedp.WaitVisible("#filter-deliveries", chromedp.ByID))
		var out []string
		b.run(chromedp.Evaluate(`[...document.querySelectorAll("tr.delivery .delivery-state")].map(e => e.textContent)`, &out))
		return out
	}
	if got := states(""); strings.Join(got, " ") != "pending pending" {
		t.Fatalf("deliveries: %q", got)
	}
	b.checkAccessibility("deliveries")
	b.screenshot("deliveries")
	b.run(chromedp.Navigate(hookURL), chromedp.WaitVisible("#enabled", chromedp.ByID),
		chromedp.Click("#enabled", chromedp.ByID), chromedp.Click("#save-webhook", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if got := states("?state=failed"); strings.Join(got, " ") != "failed failed" {
		t.Fatalf("deliveries of the disabled webhook: %q", got)
	}
	// Redelivery needs the webhook enabled: refused with the reason, then done.
	b.run(chromedp.Click("button.redeliver", chromedp.ByQuery), chromedp.WaitVisible(".flash-error", chromedp.ByQuery))
	if msg := b.text(".flash-error"); !strings.Contains(msg, "enabled") {
		t.Errorf("redelivery to a disabled webhook: %q", msg)
	}
	b.run(chromedp.Navigate(hookURL), chromedp.WaitVisible("#enabled", chromedp.ByID),
		chromedp.Click("#enabled", chromedp.ByID), chromedp.Click("#save-webhook", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery))
	states("?state=failed")
	b.run(chromedp.Click("button.redeliver", chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if msg := b.text(".flash"); !regexp.MustCompile(`^Delivery msg_\d+ is due again\.$`).MatchString(msg) {
		t.Errorf("after redelivery: %q", msg)
	}
	if got := states(""); strings.Join(got, " ") != "failed pending" && strings.Join(got, " ") != "pending failed" {
		t.Errorf("after one redelivery: %q", got)
	}

	// A rotation shows a new secret; removal takes the webhook and its deliveries.
	b.run(chromedp.Navigate(hookURL), chromedp.WaitVisible("#rotate-webhook-secret", chromedp.ByID))
	b.checkAccessibility("webhook")
	b.screenshot("webhook")
	b.run(chromedp.SetValue("#grace", "0", chromedp.ByID), chromedp.Click("#rotate-webhook-secret", chromedp.ByID),
		chromedp.WaitVisible("#webhook-secret", chromedp.ByID))
	if again := b.text("#webhook-secret"); again == secret || !strings.HasPrefix(again, "whsec_") {
		t.Errorf("the rotated secret reads %q (the first was %q)", again, secret)
	}
	b.run(chromedp.Navigate(hookURL), chromedp.WaitVisible("#delete-webhook", chromedp.ByID),
		chromedp.Click("#confirm-delete", chromedp.ByID), chromedp.Click("#delete-webhook", chromedp.ByID),
		chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if n := b.count("tr.webhook"); n != 0 {
		t.Errorf("%d webhooks after the removal", n)
	}
	if got := states(""); len(got) != 0 {
		t.Errorf("deliveries after the removal: %q", got)
	}
	b.checkProblems()
}
