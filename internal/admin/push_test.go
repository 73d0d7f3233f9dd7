package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/push/fcm/fcmtest"
	"github.com/signet-auth/signet/internal/push/unifiedpush"
	"github.com/signet-auth/signet/internal/rest"
	"github.com/signet-auth/signet/internal/store"
)

// changes records the Changed calls of the push endpoints.
type changes struct {
	mu    sync.Mutex
	calls []string
}

func (c *changes) changed(realm, provider string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, realm+"/"+provider)
}

// take returns the calls since the last take.
func (c *changes) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// withPush turns on the push endpoints over the environment's store and keyring, with
// the given test wake-up (nil: a node without the messaging role).
func withPush(ch *changes, test func(ctx context.Context, realm, deviceID string) (messaging.Status, error)) envOption {
	return func(st store.Store, ring *keys.Keyring) Option {
		return WithPush(Push{Credentials: messaging.Credentials{Store: st, Ring: ring}, Changed: ch.changed, Test: test})
	}
}

// p8 returns a new APNs signing key as Apple's .p8 file holds it, and the base64 of
// its DER (the PEM's body, on one line).
func p8(t *testing.T) ([]byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return pemBytes, pemBody(pemBytes)
}

// pemBody is the base64 inside a PEM block, its lines joined: every secret's fragments
// are searched for in it.
func pemBody(p []byte) string {
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimSpace(string(p)), "\n") {
		if !strings.HasPrefix(line, "-----") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// secrets collects the secrets a test sets and checks that none appears in a text.
type secrets []string

// leaks returns the first secret, or 24-character piece of one, that text holds.
func (s secrets) leaks(text string) string {
	for _, sec := range s {
		for i := 0; i+24 <= len(sec); i += 12 {
			if strings.Contains(text, sec[i:i+24]) {
				return sec[i : i+24]
			}
		}
	}
	return ""
}

// TestPushCredentials: each provider's credential is set, shown (settings, never the
// secret), listed, replaced under If-Match and deleted; the stored row holds the secret
// only sealed, and it opens to a working sender; every change tells Changed; bad input
// is a 400 that names the problem without quoting the secret; a missing realm, a
// missing credential and an unknown provider are 404. No answer and no log line holds
// any secret.
func TestPushCredentials(t *testing.T) {
	t.Parallel()
	ch := &changes{}
	e := newEnv(t, withPush(ch, nil))
	ctx := context.Background()
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})

	var secret secrets
	var bodies []string
	call := func(want int, r request) response {
		t.Helper()
		resp := e.call(t, want, r)
		bodies = append(bodies, string(resp.body))
		return resp
	}
	problem := func(want int, r request) string {
		t.Helper()
		p := e.problem(t, want, r)
		bodies = append(bodies, p["detail"].(string))
		return p["detail"].(string)
	}
	var page struct{ Items []messaging.Credential }
	call(200, request{method: "GET", path: "/realms/acme/push"}).json(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("push credentials of a new realm: %+v", page.Items)
	}

	// APNs.
	keyPEM, keyBody := p8(t)
	secret = append(secret, keyBody)
	apnsBody := map[string]any{"key": string(keyPEM), "key_id": "ABCDE12345", "team_id": "TEAM123456",
		"topic": "com.example.authenticator", "environment": "sandbox", "port": 2197}
	resp := call(200, request{method: "PUT", path: "/realms/acme/push/apns", body: apnsBody})
	var apns messaging.Credential
	resp.json(t, &apns)
	var apnsSettings messaging.APNs
	if err := json.Unmarshal(apns.Settings, &apnsSettings); err != nil {
		t.Fatal(err)
	}
	if apns.Realm != "acme" || apns.Provider != "apns" || apns.Version == 0 || apns.UpdatedAt.IsZero() ||
		!reflect.DeepEqual(apnsSettings, messaging.APNs{KeyID: "ABCDE12345", TeamID: "TEAM123456", Topic: "com.example.authenticator", Environment: "sandbox", Port: 2197}) {
		t.Fatalf("PUT apns: %s", resp.body)
	}
	if strings.Contains(string(resp.body), "PRIVATE KEY") || strings.Contains(string(resp.body), `"key"`) {
		t.Fatalf("PUT apns shows the key: %s", resp.body)
	}
	if got := ch.take(); len(got) != 1 || got[0] != "acme/apns" {
		t.Fatalf("Changed after PUT apns: %v", got)
	}
	got := call(200, request{method: "GET", path: "/realms/acme/push/apns"})
	if tag := got.header.Get("ETag"); tag != rest.ETag(apns.Version) || tag != resp.header.Get("ETag") {
		t.Fatalf("ETag %q after PUT %q, version %d", tag, resp.header.Get("ETag"), apns.Version)
	}

	// If-Match: a stale tag is refused and changes nothing; the current one replaces.
	apnsBody["environment"] = "production"
	delete(apnsBody, "port")
	problem(412, request{method: "PUT", path: "/realms/acme/push/apns", body: apnsBody, header: map[string]string{"If-Match": `"999"`}})
	resp = call(200, request{method: "PUT", path: "/realms/acme/push/apns", body: apnsBody, header: map[string]string{"If-Match": got.header.Get("ETag")}})
	var replaced messaging.Credential
	resp.json(t, &replaced)
	if replaced.Version <= apns.Version || !strings.Contains(string(replaced.Settings), `"environment":"production"`) || strings.Contains(string(replaced.Settings), "port") {
		t.Fatalf("replaced apns: %s", resp.body)
	}
	ch.take()
	problem(412, request{method: "PUT", path: "/realms/acme/push/fcm", body: map[string]any{}, header: map[string]string{"If-Match": "*"}})

	// FCM: the key file as a JSON object, then as a string with another project.
	sa := fcmtest.NewServiceAccountKey(t, "signet-push-test", "https://oauth2.example.com/token")
	secret = append(secret, pemBody([]byte(sa.PrivateKey)))
	resp = call(200, request{method: "PUT", path: "/realms/acme/push/fcm", body: map[string]any{"service_account": json.RawMessage(sa.JSON())}})
	var fcmCred messaging.Credential
	resp.json(t, &fcmCred)
	var fcmSettings messaging.FCM
	if err := json.Unmarshal(fcmCred.Settings, &fcmSettings); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fcmSettings, messaging.FCM{ProjectID: "signet-push-test", ClientEmail: sa.ClientEmail}) {
		t.Fatalf("PUT fcm: %s", resp.body)
	}
	resp = call(200, request{method: "PUT", path: "/realms/acme/push/fcm", body: map[string]any{"service_account": string(sa.JSON()), "project_id": "other-project"}})
	if !strings.Contains(string(resp.body), `"project_id":"other-project"`) {
		t.Fatalf("PUT fcm with the key file as a string: %s", resp.body)
	}
	if got := ch.take(); len(got) != 2 || got[0] != "acme/fcm" {
		t.Fatalf("Changed after PUT fcm: %v", got)
	}

	// UnifiedPush: without a key a new pair is made; with one, its public key is shown.
	var up messaging.Credential
	call(200, request{method: "PUT", path: "/realms/acme/push/unifiedpush", body: map[string]any{"subject": "mailto:ops@example.com"}}).json(t, &up)
	var upSettings messaging.UnifiedPush
	if err := json.Unmarshal(up.Settings, &upSettings); err != nil || upSettings.Subject != "mailto:ops@example.com" || len(upSettings.ApplicationServerKey) != 87 {
		t.Fatalf("PUT unifiedpush without a key: %v %s", err, up.Settings)
	}
	priv, pub, err := unifiedpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	secret = append(secret, priv[:24], priv[len(priv)-24:])
	resp = call(200, request{method: "PUT", path: "/realms/acme/push/unifiedpush", body: map[string]any{"subject": "https://example.com/contact", "vapid_private_key": priv}})
	if !strings.Contains(string(resp.body), `"application_server_key":"`+pub+`"`) {
		t.Fatalf("PUT unifiedpush with a key: %s (want %s)", resp.body, pub)
	}
	if got := ch.take(); len(got) != 2 || got[1] != "acme/unifiedpush" {
		t.Fatalf("Changed after PUT unifiedpush: %v", got)
	}

	call(200, request{method: "GET", path: "/realms/acme/push"}).json(t, &page)
	var providers []string
	for _, c := range page.Items {
		providers = append(providers, c.Provider)
	}
	if strings.Join(providers, ",") != "apns,fcm,unifiedpush" {
		t.Fatalf("listed %v", providers)
	}

	// Stored: the settings in the clear, the secret only sealed; it opens, and a sender
	// is built from each credential.
	for _, provider := range []string{"apns", "fcm", "unifiedpush"} {
		pc, err := e.st.GetPushCredential(ctx, "acme", provider)
		if err != nil {
			t.Fatal(err)
		}
		raw := string(pc.Sealed) + string(pc.Settings)
		if leak := secret.leaks(raw); leak != "" || bytes.Contains(pc.Sealed, []byte("PRIVATE KEY")) || bytes.Contains(pc.Sealed, []byte(priv)) {
			t.Fatalf("the stored %s credential holds its secret in the clear (%q)", provider, leak)
		}
	}
	senders := messaging.NewSenders(messaging.Credentials{Store: e.st, Ring: e.ring}, messaging.SenderOptions{}, nil)
	defer senders.Close()
	for _, provider := range []string{"apns", "fcm", "unifiedpush"} {
		if _, err := senders.Get(ctx, "acme", provider); err != nil {
			t.Errorf("a sender from the stored %s credential: %v", provider, err)
		}
	}

	// Refusals: each names what is wrong, none quotes the secret.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})
	secret = append(secret, pemBody(rsaPEM))
	for _, tc := range []struct {
		provider string
		body     any
		want     []string
	}{
		{"apns", map[string]any{"key": string(rsaPEM), "key_id": "short", "team_id": "TEAM123456", "topic": "com.example.app", "environment": "staging"},
			[]string{"not an ECDSA P-256 key", "key id must be 10", `environment "staging"`}},
		{"apns", map[string]any{"key": string(keyPEM), "key_id": "ABCDE12345", "team_id": "TEAM123456", "topic": "com.example.app", "environment": "production", "port": 8443},
			[]string{"port 8443"}},
		{"apns", map[string]any{"key_id": "ABCDE12345", "team_id": "TEAM123456", "topic": "com.example.app", "environment": "production"},
			[]string{"key is required"}},
		{"apns", map[string]any{"key": string(keyPEM), "key_id": "ABCDE12345", "team_id": "TEAM123456", "topic": "com.example.app", "environment": "production", "base_url": "https://evil.example"},
			[]string{`unknown field "base_url"`}},
		{"fcm", map[string]any{"service_account": 42}, []string{"service_account must be the key file"}},
		{"fcm", map[string]any{}, []string{"no service account JSON"}},
		{"fcm", map[string]any{"service_account": `{"type": "service_account", "private_key": "` + pemBody(rsaPEM) + `"`}, []string{"not valid JSON"}},
		{"fcm", map[string]any{"service_account": map[string]any{"type": "service_account", "private_key": string(rsaPEM)}},
			[]string{"client_email is missing", "token_uri is missing", "no project"}},
		{"unifiedpush", map[string]any{"subject": "ops@example.com"}, []string{"VAPID subject", "mailto: or https:"}},
		{"unifiedpush", map[string]any{"subject": "mailto:ops@example.com", "vapid_private_key": priv[:20]}, []string{"VAPID private key is"}},
	} {
		detail := problem(400, request{method: "PUT", path: "/realms/acme/push/" + tc.provider, body: tc.body})
		for _, w := range tc.want {
			if !strings.Contains(detail, w) {
				t.Errorf("PUT %s %v: detail %q lacks %q", tc.provider, tc.body, detail, w)
			}
		}
	}
	if got := ch.take(); len(got) != 0 {
		t.Fatalf("Changed after refused changes: %v", got)
	}
	// Nothing refused changed what is stored.
	call(200, request{method: "GET", path: "/realms/acme/push/apns"}).json(t, &apns)
	if apns.Version != replaced.Version {
		t.Fatalf("a refused PUT changed the apns credential: %+v", apns)
	}

	// Missing realm, unknown provider, missing credential.
	problem(404, request{method: "GET", path: "/realms/nope/push"})
	problem(404, request{method: "PUT", path: "/realms/nope/push/apns", body: apnsBody})
	problem(404, request{method: "GET", path: "/realms/acme/push/gcm"})
	problem(404, request{method: "PUT", path: "/realms/acme/push/gcm", body: map[string]any{}})
	problem(404, request{method: "DELETE", path: "/realms/acme/push/APNS"})

	// Delete: If-Match applies, Changed is told, the credential is gone.
	problem(412, request{method: "DELETE", path: "/realms/acme/push/apns", header: map[string]string{"If-Match": rest.ETag(apns.Version - 1)}})
	call(204, request{method: "DELETE", path: "/realms/acme/push/apns", header: map[string]string{"If-Match": rest.ETag(apns.Version)}})
	if got := ch.take(); len(got) != 1 || got[0] != "acme/apns" {
		t.Fatalf("Changed after DELETE: %v", got)
	}
	problem(404, request{method: "GET", path: "/realms/acme/push/apns"})
	if detail := problem(404, request{method: "DELETE", path: "/realms/acme/push/apns"}); !strings.Contains(detail, "apns push credential") {
		t.Fatalf("second DELETE: %s", detail)
	}
	if _, err := e.st.GetPushCredential(ctx, "acme", "apns"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stored after DELETE: %v", err)
	}
	call(200, request{method: "GET", path: "/realms/acme/push"}).json(t, &page)
	if len(page.Items) != 2 {
		t.Fatalf("after DELETE: %+v", page.Items)
	}

	for _, b := range bodies {
		if leak := secret.leaks(b); leak != "" {
			t.Fatalf("an answer holds a secret (%q):\n%s", leak, b)
		}
	}
	logs := e.logs.String()
	if leak := secret.leaks(logs); leak != "" || strings.Contains(logs, "PRIVATE KEY") {
		t.Fatalf("the log holds a secret (%q):\n%s", leak, logs)
	}
	if !strings.Contains(logs, "admin change") || !strings.Contains(logs, "client_email is missing") {
		t.Fatalf("the log lacks the changes or the refusals' causes:\n%s", logs)
	}
}

// TestTestPush: test-push hands the realm and device to the messaging role's test and
// answers its status; an unknown device or realm is 404; a node without the messaging
// role answers 503, and one without the push endpoints 503 on every push route.
func TestTestPush(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []string
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	test := func(_ context.Context, realm, deviceID string) (messaging.Status, error) {
		mu.Lock()
		asked = append(asked, realm+"/"+deviceID)
		mu.Unlock()
		if deviceID != "phone-1" {
			return messaging.Status{}, store.ErrNotFound
		}
		return messaging.Status{Route: messaging.RouteFailed, Provider: "apns", Attempts: 1, Error: "apns: 400 BadDeviceToken", UpdatedAt: at}, nil
	}
	e := newEnv(t, withPush(&changes{}, test))
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})
	var st messaging.Status
	e.call(t, 200, request{method: "POST", path: "/realms/acme/devices/phone-1/test-push"}).json(t, &st)
	if st != (messaging.Status{Route: "failed", Provider: "apns", Attempts: 1, Error: "apns: 400 BadDeviceToken", UpdatedAt: at}) {
		t.Fatalf("test push: %+v", st)
	}
	if p := e.problem(t, 404, request{method: "POST", path: "/realms/acme/devices/phone-2/test-push"}); !strings.Contains(p["detail"].(string), `device "phone-2"`) {
		t.Fatalf("unknown device: %v", p)
	}
	e.problem(t, 404, request{method: "POST", path: "/realms/nope/devices/phone-1/test-push"})
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/devices/phone-1/test-push", body: map[string]any{"title": "hi"}})
	mu.Lock()
	if strings.Join(asked, ",") != "acme/phone-1,acme/phone-2" {
		t.Fatalf("Test was asked %v", asked)
	}
	mu.Unlock()

	noMessaging := newEnv(t, withPush(&changes{}, nil))
	noMessaging.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})
	if p := noMessaging.problem(t, 503, request{method: "POST", path: "/realms/acme/devices/phone-1/test-push"}); p["detail"] != "this node does not run the messaging role" {
		t.Fatalf("without Test: %v", p)
	}
	noMessaging.call(t, 200, request{method: "GET", path: "/realms/acme/push"})

	noPush := newEnv(t)
	noPush.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})
	for _, r := range []request{
		{method: "GET", path: "/realms/acme/push"},
		{method: "GET", path: "/realms/acme/push/apns"},
		{method: "PUT", path: "/realms/acme/push/unifiedpush", body: map[string]any{"subject": "mailto:ops@example.com"}},
		{method: "DELETE", path: "/realms/acme/push/fcm"},
		{method: "POST", path: "/realms/acme/devices/phone-1/test-push"},
	} {
		noPush.problem(t, 503, r)
	}
}
