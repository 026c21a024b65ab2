package scaler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errSuperseded stops an action that a later decision overtook.
var errSuperseded = errors.New("superseded by a later decision")

// action carries out one decision of one pool: an actuator call for a
// scale-up, a drain and then an actuator call for a scale-in, with retries.
// Its outcome is known when done is closed; a scale-in's goroutine goes on
// after that, waiting for its victims to leave the registry.
type action struct {
	decision Decision
	// at is the decision's round, for History.Revert.
	at time.Time
	// prev is the pool's expectation before this action set its own.
	prev expectation
	// stop ends the waits of the action (retry backoff, drain) but not an
	// actuator call in progress, whose outcome would then be unknown.
	stop context.CancelCauseFunc

	once sync.Once
	done chan struct{}
	err  error
}

// finish records the outcome, once.
func (a *action) finish(err error) {
	a.once.Do(func() {
		a.err = err
		close(a.done)
	})
}

// supersedeBy stops the action when a later decision d overtakes it. A
// scale-in that a further scale-in follows goes on: its victims are half
// drained, and the next round sees the pool without them.
func (a *action) supersedeBy(d Decision) {
	if a.decision.Direction() == "down" && d.Direction() == "down" {
		return
	}
	a.stop(errSuperseded)
}

// launch starts the action for d. The pool counts at once as if the change
// were made, so that the next rounds do not ask for it again; settle undoes
// that if the action fails.
func (l *Loop) launch(ctx context.Context, p *pool, d Decision, members []Member, now time.Time) {
	stopCtx, stop := context.WithCancelCause(ctx)
	a := &action{decision: d, at: now, prev: p.expect, stop: stop, done: make(chan struct{})}
	p.expect = expectation{desired: d.Desired, at: now}
	p.action = a
	l.actions.Go(func() {
		defer stop(nil)
		if d.Desired > d.Current {
			a.finish(l.actuate(ctx, stopCtx, p, Request{Pool: p.spec.Name,
				Current: d.Current, Desired: d.Desired, Reason: d.Reason}))
			return
		}
		l.scaleIn(ctx, stopCtx, p, a, members)
	})
}

// settle collects a finished action. A failed one is undone in the
// pool's memory: its change leaves the history and the pool's expected
// count returns to what it was.
func (p *pool) settle() {
	a := p.action
	if a == nil {
		return
	}
	select {
	case <-a.done:
	default:
		return
	}
	p.action = nil
	if a.err == nil {
		return
	}
	p.history.Revert(a.at)
	if p.expect == (expectation{desired: a.decision.Desired, at: a.at}) {
		p.expect = a.prev
	}
}

// actuate calls the pool's actuator until it succeeds, the attempts run out
// or stop ends the waits between them. Calls run under ctx, not stop: a
// call cut short might have been carried out by the platform anyway.
func (l *Loop) actuate(ctx, stop context.Context, p *pool, req Request) error {
	dir := "up"
	if req.Desired < req.Current {
		dir = "down"
	}
	b := l.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := p.spec.Actuator.Scale(ctx, req)
		if err == nil {
			l.cfg.Metrics.Actuations.WithLabelValues(req.Pool, dir, "ok").Inc()
			l.log.Info("scaled", "pool", req.Pool, "current", req.Current, "desired", req.Desired,
				"victims", victimList(req.Victims, false), "attempt", attempt)
			return nil
		}
		l.cfg.Metrics.Actuations.WithLabelValues(req.Pool, dir, "error").Inc()
		if attempt >= b.Attempts || ctx.Err() != nil {
			l.log.Error("actuator failed; giving up on this decision", "pool", req.Pool,
				"desired", req.Desired, "attempt", attempt, "err", err)
			return err
		}
		wait := b.delay(attempt)
		l.log.Warn("actuator failed; retrying", "pool", req.Pool, "desired", req.Desired,
			"attempt", attempt, "retry_in", wait, "err", err)
		if err := sleep(stop, wait); err != nil {
			return fmt.Errorf("retrying the actuator of pool %s: %w", req.Pool, err)
		}
	}
}

// sleep waits for d or until ctx ends, and then returns its cause.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
