// Package scaler keeps each pool's queue depth and latency on target. It
// reads the Envoys' own stats (collect), turns them into a replica count with
// a human reason (decide), and changes the pool through an actuator (act).
// The decide step is a pure function so that the simulator in scaler/sim can
// replay traffic through exactly the algorithm that runs in production.
package scaler

import (
	"fmt"
	"io"
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The Envoy stats the scaler reads, as /stats/prometheus names them. Every
// one carries the label envoy_cluster_name; the histogram's bounds are in
// milliseconds.
const (
	metricActive   = "envoy_cluster_upstream_rq_active"
	metricPending  = "envoy_cluster_upstream_rq_pending_active"
	metricRequests = "envoy_cluster_upstream_rq_total"
	metricTime     = "envoy_cluster_upstream_rq_time"
	metricHealthy  = "envoy_cluster_membership_healthy"
	metricMembers  = "envoy_cluster_membership_total"
	labelCluster   = "envoy_cluster_name"
)

// ClusterStats is one Envoy's raw view of one upstream cluster: gauges as
// read, the request counter and latency histogram cumulative since that
// Envoy started.
type ClusterStats struct {
	Active   float64
	Pending  float64
	Requests float64
	Healthy  float64
	Members  float64
	Latency  Histogram
}

// Histogram is a cumulative latency histogram with bounds in milliseconds.
// Counts[i] is the number of requests that took at most Bounds[i]; Count is
// the total, the +Inf bucket.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// Ignored is a value the scaler read but did not use, and why.
type Ignored struct {
	Cluster string
	Metric  string
	Reason  string
}

// String formats the ignored value for logs and errors.
func (ig Ignored) String() string {
	return fmt.Sprintf("cluster %s: %s: %s", ig.Cluster, ig.Metric, ig.Reason)
}

// Snapshot is what one scrape of one Envoy yielded: the stats of every
// cluster it reports and the values that were dropped as unusable.
type Snapshot struct {
	Clusters map[string]*ClusterStats
	Ignored  []Ignored
}

// ParseStats reads an Envoy /stats/prometheus body. Metrics other than the
// ones the scaler needs are skipped; NaN, infinite and negative values are
// dropped and listed in Ignored rather than failing the whole scrape.
func ParseStats(r io.Reader) (*Snapshot, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing prometheus text: %w", err)
	}
	snap := &Snapshot{Clusters: make(map[string]*ClusterStats)}
	gauges := []struct {
		name string
		set  func(*ClusterStats, float64)
	}{
		{metricActive, func(c *ClusterStats, v float64) { c.Active = v }},
		{metricPending, func(c *ClusterStats, v float64) { c.Pending = v }},
		{metricRequests, func(c *ClusterStats, v float64) { c.Requests = v }},
		{metricHealthy, func(c *ClusterStats, v float64) { c.Healthy = v }},
		{metricMembers, func(c *ClusterStats, v float64) { c.Members = v }},
	}
	for _, g := range gauges {
		for _, m := range families[g.name].GetMetric() {
			snap.readScalar(g.name, m, g.set)
		}
	}
	for _, m := range families[metricTime].GetMetric() {
		snap.readHistogram(m)
	}
	return snap, nil
}

// cluster returns the stats of the cluster a metric is labelled with,
// creating them on first use; "" when the metric has no cluster label.
func (s *Snapshot) cluster(m *dto.Metric) (string, *ClusterStats) {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == labelCluster {
			name := lp.GetValue()
			c := s.Clusters[name]
			if c == nil {
				c = &ClusterStats{}
				s.Clusters[name] = c
			}
			return name, c
		}
	}
	return "", nil
}

func (s *Snapshot) readScalar(metric string, m *dto.Metric, set func(*ClusterStats, float64)) {
	name, c := s.cluster(m)
	if c == nil {
		return
	}
	v := scalarValue(m)
	if reason := badValue(v); reason != "" {
		s.Ignored = append(s.Ignored, Ignored{Cluster: name, Metric: metric, Reason: reason})
		return
	}
	set(c, v)
}

// scalarValue reads a sample whatever type line preceded it: Envoy marks
// counters and gauges, but a body without TYPE lines parses as untyped.
func scalarValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

func badValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "value is NaN"
	case math.IsInf(v, 0):
		return fmt.Sprintf("value is %v", v)
	case v < 0:
		return fmt.Sprintf("negative value %v", v)
	}
	return ""
}

func (s *Snapshot) readHistogram(m *dto.Metric) {
	name, c := s.cluster(m)
	if c == nil || m.Histogram == nil {
		return
	}
	h, reason := histogramFrom(m.GetHistogram())
	if reason != "" {
		s.Ignored = append(s.Ignored, Ignored{Cluster: name, Metric: metricTime, Reason: reason})
		return
	}
	c.Latency = h
}

// histogramFrom copies the finite buckets of a parsed histogram in bound
// order, and rejects one whose counts are invalid or not cumulative.
func histogramFrom(ph *dto.Histogram) (Histogram, string) {
	h := Histogram{Count: sampleCount(ph), Sum: ph.GetSampleSum()}
	buckets := slices.Clone(ph.GetBucket())
	slices.SortFunc(buckets, func(a, b *dto.Bucket) int {
		return compareFloat(a.GetUpperBound(), b.GetUpperBound())
	})
	for _, b := range buckets {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		h.Bounds = append(h.Bounds, b.GetUpperBound())
		h.Counts = append(h.Counts, bucketCount(b))
	}
	for _, v := range append([]float64{h.Count, h.Sum}, h.Counts...) {
		if reason := badValue(v); reason != "" {
			return Histogram{}, reason
		}
	}
	for i := 1; i < len(h.Counts); i++ {
		if h.Counts[i] < h.Counts[i-1] {
			return Histogram{}, fmt.Sprintf("bucket le=%v is below the bucket before it", h.Bounds[i])
		}
	}
	if n := len(h.Counts); n > 0 && h.Count < h.Counts[n-1] {
		return Histogram{}, "count is below the last finite bucket"
	}
	return h, ""
}

func sampleCount(ph *dto.Histogram) float64 {
	if ph.SampleCountFloat != nil {
		return ph.GetSampleCountFloat()
	}
	return float64(ph.GetSampleCount())
}

func bucketCount(b *dto.Bucket) float64 {
	if b.CumulativeCountFloat != nil {
		return b.GetCumulativeCountFloat()
	}
	return float64(b.GetCumulativeCount())
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sub returns the requests observed between an earlier histogram and h, and
// false when the two cannot be compared: the bounds differ, or a count went
// down because the Envoy restarted and its counters began again.
func (h Histogram) Sub(earlier Histogram) (Histogram, bool) {
	if !slices.Equal(h.Bounds, earlier.Bounds) || h.Count < earlier.Count {
		return Histogram{}, false
	}
	d := Histogram{
		Bounds: h.Bounds,
		Counts: make([]float64, len(h.Counts)),
		Count:  h.Count - earlier.Count,
		Sum:    h.Sum - earlier.Sum,
	}
	for i := range h.Counts {
		if h.Counts[i] < earlier.Counts[i] {
			return Histogram{}, false
		}
		d.Counts[i] = h.Counts[i] - earlier.Counts[i]
	}
	return d, true
}

// Add returns the bucket-wise sum of h and o, which must share bounds; an
// empty histogram takes the other's bounds.
func (h Histogram) Add(o Histogram) (Histogram, bool) {
	if len(h.Bounds) == 0 && h.Count == 0 {
		return o, true
	}
	if len(o.Bounds) == 0 && o.Count == 0 {
		return h, true
	}
	if !slices.Equal(h.Bounds, o.Bounds) {
		return h, false
	}
	sum := Histogram{
		Bounds: h.Bounds,
		Counts: make([]float64, len(h.Counts)),
		Count:  h.Count + o.Count,
		Sum:    h.Sum + o.Sum,
	}
	for i := range h.Counts {
		sum.Counts[i] = h.Counts[i] + o.Counts[i]
	}
	return sum, true
}

// Quantile estimates the q-quantile in milliseconds the way Prometheus's
// histogram_quantile does: linear interpolation inside the bucket that holds
// the rank, the lower edge of the first bucket taken as zero. A rank that
// falls in the +Inf bucket returns the largest finite bound, since nothing
// better is known. It returns NaN for an empty histogram.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count <= 0 || math.IsNaN(q) {
		return math.NaN()
	}
	rank := min(max(q, 0), 1) * h.Count
	lowerBound, lowerCount := 0.0, 0.0
	for i, bound := range h.Bounds {
		if h.Counts[i] >= rank && h.Counts[i] > lowerCount {
			frac := (rank - lowerCount) / (h.Counts[i] - lowerCount)
			return lowerBound + (bound-lowerBound)*frac
		}
		lowerBound, lowerCount = bound, h.Counts[i]
	}
	return lowerBound
}
