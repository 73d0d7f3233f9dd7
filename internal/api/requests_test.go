package api

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/receipt"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/sigma"
)

// TestAuthentication: a push approval is started for a user (Location, pending), read,
// approved by the user's phone through the authn service, and read as approved; the
// event that ends it carries its callback with the headers sealed; another client does
// not see it; a second one is cancelled, and cancelling again is a conflict; the event
// log lists what happened, narrowed by subject.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.newUser(t, "alice")
	p := e.enroll(t, u.ID)
	e.callbackSecret(t)
	body := map[string]any{"username": "alice", "binding_message": "Sign in to Acme Bank", "ttl_seconds": 300,
		"callback_url": "https://app.example.com/signet/callback", "callback_headers": map[string]string{"Authorization": "Bearer s3cret"}}
	created := e.call(t, 201, request{method: "POST", path: "/realms/acme/authentications", body: body})
	var a Authentication
	created.json(t, &a)
	if a.State != "pending" || a.UserID != u.ID || a.BindingMessage != "Sign in to Acme Bank" || a.CallbackURL != "https://app.example.com/signet/callback" ||
		a.ExpiresAt.Sub(a.CreatedAt).Seconds() != 300 {
		t.Fatalf("created %+v", a)
	}
	if loc := created.header.Get("Location"); loc != e.srv.URL+BasePath+"/realms/acme/authentications/"+a.ID {
		t.Errorf("Location %q", loc)
	}
	if strings.Contains(string(created.body), "s3cret") {
		t.Error("the answer shows the callback headers")
	}
	path := "/realms/acme/authentications/" + a.ID
	e.call(t, 200, request{method: "GET", path: path}).json(t, &a)
	if a.State != "pending" {
		t.Fatalf("read %+v", a)
	}
	// The ephemeral store keeps the headers sealed only.
	q, err := e.requests.Get(context.Background(), realmName, a.ID)
	if err != nil || q.Callback == nil || strings.Contains(string(q.Callback.Headers), "s3cret") {
		t.Fatalf("kept callback %+v, %v", q.Callback, err)
	}
	other := e.tokenWith(t, "other", ScopeAuthenticationsCreate, ScopeTransactionsCreate)
	e.problem(t, 404, request{method: "GET", path: path, token: other})
	e.problem(t, 404, request{method: "POST", path: path + "/cancel", token: other})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/transactions/" + a.ID})

	e.answer(t, p, a.ID, sigma.Approve)
	e.call(t, 200, request{method: "GET", path: path}).json(t, &a)
	if a.State != "approved" || a.DeviceID != p.id || a.AnsweredAt.IsZero() {
		t.Fatalf("after the approval %+v", a)
	}
	e.problem(t, 409, request{method: "POST", path: path + "/cancel"})

	// The approval's event carries the callback; the creation's does not.
	var approved, createdEvent *authn.Event
	for _, ev := range e.events.list() {
		if ev.RequestID != a.ID {
			continue
		}
		switch ev.Type {
		case "authn.approved":
			approved = &ev
		case "authn.created":
			createdEvent = &ev
		}
	}
	if createdEvent == nil || createdEvent.Callback != nil {
		t.Errorf("creation event %+v", createdEvent)
	}
	if approved == nil || approved.Callback == nil || approved.Record().Callback == nil {
		t.Fatalf("approval event %+v", approved)
	}
	headers, err := authn.OpenCallbackHeaders(e.ring, realmName, *approved.Record().Callback)
	if err != nil || headers["Authorization"] != "Bearer s3cret" {
		t.Errorf("opened callback headers %v, %v", headers, err)
	}

	// Cancelled: by its client, once.
	var b Authentication
	e.call(t, 201, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID}}).json(t, &b)
	e.call(t, 200, request{method: "POST", path: "/realms/acme/authentications/" + b.ID + "/cancel"}).json(t, &b)
	if b.State != "cancelled" {
		t.Errorf("cancelled %+v", b)
	}
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/authentications/" + b.ID + "/cancel"})

	// Whom to ask.
	e.problem(t, 404, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"username": "nobody"}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID, "username": "alice"}})
	lonely := e.newUser(t, "lonely")
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": lonely.ID}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID, "ttl_seconds": 5}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID, "ttl_seconds": int64(1)<<55 + 60}, breaks: true})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID, "binding_message": "a\x07b"}})
	e.problem(t, 403, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID},
		token: e.tokenWith(t, "no-auth", ScopeTransactionsCreate)})

	// The event log: newest first, narrowed by subject or type.
	var events rest.Page[Event]
	e.call(t, 200, request{method: "GET", path: "/realms/acme/events?subject=" + a.ID}).json(t, &events)
	var types []string
	for _, ev := range events.Items {
		types = append(types, ev.Type)
	}
	if got := strings.Join(types, " "); got != "authn.approved authn.created" {
		t.Errorf("events of %s: %s", a.ID, got)
	}
	e.call(t, 200, request{method: "GET", path: "/realms/acme/events?type=authn.cancelled&user=" + u.ID + "&limit=1"}).json(t, &events)
	if len(events.Items) != 1 || events.Items[0].Subject != b.ID || events.Next != "" {
		t.Errorf("cancelled events %+v", events)
	}
}

// TestTransaction: a transaction with text and RFC 9396 details is approved on the
// phone; reading it returns the receipt, which verifies offline with the realm's keys
// and states what the device signed; a denied one has a receipt that says so.
func TestTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.newUser(t, "alice")
	p := e.enroll(t, u.ID)
	details := []map[string]any{{"type": "payment_initiation", "instructedAmount": map[string]any{"currency": "EUR", "amount": "123.50"},
		"creditorName": "Merchant A", "creditorAccount": map[string]any{"iban": "DE02100100109307118603"}}}
	var tx Transaction
	e.call(t, 201, request{method: "POST", path: "/realms/acme/transactions", header: map[string]string{"Idempotency-Key": "pay-1"},
		body: map[string]any{"user_id": u.ID, "text": "Pay 123.50 EUR to Merchant A", "authorization_details": details}}).json(t, &tx)
	if tx.State != "pending" || tx.Receipt != "" || len(tx.AuthorizationDetails) == 0 {
		t.Fatalf("created %+v", tx)
	}
	path := "/realms/acme/transactions/" + tx.ID
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/authentications/" + tx.ID})
	e.answer(t, p, tx.ID, sigma.Approve)
	e.call(t, 200, request{method: "GET", path: path}).json(t, &tx)
	if tx.State != "approved" || tx.Receipt == "" {
		t.Fatalf("answered %+v", tx)
	}
	jwks, err := e.keys.PublicKeys(context.Background(), realmName)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := receipt.Verify(tx.Receipt, jwks)
	if err != nil || claims.ID != tx.ID || claims.Outcome != "approved" || claims.Text != "Pay 123.50 EUR to Merchant A" ||
		claims.DeviceID != p.id || claims.ClientID != backendClient || !strings.Contains(string(claims.AuthorizationDetails), "Merchant A") {
		t.Fatalf("receipt %+v, %v", claims, err)
	}

	var denied Transaction
	e.call(t, 201, request{method: "POST", path: "/realms/acme/transactions", body: map[string]any{"user_id": u.ID, "text": "Pay 9999 EUR"}}).json(t, &denied)
	e.answer(t, p, denied.ID, sigma.Deny)
	e.call(t, 200, request{method: "GET", path: "/realms/acme/transactions/" + denied.ID}).json(t, &denied)
	if c, err := receipt.Verify(denied.Receipt, jwks); denied.State != "denied" || err != nil || c.Outcome != "denied" {
		t.Errorf("denied %+v: %+v, %v", denied, c, err)
	}

	e.problem(t, 400, request{method: "POST", path: "/realms/acme/transactions", body: map[string]any{"user_id": u.ID}})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/transactions", body: map[string]any{"user_id": u.ID, "authorization_details": []any{map[string]any{"amount": 1}}}, breaks: true})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/transactions", body: map[string]any{"user_id": u.ID, "authorization_details": map[string]any{"type": "x"}}, breaks: true})
}

// TestCallbackValidation: what a callback may be.
func TestCallbackValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.newUser(t, "alice")
	e.enroll(t, u.ID)
	many := map[string]string{}
	for i := range 21 {
		many["X-H"+strings.Repeat("a", i)] = "v"
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		breaks bool
	}{
		{"not a URL", map[string]any{"callback_url": "::nope"}, true},
		{"relative", map[string]any{"callback_url": "/callback"}, true},
		{"ftp", map[string]any{"callback_url": "ftp://example.com/x"}, true},
		{"no host", map[string]any{"callback_url": "https:///x"}, false},
		{"user info", map[string]any{"callback_url": "https://user:pw@example.com/x"}, false},
		{"fragment", map[string]any{"callback_url": "https://example.com/x#f"}, false},
		{"too long", map[string]any{"callback_url": "https://example.com/" + strings.Repeat("a", 2048)}, true},
		{"headers without URL", map[string]any{"callback_headers": map[string]string{"X-A": "b"}}, false},
		{"Host", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"Host": "evil"}}, false},
		{"content type", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"content-type": "text/plain"}}, false},
		{"hop by hop", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"Transfer-Encoding": "chunked"}}, false},
		{"webhook signature", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"webhook-signature": "v1,x"}}, false},
		{"name not a token", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"X A": "b"}}, true},
		{"line break", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"X-A": "b\r\nX-Evil: 1"}}, true},
		{"too many", map[string]any{"callback_url": "https://example.com/", "callback_headers": many}, true},
		{"too large", map[string]any{"callback_url": "https://example.com/", "callback_headers": map[string]string{"X-A": strings.Repeat("v", 9000)}}, false},
	} {
		tc.body["user_id"] = u.ID
		detail := e.problem(t, 400, request{method: "POST", path: "/realms/acme/authentications", body: tc.body, breaks: tc.breaks})
		if !strings.Contains(detail, "callback") {
			t.Errorf("%s: %q does not name the callback", tc.name, detail)
		}
	}
	// http is accepted here; whether the address may be called is the deliverer's word.
	e.callbackSecret(t)
	e.call(t, 201, request{method: "POST", path: "/realms/acme/authentications",
		body: map[string]any{"user_id": u.ID, "callback_url": "http://app.example.com/cb", "callback_headers": map[string]string{"X-Api-Key": "k"}}})
}
