package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/store"
)

// TestDeviceEndpoints: an activation code is made once (code, QR URL and PNG) and listed
// without its code; a device it enrolls is listed, renamed and locked in one audited
// change, its last device is not locked without force, a stale If-Match is refused, and
// the audit log tells who did what.
func TestDeviceEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}})
	var u User
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users", body: map[string]any{"username": "alice"}}).json(t, &u)

	var act Activation
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users/" + u.ID + "/activations", body: map[string]any{"ttl_seconds": 600}}).json(t, &act)
	if len(act.Code) != 26 || !strings.HasPrefix(act.URL, "https://device.example.com:8888/enroll#") || act.QRPNG == "" ||
		(act.ExpiresAt.Sub(act.CreatedAt)-10*time.Minute).Abs() > time.Second {
		t.Fatalf("activation %+v", act)
	}
	if png, err := base64.StdEncoding.DecodeString(act.QRPNG); err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("QR PNG: %v", err)
	}
	e.problem(t, 400, request{method: "POST", path: "/realms/acme/users/" + u.ID + "/activations", body: map[string]any{"ttl_seconds": 5}})
	listed := e.call(t, 200, request{method: "GET", path: "/realms/acme/users/" + u.ID + "/activations"})
	if strings.Contains(string(listed.body), act.Code) || !strings.Contains(string(listed.body), act.ID) {
		t.Fatalf("listing: %s", listed.body)
	}

	m := hmac.New(sha256.New, testPepper)
	m.Write([]byte(act.Code))
	point := make([]byte, 65)
	point[0], point[1] = 4, 7
	d, err := e.st.EnrollDevice(ctx, "acme", m.Sum(nil), time.Now(), 0, store.Device{ID: "0123456789abcdef0123456789abcdef", PublicKey: point, DisplayName: "phone"},
		store.Audit{Actor: "device", Action: "enrolled"})
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Items []Device }
	e.call(t, 200, request{method: "GET", path: "/realms/acme/devices?user=" + u.ID}).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != d.ID || page.Items[0].State != "active" {
		t.Fatalf("devices %+v", page.Items)
	}
	e.problem(t, 400, request{method: "GET", path: "/realms/acme/devices?state=lost"})
	path := "/realms/acme/devices/" + d.ID
	got := e.call(t, 200, request{method: "GET", path: path})
	tag := got.header.Get("ETag")

	e.problem(t, 409, request{method: "PATCH", path: path, body: map[string]any{"state": "locked"}})
	e.problem(t, 412, request{method: "PATCH", path: path + "?force=true", body: map[string]any{"state": "locked"}, header: map[string]string{"If-Match": `"99"`}})
	var changed Device
	e.call(t, 200, request{method: "PATCH", path: path + "?force=true", body: map[string]any{"state": "locked", "display_name": "old phone"},
		header: map[string]string{"If-Match": tag}}).json(t, &changed)
	if changed.State != "locked" || changed.DisplayName != "old phone" {
		t.Fatalf("after PATCH: %+v", changed)
	}
	e.problem(t, 400, request{method: "PATCH", path: path, body: map[string]any{"display_name": " "}})
	e.call(t, 204, request{method: "DELETE", path: path})
	e.problem(t, 404, request{method: "GET", path: path})

	audit := e.call(t, 200, request{method: "GET", path: "/realms/acme/audit?user=" + u.ID})
	for _, want := range []string{`"removed"`, `"locked+renamed"`, `"enrolled"`, `"activation_created"`, `"actor":"admin:` + adminClient} {
		if !strings.Contains(string(audit.body), want) {
			t.Errorf("audit log lacks %s:\n%s", want, audit.body)
		}
	}
	if resp := e.do(t, request{method: "GET", path: "/realms/acme/audit"}); resp.status != http.StatusOK {
		t.Fatalf("audit of the realm: %d", resp.status)
	}
}
