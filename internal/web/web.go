// Package web renders Signet's HTML pages: one base layout (with the dev-mode footer on
// every page), strict security headers and the embedded static assets; and it holds the
// building blocks of the hosted pages: message catalogs and locale negotiation (Catalog),
// CSRF tokens bound to a caller-chosen value (CSRF), and __Host- cookies (HostCookie).
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// StaticPath is where Static is mounted on every listener that serves pages.
const StaticPath = "/static/"

// ContentSecurityPolicy allows nothing inline and nothing from elsewhere.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data: https:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Renderer renders pages inside the base layout, in any locale of its catalog. Templates
// translate with {{t "key"}} or {{t "key" "name" value}} (see Catalog.T) and put a CSRF
// token into a form with {{template "csrf_field" .CSRF}}.
type Renderer struct {
	dev     bool
	catalog *Catalog
	// pages holds every page once per locale, because the t function is bound to the
	// locale at parse time: no per-request cloning, and html/template escapes once.
	pages map[string]map[string]*template.Template // locale → page name → template
	// prefix is the configured path prefix, prepended to asset links.
	prefix string
}

// sharedTemplates are parsed with every page and are not pages themselves.
var sharedTemplates = []string{"templates/layout.html", "templates/partials.html"}

// NewRenderer parses every page template once, with the embedded catalogs. dev puts the
// dev-mode footer on every page.
func NewRenderer(dev bool, pathPrefix string) (*Renderer, error) {
	cat, err := NewCatalog()
	if err != nil {
		return nil, err
	}
	return NewRendererWithCatalog(dev, pathPrefix, cat)
}

// NewRendererWithCatalog is NewRenderer with the caller's catalog, so the handlers that
// negotiate the locale and the renderer share one.
func NewRendererWithCatalog(dev bool, pathPrefix string, cat *Catalog) (*Renderer, error) {
	if cat == nil {
		return nil, errors.New("renderer: nil catalog")
	}
	return newRenderer(dev, pathPrefix, cat, templateFS)
}

// NewRendererFS is NewRendererWithCatalog over another set of page templates: fsys holds
// templates/*.html, among them its own templates/layout.html (defining "layout") and
// templates/partials.html, for pages with a layout of their own (the consoles).
func NewRendererFS(dev bool, pathPrefix string, cat *Catalog, fsys fs.FS) (*Renderer, error) {
	if cat == nil {
		return nil, errors.New("renderer: nil catalog")
	}
	return newRenderer(dev, pathPrefix, cat, fsys)
}

func newRenderer(dev bool, pathPrefix string, cat *Catalog, fsys fs.FS) (*Renderer, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	r := &Renderer{dev: dev, catalog: cat, prefix: pathPrefix, pages: map[string]map[string]*template.Template{}}
	for _, locale := range cat.Locales() {
		funcs := template.FuncMap{
			"t": func(key string, args ...any) string { return cat.T(locale, key, args...) },
		}
		r.pages[locale] = map[string]*template.Template{}
		for _, n := range names {
			if slices.Contains(sharedTemplates, n) {
				continue
			}
			name := strings.TrimSuffix(path.Base(n), ".html")
			t, err := template.New(name).Funcs(funcs).ParseFS(fsys, append(slices.Clone(sharedTemplates), n)...)
			if err != nil {
				return nil, fmt.Errorf("parse %s: %w", n, err)
			}
			r.pages[locale][name] = t
		}
	}
	return r, nil
}

// Catalog returns the renderer's catalog, for Negotiate and for texts outside templates.
func (r *Renderer) Catalog() *Catalog { return r.catalog }

// Page is what the layout needs besides the page's own data.
type Page struct {
	Title  string
	Dev    bool
	Prefix string
	Data   any
	// Lang is the page's locale, for <html lang>.
	Lang string
	// Script is a script of the static assets the page runs.
	Script string
}

// View is one page to render in a locale.
type View struct {
	// Name is the page template (templates/<name>.html).
	Name string
	// Locale is usually Catalog.Negotiate's answer; unknown locales render in English.
	Locale string
	// TitleKey is the catalog key of the page's <title>; Title, when set, is the title
	// itself (for pages that are not translated).
	TitleKey string
	Title    string
	// Data is the page's own data, the dot of its "content" template.
	Data any
	// FormActions are origins (scheme://host[:port]) the page's forms may end up at besides
	// its own: CSP form-action also governs the redirects after a submission, so a login
	// form whose answer redirects to the client must name the client's origin.
	FormActions []string
	// Script names a script among the static assets (such as "phone.js") that the page
	// loads; the page's CSP then allows scripts and connections to its own origin.
	Script string
}

// Render writes page name in English with data, the security headers and the status code.
// The title is literal text.
func (r *Renderer) Render(w http.ResponseWriter, status int, name, title string, data any) error {
	return r.render(w, status, name, DefaultLocale, title, data, ContentSecurityPolicy)
}

// RenderView writes v in its locale with the security headers and the status code.
func (r *Renderer) RenderView(w http.ResponseWriter, status int, v View) error {
	locale := r.catalog.resolve(v.Locale)
	csp := CSPWithFormActions(v.FormActions)
	if v.Script != "" {
		csp = strings.Replace(csp, "default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';", 1)
	}
	title := v.Title
	if title == "" {
		title = r.catalog.T(locale, v.TitleKey)
	}
	page := Page{Title: title, Dev: r.dev, Prefix: r.prefix, Lang: locale, Data: v.Data,
		Script: v.Script}
	return r.renderPage(w, status, v.Name, page, csp)
}

// CSPWithFormActions is ContentSecurityPolicy with more form-action sources. Anything that
// is not a plain origin is dropped, so no value can add a directive.
func CSPWithFormActions(origins []string) string {
	sources := "form-action 'self'"
	for _, o := range origins {
		if isOrigin(o) {
			sources += " " + o
		}
	}
	return strings.Replace(ContentSecurityPolicy, "form-action 'self'", sources, 1)
}

func isOrigin(o string) bool {
	rest, ok := strings.CutPrefix(o, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(o, "http://")
	}
	return ok && rest != "" && !strings.ContainsAny(rest, " ;,/'\"\\\t\r\n")
}

// render executes into a buffer first, so a template error never leaves half a page.
func (r *Renderer) render(w http.ResponseWriter, status int, name, locale, title string, data any, csp string) error {
	return r.renderPage(w, status, name, Page{Title: title, Dev: r.dev, Prefix: r.prefix, Lang: locale, Data: data}, csp)
}

func (r *Renderer) renderPage(w http.ResponseWriter, status int, name string, page Page, csp string) error {
	locale := page.Lang
	t, ok := r.pages[locale][name]
	if !ok {
		return fmt.Errorf("render: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", page); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	SecurityHeadersWithCSP(h, csp)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", locale)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// SecurityHeaders sets the headers every page carries (CSP, framing, sniffing, referrer).
func SecurityHeaders(h http.Header) { SecurityHeadersWithCSP(h, ContentSecurityPolicy) }

// SecurityHeadersWithCSP is SecurityHeaders with a page's own policy (one that still
// forbids framing, such as the form_post page's or CSPWithFormActions').
func SecurityHeadersWithCSP(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
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
