package scaler

import (
	"strings"
	"testing"
	"time"

	"github.com/spillway/spillway/policy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// basePolicy is the design's example pool: 5 in flight per instance, p95
// of 2 s, up by 4 per minute, down by 2 per two minutes after five minutes
// of stabilization.
func basePolicy(mut ...func(*Policy)) Policy {
	p := Policy{
		ScalerPool: policy.ScalerPool{
			Min: 2, Max: 15, Tolerance: 0.1,
			Target:    policy.Target{QueuePerInstance: 5, LatencyP95: 2 * time.Second},
			ScaleUp:   policy.ScaleRule{MaxStep: 4, Period: time.Minute},
			ScaleDown: policy.ScaleRule{Stabilization: 5 * time.Minute, MaxStep: 2, Period: 2 * time.Minute},
		},
		PanicThreshold: 2,
		PanicWindow:    time.Minute,
	}
	for _, m := range mut {
		m(&p)
	}
	return p
}

func ready(n int) State { return State{Current: n, Ready: n} }

func demand(n float64) Signal { return Signal{Active: n, At: t0} }

// rec records a past recommendation of n at t0-ago, with no change made.
func rec(ago time.Duration, n int) func(*History) {
	return func(h *History) {
		h.Record(t0.Add(-ago), Signal{Active: 1}, Decision{Recommendation: n, Current: 5, Desired: 5})
	}
}

// change records a past change from..to at t0-ago.
func change(ago time.Duration, from, to int) func(*History) {
	return func(h *History) {
		h.Record(t0.Add(-ago), Signal{Active: 1}, Decision{Recommendation: to, Current: from, Desired: to})
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		pol     Policy
		state   State
		sig     Signal
		history []func(*History)
		// lastBusy is how long ago the pool last had work.
		lastBusy time.Duration
		want     int
		kind     Kind
		reason   string
	}{
		{name: "queue over target", pol: basePolicy(), state: ready(4), sig: demand(37),
			want: 8, kind: KindQueue, reason: "queue 37 over 4×5"},
		{name: "queue within tolerance", pol: basePolicy(), state: ready(4), sig: demand(21),
			want: 4, kind: KindOnTarget, reason: "queue 21 on target 4×5"},
		{name: "tolerance edge is inside", pol: basePolicy(), state: ready(4), sig: demand(22),
			want: 4, kind: KindOnTarget},
		{name: "latency answer larger", pol: basePolicy(), state: ready(4),
			sig:  Signal{Active: 20, Samples: 40, P95: 3 * time.Second},
			want: 6, kind: KindLatency, reason: "p95 3s over 2s on 4 ready"},
		{name: "latency without samples is no answer", pol: basePolicy(), state: ready(4),
			sig:  Signal{Active: 20, Samples: 0, P95: 3 * time.Second},
			want: 4, kind: KindOnTarget},
		{name: "no target", pol: basePolicy(func(p *Policy) { p.Target = policy.Target{} }),
			state: ready(4), sig: demand(100), want: 4, kind: KindNoTarget, reason: "no target set"},
		{name: "step limit pods", pol: basePolicy(), state: ready(4), sig: demand(60),
			want: 8, kind: KindStepLimit, reason: "queue 60 over 4×5; limited to +4 per 1m"},
		{name: "step limit counts changes in the period", pol: basePolicy(), state: ready(8),
			sig: demand(60), history: []func(*History){change(30*time.Second, 6, 8)},
			want: 10, kind: KindStepLimit, reason: "limited to +4 per 1m"},
		{name: "changes before the period do not count", pol: basePolicy(), state: ready(8),
			sig: demand(60), history: []func(*History){change(90*time.Second, 4, 8)},
			want: 12, kind: KindQueue},
		{name: "step limit percent wins when larger",
			pol:   basePolicy(func(p *Policy) { p.ScaleUp.MaxPercent = 100; p.Max = 50 }),
			state: ready(10), sig: demand(200), want: 20, kind: KindStepLimit,
			reason: "limited to +10 per 1m"},
		{name: "at max", pol: basePolicy(func(p *Policy) { p.ScaleUp.MaxStep = 10 }),
			state: ready(14), sig: demand(100), want: 15, kind: KindMax,
			reason: "queue 100 over 14×5; at max 15"},
		{name: "max reached holds", pol: basePolicy(), state: ready(15), sig: demand(500),
			want: 15, kind: KindMax, reason: "at max 15"},
		{name: "at min", pol: basePolicy(), state: ready(2), sig: demand(0),
			want: 2, kind: KindMin, reason: "queue 0 under 2×5; at min 2"},
		{name: "below min comes up", pol: basePolicy(), state: ready(1), sig: demand(1),
			want: 2, kind: KindMin},
		{name: "scale-down held by stabilization", pol: basePolicy(), state: ready(10),
			sig: demand(20), history: []func(*History){rec(100*time.Second, 10)},
			want: 10, kind: KindStabilize, reason: "queue 20 under 10×5; held by scale-down stabilization"},
		{name: "scale-down to the window's max", pol: basePolicy(), state: ready(10),
			sig: demand(20), history: []func(*History){rec(100*time.Second, 9)},
			want: 9, kind: KindStabilize, reason: "scale-down stabilization keeps 9"},
		{name: "scale-down step limit", pol: basePolicy(), state: ready(10), sig: demand(20),
			history: []func(*History){rec(400*time.Second, 10)},
			want:    8, kind: KindStepLimit, reason: "queue 20 under 10×5; limited to -2 per 2m"},
		{name: "scale-down percent and pods, larger change wins",
			pol:   basePolicy(func(p *Policy) { p.ScaleDown.MaxPercent = 50; p.ScaleDown.Stabilization = 0 }),
			state: ready(10), sig: demand(0), want: 5, kind: KindStepLimit, reason: "limited to -5 per 2m"},
		{name: "scale-up stabilization takes window min",
			pol:   basePolicy(func(p *Policy) { p.ScaleUp.Stabilization = time.Minute }),
			state: ready(4), sig: demand(37), history: []func(*History){rec(30*time.Second, 5)},
			want: 5, kind: KindQueue},
		{name: "scale-up held by stabilization",
			pol:   basePolicy(func(p *Policy) { p.ScaleUp.Stabilization = time.Minute }),
			state: ready(4), sig: demand(37), history: []func(*History){rec(30*time.Second, 4)},
			want: 4, kind: KindStabilize, reason: "held by scale-up stabilization"},
		{name: "panic skips scale-up stabilization",
			pol: basePolicy(func(p *Policy) {
				p.ScaleUp.Stabilization = time.Minute
				p.ScaleUp.MaxStep = 10
			}),
			state: ready(4), sig: demand(45), history: []func(*History){rec(30*time.Second, 4)},
			want: 9, kind: KindQueue},
		{name: "panic forbids scale-down", pol: basePolicy(), state: ready(10), sig: demand(5),
			history: []func(*History){func(h *History) {
				h.Record(t0.Add(-30*time.Second), demand(200), Decision{
					Recommendation: 40, Current: 10, Desired: 10, PanicUntil: t0.Add(30 * time.Second)})
			}},
			want: 10, kind: KindPanicHold, reason: "no scale-down in panic mode until 12:00:30"},
		{name: "panic over allows scale-down", pol: basePolicy(func(p *Policy) {
			p.ScaleDown.Stabilization = 0
		}), state: ready(10), sig: demand(5),
			history: []func(*History){func(h *History) {
				h.Record(t0.Add(-90*time.Second), demand(200), Decision{
					Recommendation: 40, Current: 10, Desired: 10, PanicUntil: t0.Add(-30 * time.Second)})
			}},
			want: 8, kind: KindStepLimit},
		{name: "stale stats hold", pol: basePolicy(), state: ready(4),
			sig:  Signal{Active: 500, Stale: true, StaleReason: "scrape failed: connection refused"},
			want: 4, kind: KindStale, reason: "stats stale: scrape failed: connection refused"},
		{name: "stale stats hold at zero", pol: basePolicy(func(p *Policy) { p.Min = 0 }),
			state: ready(0), sig: Signal{Active: 9, Stale: true, StaleReason: "frozen"},
			want: 0, kind: KindStale, reason: "stats stale: frozen"},
		{name: "zero replicas without to_zero", pol: basePolicy(func(p *Policy) { p.Min = 0 }),
			state: ready(0), sig: demand(3), want: 1, kind: KindQueue, reason: "queue 3 over 0×5"},
		{name: "zero replicas below min", pol: basePolicy(), state: ready(0), sig: demand(0),
			want: 2, kind: KindMin},
		{name: "starting instances absorb demand", pol: basePolicy(),
			state: State{Current: 8, Ready: 4, Starting: 4}, sig: demand(37),
			want: 8, kind: KindStarting, reason: "queue 37 on target 8×5; 4 starting will absorb it"},
		{name: "latency on ready only, starting absorb it", pol: basePolicy(),
			state: State{Current: 8, Ready: 4, Starting: 4},
			sig:   Signal{Active: 40, Samples: 10, P95: 3 * time.Second},
			want:  8, kind: KindStarting},
		{name: "demand beyond starting capacity scales", pol: basePolicy(),
			state: State{Current: 8, Ready: 4, Starting: 4}, sig: demand(60),
			want: 12, kind: KindQueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(t0.Add(-time.Hour))
			for _, f := range tt.history {
				f(h)
			}
			d := Decide(tt.pol, tt.state, tt.sig, h, t0)
			if d.Desired != tt.want || d.Kind != tt.kind || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %d %s %q; want %d %s containing %q",
					d.Desired, d.Kind, d.Reason, tt.want, tt.kind, tt.reason)
			}
		})
	}
}

func TestDecideToZero(t *testing.T) {
	toZero := basePolicy(func(p *Policy) {
		p.ToZero = &policy.ToZero{IdleAfter: 5 * time.Minute, Activation: 2}
	})
	tests := []struct {
		name     string
		state    State
		sig      Signal
		lastBusy time.Duration
		want     int
		kind     Kind
		reason   string
	}{
		{"idle long enough", ready(2), demand(0), 6 * time.Minute,
			0, KindToZero, "scale to zero after 5m idle"},
		{"idle ignores min", ready(5), demand(0), 5 * time.Minute,
			0, KindToZero, ""},
		{"not idle long enough", ready(2), demand(0), 4 * time.Minute,
			2, KindStabilize, "held by scale-down stabilization"},
		{"busy now resets idle", ready(2), Signal{RPS: 0.1}, time.Hour,
			2, KindMin, ""},
		{"at zero below activation", ready(0), demand(1), time.Hour,
			0, KindIdle, "idle at zero: queue 1 below activation 2"},
		{"wakes at activation", ready(0), demand(12), time.Hour,
			3, KindFromZero, "activation: queue 12 over 0×5"},
		{"wakes to min at least", ready(0), demand(2), time.Hour,
			2, KindMin, "activation: queue 2 over 0×5; at min 2"},
		{"wake respects step limit", ready(0), Signal{Active: 20, Pending: 30}, time.Hour,
			4, KindStepLimit, "limited to +4 per 1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(t0.Add(-tt.lastBusy))
			d := Decide(toZero, tt.state, tt.sig, h, t0)
			if d.Desired != tt.want || d.Kind != tt.kind || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %d %s %q; want %d %s containing %q",
					d.Desired, d.Kind, d.Reason, tt.want, tt.kind, tt.reason)
			}
		})
	}
}

func TestDecideWakeEntersPanic(t *testing.T) {
	p := basePolicy(func(p *Policy) { p.ToZero = &policy.ToZero{IdleAfter: time.Minute} })
	d := Decide(p, ready(0), demand(5), NewHistory(t0), t0)
	if !d.Panic || !d.PanicUntil.Equal(t0.Add(time.Minute)) {
		t.Errorf("wake decision panic = %v until %v, want panic until %v", d.Panic, d.PanicUntil,
			t0.Add(time.Minute))
	}
}

func TestDecideForecast(t *testing.T) {
	wide := func(lead time.Duration) Policy {
		return basePolicy(func(p *Policy) {
			p.Max, p.ScaleUp.MaxStep, p.Lead = 1000, 1000, lead
		})
	}
	tests := []struct {
		name      string
		pol       Policy
		state     State
		prev, now float64
		want      int
		kind      Kind
		reason    string
	}{
		{"panic sizes for the lead", wide(10 * time.Second), ready(10), 100, 150,
			68, KindForecast, "queue 150 grew 1.5× in 5s; sized for 10s ahead"},
		{"growth capped", wide(10 * time.Second), ready(10), 100, 400,
			800, KindForecast, "grew 4.0×"},
		{"no lead, no forecast", wide(0), ready(10), 100, 150, 30, KindQueue, ""},
		{"no panic, no forecast", wide(10 * time.Second), ready(10), 40, 60,
			12, KindQueue, "queue 60 over 10×5"},
		{"falling demand, no forecast", wide(10 * time.Second), ready(10), 200, 150,
			30, KindQueue, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(t0.Add(-time.Hour))
			h.Record(t0.Add(-5*time.Second), demand(tt.prev),
				Decision{Current: 10, Desired: 10, Recommendation: 10})
			d := Decide(tt.pol, tt.state, demand(tt.now), h, t0)
			if d.Desired != tt.want || d.Kind != tt.kind || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Decide = %d %s %q; want %d %s containing %q",
					d.Desired, d.Kind, d.Reason, tt.want, tt.kind, tt.reason)
			}
		})
	}
}

// TestDecideFreshHistory checks that a scaler that just started does not
// scale down before it has seen a whole scale-down window, but scales up.
func TestDecideFreshHistory(t *testing.T) {
	h := NewHistory(t0.Add(-4 * time.Minute))
	if d := Decide(basePolicy(), ready(10), demand(5), h, t0); d.Desired != 10 ||
		d.Kind != KindStabilize {
		t.Errorf("fresh scaler: %+v; want 10 held by stabilization", d)
	}
	if d := Decide(basePolicy(), ready(10), demand(5), h, t0.Add(time.Minute)); d.Desired != 8 {
		t.Errorf("after the window: %+v; want a step down to 8", d)
	}
	if d := Decide(basePolicy(), ready(4), demand(37), h, t0); d.Desired != 8 {
		t.Errorf("fresh scaler scaling up: %+v; want 8", d)
	}
}

// TestDecidePanicComparesReady checks that panic mode measures the queue
// answer against the ready instances, even when the answer is within the
// tolerance of the current count.
func TestDecidePanicComparesReady(t *testing.T) {
	st := State{Current: 8, Ready: 4, Starting: 4}
	d := Decide(basePolicy(), st, demand(44), NewHistory(t0), t0)
	if !d.Panic || d.Desired != 8 || d.Kind != KindStarting {
		t.Errorf("Decide = %+v; want panic, holding 8 for the starting instances", d)
	}
	if d := Decide(basePolicy(), ready(8), demand(44), NewHistory(t0), t0); d.Panic {
		t.Errorf("8 ready instances panicked at a queue answer of 9: %+v", d)
	}
}

// TestDecideSpikeThenLull runs rounds every 15 s against a pool that takes
// whatever it is given: the spike must be met within the step limits, the
// lull must wait out the stabilization window and then step down to min.
func TestDecideSpikeThenLull(t *testing.T) {
	p := basePolicy()
	h := NewHistory(t0)
	current := 2
	var trail []int
	for i := range 90 {
		now := t0.Add(time.Duration(i) * 15 * time.Second)
		load := 5.0
		if i >= 4 && i < 20 {
			load = 80 // four minutes of spike
		}
		sig := demand(load)
		d := Decide(p, ready(current), sig, h, now)
		h.Record(now, sig, d)
		current = d.Desired
		trail = append(trail, current)
	}
	at := func(i int) int { return trail[i] }
	checks := []struct {
		name string
		ok   bool
	}{
		{"quiet start at min", at(3) == 2},
		{"first spike round adds 4", at(4) == 6},
		{"one step per period", at(7) == 6 && at(8) == 10 && at(12) == 14},
		{"the queue answer 16 is capped at max", at(16) == 15 && at(19) == 15},
		{"max never exceeded", maxOf(trail) == 15},
		{"no scale-down within five minutes of the spike", at(38) == 15},
		{"then 2 per 2m", at(39) == 13 && at(46) == 13 && at(47) == 11},
		{"down to min", at(89) == 2},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: trail %v", c.name, trail)
		}
	}
}

func maxOf(s []int) int {
	m := s[0]
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func TestDecisionDirection(t *testing.T) {
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{Current: 2, Desired: 3}, "up"},
		{Decision{Current: 3, Desired: 2}, "down"},
		{Decision{Current: 3, Desired: 3}, "hold"},
	}
	for _, tt := range tests {
		if got := tt.d.Direction(); got != tt.want {
			t.Errorf("%+v.Direction() = %s, want %s", tt.d, got, tt.want)
		}
	}
}

func TestDur(t *testing.T) {
	tests := map[time.Duration]string{
		5 * time.Minute:         "5m",
		90 * time.Second:        "1m30s",
		time.Hour:               "1h",
		3210 * time.Millisecond: "3.2s",
		250 * time.Millisecond:  "250ms",
	}
	for in, want := range tests {
		if got := dur(in); got != want {
			t.Errorf("dur(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestShape(t *testing.T) {
	h := NewHistory(t0.Add(-time.Hour))
	rec := Decision{Recommendation: 30, Kind: KindUtilization, Reason: "utilization 100%"}
	d := Shape(basePolicy(), ready(4), rec, h, t0)
	if d.Desired != 8 || d.Kind != KindStepLimit || d.Reason != "utilization 100%; limited to +4 per 1m" {
		t.Errorf("Shape = %d %s %q; want the step limit to bind", d.Desired, d.Kind, d.Reason)
	}
	rec.Recommendation = 6
	if d := Shape(basePolicy(), ready(4), rec, h, t0); d.Desired != 6 || d.Kind != KindUtilization {
		t.Errorf("Shape = %d %s; want 6 utilization", d.Desired, d.Kind)
	}
}
