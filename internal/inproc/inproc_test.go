package inproc

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestClient: requests below the base URL reach the handler as a listener would give
// them; anything else is refused without calling it; redirects are not followed; an
// answer over MaxResponse is an error, not a truncated body.
func TestClient(t *testing.T) {
	t.Parallel()
	calls := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /p/echo", func(w http.ResponseWriter, r *http.Request) {
		calls++
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path+"?"+r.URL.RawQuery)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(append([]byte(r.Host+" "+r.Header.Get("Authorization")+" "), b...))
	})
	mux.HandleFunc("GET /p/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/p/echo", http.StatusFound)
	})
	mux.HandleFunc("GET /p/huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 1<<20)
		for range 5 {
			if _, err := w.Write([]byte(chunk)); err != nil {
				return
			}
		}
	})
	c, err := Client("https://admin.example:8444/p", mux)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "https://admin.example:8444/p/echo?a=1", strings.NewReader("body"))
	req.Header.Set("Authorization", "Bearer t")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || string(b) != "admin.example:8444 Bearer t body" || resp.Header.Get("X-Path") != "/p/echo?a=1" {
		t.Fatalf("%d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, err = c.Get("https://admin.example:8444/p/moved")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect: %v %v", resp, err)
	}
	for _, u := range []string{"https://other.example:8444/p/echo", "http://admin.example:8444/p/echo", "https://admin.example:8444/q/echo", "https://admin.example:8444/pecho"} {
		if _, err := c.Post(u, "text/plain", strings.NewReader("x")); !errors.Is(err, ErrNotLocal) {
			t.Errorf("POST %s: %v", u, err)
		}
	}
	if calls != 1 {
		t.Fatalf("handler called %d times", calls)
	}
	if _, err := c.Get("https://admin.example:8444/p/huge"); err == nil {
		t.Fatal("an answer over MaxResponse was accepted")
	}
	if _, err := Client("/relative", mux); err == nil {
		t.Fatal("a relative base URL was accepted")
	}
}
