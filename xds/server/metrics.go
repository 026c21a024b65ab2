package server

import "github.com/prometheus/client_golang/prometheus"

// metrics are the ADS server's instruments. The type_url label holds the
// short kind of the type ("listener", "route", "cluster", "endpoint" or
// "other") so that it stays bounded whatever clients send.
type metrics struct {
	streams prometheus.Gauge
	pushes  *prometheus.CounterVec
	acks    *prometheus.CounterVec
	nacks   *prometheus.CounterVec
	// answerTime is how long clients take to ACK or NACK a response.
	answerTime *prometheus.HistogramVec
	// rejected counts the connections whose TLS handshake failed, by
	// reason, which is one of refusalReasons.
	rejected *prometheus.CounterVec
}

// newMetrics creates the instruments and registers them with reg when reg
// is not nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spillway_xds_streams",
			Help: "Open xDS streams, SotW and delta.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_xds_pushes_total",
			Help: "xDS responses sent, by resource type.",
		}, []string{"type_url"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_xds_acks_total",
			Help: "xDS responses accepted by clients, by resource type.",
		}, []string{"type_url"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_xds_nacks_total",
			Help: "xDS responses rejected by clients, by resource type.",
		}, []string{"type_url"}),
		answerTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spillway_xds_answer_seconds",
			Help:    "Time from an xDS response to the client's ACK or NACK of it, by resource type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"type_url"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_xds_rejected_connections_total",
			Help: "xDS connections whose TLS handshake failed or refused the client, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range refusalReasons {
		m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.streams, m.pushes, m.acks, m.nacks, m.answerTime, m.rejected)
	}
	return m
}
