package scaler

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spillway/spillway/policy"
)

// upLimit is the most replicas allowed now by a scale-up rule, and false
// when the rule sets no limit. From zero at least one replica is allowed,
// or a percent-only rule could never wake the pool.
func upLimit(r policy.ScaleRule, h *History, current int, now time.Time) (int, bool) {
	if r.MaxStep <= 0 && r.MaxPercent <= 0 {
		return 0, false
	}
	added, _ := h.changed(r.Period, now)
	start := max(current-added, 0)
	limit := max(start, 1)
	if r.MaxStep > 0 {
		limit = max(limit, start+r.MaxStep)
	}
	if r.MaxPercent > 0 {
		limit = max(limit, ceil(float64(start)*(1+r.MaxPercent/100)))
	}
	return max(limit, current), true
}

// downLimit is the fewest replicas allowed now by a scale-down rule, and
// false when the rule sets no limit.
func downLimit(r policy.ScaleRule, h *History, current int, now time.Time) (int, bool) {
	if r.MaxStep <= 0 && r.MaxPercent <= 0 {
		return 0, false
	}
	_, removed := h.changed(r.Period, now)
	start := current + removed
	limit := start
	if r.MaxStep > 0 {
		limit = min(limit, start-r.MaxStep)
	}
	if r.MaxPercent > 0 {
		limit = min(limit, floor(float64(start)*(1-r.MaxPercent/100)))
	}
	return min(max(limit, 0), current), true
}

// ceil and floor forgive float noise, so that 10 × 1.1 is 11 and not 12.
func ceil(x float64) int  { return int(math.Ceil(x - 1e-9)) }
func floor(x float64) int { return int(math.Floor(x + 1e-9)) }

func clamp(p Policy, d Decision) Decision {
	if p.Max > 0 && d.Desired > p.Max {
		d.Desired = p.Max
		d.Kind, d.Reason = KindMax, d.Reason+fmt.Sprintf("; at max %d", p.Max)
	}
	if d.Desired < p.Min {
		d.Desired = p.Min
		d.Kind, d.Reason = KindMin, d.Reason+fmt.Sprintf("; at min %d", p.Min)
	}
	return d
}

// decideZero handles the pools that may scale to zero: one at zero stays
// there until demand reaches the activation threshold, and one idle for
// IdleAfter goes to zero whatever its minimum. It reports false when the
// ordinary rules apply.
func decideZero(p Policy, st State, sig Signal, h *History, now time.Time,
	d Decision) (Decision, bool) {
	if p.ToZero == nil {
		return d, false
	}
	activation := p.ToZero.Activation
	if activation <= 0 {
		activation = 1
	}
	if st.Current == 0 {
		if sig.Demand() < activation {
			return d.settle(KindIdle, fmt.Sprintf("idle at zero: queue %s below activation %s",
				num(sig.Demand()), num(activation))), true
		}
		return wake(p, st, sig, h, now, d), true
	}
	idle := now.Sub(h.lastBusy)
	if busy(sig) {
		idle = 0
	}
	if p.ToZero.IdleAfter <= 0 || idle < p.ToZero.IdleAfter {
		return d, false
	}
	d.Desired, d.Recommendation = 0, 0
	return d.settle(KindToZero, fmt.Sprintf("scale to zero after %s idle",
		dur(p.ToZero.IdleAfter))), true
}

// wake brings a pool back from zero. Waking is a spike by definition, so it
// enters panic mode: later rounds skip up-stabilization and do not shrink
// the pool while the first instances start.
func wake(p Policy, st State, sig Signal, h *History, now time.Time, d Decision) Decision {
	ans := recommend(p, st, sig)
	ans.replicas = max(ans.replicas, 1)
	d.Recommendation = ans.replicas
	d.Kind, d.Reason = KindFromZero, "activation: "+ans.reason
	d.enterPanic(p, st, answer{queue: ans.replicas}, now)
	d = shape(p, st, h, now, d)
	return d
}

// num formats a count: whole numbers plainly, others with one decimal.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// dur formats a duration the way an operator writes it: 5m, 1m30s, 3.2s.
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		d = d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Millisecond)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
