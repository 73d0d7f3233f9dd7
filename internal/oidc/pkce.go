package oidc

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// PKCE (RFC 7636) with S256 only: "plain" lets an attacker who sees the authorization
// request redeem the code (RFC 9700 §2.1.1).
const PKCEMethodS256 = "S256"

// ValidCodeChallenge reports whether challenge has the shape of an S256 challenge: the
// unpadded base64url encoding of a SHA-256 hash (43 characters).
func ValidCodeChallenge(challenge string) bool {
	if len(challenge) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(challenge)
	return err == nil && len(b) == sha256.Size
}

// ValidCodeVerifier reports whether verifier follows RFC 7636 §4.1: 43 to 128 characters
// from the unreserved set.
func ValidCodeVerifier(verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// VerifyPKCE checks an S256 verifier against the challenge of the authorization request,
// in constant time. Both must be well-formed.
func VerifyPKCE(verifier, challenge string) bool {
	if !ValidCodeVerifier(verifier) || !ValidCodeChallenge(challenge) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
