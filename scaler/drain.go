package scaler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spillway/spillway/discovery"
)

// liftTimeout bounds taking victims out of maintenance after a drain ends,
// shutdown included: that step must not be skipped because the loop is
// stopping.
const liftTimeout = 10 * time.Second

// ChooseVictims picks n members to remove, in PickVictims' order: those no
// Envoy routes to first, then the least busy, ties by address. Members in
// maintenance are never picked. Each candidate carries the Envoys' merged
// view of its address; one that no Envoy lists gets no traffic, so it
// counts as idle and not healthy. The victims' IDs are the members' IDs.
func ChooseVictims(members []Member, hosts []Instance, n int) []Instance {
	byAddr := make(map[string]Instance, len(hosts))
	for _, h := range hosts {
		byAddr[h.Address] = h
	}
	var cands []Instance
	for _, m := range members {
		if m.Health == discovery.HealthMaintenance {
			continue
		}
		in, ok := byAddr[m.Address]
		if !ok {
			in = Instance{Address: m.Address}
		}
		in.ID = m.ID
		cands = append(cands, in)
	}
	return PickVictims(cands, n)
}

// drained reports whether no Envoy sends addr new requests or has one in
// flight to it: every view lists it as DRAINING with no active request, or
// does not list it at all. Requiring DRAINING, not only zero requests,
// makes sure the maintenance reached the Envoys, so that no new request can
// arrive after the count was read.
func drained(views [][]Instance, addr string) bool {
	for _, view := range views {
		i := slices.IndexFunc(view, func(in Instance) bool { return in.Address == addr })
		if i >= 0 && (!view[i].Draining || view[i].Active > 0) {
			return false
		}
	}
	return true
}

// drain is one scale-in in progress: its victims, as the registry and the
// Envoys know them.
type drain struct {
	l       *Loop
	p       *pool
	victims []Instance
	members map[string]Member // by ID
}

// scaleIn carries out a scale-in decision: choose the victims, drain them,
// call the actuator with them, then wait for them to leave the registry.
// Victims still registered at the end, whatever the reason, are taken out
// of maintenance. The action's outcome is recorded once the actuator has
// answered.
//
// A failed scale-in lifts the maintenance before it reports its outcome,
// so that the next round counts the victims as serving again.
func (l *Loop) scaleIn(ctx, stop context.Context, p *pool, a *action, members []Member) {
	d := a.decision
	dr, err := l.chooseDrain(stop, p, members, d.Current-d.Desired)
	if err != nil {
		a.finish(err)
		return
	}
	err = dr.enter(stop)
	if err == nil {
		err = dr.wait(stop)
	}
	if err == nil {
		err = l.actuate(ctx, stop, p, Request{Pool: p.spec.Name, Current: d.Current,
			Desired: d.Current - len(dr.victims), Victims: dr.victims, Reason: d.Reason})
	}
	if err != nil {
		dr.lift(ctx)
		a.finish(err)
		return
	}
	a.finish(nil)
	dr.awaitRemoval(ctx)
	dr.lift(ctx)
}

func (l *Loop) chooseDrain(ctx context.Context, p *pool, members []Member, n int) (*drain, error) {
	hosts, err := l.cfg.Scraper.Instances(ctx, p.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("choosing scale-in victims of pool %s: %w", p.spec.Name, err)
	}
	victims := ChooseVictims(members, hosts, n)
	if len(victims) == 0 {
		return nil, fmt.Errorf("choosing scale-in victims of pool %s: no member to remove", p.spec.Name)
	}
	dr := &drain{l: l, p: p, victims: victims, members: make(map[string]Member, len(victims))}
	for _, m := range members {
		if slices.ContainsFunc(victims, func(v Instance) bool { return v.ID == m.ID }) {
			dr.members[m.ID] = m
		}
	}
	return dr, nil
}

// enter puts every victim into maintenance, which the serving spillways
// turn into DRAINING at the Envoys.
func (dr *drain) enter(ctx context.Context) error {
	for _, v := range dr.victims {
		if err := dr.l.cfg.Registry.SetMaintenance(ctx, dr.members[v.ID], true); err != nil {
			return fmt.Errorf("draining pool %s: %w", dr.p.spec.Name, err)
		}
		dr.l.log.Info("draining", "pool", dr.p.spec.Name, "instance", v.ID, "address", v.Address,
			"active", v.Active)
	}
	return nil
}

// wait polls the Envoys until every victim is drained or the pool's drain
// deadline passes; then the victims go anyway. It fails only when stopped.
func (dr *drain) wait(stop context.Context) error {
	name, deadline := dr.p.spec.Name, dr.p.spec.Policy.Drain.Deadline
	start := time.Now()
	if deadline <= 0 {
		return nil
	}
	defer func() {
		dr.l.cfg.Metrics.DrainDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}()
	expired := time.NewTimer(deadline)
	defer expired.Stop()
	poll := time.NewTicker(dr.l.cfg.Poll)
	defer poll.Stop()
	for {
		busy, err := dr.busy(stop)
		if err == nil && len(busy) == 0 {
			dr.l.log.Info("drained", "pool", name, "victims", len(dr.victims),
				"after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-stop.Done():
			return fmt.Errorf("draining pool %s: %w", name, context.Cause(stop))
		case <-expired.C:
			dr.l.log.Warn("drain deadline passed; removing the victims anyway", "pool", name,
				"deadline", deadline, "not_drained", busy, "err", err)
			return nil
		case <-poll.C:
		}
	}
}

// busy returns the addresses of the victims that some Envoy may still send
// to or has requests in flight to.
func (dr *drain) busy(ctx context.Context) ([]string, error) {
	views, err := dr.l.cfg.Scraper.views(ctx, dr.p.spec.Name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range dr.victims {
		if !drained(views, v.Address) {
			out = append(out, v.Address)
		}
	}
	return out, nil
}

// awaitRemoval waits up to the pool's remove_timeout for the victims to
// leave the registry, as the platform removes them.
func (dr *drain) awaitRemoval(ctx context.Context) {
	timeout := dr.p.spec.Policy.Drain.RemoveTimeout
	expired := time.NewTimer(timeout)
	defer expired.Stop()
	poll := time.NewTicker(dr.l.cfg.Poll)
	defer poll.Stop()
	for {
		left, err := dr.registered(ctx)
		if err == nil && len(left) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-expired.C:
			return
		case <-poll.C:
		}
	}
}

// registered returns the victims still in the registry.
func (dr *drain) registered(ctx context.Context) ([]Member, error) {
	members, err := dr.l.cfg.Registry.Members(ctx, dr.p.spec.Selector)
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, m := range members {
		if _, ok := dr.members[m.ID]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// lift takes the victims still registered out of maintenance: the
// actuator failed, the drain was stopped, or the platform kept them. It
// runs on a context of its own, since it matters most when the loop stops.
func (dr *drain) lift(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), liftTimeout)
	defer cancel()
	left, err := dr.registered(ctx)
	if err != nil {
		dr.l.log.Warn("cannot read which victims are still registered; lifting all",
			"pool", dr.p.spec.Name, "err", err)
		left = nil
		for _, m := range dr.members {
			m.MaintenanceReason = DrainReason // as far as can be known
			left = append(left, m)
		}
	}
	var errs []error
	for _, m := range left {
		if !m.Draining() {
			continue // never drained, or an operator's maintenance since
		}
		if err := dr.l.cfg.Registry.SetMaintenance(ctx, m, false); err != nil {
			errs = append(errs, err)
			continue
		}
		dr.l.log.Info("victim still registered; maintenance lifted", "pool", dr.p.spec.Name,
			"instance", m.ID, "address", m.Address)
	}
	if err := errors.Join(errs...); err != nil {
		dr.l.log.Warn("cannot lift the maintenance of victims; a new leader lifts it",
			"pool", dr.p.spec.Name, "err", err)
	}
}
