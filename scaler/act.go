package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spillway/spillway/policy"
)

// Request is one change of a pool's replica count for an actuator to make.
// On scale-in, Victims are the instances chosen to go, already drained.
type Request struct {
	Pool    string     `json:"pool"`
	Current int        `json:"current"`
	Desired int        `json:"desired"`
	Victims []Instance `json:"victims,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// Actuator changes a pool's replica count on the platform that runs it.
// Scale returns once the platform accepted the change, not once the
// instances are ready.
type Actuator interface {
	Scale(ctx context.Context, req Request) error
}

// NewActuator builds the actuator a pool's config names: exactly one of
// exec or webhook. The Kubernetes actuator is scaler/kube's New, which
// builds on this package and so cannot be built here; it is refused, and
// so is keda, which is no actuator: such a pool is a PoolSpec with
// SignalOnly set.
func NewActuator(cfg policy.Actuator, logger *slog.Logger) (Actuator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var set []string
	var act Actuator
	if cfg.Exec != nil {
		set = append(set, "exec")
		act = NewExec(*cfg.Exec, logger)
	}
	if cfg.Webhook != nil {
		set = append(set, "webhook")
		act = NewWebhook(*cfg.Webhook, nil)
	}
	if cfg.Kubernetes != nil {
		set = append(set, "kubernetes")
		act = nil
	}
	if cfg.KEDA != nil {
		set = append(set, "keda")
		act = nil
	}
	switch {
	case len(set) == 0:
		return nil, errors.New("actuator: none configured; set exec or webhook")
	case len(set) > 1:
		return nil, fmt.Errorf("actuator: %s are set; set exactly one", strings.Join(set, " and "))
	case set[0] == "kubernetes":
		return nil, errors.New("actuator: kubernetes is built by scaler/kube, not here")
	case act == nil:
		return nil, errors.New("actuator: keda changes nothing itself: " +
			"KEDA owns the pool's replicas, and the scale loop only publishes its signal")
	}
	return act, nil
}

// victimList joins the victims' addresses, or their IDs when ids is set
// (empty where the ID is unknown), with commas.
func victimList(vs []Instance, ids bool) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Address
		if ids {
			parts[i] = v.ID
		}
	}
	return strings.Join(parts, ",")
}
