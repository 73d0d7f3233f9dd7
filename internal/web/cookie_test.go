package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewHostCookie(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "__Host-x", "__Secure-x", "a b", "a;b", "a=b", "ä", "a\x00"} {
		if _, err := NewHostCookie(bad, http.SameSiteLaxMode); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	for _, ss := range []http.SameSite{0, http.SameSiteDefaultMode, http.SameSiteNoneMode} {
		if _, err := NewHostCookie("s", ss); err == nil {
			t.Errorf("SameSite %v accepted", ss)
		}
	}
	c, err := NewHostCookie("signet_session", http.SameSiteStrictMode)
	if err != nil || c.Name() != "__Host-signet_session" {
		t.Fatalf("%v %v", c, err)
	}
}

// setCookieHeader sets through an httptest response and returns the one Set-Cookie line.
func setCookieHeader(t *testing.T, f func(w http.ResponseWriter)) string {
	t.Helper()
	rec := httptest.NewRecorder()
	f(rec)
	lines := rec.Result().Header.Values("Set-Cookie")
	if len(lines) != 1 {
		t.Fatalf("Set-Cookie = %q", lines)
	}
	return lines[0]
}

func attributes(line string) map[string]string {
	attrs := map[string]string{}
	for i, part := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if i == 0 {
			attrs["name"], attrs["value"] = k, v
			continue
		}
		attrs[strings.ToLower(k)] = v
	}
	return attrs
}

func TestHostCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sameSite http.SameSite
		want     string
	}{{http.SameSiteLaxMode, "Lax"}, {http.SameSiteStrictMode, "Strict"}} {
		c, err := NewHostCookie("login", tt.sameSite)
		if err != nil {
			t.Fatal(err)
		}
		line := setCookieHeader(t, func(w http.ResponseWriter) {
			if err := c.Set(w, "abc.DEF-123_~", 90*time.Second+time.Millisecond); err != nil {
				t.Fatal(err)
			}
		})
		a := attributes(line)
		want := map[string]string{"name": "__Host-login", "value": "abc.DEF-123_~", "path": "/",
			"max-age": "91", "secure": "", "httponly": "", "samesite": tt.want}
		for k, v := range want {
			if got, ok := a[k]; !ok || got != v {
				t.Errorf("%s: %s = %q (present %v), want %q", line, k, got, ok, v)
			}
		}
		if _, ok := a["domain"]; ok || len(a) != len(want) {
			t.Errorf("unexpected attributes in %s", line)
		}

		// Cleared with the same attributes, an empty value and Max-Age=0.
		line = setCookieHeader(t, c.Clear)
		a = attributes(line)
		want["value"], want["max-age"] = "", "0"
		for k, v := range want {
			if got, ok := a[k]; !ok || got != v {
				t.Errorf("%s: %s = %q (present %v), want %q", line, k, got, ok, v)
			}
		}
		resp := &http.Response{Header: http.Header{"Set-Cookie": {line}}}
		if cs := resp.Cookies(); len(cs) != 1 || cs[0].MaxAge != -1 || cs[0].Domain != "" {
			t.Errorf("cleared cookie parses as %+v", cs)
		}
	}
}

func TestHostCookieSessionLifetime(t *testing.T) {
	t.Parallel()
	c, _ := NewHostCookie("s", http.SameSiteLaxMode)
	line := setCookieHeader(t, func(w http.ResponseWriter) { _ = c.Set(w, "v", 0) })
	if strings.Contains(line, "Max-Age") {
		t.Errorf("session cookie has Max-Age: %s", line)
	}
	if err := c.Set(httptest.NewRecorder(), "v", -time.Second); err == nil {
		t.Error("negative max age accepted")
	}
}

func TestHostCookieRefusesBadValues(t *testing.T) {
	t.Parallel()
	c, _ := NewHostCookie("s", http.SameSiteLaxMode)
	for _, bad := range []string{"", "a b", `a"b`, "a,b", "a;b", `a\b`, "a\x00", "a\x7f", "a\tb", "ä", "a\nSet-Cookie: x=y",
		strings.Repeat("a", maxCookieSize)} {
		rec := httptest.NewRecorder()
		if err := c.Set(rec, bad, time.Minute); err == nil || bad != "" && !errors.Is(err, ErrCookieValue) {
			t.Errorf("value %q: err = %v", bad, err)
		}
		if h := rec.Header().Values("Set-Cookie"); len(h) != 0 {
			t.Errorf("value %q: Set-Cookie written: %q", bad, h)
		}
	}
}

func TestHostCookieReadBack(t *testing.T) {
	t.Parallel()
	c, _ := NewHostCookie("session", http.SameSiteLaxMode)
	value := "Zm9v.YmFy-_=" // base64url with '=' is a valid cookie-octet
	line := setCookieHeader(t, func(w http.ResponseWriter) {
		if err := c.Set(w, value, time.Hour); err != nil {
			t.Fatal(err)
		}
	})
	// What the browser sends back: name=value only.
	pair, _, _ := strings.Cut(line, ";")
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Cookie", "other=1; "+pair+"; session=spoofed")
	if got, ok := c.Get(req); !ok || got != value {
		t.Errorf("Get = %q, %v; want %q", got, ok, value)
	}
	for _, header := range []string{"", "session=x", "__Host-session=", "__Secure-session=x"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			req.Header.Set("Cookie", header)
		}
		if got, ok := c.Get(req); ok {
			t.Errorf("Cookie %q: Get = %q", header, got)
		}
	}
}
