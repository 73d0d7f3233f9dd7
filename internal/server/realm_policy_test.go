package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/testutil"
)

// TestRealmPhoneRequestPolicy: a realm administrator turns number matching off and
// allows one waiting request per user on the admin console's realm page, and the admin
// API shows the settings; then a phone sign-in in that realm shows no number, a second
// one while it waits is refused, and the authenticator SDK approves the first without a
// number: the client signs the user in with the phone factor.
func TestRealmPhoneRequestPolicy(t *testing.T) {
	t.Parallel()
	var cfg config.Config
	s, p, rp, rpClient := devWithRPConfig(t, func(c *config.Config) { cfg = *c })
	platform, err := bootstrapToken(readBootstrap(t, cfg), rpClient)
	if err != nil {
		t.Fatal(err)
	}
	api := s.URL(config.Admin) + "/admin/api"
	boss := mustAdmin(t, rpClient, 201, "POST", api+"/realms/demo/users", platform, map[string]any{"username": "boss", "password": "correct horse demo"})
	mustAdmin(t, rpClient, 204, "PUT", api+"/realms/demo/admins/"+boss["id"].(string), platform, nil)

	// The console's realm page shows what applies and saves the new values.
	console := s.URL(config.Admin) + "/admin/demo/console/"
	b := testutil.NewBrowser(t, rpClient.Transport, "")
	page := b.Login(b.Get(console), "boss", "correct horse demo")
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "<h1>Realm demo</h1>") {
		t.Fatalf("console sign-in: %d\n%s", page.Status, page.Body)
	}
	for _, want := range []string{`<option value="pick" selected>`, `id="max_pending_per_user" name="max_pending_per_user" type="number" min="1" max="20" value="3"`,
		`id="cooldown" name="cooldown" type="number" min="1" max="86400" value="120"`} {
		if !strings.Contains(page.Body, want) {
			t.Fatalf("the realm page lacks %s:\n%s", want, page.Body)
		}
	}
	csrf := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page.Body)
	if csrf == nil {
		t.Fatalf("no form token on the realm page:\n%s", page.Body)
	}
	saved := b.Post(console+"realms/demo/settings", url.Values{
		"csrf_token": {csrf[1]}, "display_name": {"Demo"}, "enabled": {"on"},
		"first_factor": {"password", "phone"}, "second_factor": {"totp"},
		"number_matching": {"off"}, "max_pending_per_user": {"1"}, "denials_before_cooldown": {"3"},
		"denial_window": {"300"}, "cooldown": {"60"},
	})
	if !strings.Contains(saved.Body, "Settings saved.") || !strings.Contains(saved.Body, `<option value="off" selected>`) {
		t.Fatalf("saving the settings: %d\n%s", saved.Status, saved.Body)
	}
	settings := mustAdmin(t, rpClient, 200, "GET", api+"/realms/demo", platform, nil)["settings"].(map[string]any)
	for field, want := range map[string]any{"number_matching": "off", "max_pending_per_user": 1.0, "denials_before_cooldown": 3.0,
		"denial_window": 300.0, "cooldown": 60.0} {
		if settings[field] != want {
			t.Errorf("settings.%s = %v after the console saved it, want %v", field, settings[field], want)
		}
	}
	// A limit left at the node's value is not pinned to the realm.
	demo, err := s.store.GetRealm(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := demo.Attributes[authn.AttrDenialsBeforeCooldown]; ok || demo.Attributes[authn.AttrMaxPending] != "1" {
		t.Errorf("stored: denials_before_cooldown %q (%v), max_pending_per_user %q; want only the changed one",
			v, ok, demo.Attributes[authn.AttrMaxPending])
	}

	// A phone sign-in in the realm: no number on the page or the phone.
	phone := enrollPhone(t, s, p)
	signetHost := strings.TrimPrefix(s.URL(config.Public), "https://")
	start := func() (*testutil.Browser, testutil.Page) {
		b := testutil.NewBrowser(t, rpClient.Transport, signetHost)
		return b, b.Submit(b.Get(rp.URL+"/start"), "username", url.Values{"username": {s.demoUser.Username}, "method": {"phone"}})
	}
	user, waiting := start()
	if waiting.Status != http.StatusOK || strings.Contains(waiting.Body, `id="match-number"`) || !strings.Contains(waiting.Body, `id="phone-approve"`) {
		t.Fatalf("the phone page with number matching off: %d\n%s", waiting.Status, waiting.Body)
	}
	if _, second := start(); second.Status != http.StatusTooManyRequests || !strings.Contains(second.Body, "Too many sign-in requests") {
		t.Fatalf("a second waiting request with max_pending_per_user 1: %d\n%s", second.Status, second.Body)
	}
	list, err := phone.Pending()
	if err != nil || list.Len() != 1 {
		t.Fatalf("pending on the phone: %v, %v; want the one request", list, err)
	}
	req := list.Get(0)
	if n := req.NumberChoiceCount(); n != 0 {
		t.Fatalf("the phone offers %d numbers to pick; want none", n)
	}
	mustAnswer(t, "approved")(phone.Approve(req, ""))

	done := user.Get(waiting.URL.String())
	loc := done.Header.Get("Location")
	if done.Status != http.StatusSeeOther || !strings.HasPrefix(loc, rp.URL) {
		t.Fatalf("after the approval: %d\n%s", done.Status, done.Body)
	}
	m := regexp.MustCompile(`<p id="amr">([^<]*)</p>`).FindStringSubmatch(user.Get(loc).Body)
	if m == nil || m[1] != "hwk" {
		t.Fatalf("the client signed in with amr %v, want hwk", m)
	}
}
