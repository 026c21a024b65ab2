// Package kube is the Kubernetes actuator: it sets a workload's replicas
// through the scale subresource, and on scale-in first marks the pods the
// scaler drained so that their controller removes those pods and not
// others.
package kube

import (
	"context"
	"fmt"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

// Actuator sets the replicas of one Kubernetes workload. It is safe for
// concurrent use, though the scaler calls it for one pool at a time.
type Actuator struct {
	target target
	pods   podClient
	log    *slog.Logger
}

// New connects to the cluster that cfg names (see connect for the order
// in which a kubeconfig is found) and returns the actuator for
// cfg.Resource. It reads no object yet, so a workload that does not exist
// is only reported by the first Scale.
func New(cfg policy.KubernetesActuator, logger *slog.Logger) (*Actuator, error) {
	conn, err := connect(cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubernetes actuator: %w", err)
	}
	if cfg.Namespace != "" {
		conn.namespace = cfg.Namespace
	}
	a, err := NewForConfig(conn.rest, conn.namespace, cfg.Resource, logger)
	if err != nil {
		return nil, err
	}
	a.log.Info("kubernetes actuator ready", "target", a.target.String(), "kubeconfig", conn.source)
	return a, nil
}

// NewForConfig returns the actuator for resource ("kind/name") in
// namespace of the cluster rc reaches.
func NewForConfig(rc *rest.Config, namespace, resource string,
	logger *slog.Logger) (*Actuator, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, err := parseRef(resource)
	if err != nil {
		return nil, fmt.Errorf("kubernetes actuator: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes actuator: building client: %w", err)
	}
	t, err := newTarget(rc, cs, namespace, r)
	if err != nil {
		return nil, fmt.Errorf("kubernetes actuator: %s: %w", resource, err)
	}
	return &Actuator{
		target: t,
		pods:   podClient{pods: cs.CoreV1().Pods(namespace), ns: namespace},
		log:    logger.With("component", "kubernetes_actuator", "target", t.String()),
	}, nil
}

// Scale sets the workload's replicas to req.Desired. On scale-in with
// victims, the victims' pods are marked first; if any cannot be marked,
// nothing is scaled, since the controller would then remove pods that
// were never drained and cut their requests.
func (a *Actuator) Scale(ctx context.Context, req scaler.Request) error {
	if req.Desired < req.Current && len(req.Victims) > 0 {
		if err := a.markVictims(ctx, req); err != nil {
			return fmt.Errorf("kubernetes actuator: pool %s: %w", req.Pool, err)
		}
	}
	from, err := a.setReplicas(ctx, int32(req.Desired))
	if err != nil {
		return fmt.Errorf("kubernetes actuator: pool %s: scaling %s to %d: %w",
			req.Pool, a.target, req.Desired, err)
	}
	a.log.Info("scaled", "pool", req.Pool, "from", from, "to", req.Desired, "reason", req.Reason)
	return nil
}

// setReplicas writes spec.replicas with the resourceVersion of the scale
// it read, so that a concurrent change is a conflict and not overwritten;
// on conflict it reads again and retries. It returns the replicas it found.
func (a *Actuator) setReplicas(ctx context.Context, n int32) (int32, error) {
	var from int32
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := a.target.get(ctx)
		if err != nil {
			return err
		}
		from = s.Spec.Replicas
		if from == n {
			return nil
		}
		s.Spec.Replicas = n
		return a.target.update(ctx, s)
	})
	return from, err
}

// markVictims sets the low deletion cost on each victim's pod, or says
// why the controller cannot be told which pods to remove.
func (a *Actuator) markVictims(ctx context.Context, req scaler.Request) error {
	if !a.target.choosesVictims() {
		a.log.Warn("victims cannot be chosen: the controller removes the highest ordinals",
			"pool", req.Pool, "victims", len(req.Victims))
		return nil
	}
	for _, v := range req.Victims {
		pod, err := a.pods.find(ctx, v)
		if err != nil {
			return err
		}
		if err := a.pods.markVictim(ctx, pod); err != nil {
			return err
		}
		a.log.Debug("marked victim", "pool", req.Pool, "pod", pod, "address", v.Address)
	}
	return nil
}
