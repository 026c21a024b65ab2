package discovery

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the instruments every source reports through, labelled by
// source kind ("consul" or "file") so that one registry serves any source.
type Metrics struct {
	// Up is 1 while the source's last attempt to reach its backend worked.
	Up *prometheus.GaugeVec
	// Errors counts failed reads, labelled by source and reason.
	Errors *prometheus.CounterVec
	// Updates counts catalogs delivered.
	Updates *prometheus.CounterVec
	// Instances is the number of instances per service in the last catalog.
	Instances *prometheus.GaugeVec
	// WatchLatency is how long each read or blocking query took.
	WatchLatency *prometheus.HistogramVec
}

// NewMetrics creates the discovery instruments and registers them with reg
// when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_discovery_up",
			Help: "1 while the discovery source can reach its backend, else 0.",
		}, []string{"source"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_discovery_errors_total",
			Help: "Failed reads of the discovery backend.",
		}, []string{"source", "reason"}),
		Updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_discovery_updates_total",
			Help: "Catalogs delivered by the discovery source.",
		}, []string{"source"}),
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_discovery_instances",
			Help: "Instances per service in the last delivered catalog.",
		}, []string{"source", "service"}),
		WatchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spillway_discovery_watch_duration_seconds",
			Help:    "Duration of each read or blocking query of the backend.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.Up, m.Errors, m.Updates, m.Instances, m.WatchLatency)
	}
	return m
}

// Observe records a delivered catalog: one update and the instance count
// of every service, with services that vanished set back to zero.
func (m *Metrics) Observe(source string, prev, next *Catalog) {
	m.Updates.WithLabelValues(source).Inc()
	for _, s := range prev.Services() {
		if len(next.Instances(s)) == 0 {
			m.Instances.DeleteLabelValues(source, s)
		}
	}
	for _, s := range next.Services() {
		m.Instances.WithLabelValues(source, s).Set(float64(len(next.Instances(s))))
	}
}
