package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-auth/signet/internal/login"
)

// TestTOTPEnrollment: enrolling gives a secret and an otpauth URL once; the user record
// shows only that TOTP is on; the stored secret is sealed and opens to the same key the
// login pages check; removing turns it off.
func TestTOTPEnrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	u := e.newUser(t, "acme", map[string]any{"username": "erin:x"})
	var got TOTPEnrollment
	e.call(t, 201, request{method: "POST", path: "/realms/acme/users/" + u.ID + "/totp"}).json(t, &got)
	if got.Secret == "" || !strings.HasPrefix(got.URL, "otpauth://totp/") || !strings.Contains(got.URL, "secret="+got.Secret) {
		t.Fatalf("enrollment %+v", got)
	}
	var after User
	body := e.call(t, 200, request{method: "GET", path: "/realms/acme/users/" + u.ID})
	body.json(t, &after)
	if !after.TOTPEnabled || strings.Contains(string(body.body), got.Secret) {
		t.Fatalf("user after enrollment: %s", body.body)
	}
	stored, err := e.st.GetUser(context.Background(), "acme", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.TOTPSecret), got.Secret) {
		t.Fatal("the TOTP secret is stored in the clear")
	}
	secret, err := login.OpenTOTPSecret(e.ring, "acme", u.ID, stored.TOTPSecret)
	if err != nil || secret != got.Secret {
		t.Fatalf("sealed secret opens to %q (%v)", secret, err)
	}
	if _, err := pqtotp.GenerateCode(secret, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.call(t, 204, request{method: "DELETE", path: "/realms/acme/users/" + u.ID + "/totp"})
	e.call(t, 200, request{method: "GET", path: "/realms/acme/users/" + u.ID}).json(t, &after)
	if after.TOTPEnabled {
		t.Fatal("TOTP still on after removal")
	}
	e.problem(t, 404, request{method: "POST", path: "/realms/acme/users/nobody/totp"})
}
