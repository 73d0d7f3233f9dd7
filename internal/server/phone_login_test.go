package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/config"
	"github.com/signet-auth/signet/internal/device"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/testutil"
)

// phoneListener hands on the requests the server pushes to the enrolled phone.
type phoneListener struct{ reqs chan *authenticator.Request }

func (l phoneListener) OnRequest(r *authenticator.Request) { l.reqs <- r }
func (l phoneListener) OnClosed(string)                    {}

// TestBrowserPhoneLogin, tried as a new user would: an OIDC client starts a login in
// headless Chromium, the user types the username and picks "Sign in with your phone",
// the page shows a number, and the phone (the authenticator SDK, enrolled with an
// activation code) approves with that number; the client gets tokens whose amr names
// the phone factor. With scripts on the page learns the outcome over its status channel;
// with scripts off the user goes on with a link once the phone has answered. Denial, a
// wrong number and expiry each end on a page that says so and offers a retry. The strict
// CSP refuses nothing the pages use, and axe-core finds no serious or critical
// accessibility problem on them.
func TestBrowserPhoneLogin(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, p, rp, _ := devWithRP(t)
	ctx := context.Background()

	phone := enrollPhone(t, s, p)
	l := phoneListener{reqs: make(chan *authenticator.Request, 4)}
	phone.SetListener(l)

	for _, tc := range []struct {
		name   string
		js     bool
		answer func(r *authenticator.Request, number string) // nil: let it expire
		want   string                                        // "" signs in; else the message shown
	}{
		{"approve", true, func(r *authenticator.Request, n string) { mustAnswer(t, "approved")(phone.Approve(r, n)) }, ""},
		{"approve without scripts", false, func(r *authenticator.Request, n string) { mustAnswer(t, "approved")(phone.Approve(r, n)) }, ""},
		{"deny", true, func(r *authenticator.Request, _ string) { mustAnswer(t, "denied")(phone.Deny(r)) }, "The sign-in was denied on your phone."},
		{"wrong number", true, func(r *authenticator.Request, n string) {
			wrong := "10"
			if n == wrong {
				wrong = "11"
			}
			if _, err := phone.Approve(r, wrong); err == nil || !strings.Contains(err.Error(), "does not match") {
				t.Errorf("approval with a wrong number: %v", err)
			}
		}, "The sign-in was denied on your phone."},
		{"expiry", true, nil, "The request expired before it was approved."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.answer == nil {
				// The demo client's requests live the shortest time allowed.
				if _, err := s.store.UpdateClient(ctx, "demo", s.demo.ClientID, func(c store.Client) (store.Client, error) {
					c.Attributes = map[string]string{authn.AttrRequestTTL: authn.MinTTL.String()}
					return c, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			b := newBrowser(t, chromium, tc.js, "en-US")
			var number, who, amr, message string
			b.run(
				chromedp.Navigate(rp.URL+"/start"),
				chromedp.WaitVisible("#username", chromedp.ByID),
				chromedp.SendKeys("#username", s.demoUser.Username, chromedp.ByID),
				chromedp.Click("#phone-login", chromedp.ByID),
				matchNumber(&number),
			)
			if len(number) != 2 {
				t.Fatalf("the page shows %q as the number to match", number)
			}
			b.checkAccessibility("phone-wait")
			b.screenshot("phone-wait")
			var got *authenticator.Request
			select {
			case got = <-l.reqs:
			case <-time.After(20 * time.Second):
				t.Fatal("the phone got no request")
			}
			if got.Kind != "push_login" || !strings.Contains(got.Text, "Sign in to") || got.Origin("ip") == "" {
				t.Errorf("the phone shows %+v", got)
			}
			choices := map[string]bool{}
			for i := range got.NumberChoiceCount() {
				choices[got.NumberChoice(i)] = true
			}
			if len(choices) != 3 || !choices[number] {
				t.Errorf("the phone offers %v; want three numbers with %s among them", choices, number)
			}
			if tc.answer != nil {
				tc.answer(got, number)
			}
			if tc.want == "" {
				if !tc.js {
					// Without scripts the page waits for the user to go on.
					b.run(chromedp.Click("#phone-continue", chromedp.ByID))
				}
				b.run(chromedp.WaitVisible("#who", chromedp.ByID), chromedp.Text("#who", &who, chromedp.ByID), chromedp.Text("#amr", &amr, chromedp.ByID))
				if who != "Hello "+s.demoUser.Username || !strings.Contains(" "+amr+" ", " hwk ") {
					t.Errorf("the client says %q with amr %q; want the demo user signed in with hwk", who, amr)
				}
			} else {
				b.run(chromedp.WaitVisible("#phone-retry", chromedp.ByID), chromedp.Text(".error", &message, chromedp.ByQuery))
				if message != tc.want {
					t.Errorf("the page says %q, want %q", message, tc.want)
				}
				b.checkAccessibility("phone-failed")
				b.screenshot("phone-failed")
			}
			b.checkProblems()
		})
	}
}

// TestBrowserQRLogin, tried as a new user would: the login page shows a QR code (and no
// number yet); the enrolled phone scans it (the test reads the code's payload from the
// page), the page then shows the number, which the phone picks and approves; the client signs the phone's user in, without a
// username typed. A code nobody scans is replaced by a new one as it expires.
func TestBrowserQRLogin(t *testing.T) {
	chromium := testutil.Chromium(t)
	t.Parallel()
	s, p, rp, _ := devWithRP(t)
	phone := enrollPhone(t, s, p)
	b := newBrowser(t, chromium, true, "en-US")
	var payload, number, who, amr string
	var ok bool
	b.run(
		chromedp.Navigate(rp.URL+"/start"),
		chromedp.WaitVisible("#qr-login", chromedp.ByID),
		chromedp.Click("#qr-login", chromedp.ByID),
		chromedp.WaitVisible("#qr-code", chromedp.ByID),
		chromedp.AttributeValue("#qr-code", "data-payload", &payload, &ok, chromedp.ByID),
	)
	b.checkAccessibility("qr")
	b.screenshot("qr")
	var shown []string
	b.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("#match-number")).map(e => e.textContent)`, &shown))
	if len(shown) != 0 {
		t.Fatalf("the page shows the number %v before a phone claimed the code", shown)
	}
	qr, err := authenticator.ParseLoginURL(payload)
	if err != nil {
		t.Fatalf("the page's code %q: %v", payload, err)
	}
	r, err := phone.Claim(qr)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	// The page learns of the claim on its status channel, loads again and shows the
	// number now (read again while the load is under way).
	testutil.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		defer cancel()
		return chromedp.Run(ctx, chromedp.Text("#match-number", &number, chromedp.ByID)) == nil && len(number) == 2
	}, "the page did not show the number after the claim")
	// The page showing the number waits for the answer: it stays (its status channel
	// waits for the outcome, not for the claim it already knows of).
	b.checkAccessibility("qr-claimed")
	b.screenshot("qr-claimed")
	if err := chromedp.Run(b.ctx, chromedp.Text("#match-number", &number, chromedp.ByID)); err != nil || len(number) != 2 {
		t.Fatalf("the number page did not stay: %q %v", number, err)
	}
	if r.Kind != "qr_login" || !strings.Contains(r.Text, "Sign in to") {
		t.Errorf("the phone shows %+v", r)
	}
	mustAnswer(t, "approved")(phone.Approve(r, number))
	b.run(chromedp.WaitVisible("#who", chromedp.ByID), chromedp.Text("#who", &who, chromedp.ByID), chromedp.Text("#amr", &amr, chromedp.ByID))
	if who != "Hello "+s.demoUser.Username || amr != "hwk" {
		t.Errorf("the client says %q with amr %q; want the demo user signed in with hwk", who, amr)
	}
	// The code is used: scanning it again gets nothing.
	if _, err := phone.Claim(qr); err == nil {
		t.Error("a used code was claimed again")
	}
	b.checkProblems()
}

// enrollPhone enrolls an SDK device for the dev demo user with an activation code, as a
// phone app would, and returns its session (closed at cleanup).
func enrollPhone(t *testing.T, s *Server, p *testPKI) *authenticator.Session {
	t.Helper()
	_, phone := enrollPhoneWith(t, s, p, &authenticator.Enrollment{DisplayName: "test phone"})
	return phone
}

// matchNumber reads the number the page shows, again after a reload: the page's last
// resort when its status channel cannot connect (a loaded machine) is to reload itself,
// which replaces the element between two reads.
func matchNumber(number *string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := chromedp.WaitVisible("#match-number", chromedp.ByID).Do(ctx)
			if err == nil {
				err = chromedp.Text("#match-number", number, chromedp.ByID).Do(ctx)
			}
			if err == nil && len(*number) == 2 {
				return nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("the page shows no number to match: %v", err)
			}
		}
	})
}

// enrollPhoneWith enrolls a phone of the demo user with e and returns the app (which
// holds its key, to connect again) and the open session.
func enrollPhoneWith(t *testing.T, s *Server, p *testPKI, e *authenticator.Enrollment) (*authenticator.Authenticator, *authenticator.Session) {
	t.Helper()
	ctx := context.Background()
	u, err := s.store.GetUserByUsername(ctx, "demo", s.demoUser.Username)
	if err != nil {
		t.Fatal(err)
	}
	act, err := s.devices.CreateActivation(ctx, s.URL(config.Device), device.ActivationRequest{Realm: "demo", UserID: u.ID, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	app := authenticator.New(authenticator.NewMemoryKeyStore())
	if err := app.TrustPEM(p.serverCA.CertPEM); err != nil {
		t.Fatal(err)
	}
	phone, err := app.Enroll(act.URL, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = phone.Close() })
	return app, phone
}

// setRealmAttr sets one attribute of the demo realm (removes it when value is empty),
// keeping the others (the realm's own keys among them).
func setRealmAttr(t *testing.T, s *Server, name, value string) {
	t.Helper()
	if _, err := s.store.UpdateRealm(context.Background(), "demo", func(r store.Realm) (store.Realm, error) {
		r.Attributes = maps.Clone(r.Attributes)
		if r.Attributes == nil {
			r.Attributes = map[string]string{}
		}
		if value == "" {
			delete(r.Attributes, name)
		} else {
			r.Attributes[name] = value
		}
		return r, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func mustAnswer(t *testing.T, want string) func(string, error) {
	return func(state string, err error) {
		t.Helper()
		if err != nil || state != want {
			t.Errorf("answer: %q, %v; want %s", state, err, want)
		}
	}
}

// TestPhoneStatusChannels: the phone sign-in page's status channel answers the moment
// the phone approves, over a WebSocket and as server-sent events alike; and a name that
// is no user gets the very page a user without devices gets.
func TestPhoneStatusChannels(t *testing.T) {
	t.Parallel()
	s, p, rp, rpClient := devWithRP(t)
	signetHost := strings.TrimPrefix(s.URL(config.Public), "https://")
	ctx := context.Background()
	phone := enrollPhone(t, s, p)

	// start signs in as name with the phone and returns the browser, the waiting page and
	// the URL of its status channel.
	start := func(t *testing.T, name string) (*testutil.Browser, testutil.Page, *url.URL) {
		b := testutil.NewBrowser(t, rpClient.Transport, signetHost)
		page := b.Get(rp.URL + "/start")
		page = b.Submit(page, "username", url.Values{"username": {name}, "method": {"phone"}})
		m := regexp.MustCompile(`data-status="([^"]+)"`).FindStringSubmatch(page.Body)
		if page.Status != http.StatusOK || m == nil {
			t.Fatalf("phone page %d:\n%s", page.Status, page.Body)
		}
		status, err := page.URL.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		return b, page, status
	}
	number := func(t *testing.T, page testutil.Page) string {
		m := regexp.MustCompile(`id="match-number"[^>]*>(\d\d)<`).FindStringSubmatch(page.Body)
		if m == nil {
			t.Fatalf("no number on the page:\n%s", page.Body)
		}
		return m[1]
	}
	approve := func(t *testing.T, n string) {
		list, err := phone.Pending()
		if err != nil || list.Len() == 0 {
			t.Fatalf("pending: %v", err)
		}
		mustAnswer(t, "approved")(phone.Approve(list.Get(list.Len()-1), n))
	}

	t.Run("server-sent events", func(t *testing.T) {
		b, page, status := start(t, s.demoUser.Username)
		req, _ := http.NewRequest(http.MethodGet, status.String(), nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := b.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("status channel answers %s", ct)
		}
		r := bufio.NewReader(resp.Body)
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, ":") {
			t.Fatalf("first line %q, %v; want the waiting comment", line, err)
		}
		approve(t, number(t, page))
		var event, data string
		for data == "" {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the event: %v", err)
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				event = v
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
				data = v
			}
		}
		if event != "state" || data != "approved" {
			t.Fatalf("event %q data %q; want state approved", event, data)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		b, page, status := start(t, s.demoUser.Username)
		wsURL := *status
		wsURL.Scheme = "wss"
		header := http.Header{}
		for _, c := range b.Client.Jar.Cookies(status) {
			header.Add("Cookie", c.String())
		}
		d := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool(p.serverCA), NextProtos: []string{"http/1.1"}}, Header: ws.HandshakeHeaderHTTP(header), Timeout: 10 * time.Second}
		conn, _, _, err := d.Dial(ctx, wsURL.String())
		if err != nil {
			t.Fatalf("dial the status channel: %v", err)
		}
		defer conn.Close()
		approve(t, number(t, page))
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		msg, op, err := wsutil.ReadServerData(conn)
		if err != nil || op != ws.OpText || string(msg) != "approved" {
			t.Fatalf("status message %q (op %v), %v; want approved", msg, op, err)
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		for _, u := range []store.User{
			{Realm: "demo", ID: "u-no-phone", Username: "nophone", Enabled: true},
			{Realm: "demo", ID: "u-disabled", Username: "disabled", Enabled: false},
			{Realm: "demo", ID: "u-locked", Username: "locked", Enabled: true, LockedUntil: time.Now().Add(time.Hour)},
		} {
			if _, err := s.store.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		// Whatever the name, the page is the same but for its per-login values: a user
		// with a phone, without one, disabled or locked, and no user at all.
		variable := regexp.MustCompile(`authz=[^"&]+|value="[^"]*"|>\d\d<|` + s.demoUser.Username + `|nophone|disabled|locked|nobody-at-all`)
		_, want, _ := start(t, "nobody-at-all")
		for _, name := range []string{s.demoUser.Username, "nophone", "disabled", "locked"} {
			_, got, _ := start(t, name)
			if a, b := variable.ReplaceAllString(got.Body, "_"), variable.ReplaceAllString(want.Body, "_"); a != b || got.Status != want.Status {
				t.Errorf("%s and an unknown name get different pages:\n%s\n---\n%s", name, a, b)
			}
		}
	})

	t.Run("phone only", func(t *testing.T) {
		setRealmAttr(t, s, login.AttrFirstFactors, login.FactorPhone)
		b := testutil.NewBrowser(t, rpClient.Transport, signetHost)
		page := b.Get(rp.URL + "/start")
		if !strings.Contains(page.Body, `id="phone-login"`) || strings.Contains(page.Body, ">Next<") {
			t.Fatalf("a phone-only realm's username page:\n%s", page.Body)
		}
		// The username alone leads to the phone: there is no password to type.
		page = b.Submit(page, "username", url.Values{"username": {s.demoUser.Username}})
		if !strings.Contains(page.Body, `id="match-number"`) {
			t.Fatalf("after the username:\n%s", page.Body)
		}
		page = b.Submit(page, "restart", nil)
		page = b.Submit(page, "username", url.Values{"username": {s.demoUser.Username}, "method": {"password"}})
		if strings.Contains(page.Body, `id="password"`) {
			t.Fatal("a phone-only realm asked for a password")
		}
	})
	t.Run("cancel and ask again", func(t *testing.T) {
		setRealmAttr(t, s, login.AttrFirstFactors, "")
		if _, err := s.store.CreateUser(ctx, store.User{Realm: "demo", ID: "u-spare", Username: "spare", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		// Asking, cancelling and asking again: the requests made count, for a user and
		// for a name that is none alike, and the page says the same to both.
		asks := func(name string) (int, string) {
			b, page, _ := start(t, name)
			for i := 1; i <= 20; i++ {
				page = b.Submit(page, "restart", nil)
				page = b.Submit(page, "username", url.Values{"username": {name}, "method": {"phone"}})
				if page.Status == http.StatusTooManyRequests {
					return i + 1, page.Body
				}
			}
			t.Fatalf("%s: 21 requests and no limit", name)
			return 0, ""
		}
		n, known := asks("spare")
		m, unknown := asks("nobody-else")
		if n != m || !strings.Contains(known, "Too many sign-in requests") {
			t.Fatalf("the limit came after %d requests for a user, %d for no user:\n%s", n, m, known)
		}
		variable := regexp.MustCompile(`authz=[^"&]+|value="[^"]*"|spare|nobody-else`)
		if variable.ReplaceAllString(known, "_") != variable.ReplaceAllString(unknown, "_") {
			t.Error("the limit's page differs between a user and no user")
		}
	})
	t.Run("QR code replaced as it expires", func(t *testing.T) {
		if _, err := s.store.UpdateClient(ctx, "demo", s.demo.ClientID, func(c store.Client) (store.Client, error) {
			c.Attributes = map[string]string{authn.AttrRequestTTL: authn.MinTTL.String()}
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		b := testutil.NewBrowser(t, rpClient.Transport, signetHost)
		page := b.Submit(b.Get(rp.URL+"/start"), "qr", nil)
		payload := regexp.MustCompile(`data-payload="([^"]+)"`)
		m := payload.FindStringSubmatch(page.Body)
		if m == nil {
			t.Fatalf("no QR code on the page:\n%s", page.Body)
		}
		first := m[1]
		testutil.Eventually(t, 30*time.Second, func() bool {
			again := b.Get(page.URL.String())
			m := payload.FindStringSubmatch(again.Body)
			return m != nil && m[1] != first
		}, "the page still shows the expired code")
	})
}

// TestShutdownEndsStatusChannels: a page waiting on its status channel does not hold a
// shutdown up: the channel ends, and the listeners stop within the timeout.
func TestShutdownEndsStatusChannels(t *testing.T) {
	t.Parallel()
	s, p, rp, rpClient := devWithRP(t)
	enrollPhone(t, s, p)
	b := testutil.NewBrowser(t, rpClient.Transport, strings.TrimPrefix(s.URL(config.Public), "https://"))
	page := b.Get(rp.URL + "/start")
	page = b.Submit(page, "username", url.Values{"username": {s.demoUser.Username}, "method": {"phone"}})
	m := regexp.MustCompile(`data-status="([^"]+)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("phone page:\n%s", page.Body)
	}
	status, _ := page.URL.Parse(html.UnescapeString(m[1]))
	req, _ := http.NewRequest(http.MethodGet, status.String(), nil)
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, ":") {
		t.Fatalf("first line %q, %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a status channel open: %v", err)
	}
	if _, err := io.ReadAll(r); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("the status channel ended with %v", err)
	}
}

// TestPhonePolicies: the phone as the second factor after a password; a client asking
// for two factors (acr_values=2) gets the password after the phone, is refused for a user
// without a second factor, and steps a one-factor session up; amr and acr in the ID
// token name exactly the factors used.
func TestPhonePolicies(t *testing.T) {
	t.Parallel()
	s, p, rp, rpClient := devWithRP(t)
	phone := enrollPhone(t, s, p)
	signetHost := strings.TrimPrefix(s.URL(config.Public), "https://")
	newB := func() *testutil.Browser { return testutil.NewBrowser(t, rpClient.Transport, signetHost) }
	// approve answers the request the page shows with the page's number.
	approve := func(t *testing.T, page testutil.Page) {
		t.Helper()
		m := regexp.MustCompile(`id="match-number"[^>]*>(\d\d)<`).FindStringSubmatch(page.Body)
		if m == nil {
			t.Fatalf("no number on the page (%d):\n%s", page.Status, page.Body)
		}
		list, err := phone.Pending()
		if err != nil || list.Len() == 0 {
			t.Fatalf("pending: %v", err)
		}
		mustAnswer(t, "approved")(phone.Approve(list.Get(list.Len()-1), m[1]))
	}
	// client follows the redirect to the relying party and returns what it says.
	client := func(t *testing.T, b *testutil.Browser, page testutil.Page) (amr, acr string) {
		t.Helper()
		loc := page.Header.Get("Location")
		if page.Status != http.StatusSeeOther || !strings.HasPrefix(loc, rp.URL) {
			t.Fatalf("want a redirect to the client, got %d:\n%s", page.Status, page.Body)
		}
		done := b.Get(loc)
		m := regexp.MustCompile(`<p id="amr">([^<]*)</p><p id="acr">([^<]*)</p>`).FindStringSubmatch(done.Body)
		if m == nil {
			t.Fatalf("the client says:\n%s", done.Body)
		}
		return m[1], m[2]
	}

	t.Run("phone after the password", func(t *testing.T) {
		setRealmAttr(t, s, login.AttrSecondFactors, "totp,phone")
		defer setRealmAttr(t, s, login.AttrSecondFactors, "")
		b := newB()
		page := b.Submit(b.Get(rp.URL+"/start"), "username", url.Values{"username": {s.demoUser.Username}})
		page = b.Submit(page, "password", url.Values{"password": {s.demoUser.Password}})
		approve(t, page)
		if amr, acr := client(t, b, b.Get(page.URL.String())); amr != "pwd hwk" || acr != "2" {
			t.Errorf("amr %q acr %q; want pwd hwk and 2", amr, acr)
		}
	})

	t.Run("two factors asked: the password after the phone", func(t *testing.T) {
		b := newB()
		page := b.Submit(b.Get(rp.URL+"/start?acr=2"), "username", url.Values{"username": {s.demoUser.Username}, "method": {"phone"}})
		approve(t, page)
		page = b.Get(page.URL.String())
		if !strings.Contains(page.Body, `id="password"`) {
			t.Fatalf("after the phone, with two factors asked, no password page:\n%s", page.Body)
		}
		page = b.Submit(page, "password", url.Values{"password": {s.demoUser.Password}})
		if amr, acr := client(t, b, page); amr != "hwk pwd" || acr != "2" {
			t.Errorf("amr %q acr %q; want hwk pwd and 2", amr, acr)
		}
	})

	t.Run("nothing stands in for the password after the phone", func(t *testing.T) {
		setRealmAttr(t, s, login.AttrSecondFactors, "totp,phone")
		defer setRealmAttr(t, s, login.AttrSecondFactors, "")
		for _, step := range []string{"phone_second", "otp"} {
			b := newB()
			page := b.Submit(b.Get(rp.URL+"/start?acr=2"), "username", url.Values{"username": {s.demoUser.Username}, "method": {"phone"}})
			approve(t, page)
			page = b.Get(page.URL.String())
			if !strings.Contains(page.Body, `id="password"`) {
				t.Fatalf("no password page:\n%s", page.Body)
			}
			// A forged step instead of the password form.
			m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page.Body)
			action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(page.Body)
			target, _ := page.URL.Parse(html.UnescapeString(action[1]))
			page = b.Post(target.String(), url.Values{"csrf_token": {html.UnescapeString(m[1])}, "step": {step}, "otp": {"000000"}})
			if page.Status == http.StatusSeeOther || strings.Contains(page.Body, `id="match-number"`) {
				t.Fatalf("step %s after the phone, without the password: %d\n%s", step, page.Status, page.Body)
			}
		}
	})

	t.Run("two factors asked of a user with one", func(t *testing.T) {
		b := newB()
		page := b.Submit(b.Get(rp.URL+"/start?acr=2"), "username", url.Values{"username": {s.demoUser.Username}})
		page = b.Submit(page, "password", url.Values{"password": {s.demoUser.Password}})
		if page.Status != http.StatusForbidden || !strings.Contains(page.Body, "two-step sign-in") {
			t.Fatalf("a password alone for a client asking two factors: %d\n%s", page.Status, page.Body)
		}
	})

	t.Run("step-up of a one-factor session", func(t *testing.T) {
		b := newB()
		page := b.Submit(b.Get(rp.URL+"/start"), "username", url.Values{"username": {s.demoUser.Username}})
		page = b.Submit(page, "password", url.Values{"password": {s.demoUser.Password}})
		if amr, acr := client(t, b, page); amr != "pwd" || acr != "1" {
			t.Fatalf("first login: amr %q acr %q", amr, acr)
		}
		// The session answers a one-factor request silently, not a two-factor one.
		if page := b.Get(rp.URL + "/start"); page.Status != http.StatusSeeOther || !strings.HasPrefix(page.Header.Get("Location"), rp.URL) {
			t.Fatalf("a one-factor request with a session: %d", page.Status)
		}
		page = b.Get(rp.URL + "/start?acr=2")
		if !strings.Contains(page.Body, `id="username"`) {
			t.Fatalf("a two-factor request on a one-factor session did not ask again:\n%s", page.Body)
		}
		// Stepping up with the phone: the new login has both factors.
		page = b.Submit(page, "username", url.Values{"username": {s.demoUser.Username}, "method": {"phone"}})
		approve(t, page)
		page = b.Submit(b.Get(page.URL.String()), "password", url.Values{"password": {s.demoUser.Password}})
		if amr, acr := client(t, b, page); acr != "2" || !strings.Contains(amr, "hwk") || !strings.Contains(amr, "pwd") {
			t.Errorf("after the step-up: amr %q acr %q", amr, acr)
		}
	})
}
