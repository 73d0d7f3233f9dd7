package rest

import (
	"maps"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/store"
)

// ReservedPrefix starts the attribute names Signet keeps for itself (the client secret
// pepper, the temporary-password mark). They are neither shown nor accepted.
const ReservedPrefix = "signet."

// Limits on free-text and attribute input.
const (
	MaxTextLen        = 255
	MaxURILen         = 2048
	MaxAttributes     = 100
	MaxAttributeKey   = 128
	MaxAttributeValue = 4096
	MaxListLen        = 100
)

// CheckText refuses text that is too long or holds control characters.
func CheckText(field, s string, maxLen int) error {
	switch {
	case !utf8.ValidString(s):
		return BadRequest("%s must be valid UTF-8", field)
	case utf8.RuneCountInString(s) > maxLen:
		return BadRequest("%s must be at most %d characters", field, maxLen)
	case strings.ContainsFunc(s, unicode.IsControl):
		return BadRequest("%s must not hold control characters", field)
	}
	return nil
}

// CheckAttributes refuses attributes that are too many, too long, or in the reserved
// signet. namespace.
func CheckAttributes(m map[string]string) error {
	if len(m) > MaxAttributes {
		return BadRequest("at most %d attributes are allowed", MaxAttributes)
	}
	for k, v := range m {
		if k == "" || len(k) > MaxAttributeKey || !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
			return BadRequest("attribute name %q must be 1 to %d printable characters", k, MaxAttributeKey)
		}
		if strings.HasPrefix(k, ReservedPrefix) {
			return BadRequest("attribute names starting with %q are reserved for Signet", ReservedPrefix)
		}
		if len(v) > MaxAttributeValue || !utf8.ValidString(v) {
			return BadRequest("attribute %q must be valid UTF-8 of at most %d bytes", k, MaxAttributeValue)
		}
	}
	return nil
}

// PublicAttributes is what a representation shows: the reserved attributes hidden.
func PublicAttributes(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !strings.HasPrefix(k, ReservedPrefix) {
			out[k] = v
		}
	}
	return out
}

// ReplaceAttributes returns stored with every non-reserved attribute replaced by given.
func ReplaceAttributes(stored, given map[string]string) map[string]string {
	out := maps.Clone(given)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range stored {
		if strings.HasPrefix(k, ReservedPrefix) {
			out[k] = v
		}
	}
	return out
}

// CheckList refuses a list that is too long or has an entry check refuses.
func CheckList(field string, items []string, check func(string) error) error {
	if len(items) > MaxListLen {
		return BadRequest("%s may hold at most %d entries", field, MaxListLen)
	}
	for _, it := range items {
		if err := check(it); err != nil {
			return err
		}
	}
	return nil
}

// CheckProfile bounds the profile's free-text claims.
func CheckProfile(p store.Profile) error {
	fields := map[string]string{
		"profile.name": p.Name, "profile.given_name": p.GivenName, "profile.family_name": p.FamilyName,
		"profile.middle_name": p.MiddleName, "profile.nickname": p.Nickname, "profile.gender": p.Gender,
		"profile.birthdate": p.Birthdate, "profile.zoneinfo": p.Zoneinfo, "profile.locale": p.Locale,
		"profile.phone_number":           p.PhoneNumber,
		"profile.address.street_address": p.Address.StreetAddress, "profile.address.locality": p.Address.Locality,
		"profile.address.region": p.Address.Region, "profile.address.postal_code": p.Address.PostalCode,
		"profile.address.country": p.Address.Country,
	}
	for field, v := range fields {
		if err := CheckText(field, v, MaxTextLen); err != nil {
			return err
		}
	}
	for field, v := range map[string]string{"profile.picture": p.Picture, "profile.website": p.Website} {
		if err := CheckText(field, v, MaxURILen); err != nil {
			return err
		}
	}
	// OIDC Core §5.1.1: a formatted address may span lines.
	if f := p.Address.Formatted; !utf8.ValidString(f) || len(f) > MaxURILen {
		return BadRequest("profile.address.formatted must be valid UTF-8 of at most %d bytes", MaxURILen)
	}
	return nil
}
