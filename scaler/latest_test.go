package scaler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/consultest"
	"github.com/spillway/spillway/policy"
)

// TestLoopSignalOnly checks a pool whose replicas another controller owns,
// on a real Consul agent: every round decides and publishes through Latest
// and the metrics, nothing is drained, and a scale-in that the controller
// has not made yet is published again unchanged, not narrowed further by
// a step limit that counted it as made.
func TestLoopSignalOnly(t *testing.T) {
	agent := consultest.Start(t)
	for i := 1; i <= 3; i++ {
		register(t, agent.Client(), fmt.Sprintf("gpu-%d", i), 9000+i, "")
	}
	// Queue 5 for 3 instances at 5 each wants 1; the step limit allows 2.
	envoy := startAdmin(t, "gpu", host{"127.0.0.1:9001", 1, healthy},
		host{"127.0.0.1:9002", 2, healthy}, host{"127.0.0.1:9003", 2, healthy})
	reg, err := NewConsul(api.Config{Address: agent.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	clock := &syncClock{now: time.Now()}
	pol := testPolicy()
	pol.ScaleDown = policy.ScaleRule{MaxStep: 1, Period: time.Hour}
	m := NewMetrics(prometheus.NewRegistry())
	loop, err := NewLoop(LoopConfig{
		Pools: []PoolSpec{{Name: "gpu", Selector: discovery.Selector{Service: "gpu"},
			Policy: pol, SignalOnly: true}},
		Interval: time.Second,
		Scraper:  NewScraper(ScraperConfig{Admins: []string{envoy.admin()}, Now: clock.Now}),
		Registry: reg, Metrics: m, Poll: 20 * time.Millisecond, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}

	if _, _, ok := loop.Latest("cpu"); ok {
		t.Error("Latest(cpu) is ok for a pool the loop does not scale")
	}
	sig, _, ok := loop.Latest("gpu")
	if !ok || !sig.Stale || sig.StaleReason != "no round has run yet" {
		t.Errorf("Latest before the first round = %+v, %v; want a stale signal", sig, ok)
	}
	for round := 1; round <= 3; round++ {
		clock.advance(5 * time.Second)
		loop.Round(context.Background())
		sig, d, ok := loop.Latest("gpu")
		if !ok || sig.Stale || sig.Demand() != 5 {
			t.Fatalf("round %d: Latest = %+v, %v; want a fresh signal of queue 5", round, sig, ok)
		}
		if d.Current != 3 || d.Desired != 2 || d.Kind != KindStepLimit {
			t.Errorf("round %d: decision %d → %d (%s: %s), want 3 → 2 by the step limit",
				round, d.Current, d.Desired, d.Kind, d.Reason)
		}
		var g dto.Metric
		if err := m.Desired.WithLabelValues("gpu").Write(&g); err != nil || g.GetGauge().GetValue() != 2 {
			got := g.GetGauge().GetValue()
			t.Errorf("round %d: desired replicas gauge = %v (%v), want 2", round, got, err)
		}
	}
	loop.actions.Wait()
	for id, note := range maintenance(t, reg) {
		if note != "" {
			t.Errorf("%s is in maintenance (%q); a signal-only pool never drains", id, note)
		}
	}

	// No round for longer than stale_after: what Latest has is old.
	clock.advance(DefaultStaleAfter + time.Second)
	if sig, _, _ := loop.Latest("gpu"); !sig.Stale || !strings.Contains(sig.StaleReason, "old") {
		t.Errorf("Latest long after the last round = %+v, want a stale signal", sig)
	}
}

// TestLoopChecksSignalOnly checks that a pool has an actuator exactly when
// it is not signal-only.
func TestLoopChecksSignalOnly(t *testing.T) {
	base := LoopConfig{Interval: time.Second, Scraper: NewScraper(ScraperConfig{}),
		Registry: &Consul{}}
	tests := []struct {
		name string
		spec PoolSpec
		want string // "" for valid
	}{
		{"actuator", PoolSpec{Actuator: newRecorder(0)}, ""},
		{"signal only", PoolSpec{SignalOnly: true}, ""},
		{"neither", PoolSpec{}, "pool gpu has no actuator"},
		{"both", PoolSpec{Actuator: newRecorder(0), SignalOnly: true},
			"pool gpu is signal-only but has an actuator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.spec.Name, tt.spec.Policy = "gpu", testPolicy()
			cfg.Pools = []PoolSpec{tt.spec}
			_, err := NewLoop(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("NewLoop: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("NewLoop: %v, want %q", err, tt.want)
			}
		})
	}
}
