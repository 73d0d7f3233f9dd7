package web

import (
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"text/template/parse"
	"time"
)

type component struct{ Name, Status, Detail, Error string }

type healthData struct {
	Status     string
	Version    string
	Ready      bool
	StartedAt  time.Time
	Uptime     string
	Components []component
}

func render(t *testing.T, r *Renderer, v View) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := r.RenderView(rec, http.StatusOK, v); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestRenderKeepsEnglishAndDevNotice(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(true, "/px")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := r.Render(rec, http.StatusTeapot, "landing", "Signet", struct{ Version string }{"1.0"}); err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	for _, want := range []string{`<html lang="en">`, "development mode", "Development mode: self-signed",
		"with the user&#39;s own phone", "Version 1.0", `href="/px/static/signet.css"`, "<title>Signet · Signet</title>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	h := rec.Header()
	if rec.Code != http.StatusTeapot || h.Get("Content-Security-Policy") != ContentSecurityPolicy ||
		h.Get("Content-Language") != "en" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("status %d, headers %v", rec.Code, h)
	}
	if err := r.Render(httptest.NewRecorder(), http.StatusOK, "nope", "", nil); err == nil {
		t.Error("unknown page rendered")
	}
}

func TestRenderViewInGerman(t *testing.T) {
	t.Parallel()
	r, err := NewRendererWithCatalog(true, "", mustCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	locale := r.Catalog().Negotiate("", "de-CH;q=0.9, en;q=0.8")
	rec := render(t, r, View{Name: "health", Locale: locale, TitleKey: "health.title", Data: healthData{
		Status: "up", Version: "1.0", Ready: true, Uptime: "5m0s",
		StartedAt:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Components: []component{{Name: "database", Status: "up"}},
	}})
	body := rec.Body.String()
	for _, want := range []string{`<html lang="de">`, "<title>Systemzustand · Signet</title>", "Signet-Systemzustand",
		"läuft seit 5m0s", "gestartet am 2025-01-02 03:04:05 UTC", "bereit", "<th>Komponente</th>",
		"Entwicklungsmodus: selbstsignierte", `<strong class="dev">Entwicklungsmodus</strong>`} {
		if !strings.Contains(body, want) {
			t.Errorf("German page lacks %q:\n%s", want, body)
		}
	}
	for _, english := range []string{"development mode", "Component", "not ready", "started"} {
		if strings.Contains(body, english) {
			t.Errorf("German page contains English %q", english)
		}
	}
	if rec.Header().Get("Content-Language") != "de" {
		t.Errorf("Content-Language = %q", rec.Header().Get("Content-Language"))
	}

	// An unknown locale falls back to English rather than failing.
	body = render(t, r, View{Name: "landing", Locale: "fr", TitleKey: "landing.title", Data: struct{ Version string }{"1"}}).Body.String()
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "development mode") {
		t.Errorf("fallback page:\n%s", body)
	}
	if _, err := NewRendererWithCatalog(false, "", nil); err == nil {
		t.Error("nil catalog accepted")
	}
}

const evil = `<script>alert(1)</script>`

// escapingCases has data full of markup for every page; a new page must add its case.
var escapingCases = map[string]any{
	"health": healthData{
		Status: evil, Version: evil, Uptime: evil, StartedAt: time.Unix(0, 0).UTC(),
		Components: []component{{Name: evil, Status: evil, Detail: evil, Error: evil}},
	},
	"landing":        struct{ Version string }{evil},
	"error":          struct{ Code, Message string }{evil, evil},
	"login_username": loginCase, "login_password": loginCase, "login_totp": loginCase, "consent": loginCase, "login_update_password": loginCase,
	"login_phone":    loginCase,
	"logout_confirm": map[string]any{"Action": evil, "CSRF": evil, "Params": map[string]string{evil: evil}},
	"logged_out":     nil,
}

// loginCase has the shape of the login pages' data (package login's view).
var loginCase = struct {
	Action, CSRF, Username, Error, RestartTo string
	Scopes                                   []string
	Client                                   struct{ Name, LogoURI, PolicyURI, TOSURI, ClientURI string }
	Phone, Password, Waiting                 bool
	Number, Status, Next                     string
	QR, QRClaimed, PhoneAlt                  bool
	QRImage                                  template.URL
	Payload                                  string
}{
	Action: evil, CSRF: evil, Username: evil, Error: evil, Scopes: []string{evil},
	Phone: true, Password: true, Waiting: true, Number: evil, Status: evil, Next: evil, QR: true, PhoneAlt: true, QRImage: template.URL("data:image/png;base64,AAAA"), Payload: evil,
	Client: struct{ Name, LogoURI, PolicyURI, TOSURI, ClientURI string }{evil, "https://x/" + evil, "https://x/" + evil, "https://x/" + evil, evil},
}

// TestEveryPageEscapes renders each page in each locale with markup in every string and
// checks that none of it arrives as markup.
func TestEveryPageEscapes(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(true, `"><script>x</script>`)
	if err != nil {
		t.Fatal(err)
	}
	for locale, pages := range r.pages {
		for name := range pages {
			data, ok := escapingCases[name]
			if !ok {
				t.Errorf("page %s has no case in escapingCases", name)
				continue
			}
			rec := httptest.NewRecorder()
			if err := r.Render(rec, http.StatusOK, name, evil, data); err != nil {
				t.Fatal(err)
			}
			if locale != DefaultLocale {
				rec = render(t, r, View{Name: name, Locale: locale, TitleKey: "landing.title", Data: data})
			}
			body := rec.Body.String()
			if strings.Contains(body, "<script") || data != nil && !strings.Contains(body, "&lt;script&gt;") {
				t.Errorf("%s/%s: markup in data not escaped:\n%s", locale, name, body)
			}
		}
	}
}

// TestTemplateKeysExist finds every {{t "key"}} in the templates and checks that English
// has the key, so a typo cannot reach a page as "[[key]]".
func TestTemplateKeysExist(t *testing.T) {
	t.Parallel()
	r, err := NewRenderer(false, "")
	if err != nil {
		t.Fatal(err)
	}
	c := r.Catalog()
	var keys []string
	for _, page := range r.pages[DefaultLocale] {
		for _, tmpl := range page.Templates() {
			if tmpl.Tree != nil {
				keys = append(keys, translationKeys(tmpl.Tree.Root)...)
			}
		}
	}
	if len(keys) < 10 {
		t.Fatalf("found only %d keys; is the walk right?", len(keys))
	}
	for _, k := range keys {
		if _, ok := c.messages[DefaultLocale][k]; !ok {
			t.Errorf("template uses unknown key %q", k)
		}
	}
}

// translationKeys collects the literal first arguments of calls to t.
func translationKeys(n parse.Node) []string {
	var keys []string
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			keys = append(keys, translationKeys(c)...)
		}
	case *parse.ActionNode:
		keys = translationKeys(n.Pipe)
	case *parse.IfNode:
		keys = append(translationKeys(n.Pipe), append(translationKeys(n.List), translationKeys(n.ElseList)...)...)
	case *parse.RangeNode:
		keys = append(translationKeys(n.Pipe), append(translationKeys(n.List), translationKeys(n.ElseList)...)...)
	case *parse.WithNode:
		keys = append(translationKeys(n.Pipe), append(translationKeys(n.List), translationKeys(n.ElseList)...)...)
	case *parse.TemplateNode:
		keys = translationKeys(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			keys = append(keys, translationKeys(c)...)
		}
	case *parse.CommandNode:
		if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "t" && len(n.Args) > 1 {
			if s, ok := n.Args[1].(*parse.StringNode); ok {
				keys = append(keys, s.Text)
			}
		}
		for _, a := range n.Args {
			keys = append(keys, translationKeys(a)...)
		}
	}
	return keys
}

// TestFormBuildingBlocks renders a form page the way the login pages will: a translated
// text with an argument, and the csrf_field partial with a token.
func TestFormBuildingBlocks(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"templates/form.html": {Data: []byte(`{{define "content"}}<form method="post">` +
			`{{template "csrf_field" .CSRF}}<p>{{t "common.version" "version" .Version}}</p></form>{{end}}`)},
	}
	for _, shared := range sharedTemplates {
		b, err := fs.ReadFile(templateFS, shared)
		if err != nil {
			t.Fatal(err)
		}
		fsys[shared] = &fstest.MapFile{Data: b}
	}
	r, err := newRenderer(false, "", mustCatalog(t), fsys)
	if err != nil {
		t.Fatal(err)
	}
	csrf, err := NewCSRF(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	token := csrf.Token("pending-1")
	body := render(t, r, View{Name: "form", Locale: "de", TitleKey: "health.title", Data: struct{ CSRF, Version string }{token, evil}}).Body.String()
	if want := `<input type="hidden" name="` + CSRFFieldName + `" value="` + token + `">`; !strings.Contains(body, want) {
		t.Errorf("form lacks %s:\n%s", want, body)
	}
	if !strings.Contains(body, "<p>Version &lt;script&gt;alert(1)&lt;/script&gt;</p>") {
		t.Errorf("translated argument not escaped:\n%s", body)
	}

	// A hostile value in the field is escaped inside the attribute.
	body = render(t, r, View{Name: "form", Locale: "en", TitleKey: "health.title", Data: struct{ CSRF, Version string }{`"><script>`, "1"}}).Body.String()
	if strings.Contains(body, "<script>") || !strings.Contains(body, `value="&#34;&gt;&lt;script&gt;"`) {
		t.Errorf("field value not escaped:\n%s", body)
	}

	// The token from the page verifies when posted back.
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(CSRFFieldName+"="+token))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := csrf.VerifyForm(req, "pending-1", time.Minute); err != nil {
		t.Errorf("posted token refused: %v", err)
	}
}

// CSPWithFormActions adds origins to form-action only, and drops anything that could
// smuggle in a directive.
func TestCSPWithFormActions(t *testing.T) {
	t.Parallel()
	got := CSPWithFormActions([]string{"https://rp.example", "http://127.0.0.1:8080", "", "https://x; script-src *", "javascript:alert(1)", "https://a/b"})
	if !strings.Contains(got, "form-action 'self' https://rp.example http://127.0.0.1:8080;") || strings.Contains(got, "script-src *") ||
		strings.Contains(got, "javascript") || strings.Contains(got, "https://a/b") || strings.Count(got, "form-action") != 1 {
		t.Fatalf("CSP %q", got)
	}
}
