package api

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/rest"
)

// TestDevicesAndActivations: an activation code comes with its QR payload and PNG once
// and is listed without them, and can be revoked; the device it enrolls is listed for
// its user, renamed under If-Match, locked (the last one only with force) and unlocked,
// and removed.
func TestDevicesAndActivations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.newUser(t, "alice")
	user := "/realms/acme/users/" + u.ID
	var act rest.Activation
	e.call(t, 201, request{method: "POST", path: user + "/activations", body: map[string]any{"ttl_seconds": 600}}).json(t, &act)
	png, err := base64.StdEncoding.DecodeString(act.QRPNG)
	if len(act.Code) != 26 || !strings.HasPrefix(act.URL, "https://device.example.com:8888/enroll#") || err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("activation %+v", act)
	}
	listed := e.call(t, 200, request{method: "GET", path: user + "/activations"})
	if strings.Contains(string(listed.body), act.Code) || !strings.Contains(string(listed.body), act.ID) {
		t.Fatalf("listing: %s", listed.body)
	}
	e.problem(t, 400, request{method: "POST", path: user + "/activations", body: map[string]any{"ttl_seconds": 5}})
	e.problem(t, 400, request{method: "POST", path: user + "/activations", body: map[string]any{"ttl_seconds": 100000}, breaks: true})
	// 2^55+600 seconds wraps to 600 s as a Duration: refused, not taken as ten minutes.
	e.problem(t, 400, request{method: "POST", path: user + "/activations", body: map[string]any{"ttl_seconds": int64(1)<<55 + 600}, breaks: true})
	e.call(t, 204, request{method: "DELETE", path: "/realms/acme/activations/" + act.ID})
	e.problem(t, 404, request{method: "DELETE", path: "/realms/acme/activations/" + act.ID})

	p := e.enroll(t, u.ID)
	var devices rest.Page[rest.Device]
	e.call(t, 200, request{method: "GET", path: user + "/devices"}).json(t, &devices)
	if len(devices.Items) != 1 || devices.Items[0].ID != p.id || devices.Items[0].State != "active" {
		t.Fatalf("devices %+v", devices.Items)
	}
	e.call(t, 200, request{method: "GET", path: user + "/devices?state=locked"}).json(t, &devices)
	if len(devices.Items) != 0 {
		t.Errorf("locked devices %+v", devices.Items)
	}
	path := "/realms/acme/devices/" + p.id
	tag := e.call(t, 200, request{method: "GET", path: path}).header.Get("ETag")
	e.problem(t, 412, request{method: "PATCH", path: path, body: map[string]any{"display_name": "work phone"}, header: map[string]string{"If-Match": `"99"`}})
	renamed := e.call(t, 200, request{method: "PATCH", path: path, body: map[string]any{"display_name": "work phone"}, header: map[string]string{"If-Match": tag}})
	var d rest.Device
	renamed.json(t, &d)
	if d.DisplayName != "work phone" || renamed.header.Get("ETag") == tag {
		t.Errorf("renamed %+v", d)
	}
	e.problem(t, 400, request{method: "PATCH", path: path, body: map[string]any{"display_name": ""}, breaks: true})
	// The user's last active device is locked only on purpose.
	e.problem(t, 409, request{method: "POST", path: path + "/lock"})
	e.call(t, 200, request{method: "POST", path: path + "/lock?force=true"}).json(t, &d)
	if d.State != "locked" {
		t.Errorf("locked device %+v", d)
	}
	// A user whose only device is locked is asked nothing.
	e.problem(t, 409, request{method: "POST", path: "/realms/acme/authentications", body: map[string]any{"user_id": u.ID}})
	e.call(t, 200, request{method: "POST", path: path + "/unlock"}).json(t, &d)
	if d.State != "active" {
		t.Errorf("unlocked device %+v", d)
	}
	e.problem(t, 409, request{method: "DELETE", path: path})
	e.call(t, 204, request{method: "DELETE", path: path + "?force=true"})
	e.problem(t, 404, request{method: "GET", path: path})
	e.problem(t, 404, request{method: "GET", path: "/realms/acme/users/nobody/devices"})
}
