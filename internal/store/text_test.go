package store

import (
	"errors"
	"testing"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s         string
		multiline bool
		ok        bool
	}{
		{"Ålice ✓", false, true},
		{"", false, false},         // below the minimum of 1
		{"abcdefgh", false, false}, // above the maximum of 7 characters
		{"a\nb", false, false},
		{"a\nb", true, true},
		{"a\rb", true, false},
		{"a\x7fb", false, false},
		{"\xff", false, false},
	} {
		err := checkText("k", "field", tc.s, 1, 7, tc.multiline)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("checkText(%q, multiline %t) = %v, want ok %t", tc.s, tc.multiline, err, tc.ok)
		}
	}
}
