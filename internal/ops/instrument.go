package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Instrument wraps a listener's router (an *http.ServeMux, so that the matched route
// pattern is known after it ran): it assigns a request id (reusing a well-formed incoming
// X-Request-Id, for correlation through a proxy), echoes it in the response, counts the
// request and its latency per route pattern and status, and writes one access-log line.
func (m *Metrics) Instrument(listener string, log *slog.Logger, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		r2 := r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { // the handler chose to abort; net/http handles it
				panic(p)
			}
			log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
				slog.String("listener", listener), slog.String("request_id", id),
				slog.String("route", r2.Pattern), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if !rec.wroteHeader {
				http.Error(rec, "internal server error (request "+id+")", http.StatusInternalServerError)
			}
			m.observe(listener, r2.Pattern, r.Method, rec.status, time.Since(start))
		}()
		mux.ServeHTTP(rec, r2)

		elapsed := time.Since(start)
		route := m.observe(listener, r2.Pattern, r.Method, rec.status, elapsed)
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		log.LogAttrs(r.Context(), level, "request",
			slog.String("listener", listener), slog.String("request_id", id),
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", rec.status), slog.Duration("duration", elapsed))
	})
}

// observe counts one request and returns its route label.
func (m *Metrics) observe(listener, pattern, method string, status int, elapsed time.Duration) string {
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	method, code := methodLabel(method), strconv.Itoa(status)
	m.requests.WithLabelValues(listener, route, method, code).Inc()
	m.duration.WithLabelValues(listener, route, method, code).Observe(elapsed.Seconds())
	return route
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status code; Unwrap keeps http.ResponseController
// (flush, hijack for WebSockets, deadlines) working through it.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
