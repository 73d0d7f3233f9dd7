package axe

import (
	"strings"
	"testing"
)

// TestScript: the embedded file is the minified axe-core of the release Version names.
func TestScript(t *testing.T) {
	s := Script()
	if len(s) < 100_000 {
		t.Fatalf("axe.min.js is %d bytes; want the whole script", len(s))
	}
	if banner := "/*! axe v" + Version + "\n"; !strings.HasPrefix(s, banner) {
		t.Errorf("axe.min.js starts with %q; want the banner %q", s[:min(len(s), 40)], banner)
	}
	if !strings.Contains(s, `"`+Version+`"`) {
		t.Errorf("axe.min.js does not carry its version %q", Version)
	}
}
