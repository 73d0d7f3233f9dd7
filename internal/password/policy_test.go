package password

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePolicy(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		pw   string
		want error
	}{
		"empty":                        {"", ErrTooShort},
		"7 ASCII":                      {"abcdefg", ErrTooShort},
		"8 ASCII":                      {"abcdefgh", nil},
		"7 two-byte (14 bytes)":        {strings.Repeat("é", 7), ErrTooShort},
		"8 two-byte":                   {strings.Repeat("é", 8), nil},
		"7 four-byte emoji (28 bytes)": {strings.Repeat("🔑", 7), ErrTooShort},
		"8 four-byte emoji":            {strings.Repeat("🔑", 8), nil},
		"combining marks compose (7)":  {strings.Repeat("e\u0301", 7), ErrTooShort},
		"ligature expands to 8":        {"\ufb01\ufb01\ufb01\ufb01", nil},
		"digits only, no composition":  {"12345678", nil},
		"spaces allowed":               {"        ", nil},
		"64 characters":                {strings.Repeat("x", 64), nil},
		"max":                          {strings.Repeat("x", MaxLength), nil},
		"max multibyte":                {strings.Repeat("字", MaxLength), nil},
		"max+1":                        {strings.Repeat("x", MaxLength+1), ErrTooLong},
		"max+1 multibyte":              {strings.Repeat("字", MaxLength+1), ErrTooLong},
		"invalid UTF-8":                {"abcdefg\xff", ErrInvalidUTF8},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := ValidatePolicy(tc.pw)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("ValidatePolicy(%q) = %v; want %v", tc.pw, err, tc.want)
			}
		})
	}
}

func TestPolicyLimits(t *testing.T) {
	t.Parallel()
	// NIST SP 800-63B / OWASP ASVS 5.0: minimum 8, must allow at least 64.
	if MinLength != 8 || MaxLength < 64 {
		t.Errorf("MinLength %d, MaxLength %d", MinLength, MaxLength)
	}
}
