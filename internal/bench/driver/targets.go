package driver

import (
	"fmt"
	"time"

	"github.com/spillway/spillway/internal/bench/loadserver"
)

// Spillway's targets for serving a fleet.
const (
	TargetChangeP99     = 250 * time.Millisecond
	TargetSpeedup       = 4.0
	TargetHeapPerStream = 64 << 10
	TargetHeapPerRes    = 64
	TargetSync          = 5 * time.Second
	TargetSustainedRate = 200
	TargetSustainedTime = time.Minute
	TargetSustainedP99  = time.Second
)

// Target is one of Spillway's targets judged on a run.
type Target struct {
	Name string
	Want string
	Got  string
	// Judged is false when the run lacks the figure, for example when the
	// stock server, needed for a ratio, was not run or stopped early.
	Judged bool
	Met    bool
}

func (t Target) verdict() string {
	switch {
	case !t.Judged:
		return "not judged"
	case t.Met:
		return "met"
	default:
		return "NOT MET"
	}
}

// Targets judges Spillway's result in mode against its targets.
func (r *Report) Targets(mode string) []Target {
	sp := r.result(loadserver.ImplSpillway, mode)
	if sp == nil {
		return nil
	}
	st := r.result(loadserver.ImplStock, mode)
	return []Target{
		changeTarget(sp), speedupTarget(sp, st), heapTarget(sp), syncTarget(sp),
		r.sustainedTarget(sp),
	}
}

func changeTarget(sp *Result) Target {
	t := Target{Name: "endpoint change → last ACK, p99",
		Want: "≤ " + showLatency(TargetChangeP99)}
	if sp.Changes == nil {
		return t
	}
	p99 := sp.Changes.Latency.P99
	t.Got, t.Judged, t.Met = showLatency(p99), true, p99 <= TargetChangeP99
	return t
}

func speedupTarget(sp, st *Result) Target {
	t := Target{Name: "endpoint change → last ACK, p99, vs stock",
		Want: fmt.Sprintf("≥ %.0f× faster", TargetSpeedup)}
	switch {
	case sp.Changes == nil:
		return t
	case st == nil:
		t.Got = "stock not run"
		return t
	case st.Changes == nil:
		t.Got = "stock stopped early"
		return t
	}
	x := float64(st.Changes.Latency.P99) / float64(sp.Changes.Latency.P99)
	t.Got, t.Judged, t.Met = fmt.Sprintf("%.1f×", x), true, x >= TargetSpeedup
	return t
}

func heapTarget(sp *Result) Target {
	budget := float64(TargetHeapPerStream + TargetHeapPerRes*sp.PerClient)
	t := Target{Name: "server heap per stream",
		Want: fmt.Sprintf("≤ 64 KiB + 64 B × %d resources = %s", sp.PerClient, showBytes(budget))}
	if sp.Sync == nil {
		return t
	}
	got := sp.Sync.HeapPerStream
	t.Got, t.Judged, t.Met = showBytes(got), true, got <= budget
	return t
}

func syncTarget(sp *Result) Target {
	t := Target{Name: "connect storm: all streams synced", Want: "≤ " + showLatency(TargetSync)}
	if sp.Sync == nil {
		return t
	}
	d := sp.Sync.Duration
	t.Got, t.Judged, t.Met = showLatency(d), true, d <= TargetSync
	return t
}

func (r *Report) sustainedTarget(sp *Result) Target {
	t := Target{Name: fmt.Sprintf("sustained %d changes/s for %v", TargetSustainedRate,
		TargetSustainedTime), Want: "p99 ≤ " + showLatency(TargetSustainedP99) + ", no growing backlog"}
	s := sp.Sustained
	if s == nil {
		return t
	}
	backlog := "stable"
	if s.Growing {
		backlog = "growing"
	}
	t.Got = fmt.Sprintf("p99 %s, %s", showLatency(s.Latency.P99), backlog)
	if s.Rate < TargetSustainedRate || s.Duration < TargetSustainedTime {
		t.Got += fmt.Sprintf(" (ran %g/s for %v)", s.Rate, s.Duration)
		return t
	}
	t.Judged, t.Met = true, s.Latency.P99 <= TargetSustainedP99 && !s.Growing
	return t
}
