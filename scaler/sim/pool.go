package sim

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/spillway/spillway/scaler"
)

// control runs one round of the controller on what the pool looks like
// now and applies its answer.
func (e *engine) control(now time.Duration) {
	v := e.view(now)
	desired, reason := e.ctl.Decide(v)
	current := v.State.Current
	switch {
	case desired > current:
		e.grow(now, desired-current)
	case desired < current:
		e.shrink(now, current-desired)
	}
	if desired != current {
		e.report.Changes = append(e.report.Changes, Change{
			At: now, From: current, To: desired, Reason: reason})
	}
}

// view is what a controller sees: the state as the platform reports it
// and the signal Envoy's stats would give over the last interval.
func (e *engine) view(now time.Duration) View {
	s := e.sample(now)
	lat := e.interval.latencies
	slices.Sort(lat)
	secs := (now - e.interval.since).Seconds()
	sig := scaler.Signal{
		Active:  float64(s.Active),
		Pending: float64(s.Queue),
		Samples: float64(len(lat)),
		P50:     quantile(lat, 0.50),
		P95:     quantile(lat, 0.95),
		P99:     quantile(lat, 0.99),
		Healthy: s.Ready,
		Members: s.Ready + s.Starting,
	}
	if secs > 0 {
		sig.RPS = float64(len(lat)) / secs
	}
	e.report.lastP95 = sig.P95
	e.interval = intervalStats{since: now, latencies: lat[:0]}
	st := scaler.State{Current: s.Ready + s.Starting, Ready: s.Full}
	st.Starting = st.Current - st.Ready
	return View{Now: now, State: st, Signal: sig, Samples: e.samples}
}

// grow adds n instances: first by cancelling drains (those are warm and
// may still hold requests), then from the warm pool, then cold.
func (e *engine) grow(now time.Duration, n int) {
	var draining []*instance
	for _, in := range e.live {
		if in.draining {
			draining = append(draining, in)
		}
	}
	slices.SortFunc(draining, func(a, b *instance) int { return cmp.Compare(b.active, a.active) })
	for _, in := range draining[:min(n, len(draining))] {
		in.draining = false
		n--
	}
	for range n {
		delay := e.m.ColdStart
		if e.warm > 0 {
			e.warm--
			e.refilling++
			e.schedule(event{at: now + e.m.ColdStart, kind: evRefill})
			delay = e.m.WarmStart
		}
		e.addInstance(now, delay)
	}
	e.dispatch(now)
}

func (e *engine) addInstance(now, delay time.Duration) {
	in := &instance{id: len(e.all), created: now, readyAt: now + delay, removed: -1}
	e.live = append(e.live, in)
	e.all = append(e.all, in)
	e.report.PeakReplicas = max(e.report.PeakReplicas, len(e.live))
	if delay > 0 {
		e.schedule(event{at: in.readyAt, kind: evReady})
	}
}

// shrink drains n instances chosen as the scaler would choose them: those
// not serving yet first, then the least busy. A victim stops taking new
// requests and leaves when its last request finishes; none is cut.
func (e *engine) shrink(now time.Duration, n int) {
	byAddr := make(map[string]*instance, len(e.live))
	var hosts []scaler.Instance
	for _, in := range e.live {
		if in.draining {
			continue
		}
		// Newer instances get smaller addresses, so that among equally
		// busy ones the newest goes first, as a ReplicaSet would pick.
		addr := fmt.Sprintf("i%010d", math.MaxInt32-in.id)
		byAddr[addr] = in
		hosts = append(hosts, scaler.Instance{
			Address: addr, Active: float64(in.active), Healthy: in.ready(now)})
	}
	for _, v := range scaler.PickVictims(hosts, n) {
		in := byAddr[v.Address]
		in.draining = true
		if in.active == 0 {
			e.remove(in, now)
		}
	}
}

// remove takes an instance out of the pool; it goes back to the warm pool
// when there is room, since its model is already loaded.
func (e *engine) remove(in *instance, now time.Duration) {
	in.removed = now
	e.live = slices.DeleteFunc(e.live, func(x *instance) bool { return x == in })
	if in.ready(now) && e.warm+e.refilling < e.m.WarmPool {
		e.warm++
	}
}

// quantile is the exact q-quantile of sorted values, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
