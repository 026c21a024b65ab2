package scaler

import (
	"fmt"
	"math"
	"time"
)

// Kind names the rule that settled a decision. The set is fixed, so that it
// can label metrics.
type Kind string

// The rules a decision can end on.
const (
	KindQueue   Kind = "queue"
	KindLatency Kind = "latency"
	// KindUtilization is for algorithms run through Shape on utilization,
	// such as the simulator's HPA baseline; Decide never uses it.
	KindUtilization Kind = "utilization"
	KindOnTarget    Kind = "on_target"
	KindNoTarget    Kind = "no_target"
	KindForecast    Kind = "forecast"
	KindStarting    Kind = "starting"
	KindStabilize   Kind = "stabilization"
	KindPanicHold   Kind = "panic_hold"
	KindStepLimit   Kind = "step_limit"
	KindMax         Kind = "max"
	KindMin         Kind = "min"
	KindToZero      Kind = "to_zero"
	KindFromZero    Kind = "from_zero"
	KindIdle        Kind = "idle"
	KindStale       Kind = "stale"
)

// State is the pool as the platform has it when the decision is made.
type State struct {
	// Current is the replica count the pool was last set to: ready,
	// starting and unhealthy-but-new instances alike.
	Current int
	// Ready instances serve at full capacity.
	Ready int
	// Starting instances were created but are not ready yet, or are ready
	// but still in slow start: capacity on the way.
	Starting int
}

// Decision is the outcome of one round for one pool.
type Decision struct {
	Current int
	Desired int
	// Recommendation is the raw answer of the targets, before the
	// stabilization windows, step limits and bounds shaped it.
	Recommendation int
	Kind           Kind
	// Reason says in words why Desired is what it is.
	Reason string
	// Panic is set while panic mode lasts, until PanicUntil.
	Panic      bool
	PanicUntil time.Time
}

// Direction is "up", "down" or "hold".
func (d Decision) Direction() string {
	switch {
	case d.Desired > d.Current:
		return "up"
	case d.Desired < d.Current:
		return "down"
	}
	return "hold"
}

// Decide computes a pool's desired replicas from its policy, its state, the
// latest signal and what it decided before. It is a pure function: the
// caller applies the decision and then records it in h.
//
// The rules, in order: a stale signal holds the pool; an idle pool goes to
// zero and a pool at zero wakes at its activation threshold; otherwise the
// larger of the queue and latency answers, each within a tolerance band,
// passes through the stabilization windows, the step limits per period and
// the min/max. Panic mode, entered when the queue answer exceeds the ready
// instances by PanicThreshold, skips up-stabilization, forbids scale-down
// and sizes the pool for the demand expected Lead ahead.
func Decide(p Policy, st State, sig Signal, h *History, now time.Time) Decision {
	d := Decision{
		Current:        st.Current,
		Desired:        st.Current,
		Recommendation: st.Current,
		PanicUntil:     h.panicUntil,
	}
	if sig.Stale {
		return d.settle(KindStale, "stats stale: "+sig.StaleReason)
	}
	if zd, ok := decideZero(p, st, sig, h, now, d); ok {
		return zd
	}
	ans := recommend(p, st, sig)
	d.Recommendation = ans.replicas
	d.Kind, d.Reason = ans.kind, ans.reason
	d.enterPanic(p, st, ans, now)
	if d.Panic {
		d = forecast(p, sig, h, now, d)
	}
	return shape(p, st, h, now, d)
}

func (d Decision) settle(k Kind, reason string) Decision {
	d.Kind, d.Reason = k, reason
	return d
}

// answer is one target's raw recommendation.
type answer struct {
	replicas int
	queue    int // the queue answer alone, for panic mode; -1 when unset
	kind     Kind
	reason   string
}

// recommend takes the larger of the queue and latency answers. Latency is
// scaled from the ready instances only, so that capacity still starting is
// not asked for twice.
func recommend(p Policy, st State, sig Signal) answer {
	best := answer{replicas: st.Current, queue: -1, kind: KindNoTarget, reason: "no target set"}
	var parts []answer
	if p.Target.QueuePerInstance > 0 {
		q := queueAnswer(p, st, sig)
		best.queue = q.queue
		parts = append(parts, q)
	}
	if p.Target.LatencyP95 > 0 && sig.Samples > 0 && st.Ready > 0 {
		parts = append(parts, latencyAnswer(p, st, sig))
	}
	for i, a := range parts {
		if i == 0 || a.replicas > best.replicas {
			a.queue = best.queue
			best = a
		}
	}
	return best
}

func queueAnswer(p Policy, st State, sig Signal) answer {
	per := p.Target.QueuePerInstance
	demand := sig.Demand()
	want := int(math.Ceil(demand / per))
	pool := fmt.Sprintf("%d×%s", st.Current, num(per))
	if st.Current > 0 && inBand(demand/(per*float64(st.Current)), p.Tolerance) {
		return answer{st.Current, want, KindOnTarget,
			fmt.Sprintf("queue %s on target %s", num(demand), pool)}
	}
	word := "over"
	if demand < per*float64(st.Current) {
		word = "under"
	}
	return answer{want, want, KindQueue, fmt.Sprintf("queue %s %s %s", num(demand), word, pool)}
}

func latencyAnswer(p Policy, st State, sig Signal) answer {
	ratio := float64(sig.P95) / float64(p.Target.LatencyP95)
	target := p.Target.LatencyP95
	if inBand(ratio, p.Tolerance) {
		return answer{st.Current, -1, KindOnTarget,
			fmt.Sprintf("p95 %s on target %s", dur(sig.P95), dur(target))}
	}
	want := int(math.Ceil(float64(st.Ready) * ratio))
	word := "over"
	if ratio < 1 {
		word = "under"
	}
	return answer{want, -1, KindLatency,
		fmt.Sprintf("p95 %s %s %s on %d ready", dur(sig.P95), word, dur(target), st.Ready)}
}

// inBand forgives float noise at the edge, so that 22 for 4×5 with a
// tolerance of 0.1 counts as inside.
func inBand(ratio, tolerance float64) bool {
	return math.Abs(ratio-1) <= tolerance+1e-9
}

// enterPanic starts or extends panic mode when the queue answer outruns
// the ready instances by the threshold: a spike, not a drift. It compares
// with the ready instances, not the current count, because a pool that
// keeps adding starting instances in steps below the threshold is still
// overwhelmed while they start.
func (d *Decision) enterPanic(p Policy, st State, ans answer, now time.Time) {
	trigger := p.PanicThreshold > 0 && ans.queue >= 0 &&
		float64(ans.queue) > p.PanicThreshold*float64(st.Ready)
	if trigger && p.PanicWindow > 0 {
		d.PanicUntil = now.Add(p.PanicWindow)
	}
	d.Panic = trigger || now.Before(d.PanicUntil)
}

// Shape passes a raw recommendation computed elsewhere (rec's
// Recommendation, Kind and Reason) through the same stabilization windows,
// step limits and bounds as Decide, without panic mode or scale to zero.
// The simulator uses it to run other algorithms, such as Kubernetes' HPA
// formula, under identical behaviour rules.
func Shape(p Policy, st State, rec Decision, h *History, now time.Time) Decision {
	rec.Current, rec.Desired = st.Current, st.Current
	rec.Panic, rec.PanicUntil = false, h.panicUntil
	return shape(p, st, h, now, rec)
}

// forecast sizes a panicking pool for the demand expected when the
// instances asked for now will serve: the demand's growth since the last
// round, carried forward over the policy's Lead and capped at
// MaxForecastGrowth. In a spike, demand that doubles every few seconds
// outruns any answer sized for the present.
func forecast(p Policy, sig Signal, h *History, now time.Time, d Decision) Decision {
	per := p.Target.QueuePerInstance
	if p.Lead <= 0 || per <= 0 || h.lastDemand <= 0 || !now.After(h.lastAt) {
		return d
	}
	growth := sig.Demand() / h.lastDemand
	if growth <= 1 {
		return d
	}
	since := now.Sub(h.lastAt)
	factor := min(math.Pow(growth, float64(p.Lead)/float64(since)), MaxForecastGrowth)
	want := ceil(sig.Demand() * factor / per)
	if want <= d.Recommendation {
		return d
	}
	d.Recommendation, d.Kind = want, KindForecast
	d.Reason = fmt.Sprintf("queue %s grew %.1f× in %s; sized for %s ahead",
		num(sig.Demand()), growth, dur(since), dur(p.Lead))
	return d
}

// shape turns the raw recommendation into the desired count: stabilization,
// step limits, then bounds, each rewriting the reason when it binds.
func shape(p Policy, st State, h *History, now time.Time, d Decision) Decision {
	d = stabilize(p, h, now, d)
	d = limitStep(p, h, now, d)
	d = clamp(p, d)
	if d.Desired == d.Current && d.Recommendation > st.Ready && st.Starting > 0 &&
		d.Recommendation <= st.Current {
		d.Kind = KindStarting
		d.Reason += fmt.Sprintf("; %d starting will absorb it", st.Starting)
	}
	return d
}

func stabilize(p Policy, h *History, now time.Time, d Decision) Decision {
	rec := d.Recommendation
	up, down := h.stabilized(p, d.Current, rec, now)
	switch {
	case rec > d.Current && d.Panic:
		d.Desired = rec
	case rec > d.Current && up > d.Current:
		d.Desired = up
	case rec > d.Current:
		d.Desired = d.Current
		d.Kind, d.Reason = KindStabilize, d.Reason+"; held by scale-up stabilization"
	case rec < d.Current && d.Panic:
		d.Desired = d.Current
		d.Kind = KindPanicHold
		d.Reason += "; no scale-down in panic mode until " + d.PanicUntil.UTC().Format("15:04:05")
	case rec < d.Current && down < d.Current:
		d.Desired = down
		if down > rec {
			d.Kind, d.Reason = KindStabilize, d.Reason+fmt.Sprintf(
				"; scale-down stabilization keeps %d", down)
		}
	case rec < d.Current:
		d.Desired = d.Current
		d.Kind, d.Reason = KindStabilize, d.Reason+"; held by scale-down stabilization"
	}
	return d
}

// limitStep applies the step limits as Kubernetes' HPA does with
// selectPolicy Max: of the pod and percent limits, the one allowing the
// larger change wins, measured from the count at the start of the period.
func limitStep(p Policy, h *History, now time.Time, d Decision) Decision {
	switch {
	case d.Desired > d.Current:
		limit, ok := upLimit(p.ScaleUp, h, d.Current, now)
		if ok && d.Desired > limit {
			d.Desired = limit
			d.Kind = KindStepLimit
			d.Reason += "; " + stepText("+", limit-(d.Current-added(h, p, now)), p.ScaleUp.Period)
		}
	case d.Desired < d.Current:
		limit, ok := downLimit(p.ScaleDown, h, d.Current, now)
		if ok && d.Desired < limit {
			d.Desired = limit
			d.Kind = KindStepLimit
			d.Reason += "; " + stepText("-", d.Current+removed(h, p, now)-limit, p.ScaleDown.Period)
		}
	}
	return d
}

func added(h *History, p Policy, now time.Time) int {
	a, _ := h.changed(p.ScaleUp.Period, now)
	return a
}

func removed(h *History, p Policy, now time.Time) int {
	_, r := h.changed(p.ScaleDown.Period, now)
	return r
}

func stepText(sign string, n int, period time.Duration) string {
	if period <= 0 {
		return fmt.Sprintf("limited to %s%d per decision", sign, n)
	}
	return fmt.Sprintf("limited to %s%d per %s", sign, n, dur(period))
}
