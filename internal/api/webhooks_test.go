package api

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/events"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// callbackSecret gives the realm a callback secret through the API, so requests may
// carry a callback_url.
func (e *env) callbackSecret(t *testing.T) string {
	t.Helper()
	var out SecretRotation
	e.call(t, 200, request{method: "POST", path: "/realms/acme/callback-secret"}).json(t, &out)
	return out.Secret
}

// newWebhook subscribes url to types through the API and returns the webhook with its
// secret.
func (e *env) newWebhook(t *testing.T, url string, types ...string) Webhook {
	t.Helper()
	body := map[string]any{"url": url}
	if len(types) > 0 {
		body["event_types"] = types
	}
	var w Webhook
	e.call(t, 201, request{method: "POST", path: "/realms/acme/webhooks", body: body}).json(t, &w)
	return w
}

// secrets are the webhook's signing secrets valid now, as the deliverer opens them.
func (e *env) secrets(t *testing.T, realm, id string) []string {
	t.Helper()
	got, err := (events.Subscriptions{Store: e.st, Ring: e.ring}).Secrets(context.Background(), realm, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range got {
		out = append(out, s.Secret)
	}
	return out
}

// TestWebhooks: a webhook is created with its secret, shown only then; it is listed a
// page at a time, read with its ETag, changed under If-Match and deleted.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.call(t, 201, request{method: "POST", path: "/realms/acme/webhooks", body: map[string]any{
		"url": "https://app.example.com/hooks", "event_types": []string{"authn.*", "user.locked"}, "description": "the app"}})
	var w Webhook
	created.json(t, &w)
	if !strings.HasPrefix(w.ID, "wh_") || w.URL != "https://app.example.com/hooks" || !w.Enabled || w.Description != "the app" ||
		strings.Join(w.EventTypes, " ") != "authn.* user.locked" || !strings.HasPrefix(w.Secret, "whsec_") {
		t.Fatalf("created %+v", w)
	}
	path := "/realms/acme/webhooks/" + w.ID
	if loc := created.header.Get("Location"); loc != e.srv.URL+BasePath+path {
		t.Errorf("Location %q", loc)
	}
	if got := e.secrets(t, realmName, w.ID); len(got) != 1 || got[0] != w.Secret {
		t.Errorf("the stored secret is not the one shown: %v", got)
	}
	etag := created.header.Get("ETag")

	// The secret is not shown again.
	got := e.call(t, 200, request{method: "GET", path: path})
	if got.header.Get("ETag") != etag || strings.Contains(string(got.body), w.Secret[6:]) || strings.Contains(string(got.body), "secret") {
		t.Errorf("read: ETag %q (created %q), %s", got.header.Get("ETag"), etag, got.body)
	}
	all := e.newWebhook(t, "https://other.example.com/all")
	if len(all.EventTypes) != 0 || !all.Enabled {
		t.Errorf("a webhook of every event %+v", all)
	}
	var page rest.Page[Webhook]
	listed := e.call(t, 200, request{method: "GET", path: "/realms/acme/webhooks?limit=1"})
	listed.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != w.ID || page.Next == "" || strings.Contains(string(listed.body), "whsec_") {
		t.Fatalf("first page %s", listed.body)
	}
	var second rest.Page[Webhook]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhooks?limit=1&cursor=" + page.Next}).json(t, &second)
	if len(second.Items) != 1 || second.Items[0].ID != all.ID || second.Items[0].Description != "" || second.Next != "" {
		t.Fatalf("second page %+v", second)
	}
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/webhooks?cursor=nonsense"})

	// Changes under If-Match.
	stale := map[string]string{"If-Match": `"999"`}
	e.problem(t, 412, request{method: "PATCH", path: path, header: stale, body: map[string]any{"enabled": false}})
	var patched Webhook
	resp := e.call(t, 200, request{method: "PATCH", path: path, header: map[string]string{"If-Match": etag},
		body: map[string]any{"url": "https://app.example.com/v2/hooks", "event_types": []string{"device.*"}, "enabled": false}})
	resp.json(t, &patched)
	if patched.URL != "https://app.example.com/v2/hooks" || strings.Join(patched.EventTypes, " ") != "device.*" || patched.Enabled ||
		patched.Description != "the app" || patched.Version != w.Version+1 || resp.header.Get("ETag") == etag || patched.Secret != "" {
		t.Fatalf("patched %+v, ETag %q", patched, resp.header.Get("ETag"))
	}
	e.problem(t, 412, request{method: "PATCH", path: path, header: map[string]string{"If-Match": etag}, body: map[string]any{"enabled": true}})

	// What a webhook may be.
	for name, body := range map[string]map[string]any{
		"ftp URL":         {"url": "ftp://example.com/x"},
		"user info":       {"url": "https://user:pw@example.com/x"},
		"fragment":        {"url": "https://example.com/x#f"},
		"bad pattern":     {"url": "https://example.com/x", "event_types": []string{"authn*"}},
		"long text":       {"url": "https://example.com/x", "description": strings.Repeat("a", 501)},
		"control in text": {"url": "https://example.com/x", "description": "a\x07b"},
	} {
		breaks := name == "ftp URL" || name == "long text"
		e.problem(t, 400, request{method: "POST", path: "/realms/acme/webhooks", body: body, breaks: breaks})
		if name != "long text" && name != "control in text" {
			e.problem(t, 400, request{method: "PATCH", path: path, body: body, breaks: breaks})
		}
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/webhooks", body: map[string]any{"url": "https://example.com/x", "secret": "whsec_mine"}, breaks: true})
	e.problem(t, 400, request{method: "PATCH", path: path, body: map[string]any{"secret": "whsec_mine"}, breaks: true})
	e.call(t, 200, request{method: "GET", path: path}).json(t, &w)
	if w.URL != patched.URL || w.Version != patched.Version {
		t.Errorf("refused changes changed the webhook: %+v", w)
	}

	e.problem(t, 412, request{method: "DELETE", path: path, header: stale})
	e.call(t, 204, request{method: "DELETE", path: path, header: map[string]string{"If-Match": rest.ETag(w.Version)}})
	e.problem(t, 404, request{method: "GET", path: path})
	e.problem(t, 404, request{method: "DELETE", path: path})
	e.problem(t, 404, request{method: "PATCH", path: path, body: map[string]any{"enabled": true}})
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhooks"}).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != all.ID {
		t.Errorf("after the deletion %+v", page)
	}
}

// TestWebhookSecretRotation: a rotation shows a new secret and keeps the previous one
// signing for the grace period (none with grace 0); Idempotency-Key makes a create or a
// rotation run once, and its repeat shows the same secret.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.newWebhook(t, "https://app.example.com/hooks")
	path := "/realms/acme/webhooks/" + w.ID

	before := time.Now()
	var rot SecretRotation
	resp := e.call(t, 200, request{method: "POST", path: path + "/rotate-secret"})
	resp.json(t, &rot)
	if !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == w.Secret {
		t.Fatalf("rotated %+v (created with %s)", rot, w.Secret)
	}
	if ends := rot.PreviousSecretsExpireAt; ends.Before(before.Add(24*time.Hour-time.Second)) || ends.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("previous secrets expire at %v, want a day from now", ends)
	}
	if got := e.secrets(t, realmName, w.ID); strings.Join(got, " ") != rot.Secret+" "+w.Secret {
		t.Errorf("secrets after a rotation %v", got)
	}
	var read Webhook
	e.call(t, 200, request{method: "GET", path: path}).json(t, &read)
	if resp.header.Get("ETag") != rest.ETag(read.Version) || read.Version != w.Version+1 {
		t.Errorf("rotation ETag %q, webhook version %d", resp.header.Get("ETag"), read.Version)
	}

	var hour SecretRotation
	before = time.Now()
	e.call(t, 200, request{method: "POST", path: path + "/rotate-secret", body: map[string]any{"grace_seconds": 3600}}).json(t, &hour)
	if ends := hour.PreviousSecretsExpireAt; ends.Before(before.Add(time.Hour-time.Second)) || ends.After(time.Now().Add(time.Hour)) {
		t.Errorf("grace of an hour: previous secrets expire at %v, %v after the call began", ends, ends.Sub(before))
	}
	if got := e.secrets(t, realmName, w.ID); len(got) != 3 || got[0] != hour.Secret {
		t.Errorf("secrets after two rotations %v", got)
	}
	var leaked SecretRotation
	e.call(t, 200, request{method: "POST", path: path + "/rotate-secret", body: map[string]any{"grace_seconds": 0}}).json(t, &leaked)
	if got := e.secrets(t, realmName, w.ID); len(got) != 1 || got[0] != leaked.Secret || leaked.Secret == hour.Secret {
		t.Errorf("after an immediate rotation %v (new %s)", got, leaked.Secret)
	}
	e.problem(t, 400, request{method: "POST", path: path + "/rotate-secret", body: map[string]any{"grace_seconds": MaxSecretGraceSeconds + 1}, breaks: true})
	e.problem(t, 400, request{method: "POST", path: path + "/rotate-secret", body: map[string]any{"grace_seconds": -1}, breaks: true})
	e.problem(t, 404, request{method: "POST", path: "/realms/acme/webhooks/wh_missing/rotate-secret"})

	// Idempotency: the repeat answers the first call again, and nothing runs twice.
	key := map[string]string{"Idempotency-Key": "rotate-1"}
	var first, again SecretRotation
	e.call(t, 200, request{method: "POST", path: path + "/rotate-secret", header: key}).json(t, &first)
	replay := e.call(t, 200, request{method: "POST", path: path + "/rotate-secret", header: key})
	replay.json(t, &again)
	if again.Secret != first.Secret || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replayed rotation %+v, first %+v", again, first)
	}
	if got := e.secrets(t, realmName, w.ID); len(got) != 2 || got[0] != first.Secret {
		t.Errorf("the repeated rotation ran again: %v", got)
	}
	create := request{method: "POST", path: "/realms/acme/webhooks", header: map[string]string{"Idempotency-Key": "hook-1"},
		body: map[string]any{"url": "https://app.example.com/once"}}
	var c1, c2 Webhook
	e.call(t, 201, create).json(t, &c1)
	e.call(t, 201, create).json(t, &c2)
	if c1.ID != c2.ID || c1.Secret != c2.Secret || c1.Secret == "" {
		t.Errorf("repeated creation %+v, first %+v", c2, c1)
	}
	// The kept answer holds the secret sealed, never in the clear.
	kept, err := e.eph.Get(t.Context(), "api:idem:"+realmName+"\x00"+backendClient+"\x00hook-1")
	if err != nil {
		t.Fatalf("the idempotency record: %v", err)
	}
	if secret := strings.TrimPrefix(c1.Secret, "whsec_"); bytes.Contains(kept.Value, []byte(secret)) {
		t.Errorf("the ephemeral store keeps the webhook secret in the clear")
	}
	var page rest.Page[Webhook]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhooks"}).json(t, &page)
	if len(page.Items) != 2 {
		t.Errorf("%d webhooks after a repeated creation, want 2", len(page.Items))
	}
}

// TestWebhookDeliveries: an event of a subscribed type makes a pending delivery; one
// given up is listed as failed and redelivered through the API (pending again, same
// webhook-id), once; disabling the webhook fails its pending deliveries and stops
// redelivery.
func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	users := e.newWebhook(t, "https://app.example.com/users", "user.*")
	authns := e.newWebhook(t, "https://app.example.com/authn", "authn.*")
	appended, err := e.st.AppendEvents(ctx, []store.Event{
		store.ChangeEvent{Type: store.EventUserLocked, Realm: realmName, UserID: "u1", Reason: "disabled", At: time.Now()}.Record()})
	if err != nil {
		t.Fatal(err)
	}
	var page rest.Page[WebhookDelivery]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries"}).json(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("deliveries %+v", page)
	}
	d := page.Items[0]
	if d.SubscriptionID != users.ID || d.URL != "" || d.EventSeq != appended[0].Seq || d.EventType != "user.locked" || d.State != "pending" ||
		d.Attempts != 0 || d.NextAttemptAt.IsZero() || d.WebhookID != "msg_"+strconv.FormatInt(d.ID, 10) || !d.DeliveredAt.IsZero() {
		t.Fatalf("pending delivery %+v", d)
	}
	for query, want := range map[string]int{
		"?subscription=" + users.ID: 1, "?subscription=" + authns.ID: 0, "?state=pending": 1, "?state=failed": 0,
		"?event_seq=" + strconv.FormatInt(d.EventSeq, 10): 1, "?event_seq=" + strconv.FormatInt(d.EventSeq+1, 10): 0,
	} {
		e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries" + query}).json(t, &page)
		if len(page.Items) != want {
			t.Errorf("%s: %d deliveries, want %d", query, len(page.Items), want)
		}
	}
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/webhook-deliveries?state=lost", breaks: true})
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/webhook-deliveries?event_seq=x", breaks: true})
	dpath := "/realms/acme/webhook-deliveries/" + strconv.FormatInt(d.ID, 10)
	var byID, byWebhookID WebhookDelivery
	e.call(t, 200, request{method: "GET", path: dpath}).json(t, &byID)
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries/" + d.WebhookID}).json(t, &byWebhookID)
	if byID.ID != d.ID || byWebhookID.ID != d.ID {
		t.Errorf("read %+v and %+v", byID, byWebhookID)
	}
	e.problem(t, 409, request{method: "POST", path: dpath + "/redeliver"})

	// The deliverer gives it up.
	claims, err := e.st.ClaimWebhookDeliveries(ctx, time.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(claims) != 1 || claims[0].Delivery.ID != d.ID {
		t.Fatalf("claimed %+v, %v", claims, err)
	}
	if n, err := e.st.RecordWebhookOutcomes(ctx, []store.WebhookOutcome{{ID: d.ID, Token: claims[0].Token, Attempted: true,
		At: time.Now(), Status: 500, Error: "HTTP status 500"}}); err != nil || n != 1 {
		t.Fatalf("recorded %d, %v", n, err)
	}
	d = WebhookDelivery{}
	e.call(t, 200, request{method: "GET", path: dpath}).json(t, &d)
	if d.State != "failed" || d.Attempts != 1 || d.LastStatus != 500 || d.LastError != "HTTP status 500" || !d.NextAttemptAt.IsZero() {
		t.Fatalf("failed delivery %+v", d)
	}
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries?state=failed"}).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != d.ID {
		t.Errorf("failed deliveries %+v", page)
	}
	var again WebhookDelivery
	e.call(t, 200, request{method: "POST", path: dpath + "/redeliver"}).json(t, &again)
	if again.ID != d.ID || again.WebhookID != d.WebhookID || again.State != "pending" || again.Attempts != 0 || again.NextAttemptAt.IsZero() {
		t.Errorf("redelivered %+v", again)
	}
	detail := e.problem(t, 409, request{method: "POST", path: dpath + "/redeliver"})
	if !strings.Contains(detail, "failed") {
		t.Errorf("redelivering a pending delivery: %q", detail)
	}

	// Disabling the webhook fails what is pending; it is not redelivered while disabled.
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/webhooks/" + users.ID, body: map[string]any{"enabled": false}})
	e.call(t, 200, request{method: "GET", path: dpath}).json(t, &d)
	if d.State != "failed" {
		t.Errorf("after disabling the webhook %+v", d)
	}
	e.problem(t, 409, request{method: "POST", path: dpath + "/redeliver"})
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme/webhooks/" + users.ID, body: map[string]any{"enabled": true}})
	e.call(t, 200, request{method: "POST", path: "/realms/acme/webhook-deliveries/" + d.WebhookID + "/redeliver"}).json(t, &d)
	if d.State != "pending" {
		t.Errorf("redelivered after enabling %+v", d)
	}

	e.problem(t, 404, request{method: "GET", path: "/realms/acme/webhook-deliveries/999999"})
	e.problem(t, 404, request{method: "POST", path: "/realms/acme/webhook-deliveries/999999/redeliver"})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/webhook-deliveries/nope", breaks: true})

	// Deleting the webhook deletes its deliveries.
	e.call(t, 204, request{method: "DELETE", path: "/realms/acme/webhooks/" + users.ID})
	e.problem(t, 404, request{method: "GET", path: dpath})
}

// TestWebhooksOfAnotherRealm: another realm's webhooks and deliveries are not found.
func TestWebhooksOfAnotherRealm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.st.CreateRealm(ctx, store.Realm{Name: "other", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	theirs, _, err := (events.Subscriptions{Store: e.st, Ring: e.ring}).Create(ctx, store.WebhookSubscription{Realm: "other", URL: "https://other.example.com/", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AppendEvents(ctx, []store.Event{
		store.ChangeEvent{Type: store.EventUserLocked, Realm: "other", UserID: "u1", Reason: "disabled", At: time.Now()}.Record()}); err != nil {
		t.Fatal(err)
	}
	p, err := e.st.ListWebhookDeliveries(ctx, "other", store.WebhookDeliveryFilter{}, store.ListOptions{})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("the other realm's deliveries %+v, %v", p, err)
	}
	path := "/realms/acme/webhooks/" + theirs.ID
	e.problem(t, 404, request{method: "GET", path: path})
	e.problem(t, 404, request{method: "PATCH", path: path, body: map[string]any{"enabled": false}})
	e.problem(t, 404, request{method: "POST", path: path + "/rotate-secret"})
	e.problem(t, 404, request{method: "DELETE", path: path})
	dpath := "/realms/acme/webhook-deliveries/" + strconv.FormatInt(p.Items[0].ID, 10)
	e.problem(t, 404, request{method: "GET", path: dpath})
	e.problem(t, 404, request{method: "POST", path: dpath + "/redeliver"})
	var page rest.Page[WebhookDelivery]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/webhook-deliveries?subscription=" + theirs.ID}).json(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("listed another realm's deliveries %+v", page)
	}
	// The realm's token does not open the other realm.
	e.problem(t, 401, request{method: "GET", path: "/realms/other/webhooks"})
	if w, err := e.st.GetWebhookSubscription(ctx, "other", theirs.ID); err != nil || !w.Enabled || w.Version != theirs.Version {
		t.Errorf("the other realm's webhook changed: %+v, %v", w, err)
	}
}

// TestWebhooksScope: every webhook operation needs signet:webhooks:manage.
func TestWebhooksScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.newWebhook(t, "https://app.example.com/hooks")
	token := e.tokenWith(t, "reader", ScopeEventsRead, ScopeUsersWrite)
	hook := "/realms/acme/webhooks/" + w.ID
	for _, r := range []request{
		{method: "POST", path: "/realms/acme/webhooks", body: map[string]any{"url": "https://app.example.com/x"}},
		{method: "GET", path: "/realms/acme/webhooks"},
		{method: "GET", path: hook},
		{method: "PATCH", path: hook, body: map[string]any{"enabled": false}},
		{method: "DELETE", path: hook},
		{method: "POST", path: hook + "/rotate-secret"},
		{method: "GET", path: "/realms/acme/webhook-deliveries"},
		{method: "GET", path: "/realms/acme/webhook-deliveries/1"},
		{method: "POST", path: "/realms/acme/webhook-deliveries/1/redeliver"},
		{method: "POST", path: "/realms/acme/callback-secret"},
	} {
		r.token = token
		detail := e.problem(t, 403, r)
		if !strings.Contains(detail, ScopeWebhooksManage) {
			t.Errorf("%s %s: %q does not name the scope", r.method, r.path, detail)
		}
		r.token = "-"
		e.problem(t, 401, r)
	}
	if got := e.secrets(t, realmName, w.ID); len(got) != 1 || got[0] != w.Secret {
		t.Errorf("refused calls changed the webhook's secrets: %v", got)
	}
	if r, _ := e.st.GetRealm(context.Background(), realmName); events.HasCallbackSecret(r) {
		t.Error("a refused call made a callback secret")
	}
}

// TestCallbackSecret: a request with a callback_url is refused until the realm has a
// callback secret, made and rotated through the API and kept sealed in the realm; then
// its callbacks are signed with it.
func TestCallbackSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	u := e.newUser(t, "alice")
	e.enroll(t, u.ID)
	withCallback := map[string]any{"user_id": u.ID, "callback_url": "https://app.example.com/cb"}
	for _, path := range []string{"/realms/acme/authentications", "/realms/acme/transactions"} {
		body := map[string]any{"text": "Pay 5 EUR"}
		if path == "/realms/acme/authentications" {
			body = map[string]any{}
		}
		for k, v := range withCallback {
			body[k] = v
		}
		detail := e.problem(t, 409, request{method: "POST", path: path, body: body})
		if !strings.Contains(detail, "/realms/acme/callback-secret") {
			t.Errorf("%s: %q does not say how to make a callback secret", path, detail)
		}
	}
	if got := e.events.list(); len(got) != 0 {
		t.Errorf("refused requests made events %+v", got)
	}

	var first SecretRotation
	e.call(t, 200, request{method: "POST", path: "/realms/acme/callback-secret"}).json(t, &first)
	if !strings.HasPrefix(first.Secret, "whsec_") || !first.PreviousSecretsExpireAt.IsZero() {
		t.Fatalf("first callback secret %+v", first)
	}
	realm, err := e.st.GetRealm(ctx, realmName)
	if err != nil || strings.Contains(realm.Attributes[events.CallbackSecretsAttribute], first.Secret[6:]) {
		t.Fatalf("the realm keeps the secret unsealed: %v, %v", realm.Attributes, err)
	}
	e.call(t, 201, request{method: "POST", path: "/realms/acme/authentications", body: withCallback})

	var second SecretRotation
	before := time.Now()
	e.call(t, 200, request{method: "POST", path: "/realms/acme/callback-secret", body: map[string]any{"grace_seconds": 60}}).json(t, &second)
	if ends := second.PreviousSecretsExpireAt; second.Secret == first.Secret || ends.Before(before.Add(time.Minute-time.Second)) || ends.After(time.Now().Add(time.Minute)) {
		t.Fatalf("rotated callback secret %+v", second)
	}
	keys, err := events.CallbackSigningKeys(ctx, e.st, e.ring, realmName, time.Now())
	k1, _ := events.ParseWebhookSecret(first.Secret)
	k2, _ := events.ParseWebhookSecret(second.Secret)
	if err != nil || len(keys) != 2 || string(keys[0]) != string(k2) || string(keys[1]) != string(k1) {
		t.Errorf("signing keys during the grace period: %d, %v", len(keys), err)
	}
	if keys, err := events.CallbackSigningKeys(ctx, e.st, e.ring, realmName, time.Now().Add(2*time.Minute)); err != nil || len(keys) != 1 {
		t.Errorf("signing keys after the grace period: %d, %v", len(keys), err)
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/callback-secret", body: map[string]any{"grace_seconds": 1e7}, breaks: true})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/callback-secret", body: map[string]any{"secret": "whsec_mine"}, breaks: true})
}
