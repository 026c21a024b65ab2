package sim

import (
	"math"
	"testing"
	"time"
)

// script is a controller that sets the replica count at given moments and
// otherwise keeps it: the engine's behaviour under a known plan.
type script struct {
	every   time.Duration
	initial int
	plan    map[time.Duration]int
	views   []View
}

func (s *script) Name() string            { return "script" }
func (s *script) Interval() time.Duration { return s.every }
func (s *script) Initial() int            { return s.initial }
func (s *script) Decide(v View) (int, string) {
	s.views = append(s.views, v)
	if n, ok := s.plan[v.Now]; ok {
		return n, "planned"
	}
	return v.State.Current, "hold"
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// plainModel has 2 slots, 30 s cold start and nothing else, so that waits
// can be worked out by hand.
func plainModel() Model {
	m := DefaultModel()
	m.Slots = 2
	m.ColdStart = 30 * time.Second
	m.SlowStart = 0
	return m
}

func requestTrace(reqs ...Request) Trace { return Trace{Name: "t", Requests: reqs} }

func TestRunQueuesFIFO(t *testing.T) {
	tr := requestTrace(
		Request{0, sec(10)}, Request{0, sec(20)}, Request{sec(1), sec(10)}, Request{sec(2), sec(5)})
	r, err := Run(Static{N: 1}, tr, plainModel())
	if err != nil {
		t.Fatal(err)
	}
	// Two slots: the third request waits for the first (free at 10 s),
	// the fourth for the second (free at 20 s).
	if r.WaitMax != sec(18) || r.WaitP50 != 0 {
		t.Errorf("wait max, p50 = %v, %v; want 18s, 0s", r.WaitMax, r.WaitP50)
	}
	if r.WithinTarget != 0.5 {
		t.Errorf("within 2s = %v, want 0.5", r.WithinTarget)
	}
	// One instance from 0 until the last request ends at 25 s.
	if math.Abs(r.ReplicaHours-25.0/3600) > 1e-9 {
		t.Errorf("replica-hours = %v, want 25 s worth", r.ReplicaHours)
	}
}

func TestRunColdStart(t *testing.T) {
	ctl := &script{every: sec(5), initial: 0, plan: map[time.Duration]int{sec(5): 1}}
	r, err := Run(ctl, requestTrace(Request{0, sec(10)}), plainModel())
	if err != nil {
		t.Fatal(err)
	}
	// Asked for at 5 s, ready 30 s later.
	if r.WaitMax != sec(35) {
		t.Errorf("wait = %v, want 35s", r.WaitMax)
	}
	if len(ctl.views) == 0 || ctl.views[0].Signal.Pending != 1 {
		t.Errorf("first view = %+v, want the request pending", ctl.views)
	}
	var starting bool
	for _, v := range ctl.views {
		if v.Now == sec(10) {
			starting = v.State.Current == 1 && v.State.Starting == 1 && v.State.Ready == 0
		}
	}
	if !starting {
		t.Error("at 10 s the instance should count as current and starting, not ready")
	}
}

func TestRunDrainNeverCutsRequests(t *testing.T) {
	ctl := &script{every: sec(5), initial: 2, plan: map[time.Duration]int{sec(5): 1}}
	tr := requestTrace(
		Request{0, sec(60)}, Request{0, sec(60)}, Request{0, sec(20)},
		Request{sec(6), sec(1)}, Request{sec(7), sec(1)})
	r, err := Run(ctl, tr, plainModel())
	if err != nil {
		t.Fatal(err)
	}
	// Least-request, ties to the older instance: the first instance takes
	// the first 60 s request and the 20 s one, the second the other 60 s
	// request. Scaled to 1 at 5 s, the less busy second instance drains:
	// it keeps its request to the end, at 60 s, and then leaves. The
	// requests at 6 s and 7 s wait for the survivor's slot that frees at
	// 20 s: the later one gets it at 21 s.
	if len(r.Changes) != 1 || r.Changes[0].To != 1 {
		t.Fatalf("changes = %+v", r.Changes)
	}
	if r.WaitMax != sec(14) {
		t.Errorf("wait max = %v, want 14s", r.WaitMax)
	}
	if r.Requests != 5 || r.WaitP50 != 0 {
		t.Errorf("requests %d, wait p50 %v; want all 5 served, most at once", r.Requests, r.WaitP50)
	}
	// Both instances are paid until 60 s: the survivor until the trace's
	// last request ends, the victim until its drain ends.
	want := 120.0 / 3600
	if math.Abs(r.ReplicaHours-want) > 1e-9 {
		t.Errorf("replica-hours = %v, want %v", r.ReplicaHours, want)
	}
}

func TestRunWarmPool(t *testing.T) {
	m := plainModel()
	m.WarmPool = 1
	m.WarmStart = sec(5)
	ctl := &script{every: sec(5), initial: 0, plan: map[time.Duration]int{
		sec(5): 2, sec(60): 0, sec(100): 1}}
	tr := requestTrace(Request{0, sec(1)}, Request{0, sec(1)}, Request{0, sec(1)},
		Request{sec(100), sec(1)})
	r, err := Run(ctl, tr, m)
	if err != nil {
		t.Fatal(err)
	}
	// At 5 s one warm (ready at 10 s) and one cold (ready at 35 s); the
	// three requests fit in the warm one's two slots and a retry at 11 s.
	if r.WaitMax != sec(11) {
		t.Errorf("wait max = %v, want 11s", r.WaitMax)
	}
	// Scaled to zero at 60 s, the ready instances return to the pool only
	// while it has room: the refill at 35 s already filled it. The request
	// at 100 s then starts warm: ready 105 s.
	last := r.Changes[len(r.Changes)-1]
	if last.At != sec(100) || last.To != 1 {
		t.Fatalf("changes = %+v", r.Changes)
	}
	// Paid: 5–60 s twice, then 100 s until the last request ends at 106 s;
	// a cold start would have run to 131 s.
	if want := 116.0 / 3600; math.Abs(r.ReplicaHours-want) > 1e-9 {
		t.Errorf("replica-hours = %v, want %v", r.ReplicaHours, want)
	}
	if r.WarmHours <= 0 {
		t.Error("warm-pool hours not counted")
	}
}

func TestModelCapacity(t *testing.T) {
	m := Model{Slots: 8, SlowStart: sec(30), SlowStartMin: 0.5}
	tests := []struct {
		readyFor time.Duration
		want     int
	}{{0, 4}, {sec(15), 6}, {sec(29), 7}, {sec(30), 8}, {sec(300), 8}}
	for _, tt := range tests {
		if got := m.capacity(tt.readyFor); got != tt.want {
			t.Errorf("capacity(%v) = %d, want %d", tt.readyFor, got, tt.want)
		}
	}
	if got := (Model{Slots: 8}).capacity(0); got != 8 {
		t.Errorf("capacity without slow start = %d, want 8", got)
	}
}

func TestHPARecommend(t *testing.T) {
	h := NewHPA(HPAConfig{Target: 0.5, Tolerance: 0.1}, 1, 100, 1)
	full := func(ready int, busyShare float64) Sample {
		return Sample{Ready: ready, ReadySlots: ready * 10, BusyReady: int(busyShare * float64(ready*10))}
	}
	tests := []struct {
		name    string
		s       Sample
		current int
		want    int
	}{
		{"within tolerance", full(10, 0.52), 10, 10},
		{"saturated doubles at 50%", full(10, 1.0), 10, 20},
		{"scale down", full(10, 0.2), 10, 4},
		{"unready pods count as idle going up", full(10, 1.0), 15, 20},
		{"unready pods make the rise vanish", full(10, 0.6), 12, 12},
		{"missing pods count as full going down", full(10, 0.3), 12, 10},
		{"missing pods make the fall vanish", full(10, 0.4), 12, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := h.recommend(tt.s, tt.current); got != tt.want {
				t.Errorf("recommend = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	rate := Trace{Name: "r", Rates: []RatePoint{{0, 1}, {sec(10), 1}}}
	if _, err := Run(Static{N: 1}, rate, DefaultModel()); err == nil {
		t.Error("a rate trace without service time ran")
	}
	m := DefaultModel()
	m.Service = &Dist{Min: sec(1), Max: sec(1)}
	if _, err := Run(Static{N: 1}, requestTrace(Request{0, sec(1)}), m); err == nil {
		t.Error("a service override on a per-request trace ran")
	}
	m = DefaultModel()
	m.SlowStartMin = 2
	if _, err := Run(Static{N: 1}, requestTrace(Request{0, sec(1)}), m); err == nil {
		t.Error("slow_start_min 2 accepted")
	}
}

func TestRunWithoutCapacityEnds(t *testing.T) {
	ctl := &script{every: sec(5), initial: 0}
	r, err := Run(ctl, requestTrace(Request{0, sec(1)}, Request{sec(1), sec(1)}), plainModel())
	if err != nil {
		t.Fatal(err)
	}
	if r.Unserved != 2 || r.WithinTarget != 0 || r.WaitMax < maxOverrun {
		t.Errorf("unserved %d, within %v, wait max %v; want both unserved after %v",
			r.Unserved, r.WithinTarget, r.WaitMax, maxOverrun)
	}
}
