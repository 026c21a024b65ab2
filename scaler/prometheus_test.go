package scaler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The queries the scaler sends for a 5 s window, written out so that a
// change to them shows here.
const (
	qActive  = `sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_active)`
	qPending = `sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_pending_active)`
	qRPS     = `sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total[5s]))`
	qSamples = `sum by (envoy_cluster_name) (increase(envoy_cluster_upstream_rq_time_count[5s]))`
	qP50     = `histogram_quantile(0.5, sum by (le, envoy_cluster_name) ` +
		`(rate(envoy_cluster_upstream_rq_time_bucket[5s])))`
	qP95 = `histogram_quantile(0.95, sum by (le, envoy_cluster_name) ` +
		`(rate(envoy_cluster_upstream_rq_time_bucket[5s])))`
	qP99 = `histogram_quantile(0.99, sum by (le, envoy_cluster_name) ` +
		`(rate(envoy_cluster_upstream_rq_time_bucket[5s])))`
	qHealthy = `max by (envoy_cluster_name) (envoy_cluster_membership_healthy)`
	qMembers = `max by (envoy_cluster_name) (envoy_cluster_membership_total)`
)

// promReply is one answer of the fake Prometheus: an HTTP status and a
// body in the query API's JSON.
type promReply struct {
	status int
	body   string
}

// vector is a successful instant-query answer with one sample per cluster,
// written as Prometheus writes it: the value a string, the time a float.
func vector(samples ...string) promReply {
	var parts []string
	for i := 0; i+1 < len(samples); i += 2 {
		parts = append(parts, fmt.Sprintf(
			`{"metric":{"envoy_cluster_name":%q},"value":[1700000000.123,%q]}`,
			samples[i], samples[i+1]))
	}
	return promReply{http.StatusOK, `{"status":"success","data":{"resultType":"vector",` +
		`"result":[` + strings.Join(parts, ",") + `]}}`}
}

// busyGPU are the answers for two Envoys in front of a busy gpu pool and an
// idle api pool. The gpu numbers are those the direct scrape of
// testdata/envoy_{a,b}_{1,2}.prom yields, so that both sources can be
// compared: 70 requests in 5 s, quantiles interpolated in Envoy's buckets.
func busyGPU() map[string]promReply {
	return map[string]promReply{
		qActive:  vector("gpu", "17", "api", "3"),
		qPending: vector("gpu", "3", "api", "0"),
		qRPS:     vector("gpu", "14", "api", "0"),
		qSamples: vector("gpu", "70", "api", "0"),
		qP50:     vector("gpu", "22500", "api", "NaN"),
		qP95:     vector("gpu", "54750", "api", "NaN"),
		qP99:     vector("gpu", "58950", "api", "NaN"),
		qHealthy: vector("gpu", "4", "api", "2"),
		qMembers: vector("gpu", "5", "api", "2"),
	}
}

// fakePrometheus answers /api/v1/query from a table of query → reply. It
// stands in for a Prometheus server, which cannot run in these tests; its
// answers are in the HTTP API's JSON, and a query it does not know gets
// the error Prometheus gives a query it cannot parse.
type fakePrometheus struct {
	mu      sync.Mutex
	replies map[string]promReply
	srv     *httptest.Server
}

func newFakePrometheus(t *testing.T, replies map[string]promReply) *fakePrometheus {
	f := &fakePrometheus{replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePrometheus) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query().Get("query")
	f.mu.Lock()
	reply, ok := f.replies[q]
	f.mu.Unlock()
	if !ok {
		reply = promReply{http.StatusBadRequest, `{"status":"error","errorType":"bad_data",` +
			`"error":"invalid parameter \"query\": unexpected query"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(reply.status)
	_, _ = w.Write([]byte(reply.body))
}

func (f *fakePrometheus) set(query string, reply promReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[query] = reply
}

func newPromScraper(prom *fakePrometheus, clk *clock, admins ...string) *Scraper {
	return NewScraper(ScraperConfig{Prometheus: prom.srv.URL + "/", Window: 5 * time.Second,
		StaleAfter: 15 * time.Second, Admins: admins, Now: clk.now})
}

// TestPrometheusSignal checks that Prometheus's answers make the signal the
// Envoys' own stats make, and that an idle pool's NaN quantiles are no
// problem.
func TestPrometheusSignal(t *testing.T) {
	prom := newFakePrometheus(t, busyGPU())
	clk := newClock()
	s := newPromScraper(prom, clk)
	if err := scrape(t, s); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Second)
	at := clk.now().Add(-2 * time.Second)
	tests := []struct {
		cluster string
		want    Signal
	}{
		{"gpu", Signal{At: at, Active: 17, Pending: 3, RPS: 14, Samples: 70,
			P50: 22500 * time.Millisecond, P95: 54750 * time.Millisecond,
			P99: 58950 * time.Millisecond, Healthy: 4, Members: 5}},
		{"api", Signal{At: at, Active: 3, Healthy: 2, Members: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, s.Signal(tt.cluster, clk.now())); diff != "" {
				t.Errorf("signal (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrometheusStale checks what makes a Prometheus signal stale and which
// values are dropped: a failed or empty query, a cluster missing from an
// answer, old answers; NaN and negative values are listed, not used.
func TestPrometheusStale(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]promReply
		advance time.Duration // after the scrape
		wantErr bool          // from Scrape
		// wantStale is part of the stale reason; "" wants a fresh signal.
		wantStale   string
		wantIgnored []Ignored
		check       func(t *testing.T, sig Signal)
	}{
		{name: "server error",
			change: map[string]promReply{qPending: {http.StatusServiceUnavailable,
				`{"status":"error","errorType":"unavailable","error":"too many queries"}`}},
			wantStale: "query failed: prometheus query " + qPending +
				": 503 Service Unavailable: unavailable: too many queries", wantErr: true},
		{name: "not prometheus",
			change:    map[string]promReply{qRPS: {http.StatusBadGateway, "<html>bad gateway</html>"}},
			wantStale: "GET /api/v1/query: 502 Bad Gateway", wantErr: true},
		{name: "empty answer", change: map[string]promReply{qMembers: vector()},
			wantStale: "no series with label envoy_cluster_name", wantErr: true},
		{name: "matrix answer", change: map[string]promReply{qActive: {http.StatusOK,
			`{"status":"success","data":{"resultType":"matrix","result":[]}}`}},
			wantStale: `want a vector, got "matrix"`, wantErr: true},
		{name: "cluster missing", change: map[string]promReply{qPending: vector("api", "0")},
			wantStale: "prometheus has no envoy_cluster_upstream_rq_pending_active for cluster gpu"},
		{name: "old answers", advance: 16 * time.Second,
			wantStale: "prometheus answers are 16s old"},
		{name: "latency missing", change: map[string]promReply{
			qSamples: vector("api", "0"), qP95: vector("api", "NaN")},
			check: func(t *testing.T, sig Signal) {
				if sig.Samples != 0 || sig.P95 != 0 || sig.Active != 17 {
					t.Errorf("signal = %+v; want active 17 and no latency samples", sig)
				}
			}},
		{name: "bad values", change: map[string]promReply{
			qActive: vector("gpu", "-2", "api", "3"), qP95: vector("gpu", "NaN"),
			qRPS: vector("gpu", "+Inf")},
			wantIgnored: []Ignored{
				{"gpu", metricActive, "negative value -2"},
				{"gpu", metricRequests, "value is +Inf"},
				{"gpu", metricTime, "value is NaN"},
			},
			check: func(t *testing.T, sig Signal) {
				if sig.Active != 0 || sig.RPS != 0 || sig.P95 != 0 || sig.P99 != 58950*time.Millisecond {
					t.Errorf("signal = %+v; want the bad values zero, p99 kept", sig)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies := busyGPU()
			for q, r := range tt.change {
				replies[q] = r
			}
			clk := newClock()
			s := newPromScraper(newFakePrometheus(t, replies), clk)
			if err := scrape(t, s); (err != nil) != tt.wantErr {
				t.Errorf("Scrape = %v, want error %v", err, tt.wantErr)
			}
			clk.advance(tt.advance)
			sig := s.Signal("gpu", clk.now())
			switch {
			case tt.wantStale == "" && sig.Stale:
				t.Errorf("stale (%s), want fresh", sig.StaleReason)
			case tt.wantStale != "" && (!sig.Stale || !strings.Contains(sig.StaleReason, tt.wantStale)):
				t.Errorf("stale = %v (%q), want stale with %q", sig.Stale, sig.StaleReason, tt.wantStale)
			}
			if diff := cmp.Diff(tt.wantIgnored, sig.Ignored); diff != "" {
				t.Errorf("ignored (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, sig)
			}
		})
	}
}

// TestPrometheusFailureAfterSuccess checks that a failed round makes the
// signal stale at once, though the last good answers are recent, and that
// the next good round makes it fresh again.
func TestPrometheusFailureAfterSuccess(t *testing.T) {
	prom := newFakePrometheus(t, busyGPU())
	clk := newClock()
	s := newPromScraper(prom, clk)
	steps := []struct {
		reply     promReply
		wantErr   bool
		wantStale bool
	}{
		{vector("gpu", "17"), false, false},
		{promReply{http.StatusInternalServerError, `{"status":"error","errorType":"internal",` +
			`"error":"query processing would load too many samples"}`}, true, true},
		{vector("gpu", "20"), false, false},
	}
	for i, st := range steps {
		prom.set(qActive, st.reply)
		clk.advance(5 * time.Second)
		if err := scrape(t, s); (err != nil) != st.wantErr {
			t.Errorf("step %d: Scrape = %v, want error %v", i, err, st.wantErr)
		}
		if sig := s.Signal("gpu", clk.now()); sig.Stale != st.wantStale {
			t.Errorf("step %d: stale = %v (%s), want %v", i, sig.Stale, sig.StaleReason, st.wantStale)
		}
	}
}

// TestPrometheusHosts checks where scale-in sees the hosts when the signal
// comes from Prometheus: from the Envoys' admin APIs when they are listed,
// and nowhere otherwise, so that victims are picked blind and a drain
// cannot end before its deadline.
func TestPrometheusHosts(t *testing.T) {
	prom := newFakePrometheus(t, busyGPU())
	envoy := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	clk := newClock()

	withAdmin := newPromScraper(prom, clk, envoy.addr())
	hosts, err := withAdmin.Instances(context.Background(), "gpu")
	if err != nil || len(hosts) != 5 {
		t.Errorf("with envoy_admin: Instances = %d hosts, %v; want the 5 of clusters_a.json",
			len(hosts), err)
	}

	alone := newPromScraper(prom, clk)
	hosts, err = alone.Instances(context.Background(), "gpu")
	if err != nil || hosts != nil {
		t.Errorf("prometheus alone: Instances = %v, %v; want none and no error", hosts, err)
	}
	if _, err := alone.views(context.Background(), "gpu"); !errors.Is(err, errNoEnvoys) {
		t.Errorf("prometheus alone: views error = %v, want %v", err, errNoEnvoys)
	}
}
