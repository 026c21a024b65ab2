package demo

import (
	"context"
	"slices"
	"time"

	"github.com/spillway/spillway/scaler"
)

// How a drain polls, and how long it waits before the victims go anyway
// (their stop still finishes every request they admitted).
const (
	drainPoll     = 250 * time.Millisecond
	drainDeadline = 60 * time.Second
)

// retire drains the victims of a scale-in and then has the actuator stop
// them, as the scaler does: nothing is stopped while a request may still
// reach it. When ctx ends first the victims stay, listed in maintenance,
// for the fleet's shutdown.
func (l *scaleLoop) retire(ctx context.Context, req scaler.Request) {
	victims := l.victims(req.Victims)
	if !l.waitDrained(ctx, victims) {
		return
	}
	if err := l.act.Scale(ctx, req); err != nil {
		l.log.Error("scale-in failed", "pool", poolName, "err", err)
	}
}

// victims finds the running instances named in vs.
func (l *scaleLoop) victims(vs []scaler.Instance) []*instance {
	var out []*instance
	for _, v := range vs {
		if in := l.fleet.byID(v.ID); in != nil {
			out = append(out, in)
		}
	}
	return out
}

// instancesOf is victims over a list of members, for the round that chose
// them.
func instancesOf(ms []member, vs []scaler.Instance) []*instance {
	var out []*instance
	for _, m := range ms {
		if slices.ContainsFunc(vs, func(v scaler.Instance) bool { return v.ID == m.in.id }) {
			out = append(out, m.in)
		}
	}
	return out
}

// waitDrained polls until every victim is drained, or the deadline passes;
// it reports false when ctx ended first.
func (l *scaleLoop) waitDrained(ctx context.Context, victims []*instance) bool {
	start := time.Now()
	expired := time.NewTimer(drainDeadline)
	defer expired.Stop()
	poll := time.NewTicker(drainPoll)
	defer poll.Stop()
	quietSince := map[*instance]float64{}
	for {
		if l.drained(ctx, victims, quietSince) {
			l.log.Info("drained", "pool", poolName, "victims", len(victims),
				"after", time.Since(start).Round(time.Millisecond))
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-expired.C:
			l.log.Warn("drain deadline passed; stopping the victims anyway", "pool", poolName,
				"deadline", drainDeadline)
			return true
		case <-poll.C:
		}
	}
}

// drained reports whether no request can reach the victims any more and
// none is in flight: Spillway publishes each as DRAINING, and since the
// last poll after that none has received a request or holds one. requests
// remembers each victim's request count from the previous poll.
func (l *scaleLoop) drained(ctx context.Context, victims []*instance,
	requests map[*instance]float64) bool {
	draining, err := publishedDraining(ctx, l.scrape.client, l.admin)
	done := err == nil
	for _, in := range victims {
		if !draining[in.addr()] {
			delete(requests, in)
			done = false
			continue
		}
		ld, err := l.scrape.scrape(ctx, in.addr())
		if err != nil {
			done = false
			continue
		}
		prev, seen := requests[in]
		requests[in] = ld.requests
		if !seen || ld.requests != prev || ld.busy() > 0 {
			done = false
		}
	}
	return done
}
