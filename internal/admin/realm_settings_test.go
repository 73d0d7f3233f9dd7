package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/oidc"
	"github.com/signet-auth/signet/internal/session"
	"github.com/signet-auth/signet/internal/store"
)

// enforced reads the stored realm the way the packages that enforce its settings do.
func (e *env) enforced(t *testing.T, realm string) (idle, absolute time.Duration, threshold int, lock time.Duration) {
	t.Helper()
	r, err := e.st.GetRealm(context.Background(), realm)
	if err != nil {
		t.Fatal(err)
	}
	idle, absolute = session.Timeouts(r)
	threshold, lock = login.LockoutPolicy(r)
	return idle, absolute, threshold, lock
}

// TestRealmSettings: a new realm shows the defaults; settings given at creation and in
// a PATCH are stored so that the session and login packages read them back; a PATCH
// changes only the settings present; reserved attributes stay hidden and refused.
func TestRealmSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	var r Realm
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "plain"}}).json(t, &r)
	defaults := RealmSettings{
		SSOIdleTimeout: seconds(session.DefaultIdleTimeout), SSOMaxLifespan: seconds(session.DefaultAbsoluteTimeout),
		LockoutThreshold: login.DefaultLockoutThreshold, LockoutDuration: seconds(login.DefaultLockoutDuration),
		Registration: oidc.RegistrationOff, DeviceMaxPerUser: device.DefaultMaxDevices,
		LoginFirstFactors: []string{login.FactorPassword, login.FactorPhone}, LoginSecondFactors: []string{login.FactorTOTP},
		DeviceNotMe: device.NotMeLockDevice, NumberMatching: authn.NumberMatchingPick,
		MaxPendingPerUser: 3, DenialsBeforeCooldown: 3, DenialWindow: 600, Cooldown: 120,
	}
	if !reflect.DeepEqual(r.Settings, defaults) {
		t.Fatalf("new realm settings %+v, want the defaults %+v", r.Settings, defaults)
	}
	raw := e.call(t, 200, request{method: "GET", path: "/realms/plain"}).object(t)
	if _, ok := raw["settings"].(map[string]any); !ok {
		t.Fatalf("GET has no settings object: %v", raw)
	}

	r = Realm{}
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{
		"name": "acme", "attributes": map[string]string{"theme": "dark"},
		"settings": map[string]any{"sso_idle_timeout": 900, "sso_max_lifespan": 7200, "lockout_threshold": 3, "lockout_duration": 60, "registration": "open",
			"device_max_per_user": 2, "login_first_factors": []string{"phone"}, "login_second_factors": []string{"phone", "totp"}, "device_not_me": "lock_user"},
	}}).json(t, &r)
	want := RealmSettings{SSOIdleTimeout: 900, SSOMaxLifespan: 7200, LockoutThreshold: 3, LockoutDuration: 60, Registration: "open", DeviceMaxPerUser: 2,
		LoginFirstFactors: []string{"phone"}, LoginSecondFactors: []string{"phone", "totp"}, DeviceNotMe: "lock_user",
		NumberMatching: "pick", MaxPendingPerUser: 3, DenialsBeforeCooldown: 3, DenialWindow: 600, Cooldown: 120}
	if !reflect.DeepEqual(r.Settings, want) || len(r.Attributes) != 1 || r.Attributes["theme"] != "dark" {
		t.Fatalf("created %+v", r)
	}
	if idle, absolute, threshold, lock := e.enforced(t, "acme"); idle != 15*time.Minute || absolute != 2*time.Hour || threshold != 3 || lock != time.Minute {
		t.Fatalf("enforced: idle %v, absolute %v, threshold %d, lock %v", idle, absolute, threshold, lock)
	}
	stored, _ := e.st.GetRealm(context.Background(), "acme")
	if got := stored.Attributes[session.AttrIdleTimeout]; got != "15m0s" {
		t.Fatalf("stored idle timeout %q, want a Go duration", got)
	}
	got := e.call(t, 200, request{method: "GET", path: "/realms/acme"})
	if strings.Contains(string(got.body), "signet.") {
		t.Fatalf("reserved attributes shown: %s", got.body)
	}
	etagBefore := got.header.Get("ETag")

	// PATCH: only what is present changes; null and an absent settings object change nothing.
	r = Realm{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{"lockout_threshold": 2}},
		header: map[string]string{"If-Match": etagBefore}}).json(t, &r)
	want.LockoutThreshold = 2
	if !reflect.DeepEqual(r.Settings, want) {
		t.Fatalf("after PATCH of lockout_threshold: %+v, want %+v", r.Settings, want)
	}
	e.problem(t, 412, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{"lockout_threshold": 5}},
		header: map[string]string{"If-Match": etagBefore}})
	for _, body := range []map[string]any{
		{"settings": nil},
		{"settings": map[string]any{}},
		{"settings": map[string]any{"registration": nil, "sso_idle_timeout": nil}},
		{"display_name": "ACME"},
		{"attributes": map[string]string{}},
	} {
		r = Realm{}
		e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: body}).json(t, &r)
		if !reflect.DeepEqual(r.Settings, want) {
			t.Fatalf("PATCH %v changed the settings: %+v", body, r.Settings)
		}
	}
	r = Realm{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{
		"sso_idle_timeout": 3600, "sso_max_lifespan": 3600, "lockout_duration": 86400, "registration": "token",
	}}}).json(t, &r)
	want = RealmSettings{SSOIdleTimeout: 3600, SSOMaxLifespan: 3600, LockoutThreshold: 2, LockoutDuration: 86400, Registration: "token", DeviceMaxPerUser: 2,
		LoginFirstFactors: []string{"phone"}, LoginSecondFactors: []string{"phone", "totp"}, DeviceNotMe: "lock_user",
		NumberMatching: "pick", MaxPendingPerUser: 3, DenialsBeforeCooldown: 3, DenialWindow: 600, Cooldown: 120}
	if !reflect.DeepEqual(r.Settings, want) {
		t.Fatalf("after PATCH: %+v, want %+v", r.Settings, want)
	}
	if idle, absolute, threshold, lock := e.enforced(t, "acme"); idle != time.Hour || absolute != time.Hour || threshold != 2 || lock != 24*time.Hour {
		t.Fatalf("enforced: idle %v, absolute %v, threshold %d, lock %v", idle, absolute, threshold, lock)
	}

	// Settings are the only way in: the reserved attributes are still refused.
	e.problem(t, 400, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"attributes": map[string]string{session.AttrIdleTimeout: "1h"}}})
}

// TestRealmRequestPolicy: number matching and the per-user limits on phone requests
// show the node's values until a realm sets its own; what is set is stored so that authn
// reads it back, and only what a PATCH names changes.
func TestRealmRequestPolicy(t *testing.T) {
	t.Parallel()
	node := authn.Config{MaxPending: 5, DenialsBeforeCooldown: 4, DenialWindow: time.Hour, Cooldown: 30 * time.Second}.Defaults()
	e := newEnv(t, func(store.Store, *keys.Keyring) Option { return WithRequestPolicy(node) })
	var r Realm
	e.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}}).json(t, &r)
	if s := r.Settings; s.NumberMatching != "pick" || s.MaxPendingPerUser != 5 || s.DenialsBeforeCooldown != 4 || s.DenialWindow != 3600 || s.Cooldown != 30 {
		t.Fatalf("a new realm shows %+v; want the node's policy", s)
	}

	r = Realm{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{
		"number_matching": "off", "max_pending_per_user": 1, "denials_before_cooldown": 1, "denial_window": 60, "cooldown": 86400,
	}}}).json(t, &r)
	if s := r.Settings; s.NumberMatching != "off" || s.MaxPendingPerUser != 1 || s.DenialsBeforeCooldown != 1 || s.DenialWindow != 60 || s.Cooldown != 86400 {
		t.Fatalf("after PATCH: %+v", s)
	}
	stored, err := e.st.GetRealm(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := authn.Policy{NumberMatching: authn.NumberMatchingOff, MaxPending: 1, DenialsBeforeCooldown: 1, DenialWindow: time.Minute, Cooldown: 24 * time.Hour}
	if got := authn.RealmPolicy(stored); got != want {
		t.Fatalf("authn reads %+v, want %+v", got, want)
	}
	if got := stored.Attributes[authn.AttrCooldown]; got != "24h0m0s" {
		t.Fatalf("stored cooldown %q, want a Go duration", got)
	}

	// Only what is named changes; the other realm settings stay.
	r = Realm{}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{
		"number_matching": "pick", "max_pending_per_user": 20, "lockout_threshold": 7,
	}}}).json(t, &r)
	if s := r.Settings; s.NumberMatching != "pick" || s.MaxPendingPerUser != 20 || s.DenialsBeforeCooldown != 1 || s.Cooldown != 86400 || s.LockoutThreshold != 7 {
		t.Fatalf("after a second PATCH: %+v", s)
	}
	if body := e.call(t, 200, request{method: "GET", path: "/realms/acme"}).body; bytes.Contains(body, []byte("signet.authn")) {
		t.Fatalf("reserved attributes shown: %s", body)
	}
	e.problem(t, 400, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"attributes": map[string]string{authn.AttrNumberMatching: "off"}}})
	r = Realm{}
	e.call(t, 200, request{method: "GET", path: "/realms/acme"}).json(t, &r)
	if r.Settings.NumberMatching != "pick" {
		t.Fatalf("number matching turned off through an attribute: %+v", r.Settings)
	}

	// Without the node's policy, authn's defaults show.
	plain := newEnv(t)
	r = Realm{}
	plain.call(t, 201, request{method: "POST", path: "/realms", body: map[string]any{"name": "acme"}}).json(t, &r)
	if d := (authn.Config{}).Defaults(); r.Settings.MaxPendingPerUser != d.MaxPending || r.Settings.Cooldown != seconds(d.Cooldown) {
		t.Fatalf("without a node policy: %+v", r.Settings)
	}
}

// TestRealmSettingsValidation: every value out of range is a 400 problem that names its
// field, at creation and in a PATCH, and nothing is stored.
func TestRealmSettingsValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	for _, tc := range []struct {
		settings map[string]any
		field    string
	}{
		{map[string]any{"sso_idle_timeout": 59}, "settings.sso_idle_timeout"},
		{map[string]any{"sso_idle_timeout": -1}, "settings.sso_idle_timeout"},
		{map[string]any{"sso_idle_timeout": 36001}, "settings.sso_idle_timeout"},
		{map[string]any{"sso_idle_timeout": 7200, "sso_max_lifespan": 3600}, "settings.sso_idle_timeout"},
		{map[string]any{"sso_idle_timeout": "30m"}, "settings.sso_idle_timeout"},
		{map[string]any{"sso_idle_timeout": 90.5}, "settings.sso_idle_timeout"},
		{map[string]any{"sso_max_lifespan": 59}, "settings.sso_max_lifespan"},
		{map[string]any{"sso_max_lifespan": 365*24*3600 + 1}, "settings.sso_max_lifespan"},
		{map[string]any{"sso_max_lifespan": 1200}, "settings.sso_max_lifespan"}, // below the default idle timeout
		{map[string]any{"lockout_threshold": 0}, "settings.lockout_threshold"},
		{map[string]any{"device_max_per_user": 0}, "settings.device_max_per_user"},
		{map[string]any{"lockout_threshold": 1001}, "settings.lockout_threshold"},
		{map[string]any{"lockout_duration": 0}, "settings.lockout_duration"},
		{map[string]any{"lockout_duration": 86401}, "settings.lockout_duration"},
		{map[string]any{"registration": "yes"}, "settings.registration"},
		{map[string]any{"registration": "OPEN"}, "settings.registration"},
		{map[string]any{"registration": true}, "settings.registration"},
		{map[string]any{"login_first_factors": []string{}}, "settings.login_first_factors"},
		{map[string]any{"login_first_factors": []string{"sms"}}, "settings.login_first_factors"},
		{map[string]any{"login_first_factors": []string{"phone", "phone"}}, "settings.login_first_factors"},
		{map[string]any{"login_first_factors": "phone"}, "settings.login_first_factors"},
		{map[string]any{"device_not_me": "explode"}, "settings.device_not_me"},
		{map[string]any{"login_second_factors": []string{"password"}}, "settings.login_second_factors"},
		{map[string]any{"login_second_factors": []string{}}, "settings.login_second_factors"},
		{map[string]any{"number_matching": "type"}, "settings.number_matching"},
		{map[string]any{"number_matching": "OFF"}, "settings.number_matching"},
		{map[string]any{"number_matching": false}, "settings.number_matching"},
		{map[string]any{"max_pending_per_user": 0}, "settings.max_pending_per_user"},
		{map[string]any{"max_pending_per_user": 21}, "settings.max_pending_per_user"},
		{map[string]any{"denials_before_cooldown": 0}, "settings.denials_before_cooldown"},
		{map[string]any{"denials_before_cooldown": 101}, "settings.denials_before_cooldown"},
		{map[string]any{"denial_window": 59}, "settings.denial_window"},
		{map[string]any{"denial_window": 86401}, "settings.denial_window"},
		{map[string]any{"cooldown": 0}, "settings.cooldown"},
		{map[string]any{"cooldown": 86401}, "settings.cooldown"},
		{map[string]any{"cooldown": "2m"}, "settings.cooldown"},
		{map[string]any{"self_service": true}, "self_service"},
	} {
		for _, req := range []request{
			{method: "POST", path: "/realms", body: map[string]any{"name": "fresh", "settings": tc.settings}},
			{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": tc.settings}},
		} {
			p := e.problem(t, 400, req)
			if detail, _ := p["detail"].(string); !strings.Contains(detail, tc.field) {
				t.Errorf("%s %v: detail %q does not name %s", req.method, tc.settings, detail, tc.field)
			}
		}
	}
	e.problem(t, 400, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": []int{1}}})
	e.problem(t, 404, request{method: "GET", path: "/realms/fresh"})
	var r Realm
	e.call(t, 200, request{method: "GET", path: "/realms/acme"}).json(t, &r)
	if r.Version != 1 || r.Settings.SSOIdleTimeout != seconds(session.DefaultIdleTimeout) {
		t.Fatalf("a refused change was stored: %+v", r)
	}
}

// TestRegistrationToken: with registration "token", a client registers at the PUBLIC
// registration endpoint with the initial access token the admin API made, and not
// without it; a new token replaces the old one; the token is never shown again.
func TestRegistrationToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newRealm(t, "acme")
	register := func(token string) int {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"redirect_uris": []string{"https://rp.example/cb"}})
		req, err := http.NewRequest("POST", e.public.URL+"/realms/acme/clients-registrations/openid-connect", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := e.public.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	newToken := func() string {
		t.Helper()
		resp := e.call(t, 201, request{method: "POST", path: "/realms/acme/registration-token"})
		var tok RegistrationToken
		resp.json(t, &tok)
		if len(tok.InitialAccessToken) < 43 || resp.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("registration token answer %s %v", resp.body, resp.header)
		}
		return tok.InitialAccessToken
	}

	first := newToken()
	if code := register(first); code != 403 {
		t.Fatalf("registration while off: %d, want 403", code)
	}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{"registration": "token"}}})
	if code := register(first); code != 201 {
		t.Fatalf("registration with the token: %d, want 201", code)
	}
	if code := register(""); code != 401 {
		t.Fatalf("registration without a token: %d, want 401", code)
	}
	second := newToken()
	if second == first {
		t.Fatal("the new token is the old one")
	}
	if code := register(first); code != 401 {
		t.Fatalf("registration with the replaced token: %d, want 401", code)
	}
	if code := register(second); code != 201 {
		t.Fatalf("registration with the new token: %d, want 201", code)
	}
	for _, path := range []string{"/realms/acme", "/realms"} {
		if body := e.call(t, 200, request{method: "GET", path: path}).body; bytes.Contains(body, []byte(second)) {
			t.Fatalf("GET %s shows the token: %s", path, body)
		}
	}
	e.call(t, 200, request{method: "PATCH", path: "/realms/acme", body: map[string]any{"settings": map[string]any{"registration": "off"}}})
	if code := register(second); code != 403 {
		t.Fatalf("registration after switching it off: %d, want 403", code)
	}
	e.problem(t, 404, request{method: "POST", path: "/realms/nope/registration-token"})
	e.problem(t, 401, request{method: "POST", path: "/realms/acme/registration-token", token: "-"})
}
