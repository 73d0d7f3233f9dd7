package web

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed locales/*.json
var localeFS embed.FS

// DefaultLocale is the locale every other catalog is checked against and falls back to.
const DefaultLocale = "en"

// maxLanguageTags bounds how many ui_locales or Accept-Language entries are considered,
// so a hostile header costs no more than a short one.
const maxLanguageTags = 32

// Catalog holds the UI message catalogs, one flat key → text map per base language.
// Texts may hold {name} placeholders that T fills in. A Catalog is read-only after
// NewCatalog and safe for concurrent use.
type Catalog struct {
	messages map[string]map[string]string // locale → key → text
}

// NewCatalog loads the embedded catalogs (locales/<lang>.json) and checks that every
// locale has exactly the keys of English, each with the same placeholders.
func NewCatalog() (*Catalog, error) {
	return loadCatalog(localeFS, "locales")
}

func loadCatalog(fsys fs.FS, dir string) (*Catalog, error) {
	files, err := fs.Glob(fsys, dir+"/*.json")
	if err != nil {
		return nil, fmt.Errorf("list catalogs: %w", err)
	}
	c := &Catalog{messages: map[string]map[string]string{}}
	for _, f := range files {
		locale := strings.TrimSuffix(path.Base(f), ".json")
		if !isBaseLanguage(locale) {
			return nil, fmt.Errorf("catalog %s: file name must be a lower-case base language such as en.json", f)
		}
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read catalog %s: %w", f, err)
		}
		m, err := parseFlatCatalog(raw)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", f, err)
		}
		c.messages[locale] = m
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseFlatCatalog decodes one JSON object of string values, refusing nesting, non-string
// values, empty texts and duplicate keys (encoding/json would silently keep the last one).
func parseFlatCatalog(raw []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
		key := tok.(string) // object keys are always strings
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode %q: %w", key, err)
		}
		text, ok := tok.(string)
		switch {
		case !ok:
			return nil, fmt.Errorf("key %q: value must be a string (catalogs are flat)", key)
		case key == "":
			return nil, errors.New("empty key")
		case text == "":
			return nil, fmt.Errorf("key %q: empty text", key)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("key %q: duplicate", key)
		}
		m[key] = text
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// validate reports every difference from English at once: missing keys, extra keys, and
// placeholder sets that differ (a translated {nmae} would otherwise show up raw).
func (c *Catalog) validate() error {
	en, ok := c.messages[DefaultLocale]
	if !ok {
		return fmt.Errorf("catalog: no %s.json", DefaultLocale)
	}
	var errs []error
	for _, locale := range c.Locales() {
		m := c.messages[locale]
		for _, key := range slices.Sorted(maps.Keys(en)) {
			text, ok := m[key]
			if !ok {
				errs = append(errs, fmt.Errorf("catalog %s: missing key %q", locale, key))
				continue
			}
			if want, got := placeholders(en[key]), placeholders(text); !slices.Equal(want, got) {
				errs = append(errs, fmt.Errorf("catalog %s: key %q has placeholders %v, English has %v", locale, key, got, want))
			}
		}
		for _, key := range slices.Sorted(maps.Keys(m)) {
			if _, ok := en[key]; !ok {
				errs = append(errs, fmt.Errorf("catalog %s: extra key %q (not in %s)", locale, key, DefaultLocale))
			}
		}
	}
	return errors.Join(errs...)
}

// Locales lists the catalog's locales, sorted.
func (c *Catalog) Locales() []string {
	return slices.Sorted(maps.Keys(c.messages))
}

// T returns the text for key in locale with {name} placeholders filled from args, given
// as name/value pairs: T("de", "login.hello", "name", user). A key missing in locale
// falls back to English; an unknown key renders as a visible "[[key]]". T never panics.
// The result is plain text: html/template escapes it wherever a template puts it.
func (c *Catalog) T(locale, key string, args ...any) string {
	text, ok := c.messages[c.resolve(locale)][key]
	if !ok {
		text, ok = c.messages[DefaultLocale][key]
	}
	if !ok {
		return "[[" + key + "]]"
	}
	if len(args) < 2 {
		return text
	}
	return substitute(text, args)
}

// resolve maps a locale or language tag to a catalog locale by base language, falling back
// to English.
func (c *Catalog) resolve(tag string) string {
	if l, ok := c.match(tag); ok {
		return l
	}
	return DefaultLocale
}

// match finds the catalog locale for a BCP 47 tag by its base language ("de-AT" → "de").
func (c *Catalog) match(tag string) (string, bool) {
	base, _, _ := strings.Cut(tag, "-")
	base = strings.ToLower(base)
	if _, ok := c.messages[base]; ok && wellFormedTag(tag) {
		return base, true
	}
	return "", false
}

// Negotiate picks the locale for a page. The OIDC ui_locales parameter (OpenID Connect
// Core 1.0 §3.1.2.1: space-separated BCP 47 tags, most preferred first) wins over the
// Accept-Language header (RFC 9110 §12.5.4, q-values honoured, malformed entries
// ignored); both match by base language, and English is the fallback.
func (c *Catalog) Negotiate(uiLocales, acceptLanguage string) string {
	for i, tag := range strings.Fields(uiLocales) {
		if i == maxLanguageTags {
			break
		}
		if l, ok := c.match(tag); ok {
			return l
		}
	}
	for _, tag := range parseAcceptLanguage(acceptLanguage) {
		if tag == "*" {
			break // any language will do, before the ones still to come: take the default
		}
		if l, ok := c.match(tag); ok {
			return l
		}
	}
	return DefaultLocale
}

// parseAcceptLanguage returns the acceptable language ranges by descending q-value, ties
// in header order. Entries with q=0 ("not acceptable") and malformed entries are dropped;
// "*" is kept: Negotiate answers it with the default.
func parseAcceptLanguage(header string) []string {
	type weighted struct {
		tag string
		q   int // thousandths
	}
	var tags []weighted
	for i, part := range strings.Split(header, ",") {
		if i == maxLanguageTags {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		if tag != "*" && !wellFormedTag(tag) {
			continue
		}
		q, ok := 1000, true
		if params != "" {
			q, ok = parseQ(params)
		}
		if ok && q > 0 {
			tags = append(tags, weighted{tag, q})
		}
	}
	slices.SortStableFunc(tags, func(a, b weighted) int { return cmp.Compare(b.q, a.q) })
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.tag
	}
	return out
}

// parseQ reads the weight parameter (RFC 9110 §12.4.2: "q=" 0[.ddd] or 1[.000]) in
// thousandths. Anything else after the ";" makes the entry malformed.
func parseQ(params string) (int, bool) {
	name, v, ok := strings.Cut(strings.TrimSpace(params), "=")
	if !ok || strings.TrimSpace(strings.ToLower(name)) != "q" {
		return 0, false
	}
	whole, frac, _ := strings.Cut(strings.TrimSpace(v), ".")
	if (whole != "0" && whole != "1") || len(frac) > 3 {
		return 0, false
	}
	for _, r := range frac {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	q, _ := strconv.Atoi(whole + (frac + "000")[:3])
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// wellFormedTag accepts the language-tag shape ui_locales and Accept-Language use: a 2–8
// letter primary subtag, then 1–8 character alphanumeric subtags separated by "-".
func wellFormedTag(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i, sub := range strings.Split(tag, "-") {
		if len(sub) == 0 || len(sub) > 8 || (i == 0 && len(sub) < 2) {
			return false
		}
		for _, r := range sub {
			letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
			if !letter && (i == 0 || r < '0' || r > '9') {
				return false
			}
		}
	}
	return true
}

// isBaseLanguage reports whether s is a lower-case ISO 639 code, as catalog files are named.
func isBaseLanguage(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for _, r := range s {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// placeholders lists the distinct {name} placeholders in text, sorted.
func placeholders(text string) []string {
	var names []string
	for rest := text; ; {
		_, name, after, ok := nextPlaceholder(rest)
		if !ok {
			break
		}
		names = append(names, name)
		rest = after
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// nextPlaceholder finds the first {name} in s (name: letters, digits, underscore, starting
// with a letter or underscore) and returns the text before it, the name and the rest.
func nextPlaceholder(s string) (before, name, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == '}' {
			return s[:i], s[i+1 : j], s[j+1:], true
		}
	}
	return s, "", "", false
}

// substitute fills placeholders in one pass, so a value that itself contains "{x}" is
// never expanded again. Placeholders without a value stay visible; a trailing name without
// a value is ignored.
func substitute(text string, args []any) string {
	values := make(map[string]string, len(args)/2)
	for i := 0; i+1 < len(args); i += 2 {
		values[fmt.Sprint(args[i])] = fmt.Sprint(args[i+1])
	}
	var b strings.Builder
	for rest := text; ; {
		before, name, after, ok := nextPlaceholder(rest)
		b.WriteString(before)
		if !ok {
			break
		}
		if v, found := values[name]; found {
			b.WriteString(v)
		} else {
			b.WriteString("{" + name + "}")
		}
		rest = after
	}
	return b.String()
}
