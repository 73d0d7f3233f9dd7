package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on user fields.
const (
	MaxUserIDLen   = 128 // bytes
	MaxUsernameLen = 255 // characters
)

// Validate reports whether u may be stored: an ID of 1 to MaxUserIDLen bytes; a username
// of 1 to MaxUsernameLen characters of UTF-8 without control characters or surrounding
// white space; an email, if set, with exactly one '@' between non-empty parts and no
// white space or control characters. The error wraps ErrInvalid.
func (u User) Validate() error {
	key := u.key()
	if u.ID == "" || len(u.ID) > MaxUserIDLen {
		return invalid(key, "ID must be 1 to %d bytes, got %d", MaxUserIDLen, len(u.ID))
	}
	name := u.Username
	switch n := utf8.RuneCountInString(name); {
	case n == 0 || n > MaxUsernameLen:
		return invalid(key, "username must be 1 to %d characters, got %d", MaxUsernameLen, n)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return invalid(key, "username %q must be UTF-8 without control characters", name)
	case strings.TrimSpace(name) != name:
		return invalid(key, "username %q must not start or end with white space", name)
	}
	if email := u.Email; email != "" {
		local, domain, _ := strings.Cut(email, "@")
		if local == "" || domain == "" || strings.Contains(domain, "@") {
			return invalid(key, "email %q must hold exactly one '@' between a local part and a domain", email)
		}
		if !utf8.ValidString(email) || strings.ContainsFunc(email, isSpaceOrControl) {
			return invalid(key, "email %q must be UTF-8 without white space or control characters", email)
		}
	}
	return checkTimes(key, u.LockedUntil, u.PasswordChangedAt)
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// LowerKey is the form in which usernames and emails are unique, looked up, searched and
// ordered: lower-cased by Go on every back end, since SQLite's lower() folds ASCII only.
func LowerKey(s string) string { return strings.ToLower(s) }

// LikePrefix is the LIKE pattern, with '\' as its ESCAPE character, that matches the
// LowerKey of every string starting with prefix, case-insensitively.
func LikePrefix(prefix string) string {
	return likeEscaper.Replace(LowerKey(prefix)) + "%"
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (u *User) key() string { return recordKey("user", u.Realm, u.ID) }

func (u *User) normalize() {
	u.TOTPSecret = cloneBytes(u.TOTPSecret)
	u.Attributes = cloneMap(u.Attributes)
	timestamps(&u.LockedUntil, &u.PasswordChangedAt, &u.CreatedAt, &u.UpdatedAt)
}

func (u *User) stamps() stamps {
	return stamps{created: &u.CreatedAt, updated: &u.UpdatedAt, version: &u.Version}
}

func (u *User) document() any {
	return &struct {
		EmailVerified *bool              `json:"email_verified"`
		Enabled       *bool              `json:"enabled"`
		Profile       *Profile           `json:"profile"`
		PasswordHash  *string            `json:"password_hash"`
		FailedLogins  *int               `json:"failed_logins"`
		Attributes    *map[string]string `json:"attributes"`
	}{&u.EmailVerified, &u.Enabled, &u.Profile, &u.PasswordHash, &u.FailedLogins, &u.Attributes}
}
