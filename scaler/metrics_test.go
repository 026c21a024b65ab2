package scaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// gatherText renders a registry in the text exposition format.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestMetricsObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	fresh := Signal{Active: 30, Pending: 7, Samples: 12, P95: 2500 * time.Millisecond}
	m.Observe("gpu", fresh, Decision{Current: 4, Desired: 8, Kind: KindQueue})
	m.Observe("gpu", Signal{Stale: true, Active: 999}, Decision{Current: 8, Desired: 8, Kind: KindStale})

	want := `# HELP spillway_scaler_decisions_total Scaling decisions by direction and the rule that settled them.
# TYPE spillway_scaler_decisions_total counter
spillway_scaler_decisions_total{direction="hold",pool="gpu",reason_kind="stale"} 1
spillway_scaler_decisions_total{direction="up",pool="gpu",reason_kind="queue"} 1
# HELP spillway_scaler_desired_replicas Replicas the scaler last decided for the pool.
# TYPE spillway_scaler_desired_replicas gauge
spillway_scaler_desired_replicas{pool="gpu"} 8
# HELP spillway_scaler_latency_p95_seconds 95th percentile upstream request time over the last stats interval.
# TYPE spillway_scaler_latency_p95_seconds gauge
spillway_scaler_latency_p95_seconds{pool="gpu"} 2.5
` + leaderText + `# HELP spillway_scaler_queue Requests in flight plus requests pending in Envoy, summed over Envoys.
# TYPE spillway_scaler_queue gauge
spillway_scaler_queue{pool="gpu"} 37
# HELP spillway_scaler_signal_stale 1 while the pool's Envoy stats are stale and the pool is frozen, else 0.
# TYPE spillway_scaler_signal_stale gauge
spillway_scaler_signal_stale{pool="gpu"} 1
`
	if diff := cmp.Diff(want, gatherText(t, reg)); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	m.Forget("gpu")
	if got := gatherText(t, reg); got != leaderText {
		t.Errorf("metrics after Forget:\n%s\nwant only the pool-less leader gauge", got)
	}
}

// leaderText is the leader gauge, which belongs to no pool.
const leaderText = `# HELP spillway_scaler_leader 1 while this scaler holds the leader lock and runs the scale loop, else 0.
# TYPE spillway_scaler_leader gauge
spillway_scaler_leader 0
`
