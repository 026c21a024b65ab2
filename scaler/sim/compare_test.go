package sim

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

// spikePolicy is the pool policy tuned for examples/traces/spike.csv: 6 of
// an instance's 8 slots in use as the target, no step limit upward, three
// minutes of stabilization and then at most half the pool per minute
// downward, and panic mode sizing for 30 s ahead (warm start plus half the
// slow start).
func spikePolicy() scaler.Policy {
	p := scaler.NewPolicy(&policy.ScalerPool{
		Min:       2,
		Max:       700,
		Tolerance: 0.1,
		Target:    policy.Target{QueuePerInstance: 6},
		ScaleDown: policy.ScaleRule{
			Stabilization: 3 * time.Minute, MaxPercent: 50, Period: time.Minute},
		Panic: policy.Panic{Threshold: 2, Window: time.Minute, Lead: 30 * time.Second},
	})
	return p
}

func readSpike(t *testing.T) Trace {
	t.Helper()
	tr, err := ReadTrace("../../examples/traces/spike.csv")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCompareSpike replays the example spike and holds the scaler to its
// aims: with a warm pool, at least 99% of requests wait at most 2 s for at
// most half the replica-hours of static provisioning, and a better share
// than the HPA at no more cost. Without a warm pool no reactive scaler can
// serve the first 90 s of the spike, so only the comparison with the HPA
// is held there.
func TestCompareSpike(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 95,000 requests six times")
	}
	tr := readSpike(t)
	t.Run("warm pool", func(t *testing.T) {
		m := DefaultModel()
		m.WarmPool = 700
		c := compare(t, tr, m)
		sp, hpa, static := c.Reports[0], c.Reports[1], c.Reports[2]
		check(t, sp.WithinTarget >= 0.99, "spillway within 2s %.4f < 0.99", sp.WithinTarget)
		check(t, sp.ReplicaHours <= static.ReplicaHours/2,
			"spillway %.1f replica-hours > half of static %.1f", sp.ReplicaHours, static.ReplicaHours)
		check(t, sp.WithinTarget > hpa.WithinTarget && sp.ReplicaHours <= hpa.ReplicaHours,
			"spillway %.4f at %.1f h does not beat hpa %.4f at %.1f h",
			sp.WithinTarget, sp.ReplicaHours, hpa.WithinTarget, hpa.ReplicaHours)
		check(t, static.WithinTarget == 1, "static at max waited: %.4f", static.WithinTarget)
	})
	t.Run("cold starts only", func(t *testing.T) {
		c := compare(t, tr, DefaultModel())
		sp, hpa := c.Reports[0], c.Reports[1]
		check(t, sp.WithinTarget > hpa.WithinTarget && sp.WaitP95 < hpa.WaitP95,
			"spillway %.4f (p95 %v) does not beat hpa %.4f (p95 %v)",
			sp.WithinTarget, sp.WaitP95, hpa.WithinTarget, hpa.WaitP95)
	})
}

func compare(t *testing.T, tr Trace, m Model) Comparison {
	t.Helper()
	c, err := CompareWith(spikePolicy(), tr, m)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	return c
}

func check(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

func TestCompareOutput(t *testing.T) {
	tr := Trace{Name: "small.csv",
		Rates:   []RatePoint{{0, 1}, {sec(60), 1}, {sec(90), 20}, {sec(300), 1}},
		Service: Dist{Min: sec(2), Max: sec(4)}}
	p := spikePolicy()
	p.Max = 30
	c, err := CompareWith(p, tr, DefaultModel())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := c.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"trace small.csv:", "spillway", "hpa 70%", "static 30",
		"within 2s", "replica-hours", "of static", "peak replicas", "scale events"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var tl strings.Builder
	if err := c.WriteTimeline(&tl); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(tl.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "policy,time_s,ready,starting,draining,queue,active,p95_s"
	if strings.Join(rows[0], ",") != wantHeader {
		t.Errorf("header = %v, want %s", rows[0], wantHeader)
	}
	perPolicy := map[string]int{}
	for _, r := range rows[1:] {
		perPolicy[r[0]]++
	}
	// Every run lasts at least the trace's 300 s: a row each 5 s.
	for _, name := range []string{"spillway", "hpa 70%", "static 30"} {
		if perPolicy[name] < 60 {
			t.Errorf("%s has %d timeline rows, want at least 60", name, perPolicy[name])
		}
	}
}

func TestCompareRejects(t *testing.T) {
	tr := requestTrace(Request{0, sec(1)})
	if _, err := Compare(nil, tr, DefaultModel()); err == nil {
		t.Error("nil policy accepted")
	}
	if _, err := Compare(&policy.ScalerPool{Min: 1}, tr, DefaultModel()); err == nil {
		t.Error("a pool without max accepted")
	}
	if _, err := Compare(&policy.ScalerPool{Max: 3}, Trace{Name: "empty"}, DefaultModel()); err == nil {
		t.Error("an empty trace accepted")
	}
}
