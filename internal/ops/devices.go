package ops

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/store"
)

// Defaults of the enrolled-devices collector.
const (
	// DefaultDeviceCountTTL is how long a count of the enrolled devices is reported
	// again before the database is asked anew: scrapes every few seconds, from several
	// Prometheus servers and the console's plots, cost one query per TTL.
	DefaultDeviceCountTTL = 15 * time.Second
	// deviceCountTimeout bounds one count, well within a scrape's timeout.
	deviceCountTimeout = 5 * time.Second
)

var devicesEnrolledDesc = prometheus.NewDesc("signet_devices_enrolled",
	"Devices enrolled in every realm, by state (active, locked), counted in the database at most once per 15 seconds; every node reports the same count.",
	[]string{"state"}, nil)

// enrolledStates are the states reported, each always (zero when no device has it):
// revoked devices are enrolled no more.
var enrolledStates = []store.DeviceState{store.DeviceActive, store.DeviceLocked}

// EnrolledDevices reports signet_devices_enrolled{state} from a count of the devices of
// every realm by state (store.Devices.CountDevices), kept for a TTL. A count that failed
// is kept as well, as no metric, so a database that is down is not asked at every
// scrape; signet_component_up tells why.
type EnrolledDevices struct {
	count func(context.Context) (map[store.DeviceState]int64, error)
	ttl   time.Duration
	now   func() time.Time

	mu     sync.Mutex // held while counting: concurrent scrapes share one count
	at     time.Time  // when counts was taken; zero before the first count
	counts map[store.DeviceState]int64
	failed bool
}

// NewEnrolledDevices returns a collector of count's answers, each reported for ttl
// (DefaultDeviceCountTTL when not positive); now is the clock (time.Now when nil).
func NewEnrolledDevices(count func(context.Context) (map[store.DeviceState]int64, error), ttl time.Duration, now func() time.Time) *EnrolledDevices {
	if ttl <= 0 {
		ttl = DefaultDeviceCountTTL
	}
	if now == nil {
		now = time.Now
	}
	return &EnrolledDevices{count: count, ttl: ttl, now: now}
}

// Describe sends the one metric's description.
func (e *EnrolledDevices) Describe(ch chan<- *prometheus.Desc) { ch <- devicesEnrolledDesc }

// Collect reports the count, counting again when the last count is older than the TTL.
func (e *EnrolledDevices) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now := e.now(); e.at.IsZero() || now.Sub(e.at) >= e.ttl || now.Before(e.at) {
		ctx, cancel := context.WithTimeout(context.Background(), deviceCountTimeout)
		counts, err := e.count(ctx)
		cancel()
		e.at, e.counts, e.failed = now, counts, err != nil
	}
	if e.failed {
		return
	}
	for _, s := range enrolledStates {
		ch <- prometheus.MustNewConstMetric(devicesEnrolledDesc, prometheus.GaugeValue, float64(e.counts[s]), string(s))
	}
}
