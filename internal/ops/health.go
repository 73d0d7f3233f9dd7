package ops

import (
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-auth/signet/internal/web"
)

// Component is one thing the health page reports on. Check is nil for parts that have no
// dependency to probe (a listener that is serving); a failing Check makes /readyz 503.
type Component struct {
	Name   string
	Detail string
	Check  func(ctx context.Context) error
}

// ComponentStatus is one component's line in the health report.
type ComponentStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "up" or "down"
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Report is the /health document.
type Report struct {
	Status        string            `json:"status"` // "up" when every component is up
	Version       string            `json:"version"`
	Dev           bool              `json:"dev"`
	StartedAt     time.Time         `json:"started_at"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Ready         bool              `json:"ready"`
	Components    []ComponentStatus `json:"components"`
}

// Health answers /livez, /readyz and /health.
type Health struct {
	version    string
	dev        bool
	started    time.Time
	timeout    time.Duration
	render     *web.Renderer
	log        *slog.Logger
	ready      atomic.Bool
	mu         sync.RWMutex
	components []Component
}

// NewHealth creates the health endpoints. Checks run concurrently, each bounded by timeout.
func NewHealth(version string, dev bool, started time.Time, timeout time.Duration, render *web.Renderer, log *slog.Logger) *Health {
	return &Health{version: version, dev: dev, started: started, timeout: timeout, render: render, log: log}
}

// Add registers components; the server adds its stores and listeners as they start.
func (h *Health) Add(cs ...Component) {
	h.mu.Lock()
	h.components = append(h.components, cs...)
	h.mu.Unlock()
}

// SetReady marks the node ready (after start) or not (while draining at shutdown).
func (h *Health) SetReady(ready bool) { h.ready.Store(ready) }

// Check probes every component concurrently and returns the report.
func (h *Health) Check(ctx context.Context) Report {
	h.mu.RLock()
	cs := append([]Component(nil), h.components...)
	h.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	out := make([]ComponentStatus, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		out[i] = ComponentStatus{Name: c.Name, Status: "up", Detail: c.Detail}
		if c.Check == nil {
			continue
		}
		wg.Go(func() {
			if err := c.Check(ctx); err != nil {
				out[i].Status, out[i].Error = "down", err.Error()
			}
		})
	}
	wg.Wait()
	rep := Report{
		Status: "up", Version: h.version, Dev: h.dev, StartedAt: h.started.UTC(),
		UptimeSeconds: time.Since(h.started).Seconds(), Ready: h.ready.Load(), Components: out,
	}
	for _, c := range out {
		if c.Status != "up" {
			rep.Status = "down"
		}
	}
	return rep
}

// Livez answers 200 while the process can serve HTTP at all.
func (h *Health) Livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// Readyz answers 200 when the node is started, not draining, and every dependency
// answers; otherwise 503 naming what is down.
func (h *Health) Readyz(w http.ResponseWriter, r *http.Request) {
	rep := h.Check(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var down []string
	if !rep.Ready {
		down = append(down, "node not started or draining")
	}
	for _, c := range rep.Components {
		if c.Status != "up" {
			down = append(down, c.Name+": "+c.Error)
		}
	}
	if len(down) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready\n" + strings.Join(down, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Page serves the health report as HTML, or as JSON for Accept: application/json.
func (h *Health) Page(w http.ResponseWriter, r *http.Request) {
	rep := h.Check(r.Context())
	status := http.StatusOK
	if rep.Status != "up" {
		status = http.StatusServiceUnavailable
	}
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(rep)
		return
	}
	data := struct {
		Report
		Uptime string
	}{rep, time.Duration(rep.UptimeSeconds * float64(time.Second)).Round(time.Second).String()}
	if err := h.render.Render(w, status, "health", "Health", data); err != nil {
		h.log.Error("render health page", "err", err)
	}
}

// wantsJSON prefers JSON when the client lists application/json before text/html.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "text/html":
			return false
		}
	}
	return false
}
