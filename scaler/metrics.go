package scaler

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the scaler's instruments, labelled by pool. The decision
// counter's labels are bounded: direction is up, down or hold and
// reason_kind is one of the Kind constants.
type Metrics struct {
	Desired   *prometheus.GaugeVec
	Decisions *prometheus.CounterVec
	Stale     *prometheus.GaugeVec
	Queue     *prometheus.GaugeVec
	P95       *prometheus.GaugeVec
	// Actuations counts actuator calls by direction (up or down) and
	// result (ok or error); retries count again.
	Actuations *prometheus.CounterVec
	// DrainDuration is how long drains waited for their victims' requests
	// to finish, deadline included.
	DrainDuration *prometheus.HistogramVec
	// Leader is 1 while this process leads and runs the scale loop.
	Leader prometheus.Gauge
}

// NewMetrics creates the scaler instruments and registers them with reg
// when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_scaler_desired_replicas",
			Help: "Replicas the scaler last decided for the pool.",
		}, []string{"pool"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_scaler_decisions_total",
			Help: "Scaling decisions by direction and the rule that settled them.",
		}, []string{"pool", "direction", "reason_kind"}),
		Stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_scaler_signal_stale",
			Help: "1 while the pool's Envoy stats are stale and the pool is frozen, else 0.",
		}, []string{"pool"}),
		Queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_scaler_queue",
			Help: "Requests in flight plus requests pending in Envoy, summed over Envoys.",
		}, []string{"pool"}),
		P95: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_scaler_latency_p95_seconds",
			Help: "95th percentile upstream request time over the last stats interval.",
		}, []string{"pool"}),
		Actuations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_scaler_actuations_total",
			Help: "Actuator calls by direction (up, down) and result (ok, error).",
		}, []string{"pool", "direction", "result"}),
		DrainDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spillway_scaler_drain_duration_seconds",
			Help: "Time from putting scale-in victims into maintenance until " +
				"they were drained or the drain deadline passed.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
		}, []string{"pool"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spillway_scaler_leader",
			Help: "1 while this scaler holds the leader lock and runs the scale loop, else 0.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Desired, m.Decisions, m.Stale, m.Queue, m.P95,
			m.Actuations, m.DrainDuration, m.Leader)
	}
	return m
}

// Observe records one round of a pool: the signal it saw and the decision.
// The queue and latency gauges keep their last fresh values while the
// signal is stale, since a stale value is not news.
func (m *Metrics) Observe(pool string, sig Signal, d Decision) {
	m.Desired.WithLabelValues(pool).Set(float64(d.Desired))
	m.Decisions.WithLabelValues(pool, d.Direction(), string(d.Kind)).Inc()
	if sig.Stale {
		m.Stale.WithLabelValues(pool).Set(1)
		return
	}
	m.Stale.WithLabelValues(pool).Set(0)
	m.Queue.WithLabelValues(pool).Set(sig.Demand())
	if sig.Samples > 0 {
		m.P95.WithLabelValues(pool).Set(sig.P95.Seconds())
	}
}

// Forget removes a pool's series, for a pool taken out of the config.
func (m *Metrics) Forget(pool string) {
	m.Desired.DeleteLabelValues(pool)
	m.Stale.DeleteLabelValues(pool)
	m.Queue.DeleteLabelValues(pool)
	m.P95.DeleteLabelValues(pool)
	m.Decisions.DeletePartialMatch(prometheus.Labels{"pool": pool})
	m.Actuations.DeletePartialMatch(prometheus.Labels{"pool": pool})
	m.DrainDuration.DeleteLabelValues(pool)
}
