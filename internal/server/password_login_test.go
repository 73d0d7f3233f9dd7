package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
	"github.com/signet-auth/signet/internal/totp"
)

// outcomeCount is the node's signet_authn_outcomes_total for kind and outcome, as
// /metrics and the dashboard's plots read it.
func outcomeCount(t *testing.T, s *Server, kind, outcome string) float64 {
	t.Helper()
	families, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "signet_authn_outcomes_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// loginEvents are the demo realm's events of type typ, newest first.
func loginEvents(t *testing.T, s *Server, typ string) []store.Event {
	t.Helper()
	page, err := s.store.ListEvents(context.Background(), "demo", store.EventFilter{Type: typ}, store.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// TestPasswordSignInRecorded: a sign-in with the password (and a TOTP code) through the
// login pages, and every password or code they refuse, is counted in
// signet_authn_outcomes_total (kind password or totp), which the dashboard plots, and
// written to the realm's event log as login.succeeded or login.failed with the user,
// client, address and browser, never the password; a name that is no user is counted but
// leaves no event.
func TestPasswordSignInRecorded(t *testing.T) {
	t.Parallel()
	s, _, rp, rpClient := devWithRP(t)
	signetHost := strings.TrimPrefix(s.URL(config.Public), "https://")
	ctx := context.Background()
	userID := r2u(t, s)
	update := func(f func(u *store.User)) {
		t.Helper()
		if _, err := s.store.UpdateUser(ctx, "demo", userID, func(u store.User) (store.User, error) {
			f(&u)
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// attempt types name and password at the login pages of a new sign-in.
	attempt := func(name, password string) testutil.Page {
		t.Helper()
		b := testutil.NewBrowser(t, rpClient.Transport, signetHost)
		return b.Login(b.Get(rp.URL+"/start"), name, password)
	}
	// waitEvent waits for the count-th event of typ and returns the newest, decoded.
	waitEvent := func(typ string, count int) (store.Event, login.Attempt) {
		t.Helper()
		var got []store.Event
		testutil.Eventually(t, 10*time.Second, func() bool {
			got = loginEvents(t, s, typ)
			return len(got) >= count
		}, "%d %s events", count, typ)
		if len(got) != count {
			t.Fatalf("%d %s events, want %d: %+v", len(got), typ, count, got)
		}
		var a login.Attempt
		if err := json.Unmarshal(got[0].Data, &a); err != nil {
			t.Fatal(err)
		}
		if got[0].UserID != userID || a.UserID != userID || a.ClientID != s.demo.ClientID || a.Realm != "demo" ||
			a.IP != "127.0.0.1" || !strings.HasPrefix(a.UserAgent, "Go-http-client/") || a.At.IsZero() {
			t.Errorf("%s event %s: want the demo user and client, the browser's address and user agent", typ, got[0].Data)
		}
		if strings.Contains(string(got[0].Data), s.demoUser.Password) || strings.Contains(string(got[0].Data), "wrong-password") {
			t.Errorf("%s event holds a password: %s", typ, got[0].Data)
		}
		return got[0], a
	}
	// counted checks that f moved the outcome of kind by one.
	counted := func(kind, outcome string, f func()) {
		t.Helper()
		before := outcomeCount(t, s, kind, outcome)
		f()
		if after := outcomeCount(t, s, kind, outcome); after != before+1 {
			t.Errorf("signet_authn_outcomes_total{kind=%q,outcome=%q} went from %v to %v, want one more", kind, outcome, before, after)
		}
	}

	// A right password signs in.
	counted(login.MethodPassword, "approved", func() {
		page := attempt(s.demoUser.Username, s.demoUser.Password)
		if loc := page.Header.Get("Location"); page.Status != http.StatusSeeOther || !strings.HasPrefix(loc, rp.URL) {
			t.Fatalf("sign-in ended at %d %q:\n%s", page.Status, loc, page.Body)
		}
	})
	if _, a := waitEvent(login.EventSucceeded, 1); a.Type != login.EventSucceeded || a.Method != login.MethodPassword ||
		!slices.Equal(a.AMR, []string{login.AMRPassword}) || a.Reason != "" {
		t.Errorf("sign-in event %+v", a)
	}

	// A name that is no user is counted as denied, and leaves no event: the wrong
	// password typed after it is the only refusal in the log (events are written in the
	// order they are posted).
	counted(login.MethodPassword, "denied", func() {
		if page := attempt("nobody-"+s.demoUser.Username, "wrong-password"); page.Status != http.StatusUnauthorized {
			t.Fatalf("unknown user: %d", page.Status)
		}
	})
	counted(login.MethodPassword, "denied", func() {
		if page := attempt(s.demoUser.Username, "wrong-password"); page.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", page.Status)
		}
	})
	if _, a := waitEvent(login.EventFailed, 1); a.Method != login.MethodPassword || a.Reason != login.RefusedInvalid || a.AMR != nil {
		t.Errorf("wrong password event %+v", a)
	}
	for _, e := range loginEvents(t, s, "") {
		if strings.Contains(string(e.Data), "nobody-") || e.Subject == "nobody-"+s.demoUser.Username {
			t.Errorf("an event names the unknown user: %s %s", e.Type, e.Data)
		}
	}

	// Locked and disabled users are refused, the password unchecked, and counted apart.
	for i, tc := range []struct {
		name   string
		set    func(u *store.User)
		reason login.Refusal
	}{
		{"locked", func(u *store.User) { u.LockedUntil = time.Now().Add(time.Hour) }, login.RefusedLocked},
		{"disabled", func(u *store.User) { u.Enabled = false }, login.RefusedDisabled},
	} {
		update(tc.set)
		counted(login.MethodPassword, "locked", func() {
			if page := attempt(s.demoUser.Username, s.demoUser.Password); page.Status != http.StatusUnauthorized {
				t.Fatalf("%s user: %d", tc.name, page.Status)
			}
		})
		update(func(u *store.User) { u.LockedUntil, u.Enabled = time.Time{}, true })
		if _, a := waitEvent(login.EventFailed, 2+i); a.Reason != tc.reason {
			t.Errorf("%s user's event %+v", tc.name, a)
		}
	}

	// With a TOTP code as second factor: a wrong code is refused, a right one signs in.
	key, err := totp.Generate("Signet", s.demoUser.Username)
	if err != nil {
		t.Fatal(err)
	}
	update(func(u *store.User) { u.TOTPSecret, err = login.SealTOTPSecret(s.keyring, "demo", userID, key.Secret) })
	if err != nil {
		t.Fatal(err)
	}
	b := testutil.NewBrowser(t, rpClient.Transport, signetHost)
	page := b.Login(b.Get(rp.URL+"/start"), s.demoUser.Username, s.demoUser.Password)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `name="otp"`) {
		t.Fatalf("no TOTP page after the password: %d\n%s", page.Status, page.Body)
	}
	counted(login.MethodTOTP, "denied", func() {
		if bad := b.Submit(page, "otp", url.Values{"otp": {"000000"}}); bad.Status != http.StatusUnauthorized {
			t.Fatalf("wrong code: %d", bad.Status)
		}
	})
	if _, a := waitEvent(login.EventFailed, 4); a.Method != login.MethodTOTP || a.Reason != login.RefusedInvalid {
		t.Errorf("wrong code event %+v", a)
	}
	code, err := pqtotp.GenerateCode(key.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	counted(login.MethodTOTP, "approved", func() {
		done := b.Submit(page, "otp", url.Values{"otp": {code}})
		if loc := done.Header.Get("Location"); done.Status != http.StatusSeeOther || !strings.HasPrefix(loc, rp.URL) {
			t.Fatalf("sign-in with a code ended at %d %q:\n%s", done.Status, loc, done.Body)
		}
	})
	if _, a := waitEvent(login.EventSucceeded, 2); a.Method != login.MethodTOTP || !slices.Equal(a.AMR, []string{login.AMRPassword, login.AMROTP}) {
		t.Errorf("sign-in with a code: event %+v", a)
	}
	if strings.Contains(string(loginEvents(t, s, login.EventFailed)[0].Data), "000000") {
		t.Error("the refused code is in the event")
	}
}
