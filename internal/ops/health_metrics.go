package ops

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	readyDesc = prometheus.NewDesc("signet_ready",
		"1 when the node is started, not draining, and every dependency answers (what /readyz says); else 0.", nil, nil)
	componentDesc = prometheus.NewDesc("signet_component_up",
		"1 when the component (database, ephemeral store, a listener) answers its check at scrape time; else 0.",
		[]string{"component"}, nil)
)

// healthCollector reports the health checks at each scrape.
type healthCollector struct{ h *Health }

// Collector returns a Prometheus collector that runs the health checks at each scrape
// (bounded by the checks' timeout) and reports signet_ready and signet_component_up, so
// that alerts and dashboards read what /readyz answers.
func (h *Health) Collector() prometheus.Collector { return healthCollector{h} }

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- readyDesc
	ch <- componentDesc
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	rep := c.h.Check(context.Background())
	ready := rep.Ready
	for _, comp := range rep.Components {
		up := comp.Status == "up"
		ready = ready && up
		ch <- prometheus.MustNewConstMetric(componentDesc, prometheus.GaugeValue, gauge(up), comp.Name)
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, gauge(ready))
}

func gauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
