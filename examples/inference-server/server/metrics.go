package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets span what inference takes, from 10 ms to five minutes,
// in seconds: the same bounds as the request-time histograms of the
// Envoy bootstraps in envoy-configs.
var durationBuckets = []float64{
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300,
}

// metrics are what a model server exports for autoscalers, named after
// the gauges of real servers (vLLM's num_requests_waiting and
// num_requests_running). Each Server has its own registry, so that
// several can run in one process.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration prometheus.Histogram
}

// newMetrics registers the metrics of s. The gauges are read from s when
// scraped, so they cannot drift from the state they describe.
func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inference_requests_total",
			Help: "Requests to /predict, /stream and gRPC UnaryCall by outcome, as an " +
				"HTTP status code (499: the client went away).",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "inference_request_duration_seconds",
			Help:    "Time from arrival to the last byte of successful requests, queueing included.",
			Buckets: durationBuckets,
		}),
	}
	m.registry.MustRegister(
		m.requests,
		m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "inference_requests_waiting",
			Help: "Requests queued for a slot.",
		}, func() float64 { waiting, _ := s.slots.counts(); return float64(waiting) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "inference_requests_running",
			Help: "Requests holding a slot.",
		}, func() float64 { _, running := s.slots.counts(); return float64(running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "inference_ready",
			Help: "1 when /health/ready answers 200, else 0.",
		}, func() float64 {
			if ready, _ := s.Ready(); ready {
				return 1
			}
			return 0
		}),
	)
	return m
}

// observe records the outcome of one request.
func (m *metrics) observe(code int, elapsed time.Duration) {
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == 200 {
		m.duration.Observe(elapsed.Seconds())
	}
}
