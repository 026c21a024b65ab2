package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway/spillway/xds/translate"
)

// serveMetrics are the instruments of the serve pipeline; the cache, the
// ADS server and the discovery source register their own.
type serveMetrics struct {
	builds        *prometheus.CounterVec
	buildDuration prometheus.Histogram
	reloads       *prometheus.CounterVec
	catalogs      prometheus.Counter
	resources     *prometheus.GaugeVec
}

func newServeMetrics(reg prometheus.Registerer) *serveMetrics {
	m := &serveMetrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_snapshot_builds_total",
			Help: "Snapshot builds by result: published, or invalid when translation " +
				"or validation failed and the last good snapshot was kept.",
		}, []string{"result"}),
		buildDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spillway_snapshot_build_duration_seconds",
			Help:    "Time to translate, validate and publish one snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spillway_config_reloads_total",
			Help: "Config reloads by result: applied, or rejected when the new " +
				"config did not load or did not translate.",
		}, []string{"result"}),
		catalogs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spillway_catalog_updates_total",
			Help: "Catalogs received from the discovery source.",
		}),
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spillway_xds_resources",
			Help: "Resources in the published snapshot, per type.",
		}, []string{"type_url"}),
	}
	reg.MustRegister(m.builds, m.buildDuration, m.reloads, m.catalogs, m.resources)
	for _, r := range []string{"published", "invalid"} {
		m.builds.WithLabelValues(r)
	}
	for _, r := range []string{"applied", "rejected"} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

// observeResources sets the resource gauge from a published snapshot.
func (m *serveMetrics) observeResources(r *translate.Resources) {
	m.resources.WithLabelValues("cluster").Set(float64(len(r.Clusters)))
	m.resources.WithLabelValues("endpoint").Set(float64(len(r.Endpoints)))
	m.resources.WithLabelValues("listener").Set(float64(len(r.Listeners) + len(r.APIListeners)))
	m.resources.WithLabelValues("route").Set(float64(len(r.Routes)))
}
