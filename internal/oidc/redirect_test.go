package oidc

import (
	"errors"
	"testing"
)

// TestRedirectURIExactMatch covers CONFORMANCE §4.1 and §4.2: only an exact match passes;
// a loopback redirect may change its port and nothing else.
func TestRedirectURIExactMatch(t *testing.T) {
	t.Parallel()
	registered := []string{
		"https://app.example.com/cb",
		"https://app.example.com/cb2?tenant=a",
		"http://127.0.0.1/native",
		"http://[::1]:8080/native6",
		"http://localhost/loop",
	}
	cases := []struct {
		uri  string
		want string // "" means no match
	}{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"https://app.example.com/cb2?tenant=a", "https://app.example.com/cb2?tenant=a"},
		// §4.1 redirect URI tricks
		{"https://app.example.com@evil.com/cb", ""},
		{"https://app.example.com/cb@evil.com", ""},
		{"https://user@app.example.com/cb", ""},
		{"https://app.example.com@@evil.com/cb", ""},
		{"https://app.example.com/cb/..;/evil", ""},
		{"https://app.example.com/%2e%2e/cb", ""},
		{"https://app.example.com/x/%2e%2e/cb", ""},
		{"https://app.example.com/x/../cb", ""},
		{"https://app.example.com\\@evil.com/cb", ""},
		{"https://app.example.com/cb\\..\\evil", ""},
		{"https://APP.example.com/cb", ""},
		{"HTTPS://app.example.com/cb", ""},
		{"https://app.example.com/CB", ""},
		{"https://app.example.com/cb/", ""},
		{"https://app.example.com/cb?", ""},
		{"https://app.example.com/cb?x=1", ""},
		{"https://app.example.com/cb2?tenant=a&x=1", ""},
		{"https://app.example.com/cb2", ""},
		{"https://app.example.com/cb#frag", ""},
		{"https://app.example.com:443/cb", ""},
		{"https://app.example.com./cb", ""},
		{"http://app.example.com/cb", ""},
		{"https://app.example.com/cb%20", ""},
		// RFC 8252 §7.3: loopback port may vary, nothing else
		{"http://127.0.0.1:51004/native", "http://127.0.0.1/native"},
		{"http://127.0.0.1/native", "http://127.0.0.1/native"},
		{"http://[::1]:1234/native6", "http://[::1]:8080/native6"},
		{"http://localhost:3000/loop", "http://localhost/loop"},
		{"http://127.0.0.1:51004/native/", ""},
		{"http://127.0.0.1:51004/Native", ""},
		{"http://127.0.0.1:51004/native?x=1", ""},
		{"https://127.0.0.1:51004/native", ""},
		{"http://127.0.0.2:51004/native", ""},
		{"http://127.0.0.1:abc/native", ""},
		{"http://127.0.0.1:/native", ""},
		{"http://127.0.0.1:123456/native", ""},
		// §4.2: a registered http://localhost must not let codes travel to other hosts
		{"http://localhost.evil.com/loop", ""},
		{"http://localhost@evil.com/loop", ""},
		{"http://localhost:80@evil.com/loop", ""},
		{"http://evil.com/loop", ""},
		{"http://localhost:3000\\@evil.com/loop", ""},
		{"http://LOCALHOST/loop", ""},
		// §4.3: script schemes never match
		{"javascript:alert(1)", ""},
		{"JaVaScRiPt:alert(1)//https://app.example.com/cb", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"", ""},
	}
	for _, c := range cases {
		got, ok := MatchRedirectURI(registered, c.uri)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("MatchRedirectURI(%q) = %q, %v; want %q", c.uri, got, ok, c.want)
		}
	}
}

// TestRedirectURIRegistration covers §4.3 (script and data targets refused at registration,
// any case) and RFC 9700 (no plain http except loopback; no fragment).
func TestRedirectURIRegistration(t *testing.T) {
	t.Parallel()
	ok := []string{
		"https://app.example.com/cb",
		"https://app.example.com/cb?tenant=a",
		"http://127.0.0.1/native",
		"http://[::1]:8080/native",
		"http://localhost:3000/cb",
		"com.example.app:/oauth2redirect",
	}
	for _, u := range ok {
		if err := ValidateRedirectURI(u); err != nil {
			t.Errorf("ValidateRedirectURI(%q) = %v, want ok", u, err)
		}
	}
	bad := []string{
		"", " https://app.example.com/cb", "/relative/cb", "app.example.com/cb",
		"https://app.example.com/cb#frag", "https://app.example.com/cb#",
		"https://user:pw@app.example.com/cb", "https:///cb",
		"http://app.example.com/cb", "http://192.168.1.10/cb", "http://localhost.evil.com/cb",
		"javascript:alert(1)", "JAVASCRIPT:alert(1)", "JavaScript://app.example.com/%0aalert(1)",
		"data:text/html,hi", "DaTa:text/html,hi", "vbscript:msgbox(1)", "file:///etc/passwd",
		"myapp:/cb", "https://app.example.com\\cb",
	}
	for _, u := range bad {
		if err := ValidateRedirectURI(u); !errors.Is(err, ErrInvalidRedirectURI) {
			t.Errorf("ValidateRedirectURI(%q) = %v, want ErrInvalidRedirectURI", u, err)
		}
	}
}
