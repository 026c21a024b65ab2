package demo

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spillway/spillway/scaler"
)

// scaleLoop stands in for `spillway scale` in one process. It runs the
// scaler's own decide step (scaler.Decide with the pool's policy and
// history) every tick; only the signal and the registry differ: the queue
// comes from the model servers' gauges and the latency from the client,
// where production reads both from Envoy, and the fleet is the registry.
type scaleLoop struct {
	policy  scaler.Policy
	history *scaler.History
	timing  Timing
	fleet   *fleet
	act     scaler.Actuator
	scrape  *scraper
	traffic *traffic
	// admin is Spillway's admin address, where drains see what it publishes.
	admin  string
	log    *slog.Logger
	report func(tick)

	drains sync.WaitGroup
	// veterans were ready at the first round: as the scaler's tracker
	// does, they count as past slow start, since nobody knows better.
	veterans map[*instance]bool

	// Written by the loop's goroutine; read once run has returned.
	ups, downs, most int
}

// latencyTicks is how many ticks the client's latency quantiles span.
const latencyTicks = 5

// tick is what one round saw and decided, for the status line.
type tick struct {
	at                        time.Time
	phase                     string
	ready, starting, draining int
	inFlight                  int64
	ok, failed                int64
	sig                       scaler.Signal
	decision                  scaler.Decision
}

// run decides every tick until ctx ends, then waits for the drains in
// progress to end (a drain stopped by ctx leaves its victims running, for
// the fleet's own shutdown to stop gracefully).
func (l *scaleLoop) run(ctx context.Context) {
	defer l.drains.Wait()
	every := time.NewTicker(l.timing.Tick)
	defer every.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-every.C:
			if t, ok := l.round(ctx, now); ok {
				l.report(t)
			}
		}
	}
}

// round observes the pool, decides, carries the decision out and records
// it as carried out. It reports false, having done nothing, when ctx ended
// while it observed: the demo is stopping and starts nothing more.
func (l *scaleLoop) round(ctx context.Context, now time.Time) (tick, bool) {
	ms := l.fleet.members()
	loads, stale := l.observe(ctx, ms)
	if ctx.Err() != nil {
		return tick{}, false
	}
	sig := signal(now, ms, loads, l.traffic.window(now, latencyTicks*l.timing.Tick))
	if stale != "" {
		sig.Stale, sig.StaleReason = true, stale
	}
	if l.veterans == nil {
		l.veterans = veterans(ms)
	}
	st := state(ms, l.veterans, l.timing.SlowStart, now)

	d := scaler.Decide(l.policy, st, sig, l.history, now)
	applied := l.apply(ctx, d, ms, loads)
	l.history.Record(now, sig, applied)
	l.most = max(l.most, applied.Desired)
	if d.Desired != d.Current {
		l.log.Info("scaling decision", "pool", poolName, "current", d.Current,
			"desired", applied.Desired, "kind", string(d.Kind), "reason", d.Reason)
	}

	t := tick{at: now, phase: l.traffic.phase(), inFlight: l.traffic.inFlight.Load(),
		sig: sig, decision: d}
	// The counts are the scaler's, so that they match the reasons.
	t.ready, t.starting, t.draining = st.Ready, st.Starting, draining(ms)
	t.ok = l.traffic.ok.Load()
	t.failed, _ = l.traffic.failed()
	return t, true
}

// observe scrapes every instance. An instance that cannot be read makes
// the signal stale, as a failed Envoy scrape does, unless it is draining
// and may just have been stopped.
func (l *scaleLoop) observe(ctx context.Context, ms []member) (map[*instance]load, string) {
	loads := make(map[*instance]load, len(ms))
	var problems []string
	for _, m := range ms {
		ld, err := l.scrape.scrape(ctx, m.in.addr())
		switch {
		case err == nil:
			loads[m.in] = ld
		case m.listing != listedDraining:
			problems = append(problems, err.Error())
		}
	}
	return loads, strings.Join(problems, "; ")
}

// signal sums the instances' queues, as the scaler sums the Envoys'
// active and pending requests, and takes the latencies the client saw.
func signal(now time.Time, ms []member, loads map[*instance]load, w latencyWindow) scaler.Signal {
	sig := scaler.Signal{At: now, RPS: w.rps, Samples: float64(w.samples),
		P50: w.p50, P95: w.p95, P99: w.p99, Members: len(ms)}
	for _, m := range ms {
		ld := loads[m.in]
		sig.Active += ld.running
		sig.Pending += ld.waiting
		if m.listing == listedReady {
			sig.Healthy++
		}
	}
	return sig
}

// draining counts the instances listed in maintenance.
func draining(ms []member) int {
	n := 0
	for _, m := range ms {
		if m.listing == listedDraining {
			n++
		}
	}
	return n
}

// apply carries d out and returns it as carried out: a scale-up that
// failed changed nothing, and a scale-in removes as many victims as could
// be found.
func (l *scaleLoop) apply(ctx context.Context, d scaler.Decision, ms []member,
	loads map[*instance]load) scaler.Decision {
	applied := d
	switch {
	case d.Desired > d.Current:
		err := l.act.Scale(ctx, scaler.Request{Pool: poolName, Current: d.Current,
			Desired: d.Desired, Reason: d.Reason})
		if err != nil {
			l.log.Error("scale-up failed", "pool", poolName, "err", err)
			applied.Desired = d.Current
			return applied
		}
		l.ups++
	case d.Desired < d.Current:
		victims := chooseVictims(ms, loads, d.Current-d.Desired)
		if err := l.fleet.drain(instancesOf(ms, victims)); err != nil {
			l.log.Error("cannot list victims in maintenance", "pool", poolName, "err", err)
		}
		applied.Desired = d.Current - len(victims)
		l.downs++
		req := scaler.Request{Pool: poolName, Current: d.Current, Desired: applied.Desired,
			Victims: victims, Reason: d.Reason}
		l.drains.Go(func() { l.retire(ctx, req) })
	}
	return applied
}

// chooseVictims picks n instances to remove as the scaler does: those that
// get no traffic (still warming) first, then the least busy.
func chooseVictims(ms []member, loads map[*instance]load, n int) []scaler.Instance {
	var hosts []scaler.Instance
	for _, m := range ms {
		if m.listing == listedDraining {
			continue
		}
		hosts = append(hosts, scaler.Instance{Address: m.in.addr(), ID: m.in.id,
			Active: loads[m.in].busy(), Healthy: m.listing == listedReady})
	}
	return scaler.PickVictims(hosts, n)
}
