package oidc

import (
	"strings"
	"testing"
)

func TestPKCE(t *testing.T) {
	t.Parallel()
	// RFC 7636 Appendix B.
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	challenge := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if !VerifyPKCE(verifier, challenge) {
		t.Fatal("RFC 7636 Appendix B vector refused")
	}
	refuse := map[string][2]string{
		"other verifier":        {strings.Replace(verifier, "d", "e", 1), challenge},
		"plain method":          {verifier, verifier},
		"empty verifier":        {"", challenge},
		"short verifier":        {verifier[:42], challenge},
		"long verifier":         {strings.Repeat("a", 129), challenge},
		"verifier bad char":     {verifier[:42] + "+", challenge},
		"truncated challenge":   {verifier, challenge[:42]},
		"bit-flipped challenge": {verifier, "F" + challenge[1:]},
		"padded challenge":      {verifier, challenge + "="},
		"no challenge":          {verifier, ""},
	}
	for name, c := range refuse {
		if VerifyPKCE(c[0], c[1]) {
			t.Errorf("%s: accepted", name)
		}
	}
	if !ValidCodeChallenge(challenge) || ValidCodeChallenge("abc") || ValidCodeChallenge(strings.Repeat("!", 43)) {
		t.Error("ValidCodeChallenge")
	}
}
