package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if s, ok := ctx.Value(requestIDKey{}).(*requestState); ok {
		return s.id
	}
	return ""
}

// requestState is what Instrument keeps per request, in one allocation: it is the
// request's context (carrying the request id), the status recorder, and the backing
// of the X-Request-Id response header.
type requestState struct {
	context.Context
	id       string
	idHeader [1]string
	rec      statusRecorder
}

// Value answers the request id key itself and asks the parent context for anything else.
func (s *requestState) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return s
	}
	return s.Context.Value(key)
}

// Instrument wraps a listener's router (an *http.ServeMux, so that the matched route
// pattern is known after it ran): it assigns a request id (reusing a well-formed incoming
// X-Request-Id, for correlation through a proxy), echoes it in the response, counts the
// request and its latency per route pattern and status, and writes one access-log line.
func (m *Metrics) Instrument(listener string, log *slog.Logger, mux *http.ServeMux) http.Handler {
	routes := &routeMetrics{m: m, listener: listener, byKey: map[routeKey]routeSeries{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s := &requestState{Context: r.Context(), id: r.Header.Get(RequestIDHeader)}
		if !validRequestID(s.id) {
			s.id = newRequestID()
		}
		s.idHeader[0] = s.id
		w.Header()[RequestIDHeader] = s.idHeader[:]
		r2 := r.WithContext(s)
		rec := &s.rec
		rec.ResponseWriter, rec.status = w, http.StatusOK
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { // the handler chose to abort; net/http handles it
				panic(p)
			}
			log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
				slog.String("listener", listener), slog.String("request_id", s.id),
				slog.String("route", r2.Pattern), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if !rec.wroteHeader {
				http.Error(rec, "internal server error (request "+s.id+")", http.StatusInternalServerError)
			}
			routes.observe(r2.Pattern, r.Method, rec.status, time.Since(start))
		}()
		mux.ServeHTTP(rec, r2)

		elapsed := time.Since(start)
		route := routes.observe(r2.Pattern, r.Method, rec.status, elapsed)
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		if log.Enabled(r.Context(), level) {
			log.LogAttrs(r.Context(), level, "request",
				slog.String("listener", listener), slog.String("request_id", s.id),
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", rec.status), slog.Duration("duration", elapsed))
		}
	})
}

// routeMetrics holds one listener's request counter and latency histogram per route,
// method and status, so a request costs a map lookup instead of the label hashing and
// status formatting of WithLabelValues. Its size is bounded as the metrics' own label
// sets are: route patterns, the methods methodLabel allows, status codes.
type routeMetrics struct {
	m        *Metrics
	listener string
	mu       sync.RWMutex
	byKey    map[routeKey]routeSeries
}

type routeKey struct {
	pattern, method string
	status          int
}

type routeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// observe counts one request and returns its route label.
func (rm *routeMetrics) observe(pattern, method string, status int, elapsed time.Duration) string {
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	key := routeKey{route, methodLabel(method), status}
	rm.mu.RLock()
	series, ok := rm.byKey[key]
	rm.mu.RUnlock()
	if !ok {
		code := strconv.Itoa(status)
		series = routeSeries{
			requests: rm.m.requests.WithLabelValues(rm.listener, key.pattern, key.method, code),
			duration: rm.m.duration.WithLabelValues(rm.listener, key.pattern, key.method, code),
		}
		rm.mu.Lock()
		rm.byKey[key] = series
		rm.mu.Unlock()
	}
	series.requests.Inc()
	series.duration.Observe(elapsed.Seconds())
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

// requestIDPrefix is random per process, so ids from different nodes and restarts do
// not collide; a counter makes each request's unique. Request ids only correlate log
// lines: they need to be unique, not unguessable, and a counter is far cheaper than
// reading 12 random bytes per request.
var (
	requestIDPrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		return hex.EncodeToString(b[:]) + "-"
	}()
	requestIDCounter atomic.Uint64
)

func newRequestID() string {
	var buf [40]byte
	b := append(buf[:0], requestIDPrefix...)
	return string(strconv.AppendUint(b, requestIDCounter.Add(1), 36))
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

// Flush passes a flush on: streaming handlers (gRPC, server-sent events) assert
// http.Flusher on the writer they are given rather than use http.ResponseController.
func (s *statusRecorder) Flush() {
	s.wroteHeader = true
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}
