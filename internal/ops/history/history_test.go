package history_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/authn"
	"github.com/signet-auth/signet/internal/login"
	"github.com/signet-auth/signet/internal/messaging"
	"github.com/signet-auth/signet/internal/ops/history"
	"github.com/signet-auth/signet/internal/testutil"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the settable test clock.
type clock = testutil.Clock

func newOutcomes(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signet_authn_outcomes_total", Help: "h"},
		[]string{"kind", "outcome"})
	reg.MustRegister(c)
	return c
}

// sample advances the clock by d and takes a sample.
func sample(t *testing.T, h *history.History, c *clock, d time.Duration) {
	t.Helper()
	c.Advance(d)
	if err := h.Sample(); err != nil {
		t.Fatal(err)
	}
}

// plot returns the plot named name.
func plot(t *testing.T, h *history.History, name string) history.Plot {
	t.Helper()
	for _, p := range h.Plots() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no plot %q", name)
	return history.Plot{}
}

// line returns a plot's line as values, with NaN for missing points.
func line(t *testing.T, p history.Plot, label string) []float64 {
	t.Helper()
	for _, l := range p.Lines {
		if l.Label == label {
			var vs []float64
			for _, pt := range l.Points {
				if pt.Missing {
					vs = append(vs, math.NaN())
				} else {
					vs = append(vs, pt.V)
				}
			}
			return vs
		}
	}
	t.Fatalf("plot %s has no line %q; lines: %v", p.Name, label, labels(p))
	return nil
}

func labels(p history.Plot) []string {
	var ls []string
	for _, l := range p.Lines {
		ls = append(ls, l.Label)
	}
	return ls
}

func same(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool {
		return x == y || math.IsNaN(x) && math.IsNaN(y) || math.Abs(x-y) < 1e-9
	})
}

func wantLine(t *testing.T, p history.Plot, label string, want ...float64) {
	t.Helper()
	if got := line(t, p, label); !same(got, want) {
		t.Errorf("plot %s line %q = %v, want %v", p.Name, label, got, want)
	}
}

var nan = math.NaN()

func TestRate(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	outcomes := newOutcomes(reg)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Series: []history.Series{{
		Name: "all", Title: "All outcomes", Metric: "signet_authn_outcomes_total", Kind: history.Rate,
	}}})

	outcomes.WithLabelValues("push_login", "approved").Add(5)
	sample(t, h, c, 0)
	if p := plot(t, h, "all"); len(p.Lines) != 0 || p.Unit != "per minute" || !p.Start.Equal(t0) || !p.End.Equal(t0) {
		t.Fatalf("after one sample: %+v; want no lines (a rate needs two samples)", p)
	}

	outcomes.WithLabelValues("push_login", "approved").Add(3)
	sample(t, h, c, time.Minute)
	outcomes.WithLabelValues("push_login", "approved").Add(2)
	outcomes.WithLabelValues("qr_login", "denied").Add(2) // a child created since the last sample
	sample(t, h, c, 30*time.Second)
	sample(t, h, c, 2*time.Minute)

	p := plot(t, h, "all")
	// Ungrouped series are one line labelled with the title.
	wantLine(t, p, "All outcomes", nan, 3, 8, 0)
	if got := p.Lines[0].Points[2].T; !got.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("third point at %v, want %v", got, t0.Add(90*time.Second))
	}
	if !p.End.Equal(t0.Add(210*time.Second)) || p.Step != history.DefaultStep {
		t.Errorf("End %v Step %v", p.End, p.Step)
	}
}

func TestRateCounterReset(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	outcomes := newOutcomes(reg)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Series: []history.Series{{
		Name: "a", Metric: "signet_authn_outcomes_total", GroupBy: "outcome", Kind: history.Rate,
	}}})

	outcomes.WithLabelValues("ciba", "approved").Add(10)
	outcomes.WithLabelValues("ciba", "denied").Add(1)
	sample(t, h, c, 0)
	outcomes.WithLabelValues("ciba", "approved").Add(4)
	sample(t, h, c, time.Minute)
	// The child restarts from zero: a decrease is a restart, its increase the new value.
	outcomes.DeleteLabelValues("ciba", "approved")
	outcomes.WithLabelValues("ciba", "approved").Add(2)
	sample(t, h, c, time.Minute)

	// A restarted process: a new counter registered in place of the old one.
	reg.Unregister(outcomes)
	outcomes = newOutcomes(reg)
	outcomes.WithLabelValues("ciba", "approved").Add(1)
	outcomes.WithLabelValues("ciba", "denied").Add(1) // 1 → 1 is no increase
	sample(t, h, c, time.Minute)

	p := plot(t, h, "a")
	wantLine(t, p, "approved", nan, 4, 2, 1)
	wantLine(t, p, "denied", nan, 0, 0, 0)
}

func TestGauge(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	conns := 0.0
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "signet_device_connections", Help: "h"},
		func() float64 { return conns }))
	queues := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "queue", Help: "h"}, []string{"node", "queue"})
	reg.MustRegister(queues)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Series: []history.Series{
		{Name: "devices", Title: "Connected devices", Metric: "signet_device_connections", Kind: history.Gauge},
		{Name: "queues", Metric: "queue", GroupBy: "queue", Kind: history.Gauge},
	}})

	conns = 3
	queues.WithLabelValues("a", "mail").Set(2)
	queues.WithLabelValues("b", "mail").Set(5)
	sample(t, h, c, 0)
	conns = 7
	queues.WithLabelValues("a", "mail").Set(1)
	queues.WithLabelValues("a", "sms").Set(4) // a line that appears later
	sample(t, h, c, time.Minute)
	conns = math.NaN()
	queues.DeleteLabelValues("a", "sms") // a line that goes away again
	sample(t, h, c, time.Minute)

	p := plot(t, h, "devices")
	if p.Unit != "" {
		t.Errorf("gauge unit %q", p.Unit)
	}
	wantLine(t, p, "Connected devices", 3, 7, nan)
	q := plot(t, h, "queues")
	if got := labels(q); !slices.Equal(got, []string{"mail", "sms"}) {
		t.Fatalf("lines %v", got)
	}
	wantLine(t, q, "mail", 7, 6, 6)
	wantLine(t, q, "sms", nan, 4, nan)
}

func TestFiltersAndGroups(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	outcomes := newOutcomes(reg)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now}) // the default series

	add := func(base float64) {
		for kind, n := range map[string]float64{"push_login": 1, "qr_login": 2, "ciba": 4, "transaction": 8, "password": 16, "totp": 32} {
			for _, outcome := range []string{"approved", "denied", "expired"} {
				outcomes.WithLabelValues(kind, outcome).Add(base * n)
			}
		}
	}
	add(100)
	sample(t, h, c, 0)
	add(1)
	sample(t, h, c, time.Minute)

	signins := plot(t, h, "signins")
	if got := labels(signins); !slices.Equal(got, []string{"approved", "denied", "expired"}) {
		t.Fatalf("sign-in lines %v", got)
	}
	wantLine(t, signins, "approved", nan, 55) // push, QR, CIBA, password and TOTP; not transactions
	wantLine(t, signins, "expired", nan, 55)

	tx := plot(t, h, "transactions")
	if got := labels(tx); !slices.Equal(got, []string{"approved", "denied"}) {
		t.Fatalf("transaction lines %v", got)
	}
	wantLine(t, tx, "denied", nan, 8)

	// Metrics this registry does not have are plots without lines.
	if p := plot(t, h, "devices"); len(p.Lines) != 0 {
		t.Errorf("devices: %+v", p)
	}
}

func TestPushFailures(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	sends := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signet_push_sends_total", Help: "h"},
		[]string{"provider", "outcome"})
	reg.MustRegister(sends)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now})
	sample(t, h, c, 0)
	sends.WithLabelValues("fcm", messaging.OutcomeSent).Add(50)
	sends.WithLabelValues("fcm", messaging.OutcomeRetry).Add(3)
	sends.WithLabelValues("fcm", messaging.OutcomeFailed).Add(1)
	sends.WithLabelValues("apns", messaging.OutcomeInvalidToken).Add(2)
	sends.WithLabelValues("apns", messaging.OutcomeFailed).Add(2)
	sample(t, h, c, 2*time.Minute)

	p := plot(t, h, "push_failures")
	wantLine(t, p, "fcm", nan, 2)
	wantLine(t, p, "apns", nan, 1)
}

// TestDefaultSeriesNames keeps the default series in step with the label values the
// code records.
func TestDefaultSeriesNames(t *testing.T) {
	t.Parallel()
	byName := map[string]history.Series{}
	for _, s := range history.DefaultSeries() {
		byName[s.Name] = s
	}
	logins := []string{string(authn.KindPushLogin), string(authn.KindQRLogin), string(authn.KindCIBA), login.MethodPassword, login.MethodTOTP}
	if got := byName["signins"].OneOf["kind"]; !slices.Equal(got, logins) {
		t.Errorf("sign-in kinds %v, want %v", got, logins)
	}
	if got := byName["transactions"].Match["kind"]; got != string(authn.KindTransaction) {
		t.Errorf("transaction kind %q", got)
	}
	if got, want := byName["transactions"].OneOf["outcome"], []string{string(authn.Approved), string(authn.Denied)}; !slices.Equal(got, want) {
		t.Errorf("transaction outcomes %v, want %v", got, want)
	}
	if got, want := byName["push_failures"].OneOf["outcome"], []string{messaging.OutcomeFailed, messaging.OutcomeRetry}; !slices.Equal(got, want) {
		t.Errorf("push failure outcomes %v, want %v", got, want)
	}
}

func TestRingWraps(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "h"})
	reg.MustRegister(g)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Keep: 3, Step: time.Second, Series: []history.Series{
		{Name: "g", Metric: "g", Kind: history.Gauge},
	}})
	for i := range 7 {
		g.Set(float64(i))
		sample(t, h, c, time.Second)
	}
	p := plot(t, h, "g")
	wantLine(t, p, "g", 4, 5, 6)
	if !p.Start.Equal(t0.Add(5*time.Second)) || !p.End.Equal(t0.Add(7*time.Second)) || p.Step != time.Second {
		t.Errorf("Start %v End %v Step %v", p.Start, p.End, p.Step)
	}
	for i, pt := range p.Lines[0].Points {
		if want := t0.Add(time.Duration(5+i) * time.Second); !pt.T.Equal(want) {
			t.Errorf("point %d at %v, want %v", i, pt.T, want)
		}
	}

	// A line missing from every kept sample is dropped.
	reg.Unregister(g)
	for range 3 {
		sample(t, h, c, time.Second)
	}
	if p := plot(t, h, "g"); len(p.Lines) != 0 {
		t.Errorf("lines after the metric went away: %v", labels(p))
	}
}

func TestLinesCapped(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g", Help: "h"}, []string{"user"})
	reg.MustRegister(g)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Series: []history.Series{
		{Name: "g", Metric: "g", GroupBy: "user", Kind: history.Gauge},
	}})
	for i := range 20 {
		g.WithLabelValues(fmt.Sprintf("u%02d", i)).Set(float64(i))
	}
	sample(t, h, c, time.Minute)
	var want []string
	for i := 20 - history.MaxLines; i < 20; i++ {
		want = append(want, fmt.Sprintf("u%02d", i))
	}
	if got := labels(plot(t, h, "g")); !slices.Equal(got, want) {
		t.Fatalf("lines %v, want the %d largest %v", got, history.MaxLines, want)
	}

	// A new large value displaces the smallest line; ties keep the lines shown.
	g.WithLabelValues("u00").Set(100)
	g.WithLabelValues("u11").Set(13) // ties u13, which is shown
	sample(t, h, c, time.Minute)
	p := plot(t, h, "g")
	want = append([]string{"u00"}, want[1:]...)
	if got := labels(p); !slices.Equal(got, want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	wantLine(t, p, "u00", nan, 100)
	wantLine(t, p, "u19", 19, 19)
}

// flakyCollector fails to collect while fail is set, as a collector whose source is
// down does: the registry's gather returns an error, and the other collectors' metrics.
type flakyCollector struct {
	prometheus.Collector
	fail atomic.Bool
}

func (f *flakyCollector) Collect(ch chan<- prometheus.Metric) {
	if !f.fail.Load() {
		f.Collector.Collect(ch)
		return
	}
	descs := make(chan *prometheus.Desc, 1)
	f.Describe(descs)
	ch <- prometheus.NewInvalidMetric(<-descs, errors.New("source down"))
}

func TestPartialGather(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signet_authn_outcomes_total", Help: "h"},
		[]string{"kind", "outcome"})
	flaky := &flakyCollector{Collector: outcomes}
	reg.MustRegister(flaky)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Series: []history.Series{
		{Name: "a", Metric: "signet_authn_outcomes_total", GroupBy: "outcome", Kind: history.Rate},
	}})
	outcomes.WithLabelValues("ciba", "approved").Add(10)
	sample(t, h, c, 0)
	outcomes.WithLabelValues("ciba", "approved").Add(2)
	sample(t, h, c, time.Minute)

	flaky.fail.Store(true)
	c.Advance(time.Minute)
	if err := h.Sample(); err == nil {
		t.Fatal("failed gather: no error")
	}
	flaky.fail.Store(false)
	// The failed gather did not forget the counters: the increase spans both minutes.
	outcomes.WithLabelValues("ciba", "approved").Add(6)
	sample(t, h, c, time.Minute)
	wantLine(t, plot(t, h, "a"), "approved", nan, 2, nan, 3)
}

func TestConcurrentSampleAndPlots(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	outcomes := newOutcomes(reg)
	c := testutil.NewClock(t0)
	h := history.New(reg, history.Options{Now: c.Now, Keep: 10})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				outcomes.WithLabelValues("push_login", fmt.Sprint("o", (w+i)%12)).Inc()
				c.Advance(time.Second)
				if err := h.Sample(); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range 50 {
				for _, p := range h.Plots() {
					if len(p.Lines) > history.MaxLines {
						t.Errorf("%s has %d lines", p.Name, len(p.Lines))
					}
					for _, l := range p.Lines {
						if len(l.Points) > 10 {
							t.Errorf("%s %s has %d points", p.Name, l.Label, len(l.Points))
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if got := len(plot(t, h, "signins").Lines); got != history.MaxLines {
		t.Errorf("%d sign-in lines, want %d", got, history.MaxLines)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	// The bubble's clock is fake: time passes only when every goroutine in it waits.
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "g", Help: "h"},
			func() float64 { return 1 }))
		h := history.New(reg, history.Options{Series: []history.Series{{Name: "g", Metric: "g", Kind: history.Gauge}}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			h.Run(ctx)
			close(done)
		}()
		time.Sleep(3*time.Minute + time.Second)
		cancel()
		<-done
		p := h.Plots()[0]
		if got := len(p.Lines[0].Points); got != 4 {
			t.Errorf("%d samples after 3 minutes, want 4 (one at the start, one a minute)", got)
		}
		if got := p.End.Sub(p.Start); got != 3*time.Minute {
			t.Errorf("samples span %v", got)
		}
	})
}

func TestNewPanicsOnBadSeries(t *testing.T) {
	t.Parallel()
	for name, s := range map[string][]history.Series{
		"no name":   {{Metric: "m", Kind: history.Gauge}},
		"no metric": {{Name: "a", Kind: history.Gauge}},
		"no kind":   {{Name: "a", Metric: "m"}},
		"duplicate": {{Name: "a", Metric: "m", Kind: history.Gauge}, {Name: "a", Metric: "n", Kind: history.Rate}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			history.New(prometheus.NewRegistry(), history.Options{Series: s})
		})
	}
}
