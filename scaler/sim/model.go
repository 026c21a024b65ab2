package sim

import (
	"fmt"
	"time"
)

// Model describes the pool's instances and the measurement. Start from
// DefaultModel; zero counts and durations take its values, except where
// zero has a meaning of its own (no slow start, no warm pool, no lag).
type Model struct {
	// Slots is how many requests one instance serves at once.
	Slots int
	// ColdStart is the time from asking for an instance until it passes
	// its health check: boot, image pull, model load.
	ColdStart time.Duration
	// SlowStart is how long a new instance takes after it is ready to
	// reach its full slots; it starts at SlowStartMin of them. Zero means
	// full capacity at once.
	SlowStart    time.Duration
	SlowStartMin float64
	// WarmPool is how many pre-initialised instances wait, stopped, to be
	// started in WarmStart instead of ColdStart. A used one is replaced
	// after ColdStart; an instance scaled in returns to the pool if there
	// is room.
	WarmPool  int
	WarmStart time.Duration
	// StatsInterval is how often the Spillway scaler reads stats and
	// decides.
	StatsInterval time.Duration
	// WaitTarget is the queue wait that the report counts requests within.
	WaitTarget time.Duration
	// Service, when set, replaces the trace's service-time distribution.
	Service *Dist
	// Seed draws the requests of a rate trace.
	Seed uint64
	// Initial is the replicas ready at the start for the scaling
	// controllers. Zero means just enough slots for the trace's first
	// minute at full use, within the pool's min and max, so that no
	// controller is measured on a cold start it did not cause.
	Initial int
	// HPA configures the Kubernetes-style baseline.
	HPA HPAConfig
}

// HPAConfig is the baseline autoscaler: Kubernetes' HPA formula on slot
// utilization with its default behavior.
type HPAConfig struct {
	// Target is the utilization the HPA holds, busy slots over the slots of
	// ready instances.
	Target float64
	// Sync is the HPA's loop period.
	Sync time.Duration
	// MetricsLag is how old the utilization is when the HPA sees it:
	// metrics-server's scrape plus its resolution window.
	MetricsLag time.Duration
	// Tolerance is the HPA's no-change band around the target.
	Tolerance float64
}

// DefaultModel is a GPU image-generation pool: 8 requests per instance,
// 90 s to become ready, 30 s of slow start from half the slots, no warm
// pool (15 s from it when one is set), stats every 5 s, a 2 s queue-wait target, and an HPA at 70%
// utilization that syncs every 15 s and sees metrics 45 s late.
func DefaultModel() Model {
	return Model{
		Slots:         8,
		ColdStart:     90 * time.Second,
		SlowStart:     30 * time.Second,
		SlowStartMin:  0.5,
		WarmStart:     15 * time.Second,
		StatsInterval: 5 * time.Second,
		WaitTarget:    2 * time.Second,
		Seed:          1,
		HPA: HPAConfig{
			Target:     0.7,
			Sync:       15 * time.Second,
			MetricsLag: 45 * time.Second,
			Tolerance:  0.1,
		},
	}
}

// withDefaults fills the zero fields of m from DefaultModel, except those
// for which zero means something: SlowStart, SlowStartMin, WarmPool and
// HPA.MetricsLag are taken as given.
func (m Model) withDefaults() Model {
	def := DefaultModel()
	fill := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if m.Slots <= 0 {
		m.Slots = def.Slots
	}
	fill(&m.ColdStart, def.ColdStart)
	fill(&m.WarmStart, def.WarmStart)
	fill(&m.StatsInterval, def.StatsInterval)
	fill(&m.WaitTarget, def.WaitTarget)
	fill(&m.HPA.Sync, def.HPA.Sync)
	if m.HPA.Target <= 0 {
		m.HPA.Target = def.HPA.Target
	}
	if m.HPA.Tolerance <= 0 {
		m.HPA.Tolerance = def.HPA.Tolerance
	}
	if m.Seed == 0 {
		m.Seed = def.Seed
	}
	return m
}

func (m Model) validate() error {
	switch {
	case m.SlowStartMin < 0 || m.SlowStartMin > 1:
		return fmt.Errorf("model: slow_start_min %v must be within 0..1", m.SlowStartMin)
	case m.WarmPool < 0:
		return fmt.Errorf("model: warm_pool %d must not be negative", m.WarmPool)
	case m.HPA.Target > 1:
		return fmt.Errorf("model: hpa target %v must be at most 1", m.HPA.Target)
	}
	return nil
}

// capacity is how many slots an instance ready since readyFor offers.
func (m Model) capacity(readyFor time.Duration) int {
	if m.SlowStart <= 0 || readyFor >= m.SlowStart {
		return m.Slots
	}
	frac := m.SlowStartMin + (1-m.SlowStartMin)*float64(readyFor)/float64(m.SlowStart)
	return max(1, int(frac*float64(m.Slots)))
}
