package scaler_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/spillway/spillway/scaler"
)

// statsSeeds are bodies an Envoy or a proxy in front of it might serve,
// beside the recorded ones in testdata.
var statsSeeds = []string{
	"",
	"\n\n",
	"# TYPE envoy_cluster_upstream_rq_active gauge\n" +
		"envoy_cluster_upstream_rq_active{envoy_cluster_name=\"gpu\"} +Inf\n",
	"envoy_cluster_upstream_rq_active{envoy_cluster_name=\"gpu\"} 1\n" +
		"envoy_cluster_upstream_rq_active{envoy_cluster_name=\"gpu\"} 2\n",
	"# TYPE envoy_cluster_upstream_rq_time histogram\n" +
		"envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"gpu\",le=\"NaN\"} 1\n" +
		"envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"gpu\",le=\"5\"} 1e308\n" +
		"envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=\"gpu\",le=\"5\"} 0\n" +
		"envoy_cluster_upstream_rq_time_sum{envoy_cluster_name=\"gpu\"} -0\n" +
		"envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"gpu\"} 1\n",
	"# TYPE envoy_cluster_membership_total counter\n" +
		"envoy_cluster_membership_total{envoy_cluster_name=\"\\u00ff\"} 3 1700000000000\n",
	"envoy_cluster_upstream_rq_total{envoy_cluster_name=\"gpu\"",
	"# HELP x \\\n# TYPE x untyped\nx{a=\"\\\"\"} 1\n",
}

// FuzzParseStats checks that no body makes ParseStats panic, and that
// what it keeps from any body is what the scaler may compute with: every
// value finite and not negative, and every latency histogram cumulative,
// with its bounds in order, one count per bound, and a quantile that does
// not panic.
func FuzzParseStats(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.prom"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no stats bodies in testdata: %v", err)
	}
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range statsSeeds {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		snap, err := scaler.ParseStats(bytes.NewReader(body))
		if err != nil {
			if snap != nil {
				t.Fatal("ParseStats returned a snapshot with an error")
			}
			return
		}
		if snap == nil || snap.Clusters == nil {
			t.Fatal("ParseStats returned neither a snapshot nor an error")
		}
		for name, c := range snap.Clusters {
			checkCluster(t, name, c)
		}
		for _, ig := range snap.Ignored {
			if ig.Reason == "" || ig.Metric == "" {
				t.Fatalf("ignored value without a metric or a reason: %+v", ig)
			}
		}
	})
}

func checkCluster(t *testing.T, name string, c *scaler.ClusterStats) {
	t.Helper()
	if c == nil {
		t.Fatalf("cluster %q: no stats", name)
	}
	for _, v := range []float64{c.Active, c.Pending, c.Requests, c.Healthy, c.Members} {
		if !usable(v) {
			t.Fatalf("cluster %q: kept unusable value %v in %+v", name, v, c)
		}
	}
	h := c.Latency
	if len(h.Bounds) != len(h.Counts) {
		t.Fatalf("cluster %q: %d bounds, %d counts", name, len(h.Bounds), len(h.Counts))
	}
	if !usable(h.Count) || !usable(h.Sum) || !slices.IsSortedFunc(h.Bounds, compareBounds) {
		t.Fatalf("cluster %q: kept unusable histogram %+v", name, h)
	}
	for i, n := range h.Counts {
		if !usable(n) || (i > 0 && n < h.Counts[i-1]) || n > h.Count {
			t.Fatalf("cluster %q: kept histogram that is not cumulative: %+v", name, h)
		}
	}
	for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
		h.Quantile(q)
	}
}

// usable is what ParseStats promises of every value it keeps.
func usable(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0
}

// compareBounds orders bounds as ParseStats sorts them; a NaN bound, which
// compares equal to everything, does not break the order.
func compareBounds(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
