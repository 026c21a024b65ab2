package keda

import (
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metrics are the external scaler's instruments. The method label is one
// of the four RPCs and code is a gRPC status code name, so both are
// bounded.
type metrics struct {
	requests *prometheus.CounterVec
	streams  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_keda_requests_total",
			Help: "Calls from KEDA to the external scaler by method and gRPC status code.",
		}, []string{"method", "code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spillway_keda_streams",
			Help: "StreamIsActive streams open now.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.streams)
	}
	return m
}

// observe counts a call and logs its outcome. An error is logged at Warn
// the first time a ScaledObject gets it and at Debug while it repeats, since
// KEDA asks again on every polling interval; a success clears it.
func (s *Server) observe(method string, q query, err error) {
	code := status.Code(err)
	s.metrics.requests.WithLabelValues(method, code.String()).Inc()
	if err == nil {
		s.log.Debug("keda request", "method", method, "scaled_object", q.ref,
			"pool", q.pool, "metric", q.metric)
		s.forget(q.ref)
		return
	}
	msg := status.Convert(err).Message()
	level := s.log.Debug
	if s.complain(q.ref, msg) && code != codes.Canceled {
		level = s.log.Warn
	}
	level("keda request failed", "method", method, "scaled_object", q.ref,
		"pool", q.pool, "code", code.String(), "err", msg)
}

// complain records msg as the last error of ref and reports whether it is
// new.
func (s *Server) complain(ref, msg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.complaints[ref] == msg {
		return false
	}
	s.complaints[ref] = msg
	return true
}

// forget clears the last error of ref.
func (s *Server) forget(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.complaints, ref)
}
