package messaging

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/push"
)

// Outcomes of a send, as the metrics label them.
const (
	OutcomeSent         = "sent"
	OutcomeInvalidToken = "invalid_token"
	OutcomeRetry        = "retry"
	OutcomeFailed       = "failed"
)

// Metrics counts what the senders and the delivery policy do, per provider.
type Metrics struct {
	sends         *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	invalidations *prometheus.CounterVec
	deliveries    *prometheus.CounterVec
}

// NewMetrics registers the messaging metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_push_sends_total",
			Help: "Push wake-ups sent to a provider, by provider and outcome (sent, invalid_token, retry, failed).",
		}, []string{"provider", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signet_push_send_duration_seconds",
			Help:    "Time a push provider took to answer one wake-up, by provider.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_push_token_invalidations_total",
			Help: "Device push tokens cleared because the provider no longer knows them, by provider.",
		}, []string{"provider"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_push_deliveries_total",
			Help: "How requests reached devices, by route: in_band (connected), push, reminder, no_registration (neither connected nor registered for push), no_credential, failed.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.sends, m.duration, m.invalidations, m.deliveries)
	return m
}

// instrument counts sender's sends under provider; a nil Metrics counts nothing.
func (m *Metrics) instrument(provider string, sender push.Sender) push.Sender {
	if m == nil {
		return sender
	}
	return &counted{m: m, provider: provider, next: sender}
}

func (m *Metrics) invalidated(provider string) {
	if m != nil {
		m.invalidations.WithLabelValues(provider).Inc()
	}
}

func (m *Metrics) delivered(route string) {
	if m != nil {
		m.deliveries.WithLabelValues(route).Inc()
	}
}

type counted struct {
	m        *Metrics
	provider string
	next     push.Sender
}

func (c *counted) Send(ctx context.Context, token string, msg push.Message) error {
	start := time.Now()
	err := c.next.Send(ctx, token, msg)
	c.m.duration.WithLabelValues(c.provider).Observe(time.Since(start).Seconds())
	c.m.sends.WithLabelValues(c.provider, Outcome(err)).Inc()
	return err
}

// Outcome names what a send's error means.
func Outcome(err error) string {
	var retry *push.RetryError
	switch {
	case err == nil:
		return OutcomeSent
	case errors.Is(err, push.ErrInvalidToken):
		return OutcomeInvalidToken
	case errors.As(err, &retry):
		return OutcomeRetry
	}
	return OutcomeFailed
}
