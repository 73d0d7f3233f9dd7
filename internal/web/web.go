// Package web renders Signet's HTML pages: one base layout (with the dev-mode footer on
// every page), strict security headers, and the embedded static assets.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// StaticPath is where Static is mounted on every listener that serves pages.
const StaticPath = "/static/"

// ContentSecurityPolicy allows nothing inline and nothing from elsewhere.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Renderer renders pages inside the base layout.
type Renderer struct {
	dev   bool
	pages map[string]*template.Template
	// prefix is the configured path prefix, prepended to asset links.
	prefix string
}

// NewRenderer parses every page template once. dev puts the dev-mode footer on every page.
func NewRenderer(dev bool, pathPrefix string) (*Renderer, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	r := &Renderer{dev: dev, prefix: pathPrefix, pages: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		r.pages[n[len("templates/"):len(n)-len(".html")]] = t
	}
	return r, nil
}

// Page is what the layout needs besides the page's own data.
type Page struct {
	Title  string
	Dev    bool
	Prefix string
	Data   any
}

// Render writes page name with data, the security headers and the status code. The page
// is rendered to a buffer first, so a template error never leaves half a page.
func (r *Renderer) Render(w http.ResponseWriter, status int, name, title string, data any) error {
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", Page{Title: title, Dev: r.dev, Prefix: r.prefix, Data: data}); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// SecurityHeaders sets the headers every page carries (CSP, framing, sniffing, referrer).
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Static serves the embedded assets; mount it at StaticPath, with any path prefix stripped.
func Static() http.Handler {
	// The embedded tree is rooted at static/, matching the request path under StaticPath.
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
