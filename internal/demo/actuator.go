package demo

import (
	"context"
	"errors"
	"time"

	"github.com/spillway/spillway/scaler"
)

// actuator is the demo's platform side of a decision, behind the same
// interface as the scaler's exec and webhook actuators: a scale-up starts
// new servers (each warms up before it is listed passing); a scale-in stops
// the victims, already drained, and takes them out of the catalog.
type actuator struct {
	fleet *fleet
	// stopTimeout bounds the graceful stop of one victim.
	stopTimeout time.Duration
}

var _ scaler.Actuator = (*actuator)(nil)

// Scale carries out req. It returns once the new servers are starting or
// the victims are gone, and reports every failure.
func (a *actuator) Scale(ctx context.Context, req scaler.Request) error {
	if len(req.Victims) > 0 {
		return a.remove(ctx, req.Victims)
	}
	var errs []error
	for range req.Desired - req.Current {
		if _, err := a.fleet.start(a.fleet.nextClass()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remove stops the victims one by one. A stop runs to its end even when
// ctx ends, within stopTimeout, so that no request is cut.
func (a *actuator) remove(ctx context.Context, victims []scaler.Instance) error {
	var errs []error
	for _, v := range victims {
		in := a.fleet.byID(v.ID)
		if in == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.stopTimeout)
		errs = append(errs, a.fleet.stop(sctx, in))
		cancel()
	}
	return errors.Join(errs...)
}
