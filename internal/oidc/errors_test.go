package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/store"
)

func TestJSONErrorResponses(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		err        error
		status     int
		code       string
		authHeader bool
	}{
		{InvalidGrant("code already used"), 400, "invalid_grant", false},
		{InvalidClient("client authentication failed"), 401, "invalid_client", true},
		{fmt.Errorf("revoke: get grant: %w: %w", store.ErrUnavailable, errors.New("dial tcp: refused")), 503, "temporarily_unavailable", false},
		{errors.New("secret detail: password=hunter2"), 500, "server_error", false},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/token", nil)
		JSONHandler(log, func(http.ResponseWriter, *http.Request) error { return c.err }).ServeHTTP(rec, req)
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != c.status || body["error"] != c.code {
			t.Errorf("%v: %d %v", c.err, rec.Code, body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%v: error response is cacheable", c.err)
		}
		if (rec.Header().Get("WWW-Authenticate") != "") != c.authHeader {
			t.Errorf("%v: WWW-Authenticate %q", c.err, rec.Header().Get("WWW-Authenticate"))
		}
		if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "dial") {
			t.Errorf("internal cause leaked: %s", rec.Body)
		}
	}
}
