package scaler

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/spillway/spillway/discovery"
)

const (
	healthy  = corev3.HealthStatus_HEALTHY
	unknown  = corev3.HealthStatus_UNKNOWN
	sick     = corev3.HealthStatus_UNHEALTHY
	draining = corev3.HealthStatus_DRAINING
)

// TestChooseVictims reads two Envoys' /clusters over HTTP and checks which
// members a scale-in takes, in order: what no Envoy routes to first, then
// the least busy summed over the Envoys, ties by address; never a member in
// maintenance, and never more than there are.
func TestChooseVictims(t *testing.T) {
	a := startAdmin(t, "gpu",
		host{"10.0.0.1:80", 3, healthy}, host{"10.0.0.2:80", 1, healthy},
		host{"10.0.0.3:80", 0, healthy}, host{"10.0.0.4:80", 0, sick},
		host{"10.0.0.5:80", 2, healthy}, host{"10.0.0.6:80", 0, draining})
	b := startAdmin(t, "gpu",
		host{"10.0.0.1:80", 0, healthy}, host{"10.0.0.2:80", 5, healthy},
		host{"10.0.0.3:80", 1, healthy}, host{"10.0.0.4:80", 0, sick},
		host{"10.0.0.5:80", 1, healthy}, host{"10.0.0.6:80", 0, draining})
	sc := NewScraper(ScraperConfig{Admins: []string{a.admin(), b.admin()}})
	hosts, err := sc.Instances(context.Background(), "gpu")
	if err != nil {
		t.Fatal(err)
	}
	m := func(n, health string) Member {
		h, _ := discovery.ParseHealth(health)
		return Member{ID: "node/gpu-" + n, ServiceID: "gpu-" + n, Address: "10.0.0." + n + ":80",
			Health: h}
	}
	members := []Member{
		m("1", "passing"), m("2", "passing"), m("3", "passing"), m("4", "critical"),
		m("5", "passing"), m("6", "maintenance"), m("7", "critical"), m("8", "maintenance"),
	}
	tests := []struct {
		n    int
		want []string // IDs, in order
	}{
		{0, nil},
		// 4 and 7 carry nothing: 4 is unhealthy at the Envoys, 7 unknown
		// to them (it has not reached EDS yet); then 3 (1 in flight), 1
		// and 5 (3 each, 1 before 5 by address), then 2 (6).
		{1, []string{"node/gpu-4"}},
		{3, []string{"node/gpu-4", "node/gpu-7", "node/gpu-3"}},
		{6, []string{"node/gpu-4", "node/gpu-7", "node/gpu-3", "node/gpu-1", "node/gpu-5",
			"node/gpu-2"}},
		// 6 and 8 are in maintenance: there is nothing more to take.
		{9, []string{"node/gpu-4", "node/gpu-7", "node/gpu-3", "node/gpu-1", "node/gpu-5",
			"node/gpu-2"}},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range ChooseVictims(members, hosts, tt.n) {
			got = append(got, v.ID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ChooseVictims(n=%d) (-want +got):\n%s", tt.n, diff)
		}
	}

	got := ChooseVictims(members, hosts, 3)[2]
	want := Instance{Address: "10.0.0.3:80", ID: "node/gpu-3", Active: 1, Healthy: true}
	if got != want {
		t.Errorf("third victim = %+v, want %+v with the summed requests", got, want)
	}
}

// TestDrained covers when a victim counts as drained: only when every
// Envoy has it DRAINING with nothing in flight, or does not know it.
func TestDrained(t *testing.T) {
	const addr = "10.0.0.1:80"
	view := func(active float64, draining bool) []Instance {
		return []Instance{{Address: "10.0.0.9:80", Active: 7},
			{Address: addr, Active: active, Draining: draining}}
	}
	tests := []struct {
		name  string
		views [][]Instance
		want  bool
	}{
		{"draining and idle everywhere", [][]Instance{view(0, true), view(0, true)}, true},
		{"requests still in flight", [][]Instance{view(0, true), view(2, true)}, false},
		{"idle but not yet draining at one envoy", [][]Instance{view(0, true), view(0, false)}, false},
		{"unknown to one envoy", [][]Instance{view(0, true), {{Address: "10.0.0.9:80"}}}, true},
		{"unknown to all", [][]Instance{nil, nil}, true},
		{"no envoys", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drained(tt.views, addr); got != tt.want {
				t.Errorf("drained = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestScraperViews checks that a drain sees each Envoy's view apart, and
// that one failing Envoy fails the read rather than giving half a picture.
func TestScraperViews(t *testing.T) {
	a := startAdmin(t, "gpu", host{"10.0.0.1:80", 2, draining})
	b := startAdmin(t, "gpu", host{"10.0.0.1:80", 0, healthy})
	sc := NewScraper(ScraperConfig{Admins: []string{a.admin(), b.admin()}})
	views, err := sc.views(context.Background(), "gpu")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Instance{
		{{Address: "10.0.0.1:80", Active: 2, Draining: true}},
		{{Address: "10.0.0.1:80", Healthy: true}},
	}
	if diff := cmp.Diff(want, views); diff != "" {
		t.Errorf("views (-want +got):\n%s", diff)
	}

	b.srv.Close()
	if _, err := sc.views(context.Background(), "gpu"); err == nil {
		t.Error("views with one envoy down: no error")
	}
}
