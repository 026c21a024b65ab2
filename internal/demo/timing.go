package demo

import (
	"fmt"
	"time"
)

// Phase is one stretch of the traffic schedule: requests arrive at Rate per
// second, at random (a Poisson process), for Length.
type Phase struct {
	Name   string
	Length time.Duration
	Rate   float64
}

// Timing holds every duration and rate of a run, so that a test can play
// the same story faster than a person would watch it.
type Timing struct {
	// Phases repeat in order for as long as the demo runs.
	Phases []Phase
	// Tick is the time between scaler decisions and status lines; it is
	// also the config's scaler.stats.interval.
	Tick time.Duration
	// Warmup is how long an instance loads its model before it is ready.
	Warmup time.Duration
	// SlowStart is the pool's slow-start window.
	SlowStart time.Duration
	// ScaleDownStabilization and ScaleDownPeriod are the pool's scale_down
	// stabilization and period; ScaleUpPeriod the scale_up period.
	ScaleDownStabilization time.Duration
	ScaleDownPeriod        time.Duration
	ScaleUpPeriod          time.Duration
	// PanicWindow and PanicLead are the pool's panic window and lead.
	PanicWindow time.Duration
	PanicLead   time.Duration
	// Deadline bounds each request of the client.
	Deadline time.Duration
}

// DefaultTiming is the schedule `spillway demo` plays: half a minute of
// baseline, a tenfold spike for 30 s, then a minute of lull, over and over.
// The scaler's windows are shortened from production's (scale-down
// stabilization 20 s rather than 5 min) so that the story fits in minutes.
func DefaultTiming() Timing {
	return Timing{
		Phases: []Phase{
			{Name: "baseline", Length: 30 * time.Second, Rate: 4},
			{Name: "spike", Length: 30 * time.Second, Rate: 40},
			{Name: "lull", Length: 60 * time.Second, Rate: 1.5},
		},
		Tick:                   2 * time.Second,
		Warmup:                 3 * time.Second,
		SlowStart:              10 * time.Second,
		ScaleDownStabilization: 20 * time.Second,
		ScaleDownPeriod:        10 * time.Second,
		ScaleUpPeriod:          10 * time.Second,
		PanicWindow:            10 * time.Second,
		PanicLead:              5 * time.Second,
		Deadline:               10 * time.Second,
	}
}

// CompressedTiming tells the same story in about 40 s: the schedule and
// the scaler's windows are shortened, the rates are the default ones.
func CompressedTiming() Timing {
	t := DefaultTiming()
	t.Phases = []Phase{
		{Name: "baseline", Length: 4 * time.Second, Rate: 4},
		{Name: "spike", Length: 12 * time.Second, Rate: 40},
		{Name: "lull", Length: 24 * time.Second, Rate: 1.5},
	}
	t.Tick = time.Second
	t.Warmup = 1500 * time.Millisecond
	t.SlowStart = 3 * time.Second
	t.ScaleDownStabilization = 6 * time.Second
	t.ScaleDownPeriod = 4 * time.Second
	t.ScaleUpPeriod = 4 * time.Second
	t.PanicWindow = 4 * time.Second
	t.PanicLead = 3 * time.Second
	return t
}

// check reports the first setting that cannot work.
func (t Timing) check() error {
	if len(t.Phases) == 0 {
		return fmt.Errorf("demo timing: no phases")
	}
	for i, p := range t.Phases {
		if p.Length <= 0 || p.Rate < 0 {
			return fmt.Errorf("demo timing: phase %d (%s): want length > 0 and rate >= 0, got %s and %v",
				i, p.Name, p.Length, p.Rate)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"tick", t.Tick}, {"slow start", t.SlowStart}, {"scale-down period", t.ScaleDownPeriod},
		{"scale-up period", t.ScaleUpPeriod}, {"deadline", t.Deadline},
	} {
		if d.v <= 0 {
			return fmt.Errorf("demo timing: %s must be more than 0s, got %s", d.name, d.v)
		}
	}
	return nil
}

// cycle is the length of one pass through the phases.
func (t Timing) cycle() time.Duration {
	var sum time.Duration
	for _, p := range t.Phases {
		sum += p.Length
	}
	return sum
}

// phaseAt returns the phase in force at elapsed since traffic began, and
// how long it lasts from there.
func (t Timing) phaseAt(elapsed time.Duration) (Phase, time.Duration) {
	elapsed = max(elapsed, 0) % t.cycle()
	for _, p := range t.Phases {
		if elapsed < p.Length {
			return p, p.Length - elapsed
		}
		elapsed -= p.Length
	}
	last := t.Phases[len(t.Phases)-1]
	return last, last.Length
}
