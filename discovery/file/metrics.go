package file

import (
	"time"

	"github.com/spillway/spillway/discovery"
)

// setUp records whether the file is usable: for Up, and in the up gauge if
// there are metrics.
func (s *Source) setUp(up bool) {
	s.up.Store(up)
	if s.m != nil {
		v := 0.0
		if up {
			v = 1
		}
		s.m.Up.WithLabelValues(metricsSource).Set(v)
	}
}

// countError counts a failed read or parse, if there are metrics.
func (s *Source) countError(reason string) {
	if s.m != nil {
		s.m.Errors.WithLabelValues(metricsSource, reason).Inc()
	}
}

// observe records a delivered catalog, if there are metrics.
func (s *Source) observe(prev, next *discovery.Catalog) {
	if s.m != nil {
		s.m.Observe(metricsSource, prev, next)
	}
}

// observeRead records one read of the file, changed or not: how long it
// took and, if it failed, the failure. Every failed read counts, as every
// failed query of a Consul agent does, though each is logged only once.
func (s *Source) observeRead(took time.Duration, err error) {
	if s.m == nil {
		return
	}
	s.m.WatchLatency.WithLabelValues(metricsSource).Observe(took.Seconds())
	if err != nil {
		s.countError("read")
	}
}
