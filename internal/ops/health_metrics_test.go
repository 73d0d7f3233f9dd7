package ops

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHealthCollector: each scrape runs the checks: signet_component_up per component,
// and signet_ready 1 only while the node is ready and every component is up.
func TestHealthCollector(t *testing.T) {
	h := NewHealth("test", false, time.Now(), time.Second, nil, slog.New(slog.DiscardHandler))
	var dbDown atomic.Bool
	h.Add(Component{Name: "database", Check: func(context.Context) error {
		if dbDown.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}, Component{Name: "ephemeral store", Check: func(context.Context) error { return nil }})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	scrape := func(ready, db float64) {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				name := f.GetName()
				for _, l := range m.GetLabel() {
					name += "{" + l.GetValue() + "}"
				}
				got[name] = m.GetGauge().GetValue()
			}
		}
		want := map[string]float64{"signet_ready": ready, "signet_component_up{database}": db, "signet_component_up{ephemeral store}": 1}
		if !maps.Equal(got, want) {
			t.Errorf("scraped %v, want %v", got, want)
		}
	}
	scrape(0, 1) // not started yet
	h.SetReady(true)
	scrape(1, 1)
	dbDown.Store(true)
	scrape(0, 0)
	dbDown.Store(false)
	h.SetReady(false) // draining
	scrape(0, 1)
}
