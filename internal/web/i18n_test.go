package web

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func mustCatalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCatalogKeyParity is the check translators run into: every locale has exactly the
// keys of English.
func TestCatalogKeyParity(t *testing.T) {
	t.Parallel()
	c := mustCatalog(t)
	if got := c.Locales(); !slices.Equal(got, []string{"de", "en"}) {
		t.Fatalf("locales = %v", got)
	}
	want := slices.Sorted(maps.Keys(c.messages[DefaultLocale]))
	for _, l := range c.Locales() {
		if got := slices.Sorted(maps.Keys(c.messages[l])); !slices.Equal(got, want) {
			t.Errorf("%s keys differ from English:\n got %v\nwant %v", l, got, want)
		}
	}
}

func TestCatalogRefusesBrokenCatalogs(t *testing.T) {
	t.Parallel()
	en := `{"a": "A {n}", "b": "B"}`
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"missing key", map[string]string{"en.json": en, "de.json": `{"a": "A {n}"}`}, `catalog de: missing key "b"`},
		{"extra key", map[string]string{"en.json": en, "de.json": `{"a": "A {n}", "b": "B", "c": "C"}`}, `catalog de: extra key "c"`},
		{"placeholder typo", map[string]string{"en.json": en, "de.json": `{"a": "A {m}", "b": "B"}`}, `key "a" has placeholders [m]`},
		{"duplicate key", map[string]string{"en.json": `{"a": "A", "a": "B"}`}, `duplicate`},
		{"nested", map[string]string{"en.json": `{"a": {"b": "c"}}`}, `value must be a string`},
		{"number", map[string]string{"en.json": `{"a": 1}`}, `value must be a string`},
		{"empty text", map[string]string{"en.json": `{"a": ""}`}, `empty text`},
		{"not an object", map[string]string{"en.json": `["a"]`}, `not a JSON object`},
		{"trailing data", map[string]string{"en.json": `{"a": "A"} {}`}, `data after`},
		{"truncated", map[string]string{"en.json": `{"a": "A"`}, `decode`},
		{"no English", map[string]string{"de.json": `{"a": "A"}`}, `no en.json`},
		{"regional file name", map[string]string{"en.json": `{"a": "A"}`, "de-AT.json": `{"a": "A"}`}, `base language`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			for name, body := range tt.files {
				fsys["locales/"+name] = &fstest.MapFile{Data: []byte(body)}
			}
			_, err := loadCatalog(fsys, "locales")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCatalogReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"locales/en.json": {Data: []byte(`{"a": "A", "b": "B"}`)},
		"locales/de.json": {Data: []byte(`{"c": "C"}`)},
	}
	_, err := loadCatalog(fsys, "locales")
	for _, want := range []string{`missing key "a"`, `missing key "b"`, `extra key "c"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	c := mustCatalog(t)
	tests := []struct {
		ui, accept, want string
	}{
		{"", "", "en"},
		{"de", "", "de"},
		{"de-AT", "", "de"},
		{"DE-at", "", "de"},
		{"fr-CA de en", "", "de"},             // first supported ui_locales entry wins
		{"en de", "de", "en"},                 // ui_locales beats Accept-Language
		{"de", "en", "de"},                    //
		{"fr", "de", "de"},                    // unsupported ui_locales fall through to the header
		{"fr ja", "", "en"},                   //
		{"", "de", "de"},                      //
		{"", "de-CH;q=0.9, en;q=0.8", "de"},   // base-language match, q-values
		{"", "en;q=0.8, de-CH;q=0.9", "de"},   // order is by q, not position
		{"", "de;q=0.5, en", "en"},            // missing q is 1
		{"", "fr, de;q=0.7, en;q=0.6", "de"},  // unsupported first choice
		{"", "de;q=0, en;q=0.1", "en"},        // q=0 is "not acceptable"
		{"", "de;q=0", "en"},                  //
		{"", "de;q=1.000", "de"},              //
		{"", "de;q=1.5, en;q=0.1", "en"},      // q above 1 is malformed, entry ignored
		{"", "de;q=0.1234, en;q=0.1", "en"},   // more than three decimals
		{"", "de;q=abc, en;q=0.1", "en"},      //
		{"", "de;x=1, en;q=0.1", "en"},        // unknown parameter
		{"", "de;q=0., en;q=0.1", "en"},       // "0." is a valid zero
		{"", "de;Q=0.9", "de"},                // parameter names are case-insensitive
		{"", "*", "en"},                       //
		{"", "*, de;q=0.5", "en"},             // the wildcard outranks de but matches only the fallback
		{"", "de, *;q=0.5", "de"},             //
		{"", "fr", "en"},                      //
		{"", "!!!,;;;q=abc, 12, d e, ", "en"}, // garbage
		{"", ",,,de", "de"},                   //
		{"", "de_DE", "en"},                   // underscore is not BCP 47
		{"", "deutsch-xyz", "en"},             //
		{"", "x-de", "en"},                    // one-letter primary subtag
		{"<script>", "\x00de", "en"},          //
		{"  de  ", "", "de"},                  //
		{"", " de-DE ; q=0.8 , en ; q=0.7", "de"},
		{"", strings.Repeat("fr,", 40) + "de", "en"}, // only the first entries are read
	}
	for _, tt := range tests {
		if got := c.Negotiate(tt.ui, tt.accept); got != tt.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.ui, tt.accept, got, tt.want)
		}
	}
}

func TestT(t *testing.T) {
	t.Parallel()
	c := mustCatalog(t)
	// A catalog as it would be with a key missing in German; NewCatalog refuses to load
	// one, but T must still degrade gracefully.
	c.messages["de"] = maps.Clone(c.messages["de"])
	delete(c.messages["de"], "health.ready")
	tests := []struct {
		locale, key string
		args        []any
		want        string
	}{
		{"en", "health.title", nil, "Health"},
		{"de", "health.title", nil, "Systemzustand"},
		{"de-AT", "health.title", nil, "Systemzustand"},
		{"fr", "health.title", nil, "Health"},
		{"", "health.title", nil, "Health"},
		{"en", "common.version", []any{"version", "1.2.3"}, "Version 1.2.3"},
		{"de", "health.uptime", []any{"uptime", "5m0s"}, "läuft seit 5m0s"},
		{"en", "common.version", []any{"version", 7}, "Version 7"},
		{"en", "common.version", nil, "Version {version}"},                           // missing value stays visible
		{"en", "common.version", []any{"other", "x"}, "Version {version}"},           //
		{"en", "common.version", []any{"version"}, "Version {version}"},              // odd args do not panic
		{"en", "common.version", []any{"version", "{version}"}, "Version {version}"}, // no re-expansion
		{"en", "common.version", []any{"version", "a", "x"}, "Version a"},            //
		{"en", "common.version", []any{"version", "<b>"}, "Version <b>"},             // escaping is the template's job
		{"de", "health.ready", nil, "ready"},                                         // missing in German → English
		{"de", "no.such.key", nil, "[[no.such.key]]"},                                //
		{"en", "", nil, "[[]]"},                                                      //
	}
	for _, tt := range tests {
		if got := c.T(tt.locale, tt.key, tt.args...); got != tt.want {
			t.Errorf("T(%q, %q, %v) = %q, want %q", tt.locale, tt.key, tt.args, got, tt.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		args []any
		want string
	}{
		{"{a} and {b}", []any{"a", 1, "b", 2}, "1 and 2"},
		{"{a}{a}", []any{"a", "x"}, "xx"},
		{"{ a } {} {1a} {a", []any{"a", "x"}, "{ a } {} {1a} {a"},
		{"{{a}}", []any{"a", "x"}, "{x}"},
		{"{a_1}", []any{"a_1", "x"}, "x"},
		{"ünïcode {a} ✓", []any{"a", "x"}, "ünïcode x ✓"},
	}
	for _, tt := range tests {
		if got := substitute(tt.text, tt.args); got != tt.want {
			t.Errorf("substitute(%q, %v) = %q, want %q", tt.text, tt.args, got, tt.want)
		}
	}
}
