package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLen is the longest caller-chosen random ID of a device, activation code or
// authentication request, in bytes.
const MaxIDLen = 128

// checkID refuses an ID that is empty or longer than MaxIDLen bytes.
func checkID(key, field, id string) error {
	if id == "" || len(id) > MaxIDLen {
		return invalid(key, "%s must be 1 to %d bytes, got %d", field, MaxIDLen, len(id))
	}
	return nil
}

// checkText refuses s unless it is UTF-8 without control characters (but for newlines
// when multiline) of minLen to maxLen characters. JSON would store invalid
// UTF-8 as U+FFFD, so it is refused rather than changed.
func checkText(key, field, s string, minLen, maxLen int, multiline bool) error {
	if !utf8.ValidString(s) {
		return invalid(key, "%s must be UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		return invalid(key, "%s must be %d to %d characters, got %d", field, minLen, maxLen, n)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && !(multiline && r == '\n') }) {
		return invalid(key, "%s must not hold control characters", field)
	}
	return nil
}

// Limits on the string maps of audit details and request origins.
const (
	MaxMapEntries  = 32
	MaxMapKeyLen   = 64   // characters
	MaxMapValueLen = 1024 // characters
)

// checkMap refuses a map of more than MaxMapEntries entries, or with a key or value that
// checkText refuses: keys of 1 to MaxMapKeyLen characters, values of at most
// MaxMapValueLen.
func checkMap(key, field string, m map[string]string) error {
	if len(m) > MaxMapEntries {
		return invalid(key, "%s holds %d entries, at most %d", field, len(m), MaxMapEntries)
	}
	for k, v := range m {
		if err := checkText(key, field+" key", k, 1, MaxMapKeyLen, false); err != nil {
			return err
		}
		if err := checkText(key, field+" "+k, v, 0, MaxMapValueLen, false); err != nil {
			return err
		}
	}
	return nil
}
