package server

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/push/apns/apnstest"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestBrowserPushWakeUp, end to end: a phone enrolled with an APNs token is not
// connected; a push login starts on the login page; the (fake) APNs gets exactly one
// wake-up, which names the request and nothing of it; the phone connects on that signal,
// finds the request, approves it with the number the page shows, and the sign-in
// completes.
func TestBrowserPushWakeUp(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	fake := apnstest.NewServer(t, apnstest.Config{TeamID: "TEAM123456", KeyID: "KEY1234567", Topic: "com.example.signet"})
	s, p, rp, _ := devWithRPConfig(t, func(c *config.Config) { c.Messaging.APNsURL = fake.URL }, WithRootCAs(fake.CertPool()))
	ctx := context.Background()
	if _, err := s.pushCreds.PutAPNs(ctx, "demo", messaging.APNs{Key: fake.KeyPEM, KeyID: fake.KeyID, TeamID: fake.TeamID,
		Topic: fake.Topic, Environment: "production"}); err != nil {
		t.Fatal(err)
	}
	token := strings.Repeat("a1b2", 16)
	app, phone := enrollPhoneWith(t, s, p, &authenticator.Enrollment{DisplayName: "test phone", Platform: "ios", PushProvider: "apns", PushToken: token})
	id := phone.Identity()
	phone.Close()
	testutil.Eventually(t, 10*time.Second, func() bool {
		on, err := device.Online(ctx, s.eph, id.DeviceID)
		return err == nil && !on
	}, "the phone to be seen offline")

	b := newBrowser(t, chromium, true, "en-US")
	var number string
	b.run(
		chromedp.Navigate(rp.URL+"/start"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
		chromedp.Click("#phone-login", chromedp.ByID),
		matchNumber(&number),
	)
	testutil.Eventually(t, 10*time.Second, func() bool { return len(fake.Notifications()) > 0 }, "the wake-up to reach APNs")
	n := fake.Notifications()[0]
	if n.Token != token {
		t.Errorf("wake-up for token %q, want the phone's %q", n.Token, token)
	}
	var payload map[string]map[string]any
	if err := json.Unmarshal(n.Payload, &payload); err != nil {
		t.Fatalf("payload %s: %v", n.Payload, err)
	}
	if keys := slices.Sorted(maps.Keys(payload)); !slices.Equal(keys, []string{"aps", "signet"}) || len(payload["signet"]) != 1 {
		t.Errorf("payload %s: want only aps and signet.id", n.Payload)
	}
	requestID, _ := payload["signet"]["id"].(string)
	// The request id is random base32 and may hold the number's digits by
	// chance; everything else in the payload must not.
	rest := strings.ReplaceAll(string(n.Payload), requestID, "")
	for _, secret := range []string{s.demoUser.Username, number, "Sign in to", "demo"} {
		if strings.Contains(rest, secret) {
			t.Errorf("the wake-up %s tells %q", n.Payload, secret)
		}
	}
	if alert, _ := payload["aps"]["alert"].(map[string]any); alert["title"] != messaging.DefaultTitle {
		t.Errorf("notification %v, want the generic title", payload["aps"])
	}

	// The phone connects on the signal and finds the request.
	phone, err := app.Connect(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	r, err := phone.Fetch(requestID)
	if err != nil {
		t.Fatalf("fetch the request the wake-up named: %v", err)
	}
	mustAnswer(t, "approved")(phone.Approve(r, number))
	var who, amr string
	b.run(chromedp.WaitVisible("#who", chromedp.ByID), chromedp.Text("#who", &who, chromedp.ByID), chromedp.Text("#amr", &amr, chromedp.ByID))
	if who != "Hello "+s.demoUser.Username || !strings.Contains(" "+amr+" ", " hwk ") {
		t.Errorf("the client says %q with amr %q; want the demo user signed in with hwk", who, amr)
	}
	if got := len(fake.Notifications()); got != 1 {
		t.Errorf("APNs got %d wake-ups, want exactly one", got)
	}
	st, err := messaging.DeliveryStatus(ctx, s.eph, "demo", requestID, id.DeviceID)
	if err != nil || st.Route != messaging.RoutePush || st.Provider != "apns" || st.Attempts != 1 {
		t.Errorf("delivery status %+v, %v; want one push through apns", st, err)
	}
	b.checkProblems()
}
