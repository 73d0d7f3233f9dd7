package oidc

import (
	"encoding/json"
	"strconv"
)

// The token endpoint writes two JSON documents per request: the access token's claims
// and the token response. Both have a fixed layout, so they are appended field by field
// into one buffer instead of going through encoding/json's reflection. The output is
// byte for byte what encoding/json writes for the same struct (the tests compare them,
// field by field, so a field added to either struct and not here fails a test).

// appendAccessClaims appends c as encoding/json marshals accessClaims.
func appendAccessClaims(b []byte, c *accessClaims) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"aud":`...)
	if c.Audience == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.JTI)
	b = appendOptionalString(b, `,"scope":`, c.Scope)
	b = appendOptionalString(b, `,"gid":`, c.GrantID)
	b = appendOptionalString(b, `,"sid":`, c.SessionID)
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	b = appendOptionalString(b, `,"acr":`, c.ACR)
	return append(b, '}')
}

// appendTokenResponse appends r as a json.Encoder writes tokenResponse, newline included.
func appendTokenResponse(b []byte, r *tokenResponse) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, r.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, r.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, r.ExpiresIn, 10)
	b = appendOptionalString(b, `,"refresh_token":`, r.RefreshToken)
	b = appendOptionalString(b, `,"id_token":`, r.IDToken)
	b = appendOptionalString(b, `,"scope":`, r.Scope)
	b = appendOptionalString(b, `,"receipt":`, r.Receipt)
	return append(b, "}\n"...)
}

// appendOptionalString appends key and s unless s is empty (omitempty).
func appendOptionalString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// jsonPlain marks the bytes encoding/json writes as they are inside a string: printable
// ASCII but for '"', '\\' and the HTML-sensitive '<', '>' and '&'. A table lookup per
// byte keeps the scan of a 600-byte token short.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string exactly as encoding/json writes it. Tokens,
// URLs and identifiers need no escaping and are copied as they are; anything else (quotes,
// control characters, <, > and & which encoding/json escapes for HTML, non-ASCII) goes
// through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
