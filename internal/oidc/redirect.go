package oidc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MatchRedirectURI returns the registered URI that requested matches, and whether one does.
//
// RFC 9700 §2.1 and §4.1.3: redirect URIs are compared as exact strings. The one exception
// is RFC 8252 §7.3: a native app's loopback redirect (http on 127.0.0.1, [::1] or
// localhost) may use any port, because the app picks one at run time. Everything but the
// port must still be the same string, character for character, so no parser difference
// (userinfo, backslashes, dot segments, case, encodings) can send a code elsewhere.
func MatchRedirectURI(registered []string, requested string) (string, bool) {
	for _, r := range registered {
		if r == requested {
			return r, true
		}
	}
	reqBase, ok := loopbackWithoutPort(requested)
	if !ok {
		return "", false
	}
	for _, r := range registered {
		if regBase, ok := loopbackWithoutPort(r); ok && regBase == reqBase {
			return r, true
		}
	}
	return "", false
}

// loopbackWithoutPort returns an http loopback URI with its port removed, or false when
// the URI is not an http URI on a loopback host with at most a numeric port.
func loopbackWithoutPort(u string) (string, bool) {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	hostport, tail := rest[:end], rest[end:]
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", false
		}
	}
	switch host {
	case "127.0.0.1", "[::1]", "localhost":
		return "http://" + host + tail, true
	}
	return "", false
}

// ErrInvalidRedirectURI is returned for a redirect URI that may not be registered.
var ErrInvalidRedirectURI = errors.New("invalid redirect URI")

// ValidateRedirectURI checks a redirect URI at registration: absolute, no fragment
// (RFC 6749 §3.1.2), no userinfo, https, or http only on a loopback host (RFC 8252 §7.3),
// or a private-use scheme in reverse-domain form for native apps (RFC 8252 §7.1). Script
// and data schemes are refused in any case.
func ValidateRedirectURI(raw string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidRedirectURI, raw, why) }
	if raw == "" || strings.TrimSpace(raw) != raw || strings.ContainsAny(raw, " \t\r\n\\") {
		return bad("empty, or contains whitespace or a backslash")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URI")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "":
		return bad("not absolute")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("has a fragment")
	case u.User != nil:
		return bad("has userinfo")
	}
	switch scheme {
	case "javascript", "data", "vbscript", "file", "blob", "about":
		return bad("scheme " + scheme + " is not allowed")
	case "https":
		if u.Host == "" {
			return bad("has no host")
		}
		return nil
	case "http":
		if _, ok := loopbackWithoutPort(raw); !ok {
			return bad("plain http is only allowed on a loopback host (127.0.0.1, [::1] or localhost)")
		}
		return nil
	default:
		// RFC 8252 §7.1: private-use schemes use reverse domain names, e.g. com.example.app.
		if !strings.Contains(scheme, ".") {
			return bad("a private-use scheme must be a reverse domain name, like com.example.app")
		}
		return nil
	}
}
