package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHostileInput sends every operation of the API path values and bodies no client
// should send (wrong types, absurd numbers, control characters, the wrong JSON shape)
// and checks each answer is a problem of the 4xx family, never a 5xx, and that the API
// still answers afterwards. The exchanges bypass the document's validator on purpose:
// they break it.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	// The rate limit would answer most of the sweep with 429 before any handler ran.
	e := newEnv(t, WithRateLimit(1<<20, time.Minute))
	u := e.newUser(t, "mallory")
	params := map[string][]string{
		"{realm}":      {realmName, "no-such-realm", "%00", strings.Repeat("r", 300)},
		"{user}":       {u.ID, "x", "%2F..%2F", strings.Repeat("u", 4000)},
		"{device}":     {"x", "-1"},
		"{activation}": {"x"},
		"{id}":         {"x", strings.Repeat("i", 300)},
		"{webhook}":    {"wh_missing", "%FF"},
		"{delivery}":   {"msg_abc", "msg_-1", "99999999999999999999", "0", "msg_"},
	}
	bodies := []string{``, `null`, `[]`, `"text"`, `7`, `{`, `{"ttl_seconds":-1}`, `{"ttl_seconds":1e300}`,
		`{"ttl_seconds":9223372036854775807}`, `{"username":"\u0000"}`, `{"user_id":{}}`, `{"grace_seconds":-99999999999}`,
		`{"callback_url":"https://a.example/x","callback_headers":{"Host":"evil"}}`, `{"url":"javascript:alert(1)"}`,
		`{"event_types":[` + strings.Repeat(`"a",`, 100) + `"a"]}`, `{"authorization_details":"not an array"}`}
	queries := []string{"", "?limit=-5", "?limit=99999999999999999999", "?cursor=%00garbage", "?state=%FF", "?force=maybe", "?event_seq=-1"}
	client := e.srv.Client()
	sent, refused, limited := 0, 0, 0
	send := func(method, path, body, query string) {
		t.Helper()
		req, err := http.NewRequest(method, e.srv.URL+BasePath+path+query, strings.NewReader(body))
		if err != nil {
			return // a URL Go itself refuses to build never reaches the server
		}
		req.Header.Set("Authorization", "Bearer "+e.token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s%s: %v", method, path, query, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		sent++
		if resp.StatusCode >= 400 {
			refused++
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s%s with %q: %d %s", method, path, query, body, resp.StatusCode, b)
		}
		if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s%s with %q: %d answered as %q", method, path, query, body, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	for _, rt := range e.api.routes() {
		paths := []string{rt.Path}
		for name, values := range params {
			var next []string
			for _, p := range paths {
				if !strings.Contains(p, name) {
					next = append(next, p)
					continue
				}
				for _, v := range values {
					next = append(next, strings.ReplaceAll(p, name, v))
				}
			}
			paths = next
		}
		for _, p := range paths {
			for _, q := range queries {
				send(rt.Method, p, "", q)
			}
			if rt.Method == "GET" || rt.Method == "DELETE" {
				continue
			}
			for _, b := range bodies {
				send(rt.Method, p, b, "")
			}
		}
	}
	// Still serving, and the sweep reached the handlers (not only the router).
	send("GET", "/realms/"+realmName+"/users/"+u.ID, "", "")
	if sent < 1000 || refused == sent || limited > sent/10 {
		t.Errorf("%d requests sent, %d refused: the sweep did not reach the operations", sent, refused)
	}
	t.Logf("%d hostile requests, %d refused, %d of them with 429", sent, refused, limited)
}
