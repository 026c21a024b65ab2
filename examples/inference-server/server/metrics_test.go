package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// counterValue returns the value of a counter with one label value, read
// from s's registry.
func counterValue(t *testing.T, s *Server, name, label string) float64 {
	t.Helper()
	families, err := s.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestMetrics checks /metrics in Prometheus text format: queue gauges
// while a request waits, then counts and durations once it is served.
func TestMetrics(t *testing.T) {
	in := start(t, Options{Concurrency: 1, Latency: MustParseLatency("fixed:300ms")})
	out := make(chan outcome, 2)
	in.predictAsync(context.Background(), "first", out)
	in.waitCounts(t, 0, 1)
	in.predictAsync(context.Background(), "second", out)
	in.waitCounts(t, 1, 1)

	busy := scrape(t, in)
	checkGauge(t, busy, "inference_requests_running", 1)
	checkGauge(t, busy, "inference_requests_waiting", 1)
	checkGauge(t, busy, "inference_ready", 1)

	receive(t, out)
	receive(t, out)
	idle := scrape(t, in)
	checkGauge(t, idle, "inference_requests_running", 0)
	checkGauge(t, idle, "inference_requests_waiting", 0)
	if got := idle["inference_requests_total"].GetMetric(); len(got) != 1 ||
		got[0].GetLabel()[0].GetValue() != "200" || got[0].GetCounter().GetValue() != 2 {
		t.Errorf("inference_requests_total = %v, want {code=\"200\"} 2", got)
	}
	h := idle["inference_request_duration_seconds"].GetMetric()[0].GetHistogram()
	// The text format adds the +Inf bucket.
	if h.GetSampleCount() != 2 || len(h.GetBucket()) != len(durationBuckets)+1 {
		t.Errorf("duration histogram has %d samples in %d buckets, want 2 in %d",
			h.GetSampleCount(), len(h.GetBucket()), len(durationBuckets)+1)
	}
}

func scrape(t *testing.T, in *instance) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := in.client.Get(in.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("/metrics = %d %q, want 200 text/plain", resp.StatusCode, ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

func checkGauge(t *testing.T, families map[string]*dto.MetricFamily, name string, want float64) {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Errorf("no metric %s", name)
		return
	}
	if got := f.GetMetric()[0].GetGauge().GetValue(); got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}
