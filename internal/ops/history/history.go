// Package history keeps a short, in-memory history of a few metrics from the node's own
// Prometheus registry, so the admin console can draw small plots without a Prometheus
// server to ask. It reads the same registry /metrics serves: sampled every Step (a minute
// by default), the last Keep samples (an hour by default) kept in a ring buffer.
package history

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind says how a series turns metric values into points.
type Kind int

// The kinds of series.
const (
	// Rate is for counters: the increase per minute between two samples. A counter that
	// went down restarted (a process restart, a deleted and recreated child), so its
	// increase is its new value.
	Rate Kind = iota + 1
	// Gauge is for gauges: the sum of the matching series' values.
	Gauge
)

func (k Kind) String() string {
	switch k {
	case Rate:
		return "rate"
	case Gauge:
		return "gauge"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MaxLines bounds the lines of one plot, so that a label with many values cannot grow
// memory: when a plot has more groups, the MaxLines with the largest values in the newest
// sample are kept (lines already shown win ties), and the others, with their history,
// are dropped.
const MaxLines = 8

// Defaults for Options.
const (
	DefaultStep = time.Minute
	DefaultKeep = 60
)

// Series is one plot: which metric to read, which of its series, and how to split them
// into lines.
type Series struct {
	Name   string // stable identifier, unique among the History's series
	Title  string // what the plot shows, for people
	Metric string // metric family name, as exposed (signet_authn_outcomes_total)

	// Match keeps the series whose labels have these exact values (all of them); a
	// label the series lacks has the empty value, as in PromQL.
	Match map[string]string
	// OneOf keeps the series whose label has one of the listed values (for every label
	// named), like PromQL's kind=~"push_login|qr_login".
	OneOf map[string][]string
	// GroupBy, when set, names the label whose values are the plot's lines (outcome);
	// otherwise the matching series are summed into one line labelled with the Title.
	GroupBy string

	Kind Kind
}

// Options configure a History. The zero value of every field has a default.
type Options struct {
	Step   time.Duration    // between samples in Run; DefaultStep if zero
	Keep   int              // samples kept; DefaultKeep if zero
	Now    func() time.Time // the clock; time.Now if nil
	Series []Series         // the plots; DefaultSeries() if nil
	Logger *slog.Logger     // where Run reports failed gathers; discarded if nil
}

// Point is one sample of a line. Missing points (no data, the first sample of a rate, a
// value that was NaN or infinite) have no value and are drawn as gaps.
type Point struct {
	T       time.Time
	V       float64
	Missing bool
}

// Line is one label value's points, oldest first, one per sample in the plot's range.
type Line struct {
	Label  string
	Points []Point
}

// Plot is a snapshot of one series' history.
type Plot struct {
	Name, Title string
	Unit        string // "per minute" for a Rate, "" for a Gauge
	Lines       []Line // sorted by label
	Start, End  time.Time
	Step        time.Duration
}

// History samples a Prometheus gatherer and keeps the recent points of its series.
type History struct {
	g      prometheus.Gatherer
	step   time.Duration
	keep   int
	now    func() time.Time
	log    *slog.Logger
	series []Series
	wanted map[string]bool // metric family names the series read

	mu    sync.RWMutex
	times []time.Time // ring of sample times, aligned with every line's ring
	n     int         // samples in the ring (≤ keep)
	next  int         // ring index the next sample goes to
	plots []*plot     // one per series
}

// plot is the state of one series.
type plot struct {
	lines map[string][]float64 // label → ring of values, NaN where missing

	// Rate only: the counter value per child series (by label set) at prevT, the last
	// sample that saw the metric family or knew it had no children.
	prev  map[string]float64
	prevT time.Time
}

// New returns a History of g's series. It panics if a series has no name, no metric or
// no kind, or if two share a name: series are fixed in code, so that is a programming
// error, like a duplicate Prometheus registration.
func New(g prometheus.Gatherer, opts Options) *History {
	h := &History{
		g: g, step: opts.Step, keep: opts.Keep, now: opts.Now, log: opts.Logger,
		series: slices.Clone(opts.Series), wanted: map[string]bool{},
	}
	if h.step <= 0 {
		h.step = DefaultStep
	}
	if h.keep <= 0 {
		h.keep = DefaultKeep
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.series == nil {
		h.series = DefaultSeries()
	}
	names := map[string]bool{}
	for _, s := range h.series {
		switch {
		case s.Name == "":
			panic("history: series without a name")
		case names[s.Name]:
			panic("history: duplicate series " + s.Name)
		case s.Metric == "":
			panic("history: series " + s.Name + " names no metric")
		case s.Kind != Rate && s.Kind != Gauge:
			panic("history: series " + s.Name + " has no kind")
		}
		names[s.Name] = true
		h.wanted[s.Metric] = true
		h.plots = append(h.plots, &plot{lines: map[string][]float64{}})
	}
	h.times = make([]time.Time, h.keep)
	return h
}

// Run samples now and then every Step until ctx is done.
func (h *History) Run(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	t := time.NewTicker(h.step)
	defer t.Stop()
	for {
		if err := h.Sample(); err != nil {
			h.log.Warn("metrics history: sample taken from a partial gather", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// child is one series of a metric family, reduced to what a plot needs.
type child struct {
	key    string // the label set, identifying the child across samples
	labels map[string]string
	v      float64
}

// Sample gathers the registry once and adds a point to every line. If the gather
// failed in part, the sample is still taken from what it returned (the metrics it lost
// are missing from this sample) and the error is returned.
func (h *History) Sample() error {
	fams, gatherErr := h.g.Gather()
	// Families that the gather returned; with a failed gather, an absent family may
	// merely have failed, and a rate must not take that for "no children".
	seen := map[string][]child{}
	for _, f := range fams {
		if !h.wanted[f.GetName()] {
			continue
		}
		children := []child{}
		for _, m := range f.GetMetric() {
			var v float64
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				v = m.GetUntyped().GetValue()
			default: // histograms and summaries are not plotted
				continue
			}
			c := child{labels: make(map[string]string, len(m.GetLabel())), v: v}
			var key strings.Builder
			for _, lp := range m.GetLabel() {
				c.labels[lp.GetName()] = lp.GetValue()
				key.WriteString(lp.GetName())
				key.WriteByte(0)
				key.WriteString(lp.GetValue())
				key.WriteByte(0)
			}
			c.key = key.String()
			children = append(children, c)
		}
		seen[f.GetName()] = children
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	slot := h.next
	h.times[slot] = now
	if h.n < h.keep {
		h.n++
	}
	h.next = (h.next + 1) % h.keep
	for i, s := range h.series {
		p := h.plots[i]
		children, ok := seen[s.Metric]
		if !ok && gatherErr == nil {
			children, ok = nil, true // the family has no children (or is not registered)
		}
		var values map[string]float64
		if ok {
			switch s.Kind {
			case Rate:
				values = p.rate(s, children, now)
			case Gauge:
				values = gauge(s, children)
			}
		}
		p.store(slot, values, h.keep)
	}
	if gatherErr != nil {
		return fmt.Errorf("gather metrics: %w", gatherErr)
	}
	return nil
}

// match reports whether a child belongs to s, and the line it belongs to.
func (s *Series) match(labels map[string]string) (line string, ok bool) {
	for name, want := range s.Match {
		if labels[name] != want {
			return "", false
		}
	}
	for name, values := range s.OneOf {
		if !slices.Contains(values, labels[name]) {
			return "", false
		}
	}
	if s.GroupBy == "" {
		return s.label(), true
	}
	return labels[s.GroupBy], true
}

// label is the one line's label of an ungrouped series.
func (s *Series) label() string {
	if s.Title != "" {
		return s.Title
	}
	return s.Name
}

// gauge sums the matching children per line.
func gauge(s Series, children []child) map[string]float64 {
	values := map[string]float64{}
	for _, c := range children {
		if line, ok := s.match(c.labels); ok {
			values[line] += c.v
		}
	}
	return values
}

// rate returns the increase per minute of the matching children per line since the
// previous sample, or nil if there is no previous sample to compare with; it remembers
// the children's values for the next.
func (p *plot) rate(s Series, children []child, now time.Time) map[string]float64 {
	cur := map[string]float64{}
	values := map[string]float64{}
	elapsed := now.Sub(p.prevT)
	compare := p.prev != nil && elapsed > 0
	for _, c := range children {
		line, ok := s.match(c.labels)
		if !ok || math.IsNaN(c.v) || math.IsInf(c.v, 0) {
			continue
		}
		cur[c.key] = c.v
		if !compare {
			continue
		}
		// A child first seen now was created since the previous sample, at zero.
		inc := c.v
		if old, ok := p.prev[c.key]; ok && c.v >= old {
			inc = c.v - old
		}
		values[line] += inc
	}
	p.prev, p.prevT = cur, now
	if !compare {
		return nil
	}
	perMinute := float64(time.Minute) / float64(elapsed)
	for line, inc := range values {
		values[line] = inc * perMinute
	}
	return values
}

// store puts one sample's values in the ring at slot: the MaxLines largest lines, each
// new one missing for the samples before it; lines missing from every kept sample are
// dropped.
func (p *plot) store(slot int, values map[string]float64, keep int) {
	labels := make([]string, 0, len(p.lines)+len(values))
	for l := range p.lines {
		labels = append(labels, l)
	}
	for l := range values {
		if _, ok := p.lines[l]; !ok {
			labels = append(labels, l)
		}
	}
	if len(labels) > MaxLines {
		rank := func(l string) float64 {
			v, ok := values[l]
			if !ok || math.IsNaN(v) {
				return math.Inf(-1)
			}
			return v
		}
		slices.SortFunc(labels, func(a, b string) int {
			if ra, rb := rank(a), rank(b); ra != rb {
				if ra > rb {
					return -1
				}
				return 1
			}
			_, oldA := p.lines[a]
			_, oldB := p.lines[b]
			if oldA != oldB {
				if oldA {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
		for _, l := range labels[MaxLines:] {
			delete(p.lines, l)
		}
		labels = labels[:MaxLines]
	}
	for _, l := range labels {
		ring, ok := p.lines[l]
		if !ok {
			ring = make([]float64, keep)
			for i := range ring {
				ring[i] = math.NaN()
			}
			p.lines[l] = ring
		}
		v, ok := values[l]
		if !ok || math.IsInf(v, 0) {
			v = math.NaN()
		}
		ring[slot] = v
		if !slices.ContainsFunc(ring, func(v float64) bool { return !math.IsNaN(v) }) {
			delete(p.lines, l)
		}
	}
}

// Plots returns a copy of every series' history, in the order of the series.
func (h *History) Plots() []Plot {
	h.mu.RLock()
	defer h.mu.RUnlock()
	plots := make([]Plot, len(h.series))
	first := (h.next - h.n + h.keep) % h.keep
	for i, s := range h.series {
		pl := Plot{Name: s.Name, Title: s.Title, Step: h.step, Lines: []Line{}}
		if s.Kind == Rate {
			pl.Unit = "per minute"
		}
		if h.n > 0 {
			pl.Start, pl.End = h.times[first], h.times[(h.next-1+h.keep)%h.keep]
		}
		for label, ring := range h.plots[i].lines {
			line := Line{Label: label, Points: make([]Point, h.n)}
			for k := range h.n {
				j := (first + k) % h.keep
				line.Points[k] = Point{T: h.times[j], V: ring[j], Missing: math.IsNaN(ring[j])}
				if line.Points[k].Missing {
					line.Points[k].V = 0
				}
			}
			pl.Lines = append(pl.Lines, line)
		}
		slices.SortFunc(pl.Lines, func(a, b Line) int { return strings.Compare(a.Label, b.Label) })
		plots[i] = pl
	}
	return plots
}
