package scaler

import (
	"slices"
	"time"

	"github.com/spillway/spillway/policy"
)

// maxWindow bounds how far back History keeps anything: the longest
// stabilization window or step period the decide step honours.
const maxWindow = time.Hour

// MaxForecastGrowth caps how far panic mode extrapolates demand.
const MaxForecastGrowth = 10.0

// Policy is one pool's scaling policy: the configured targets and limits,
// with the panic settings unpacked for the decide step.
type Policy struct {
	policy.ScalerPool
	// PanicThreshold enters panic mode when the queue answer exceeds this
	// multiple of the ready replicas; zero disables panic mode.
	PanicThreshold float64
	// PanicWindow is how long panic mode lasts after it was last triggered.
	PanicWindow time.Duration
	// Lead is how long an instance asked for now takes to serve at full
	// speed (start plus slow start). In panic mode the pool is sized for
	// the demand expected that far ahead; zero sizes it for the present.
	Lead time.Duration
}

// NewPolicy wraps a pool's config, taking the panic settings from its
// panic section. A config that did not pass through policy.Load has no
// defaults, so a zero panic section there means no panic mode.
func NewPolicy(p *policy.ScalerPool) Policy {
	return Policy{
		ScalerPool:     *p,
		PanicThreshold: p.Panic.Threshold,
		PanicWindow:    p.Panic.Window,
		Lead:           p.Panic.Lead,
	}
}

// History is what the decide step remembers between rounds: its past
// recommendations (for stabilization windows), the changes actually made
// (for step limits), the last time the pool had work (for scale to zero),
// the end of panic mode and the last demand (for panic mode's forecast).
// Decide only reads it; Record updates it.
type History struct {
	start      time.Time
	recs       []stamped
	changes    []stamped
	lastBusy   time.Time
	panicUntil time.Time
	// lastDemand is the demand of the last fresh round, at lastAt: the
	// base of panic mode's growth estimate.
	lastDemand float64
	lastAt     time.Time
}

type stamped struct {
	at time.Time
	n  int
}

// NewHistory starts an empty history at now. A fresh scaler knows nothing
// of the recent past, so it assumes the worst for scaling in: the pool
// counts as busy at the start, and no scale-down happens before a full
// scale-down stabilization window has been seen.
func NewHistory(now time.Time) *History {
	return &History{start: now, lastBusy: now}
}

// Record remembers a round: the signal it saw and the decision as it was
// applied. When the actuator failed, record the decision with Desired set
// back to Current, so that no change is counted that did not happen.
func (h *History) Record(now time.Time, sig Signal, d Decision) {
	if !sig.Stale {
		h.recs = append(h.recs, stamped{now, d.Recommendation})
		if busy(sig) {
			h.lastBusy = now
		}
		h.lastDemand, h.lastAt = sig.Demand(), now
	}
	if d.Desired != d.Current {
		h.changes = append(h.changes, stamped{now, d.Desired - d.Current})
	}
	h.panicUntil = d.PanicUntil
	h.prune(now)
}

// Revert forgets the change recorded at at: the action meant to make it
// failed or was given up, and a change that did not happen must not count
// against the step limits.
func (h *History) Revert(at time.Time) {
	h.changes = slices.DeleteFunc(h.changes, func(c stamped) bool { return c.at.Equal(at) })
}

func (h *History) prune(now time.Time) {
	h.recs = dropBefore(h.recs, now.Add(-maxWindow))
	h.changes = dropBefore(h.changes, now.Add(-maxWindow))
}

func dropBefore(s []stamped, cutoff time.Time) []stamped {
	i := 0
	for i < len(s) && s[i].at.Before(cutoff) {
		i++
	}
	return s[i:]
}

func busy(sig Signal) bool {
	return sig.Demand() > 0 || sig.RPS > 0
}

// stabilized returns the smallest and largest recommendation within the
// scale-up and scale-down windows, counting rec, the one being made now.
// Until the history covers the scale-down window, the current count stands
// in for the recommendations it has not seen.
func (h *History) stabilized(p Policy, current, rec int, now time.Time) (up, down int) {
	up, down = rec, rec
	if within(h.start, now, p.ScaleDown.Stabilization) {
		down = max(down, current)
	}
	for _, r := range h.recs {
		if within(r.at, now, p.ScaleUp.Stabilization) {
			up = min(up, r.n)
		}
		if within(r.at, now, p.ScaleDown.Stabilization) {
			down = max(down, r.n)
		}
	}
	return up, down
}

// changed returns the replicas added and removed within period before now.
func (h *History) changed(period time.Duration, now time.Time) (added, removed int) {
	for _, c := range h.changes {
		if !within(c.at, now, period) {
			continue
		}
		if c.n > 0 {
			added += c.n
		} else {
			removed -= c.n
		}
	}
	return added, removed
}

func within(at, now time.Time, window time.Duration) bool {
	return window > 0 && now.Sub(at) < window
}
