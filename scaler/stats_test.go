package scaler

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parseFile(t *testing.T, name string) *Snapshot {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, err := ParseStats(f)
	if err != nil {
		t.Fatalf("ParseStats(%s): %v", name, err)
	}
	return snap
}

func TestParseStatsEnvoyBody(t *testing.T) {
	snap := parseFile(t, "envoy_a_1.prom")
	gpu := snap.Clusters["gpu"]
	if gpu == nil {
		t.Fatalf("no gpu cluster in %v", snap.Clusters)
	}
	want := ClusterStats{Active: 12, Pending: 3, Requests: 1000, Healthy: 4, Members: 5}
	got := *gpu
	got.Latency = Histogram{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gpu scalars (-want +got):\n%s", diff)
	}
	h := gpu.Latency
	if len(h.Bounds) != 19 || h.Bounds[0] != 0.5 || h.Bounds[18] != 3600000 {
		t.Errorf("bounds = %v, want Envoy's 19 default bounds in ms", h.Bounds)
	}
	if h.Count != 1000 || math.Abs(h.Sum-19912345.6) > 1e-6 {
		t.Errorf("count, sum = %v, %v; want 1000, 19912345.6", h.Count, h.Sum)
	}
	if len(snap.Ignored) != 0 {
		t.Errorf("ignored = %v, want none", snap.Ignored)
	}
	if _, ok := snap.Clusters["xds_cluster"]; !ok {
		t.Error("xds_cluster missing: every labelled cluster should be kept")
	}
}

func TestParseStatsIgnoresBadValues(t *testing.T) {
	snap := parseFile(t, "envoy_bad_values.prom")
	gpu := snap.Clusters["gpu"]
	if gpu.Active != 0 || gpu.Pending != 0 || gpu.Requests != 1200 {
		t.Errorf("gpu = %+v, want active and pending dropped, requests kept", gpu)
	}
	if gpu.Latency.Count != 0 {
		t.Errorf("latency = %+v, want the non-cumulative histogram dropped", gpu.Latency)
	}
	var reasons []string
	for _, ig := range snap.Ignored {
		reasons = append(reasons, ig.String())
	}
	want := []string{
		"cluster gpu: envoy_cluster_upstream_rq_active: value is NaN",
		"cluster gpu: envoy_cluster_upstream_rq_pending_active: negative value -4",
		"cluster gpu: envoy_cluster_upstream_rq_time: bucket le=30000 is below the bucket before it",
	}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
}

func TestParseStatsSyntaxError(t *testing.T) {
	body := "# TYPE envoy_cluster_upstream_rq_active gauge\n" +
		"envoy_cluster_upstream_rq_active{envoy_cluster_name=\"gpu\" 3\n"
	_, err := ParseStats(strings.NewReader(body))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want a parse error naming line 2", err)
	}
}

func TestHistogramQuantile(t *testing.T) {
	// 50 requests: 10 up to 10 s, 30 more up to 30 s, 10 more up to 60 s.
	h := Histogram{Bounds: []float64{10000, 30000, 60000}, Counts: []float64{10, 40, 50}, Count: 50}
	tests := []struct {
		name string
		h    Histogram
		q    float64
		want float64
	}{
		{"median inside second bucket", h, 0.5, 20000},
		{"p95 inside third bucket", h, 0.95, 52500},
		{"p99", h, 0.99, 58500},
		{"first bucket from zero", h, 0.1, 5000},
		{"all requests", h, 1, 60000},
		{"rank in +Inf bucket gives last bound",
			Histogram{Bounds: []float64{100}, Counts: []float64{1}, Count: 10}, 0.9, 100},
		{"empty buckets skipped",
			Histogram{Bounds: []float64{1, 2, 3}, Counts: []float64{0, 0, 4}, Count: 4}, 0.5, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	if got := (Histogram{}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty histogram quantile = %v, want NaN", got)
	}
}

func TestHistogramSubAdd(t *testing.T) {
	a := Histogram{Bounds: []float64{1, 2}, Counts: []float64{1, 2}, Count: 3, Sum: 4}
	b := Histogram{Bounds: []float64{1, 2}, Counts: []float64{3, 5}, Count: 6, Sum: 10}
	d, ok := b.Sub(a)
	want := Histogram{Bounds: []float64{1, 2}, Counts: []float64{2, 3}, Count: 3, Sum: 6}
	if !ok || !cmp.Equal(d, want) {
		t.Errorf("b.Sub(a) = %+v, %v; want %+v, true", d, ok, want)
	}
	if _, ok := a.Sub(b); ok {
		t.Error("a.Sub(b) succeeded; a counter that went down must be refused")
	}
	other := Histogram{Bounds: []float64{1, 3}, Counts: []float64{3, 5}, Count: 6}
	if _, ok := other.Sub(a); ok {
		t.Error("Sub across different bounds succeeded")
	}
	sum, ok := (Histogram{}).Add(a)
	if !ok || !cmp.Equal(sum, a) {
		t.Errorf("empty.Add(a) = %+v, %v; want a", sum, ok)
	}
	sum, ok = a.Add(b)
	if !ok || sum.Count != 9 || sum.Counts[1] != 7 {
		t.Errorf("a.Add(b) = %+v, %v", sum, ok)
	}
	if _, ok := a.Add(other); ok {
		t.Error("Add across different bounds succeeded")
	}
}
