package ops

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// series returns the value of each series of the named counter (or the sample count of
// each series of the named histogram), by "route method code".
func series(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			key := l["listener"] + " " + l["route"] + " " + l["method"] + " " + l["code"]
			out[key] = s.GetCounter().GetValue() + float64(s.GetHistogram().GetSampleCount())
		}
	}
	return out
}

func newInstrumented(t testing.TB, log *slog.Logger) (*Metrics, http.Handler) {
	t.Helper()
	m := NewMetrics("test")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /id", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, RequestID(r.Context()))
	})
	mux.HandleFunc("POST /created", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	return m, m.Instrument("public", log, mux)
}

func TestInstrumentRequestID(t *testing.T) {
	t.Parallel()
	_, h := newInstrumented(t, slog.New(slog.DiscardHandler))
	get := func(incoming string) (header, seen string) {
		r := httptest.NewRequest("GET", "/id", nil)
		if incoming != "" {
			r.Header.Set(RequestIDHeader, incoming)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header().Get(RequestIDHeader), w.Body.String()
	}
	a, seenA := get("")
	b, _ := get("")
	if !validRequestID(a) || len(a) < 18 || a == b || seenA != a {
		t.Fatalf("new ids %q and %q, handler saw %q", a, b, seenA)
	}
	if id, seen := get("trace-abc.123"); id != "trace-abc.123" || seen != id {
		t.Fatalf("well-formed incoming id replaced: %q, handler saw %q", id, seen)
	}
	if id, _ := get("bad id <script>"); id == "bad id <script>" || !validRequestID(id) {
		t.Fatalf("malformed incoming id kept: %q", id)
	}
	if RequestID(context.Background()) != "" {
		t.Fatal("a request id outside a request")
	}
}

func TestInstrumentContextCancellation(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cancel", func(w http.ResponseWriter, r *http.Request) {
		// Contexts derived from the request's still see its values and cancellation.
		ctx, cancel := context.WithTimeout(r.Context(), time.Hour)
		defer cancel()
		if RequestID(ctx) == "" || ctx.Err() != nil {
			w.WriteHeader(http.StatusTeapot)
		}
		close(started)
		<-ctx.Done() // the test cancels the request
		w.WriteHeader(http.StatusNoContent)
	})
	h := NewMetrics("test").Instrument("public", slog.New(slog.DiscardHandler), mux)
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/cancel", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(w, r)
		close(done)
	}()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the request did not reach a context derived in the handler")
	}
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
}

func TestInstrumentCountsAndLogs(t *testing.T) {
	t.Parallel()
	var logged strings.Builder
	m, h := newInstrumented(t, slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for _, req := range []struct{ method, path string }{
		{"GET", "/id"}, {"GET", "/id"}, {"POST", "/created"}, {"GET", "/nowhere"}, {"GET", "/panic"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	want := map[string]float64{
		"public GET /id GET 200":        2,
		"public POST /created POST 201": 1,
		"public unmatched GET 404":      1,
		"public GET /panic GET 500":     1,
	}
	for _, name := range []string{"signet_http_requests_total", "signet_http_request_duration_seconds"} {
		if got := series(t, m, name); !maps.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	for _, want := range []string{`msg=request`, `route="GET /id"`, `status=201`, `msg="handler panic"`} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("access log lacks %s:\n%s", want, logged.String())
		}
	}
}

// BenchmarkInstrument is the instrumentation's cost per request around a handler that
// does nothing.
func BenchmarkInstrument(b *testing.B) {
	m := NewMetrics("test")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/{realm}/protocol/openid-connect/token", func(http.ResponseWriter, *http.Request) {})
	h := m.Instrument("public", slog.New(slog.DiscardHandler), mux)
	r := httptest.NewRequest("POST", "/realms/demo/protocol/openid-connect/token", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// A streaming handler behind the instrumentation can flush: gRPC streams and
// server-sent events assert http.Flusher on the writer they get.
func TestInstrumentFlushes(t *testing.T) {
	t.Parallel()
	m := NewMetrics("test")
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("the instrumented writer is not an http.Flusher")
			return
		}
		_, _ = io.WriteString(w, "first")
		f.Flush()
	})
	h := m.Instrument("grpc", slog.New(slog.DiscardHandler), mux)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/stream", nil))
	if !w.Flushed || w.Body.String() != "first" {
		t.Errorf("flushed %v, body %q", w.Flushed, w.Body.String())
	}
}
