package events

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what Deliverers do.
type Metrics struct {
	attempts *prometheus.CounterVec
	givenUp  prometheus.Counter
	duration prometheus.Histogram
}

// NewMetrics registers the webhook delivery metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_webhook_attempts_total",
			Help: "Webhook and callback delivery attempts, by result: delivered (2xx), rejected (another status), refused (the outbound policy refused the target or a redirect), failed (no answer).",
		}, []string{"result"}),
		givenUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signet_webhook_deliveries_failed_total",
			Help: "Webhook and callback deliveries given up after their retries (they can be redelivered).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signet_webhook_attempt_duration_seconds",
			Help:    "Time one webhook or callback request took, answer or not.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
	}
	reg.MustRegister(m.attempts, m.givenUp, m.duration)
	for _, r := range []string{resultDelivered, resultRejected, resultRefused, resultFailed} {
		m.attempts.WithLabelValues(r) // export every series from the start
	}
	return m
}

// attempted counts one attempt; a nil Metrics counts nothing.
func (m *Metrics) attempted(result string, took time.Duration, givenUp bool) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(result).Inc()
	m.duration.Observe(took.Seconds())
	if givenUp {
		m.givenUp.Inc()
	}
}
