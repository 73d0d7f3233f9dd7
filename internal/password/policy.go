package password

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Length limits for new passwords, in Unicode code points after NFKC normalisation.
const (
	// MinLength: NIST SP 800-63B §3.1.1.2 and OWASP ASVS 5.0 require at least 8.
	MinLength = 8
	// MaxLength: both require accepting at least 64. 256 leaves room for passphrases and
	// for NFKC expansion while keeping normalisation cost per request small; the whole
	// password is hashed, never truncated.
	MaxLength = 256
)

// Policy errors, returned wrapped with the length found.
var (
	ErrTooShort    = errors.New("password: too short")
	ErrTooLong     = errors.New("password: too long")
	ErrInvalidUTF8 = errors.New("password: not valid UTF-8")
)

// ValidatePolicy checks a newly chosen password. Length is counted in code points of the
// NFKC form, which is what gets hashed. There are no composition rules (NIST SP 800-63B
// §3.1.1.2: verifiers SHALL NOT impose them); breached-password screening belongs to the
// caller.
func ValidatePolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return ErrInvalidUTF8
	}
	n := utf8.RuneCountInString(normalize(pw))
	switch {
	case n < MinLength:
		return fmt.Errorf("%w: %d characters, at least %d required", ErrTooShort, n, MinLength)
	case n > MaxLength:
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrTooLong, n, MaxLength)
	}
	return nil
}
