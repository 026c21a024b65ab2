package scaler

import (
	"context"

	"github.com/spillway/spillway/discovery"
)

// DrainReason is the note of the service maintenance that a drain sets. It
// tells spillway's own drains from an operator's maintenance, so that a new
// leader can lift the drains a failed one left behind and nothing else.
const DrainReason = "spillway: draining for scale-in"

// Member is one registered instance of a pool as the registry has it.
type Member struct {
	// ID is "node/service-ID", the name discovery/consul gives instances.
	ID string
	// ServiceID is the service's ID on its node's agent.
	ServiceID string
	// Node is the name of the node that registered the instance, and
	// NodeAddress the address of its agent.
	Node        string
	NodeAddress string
	// Address is host:port, as Envoy knows the instance.
	Address string
	Health  discovery.Health
	// MaintenanceReason is the note of the service's maintenance mode, or
	// empty when the service is not in maintenance. Node maintenance shows
	// in Health only: it is the operator's, never a drain's.
	MaintenanceReason string
}

// Draining reports whether the member is in spillway's own drain.
func (m Member) Draining() bool { return m.MaintenanceReason == DrainReason }

// Registry is where the scaler reads the members of its pools and drains
// them: Consul in production.
type Registry interface {
	// Members returns every registered instance of sel, whatever its
	// health.
	Members(ctx context.Context, sel discovery.Selector) ([]Member, error)
	// SetMaintenance puts the member's service into maintenance with
	// DrainReason, or takes it out.
	SetMaintenance(ctx context.Context, m Member, on bool) error
}
