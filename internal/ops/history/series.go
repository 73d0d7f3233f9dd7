package history

// DefaultSeries are the admin dashboard's plots, the same queries as the Grafana
// dashboard in deploy/grafana (there per second or per node, here per minute on this
// node).
func DefaultSeries() []Series {
	return []Series{
		{
			// Sign-ins: every kind but transaction (internal/authn's kinds, and the
			// passwords and codes typed at the login pages).
			Name: "signins", Title: "Sign-ins per minute by outcome",
			Metric:  "signet_authn_outcomes_total",
			OneOf:   map[string][]string{"kind": {"push_login", "qr_login", "ciba", "password", "totp"}},
			GroupBy: "outcome", Kind: Rate,
		},
		{
			Name: "transactions", Title: "Transactions approved and denied per minute",
			Metric:  "signet_authn_outcomes_total",
			Match:   map[string]string{"kind": "transaction"},
			OneOf:   map[string][]string{"outcome": {"approved", "denied"}},
			GroupBy: "outcome", Kind: Rate,
		},
		{
			Name: "devices", Title: "Connected devices",
			Metric: "signet_device_connections", Kind: Gauge,
		},
		{
			// The cluster's count, the same on every node (internal/ops.EnrolledDevices).
			Name: "devices_enrolled", Title: "Enrolled devices",
			Metric: "signet_devices_enrolled", GroupBy: "state", Kind: Gauge,
		},
		{
			// Failed and throttled wake-ups, as the push failure alert counts them
			// (deploy/prometheus/signet-alerts.yml).
			Name: "push_failures", Title: "Push failures per minute by provider",
			Metric:  "signet_push_sends_total",
			OneOf:   map[string][]string{"outcome": {"failed", "retry"}},
			GroupBy: "provider", Kind: Rate,
		},
	}
}
