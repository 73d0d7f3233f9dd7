package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// TestWebhooksAndEvents: the admin API manages a realm's webhooks and their deliveries
// and reads its event log, as the business API does: a secret is shown on creation and
// rotation only, a failed delivery can be redelivered, and the event listing filters by
// type pattern and time.
func TestWebhooksAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})

	resp := e.call(t, 201, request{method: "POST", path: "/realms/acme/webhooks",
		body: map[string]any{"url": "https://hooks.example.com/in", "event_types": []string{"authn.*"}, "description": "audit"}})
	var created rest.Webhook
	resp.json(t, &created)
	if created.Secret == "" || !strings.HasPrefix(created.Secret, "whsec_") || created.ID == "" || !created.Enabled {
		t.Fatalf("created webhook %+v: want an enabled webhook with a whsec_ secret", created)
	}
	if loc := resp.header.Get("Location"); loc != e.admin.URL+BasePath+"/realms/acme/webhooks/"+created.ID {
		t.Errorf("Location %q", loc)
	}
	hook := "/realms/acme/webhooks/" + created.ID
	var page rest.Page[rest.Webhook]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhooks"}).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != created.ID || page.Items[0].Secret != "" {
		t.Fatalf("listing %+v: want the webhook without its secret", page.Items)
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/webhooks", body: map[string]any{"url": "ftp://x"}})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/webhooks/nope"})

	// Events: one of each kind, a minute apart; the authn one is delivered to the webhook.
	t0 := time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC)
	_, err := e.st.AppendEvents(ctx, []store.Event{
		{Realm: "acme", Type: "authn.approved", Subject: "r1", UserID: "u1", At: t0, Data: []byte(`{}`)},
		{Realm: "acme", Type: "device.locked", Subject: "d1", UserID: "u1", At: t0.Add(time.Minute), Data: []byte(`{}`)},
		{Realm: "acme", Type: "authn.denied", Subject: "r2", UserID: "u2", At: t0.Add(2 * time.Minute), Data: []byte(`{}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	types := func(query string) string {
		t.Helper()
		var events rest.Page[rest.Event]
		e.call(t, 200, request{method: "GET", path: "/realms/acme/events" + query}).json(t, &events)
		var out []string
		for _, ev := range events.Items {
			out = append(out, ev.Type)
		}
		return strings.Join(out, " ")
	}
	for query, want := range map[string]string{
		"":                    "authn.denied device.locked authn.approved",
		"?type=authn.*":       "authn.denied authn.approved",
		"?type=device.locked": "device.locked",
		"?user=u2":            "authn.denied",
		"?since=" + t0.Add(time.Minute).Format(time.RFC3339) + "&until=" + t0.Add(2*time.Minute).Format(time.RFC3339): "device.locked",
		"?type=authn.*&since=2031-01-02T03:05:00%2B00:00":                                                             "authn.denied",
	} {
		if got := types(query); got != want {
			t.Errorf("events%s: %q, want %q", query, got, want)
		}
	}
	for _, bad := range []string{"?since=yesterday", "?until=2031-13-01T00:00:00Z"} {
		e.problem(t, 400, request{method: "GET", path: "/realms/acme/events" + bad})
	}

	// Deliveries: two pending; disabling the webhook fails them; a failed one can be
	// redelivered once the webhook is enabled again.
	var deliveries rest.Page[rest.WebhookDelivery]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries?subscription=" + created.ID}).json(t, &deliveries)
	if len(deliveries.Items) != 2 || deliveries.Items[0].State != "pending" || deliveries.Items[0].EventType != "authn.denied" {
		t.Fatalf("deliveries %+v: want the two authn events pending", deliveries.Items)
	}
	d := deliveries.Items[0]
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/webhook-deliveries/" + d.WebhookID + "/redeliver"})
	e.call(t, 200, request{method: "PATCH", path: hook, body: map[string]any{"enabled": false}})
	var failed rest.WebhookDelivery
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries/" + d.WebhookID}).json(t, &failed)
	if failed.State != "failed" {
		t.Fatalf("delivery of a disabled webhook: %+v, want failed", failed)
	}
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries?state=failed"}).json(t, &deliveries)
	if len(deliveries.Items) != 2 {
		t.Fatalf("failed deliveries: %+v", deliveries.Items)
	}
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/webhook-deliveries?state=lost"})
	e.call(t, 200, request{method: "PATCH", path: hook, body: map[string]any{"enabled": true}})
	var again rest.WebhookDelivery
	e.call(t, 200, request{method: "POST", path: "/realms/acme/webhook-deliveries/" + d.WebhookID + "/redeliver"}).json(t, &again)
	if again.State != "pending" || again.WebhookID != d.WebhookID {
		t.Fatalf("redelivered %+v: want pending with the same webhook-id", again)
	}

	// Secrets: a rotation shows a new one; the realm's callback secret too.
	var rot rest.SecretRotation
	e.call(t, 200, request{method: "POST", path: hook + "/rotate-secret", body: map[string]any{"grace_seconds": 0}}).json(t, &rot)
	if rot.Secret == "" || rot.Secret == created.Secret {
		t.Fatalf("rotation %+v", rot)
	}
	e.call(t, 200, request{method: "POST", path: "/realms/acme/callback-secret"}).json(t, &rot)
	if rot.Secret == "" {
		t.Fatalf("callback secret rotation %+v", rot)
	}

	e.call(t, 204, request{method: "DELETE", path: hook})
	e.problem(t, 404, request{method: "GET", path: hook})
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries"}).json(t, &deliveries)
	if len(deliveries.Items) != 0 {
		t.Fatalf("deliveries outlived their webhook: %+v", deliveries.Items)
	}
}
