package oidc

import (
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/signet-auth/signet/internal/session"
)

// OpenID Connect Session Management: the authorization response carries session_state,
// the iframe is served for framing by relying parties, and its script (run in Node,
// with the browser's WebCrypto API) answers "unchanged" for the browser state of the
// session, "changed" after a logout or for another state, and "error" for garbage.
func TestCheckSessionIframe(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed to run the check-session script: ", err)
	}
	tp := newTestProvider(t)
	tp.addUser(t, "alice", "correct horse battery")
	secret := tp.addWebClient(t, "web")
	r := tp.newRP(t, "web", secret, oauth2.AuthStyleInHeader)
	b := tp.newBrowser(t)
	resp, _, _ := r.signIn(t, b, "alice", "correct horse battery")
	ss := resp.Get("session_state")
	if !strings.Contains(ss, ".") {
		t.Fatalf("session_state %q", ss)
	}
	u, _ := url.Parse(tp.srv.URL)
	opbs := ""
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == session.BrowserStateCookie("demo") {
			opbs = c.Value
		}
	}
	if opbs == "" {
		t.Fatal("no browser-state cookie after login")
	}
	p := b.Get(tp.endpoint("demo", "login-status-iframe.html"))
	csp := p.Header.Get("Content-Security-Policy")
	if p.Status != 200 || !strings.Contains(p.Body, `data-opbs-cookie="`+session.BrowserStateCookie("demo")+`"`) ||
		!strings.Contains(p.Body, `src="/static/check-session.js"`) || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors https:") {
		t.Fatalf("iframe: %d %q\n%s", p.Status, csp, p.Body)
	}
	script, err := os.ReadFile("../web/static/check-session.js")
	if err != nil {
		t.Fatal(err)
	}
	check := func(cookie, message string) string {
		t.Helper()
		harness := `globalThis.document = {documentElement: {getAttribute: () => ` + jsString(session.BrowserStateCookie("demo")) + `}, cookie: ` + jsString(cookie) + `};
globalThis.window = {addEventListener() {}};
` + string(script) + `
window.signetCheckSession(` + jsString(message) + `, "https://rp.example").then(a => process.stdout.write(a));`
		out, err := exec.Command(node, "-e", harness).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		return string(out)
	}
	name := session.BrowserStateCookie("demo")
	if got := check("other=1; "+name+"="+opbs, "web "+ss); got != "unchanged" {
		t.Fatalf("logged in: %q", got)
	}
	if got := check("", "web "+ss); got != "changed" {
		t.Fatalf("logged out: %q", got)
	}
	if got := check(name+"="+opbs, "other-client "+ss); got != "changed" {
		t.Fatalf("another client: %q", got)
	}
	if got := check(name+"="+opbs, "garbage"); got != "error" {
		t.Fatalf("garbage: %q", got)
	}
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
