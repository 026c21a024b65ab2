package consul

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/discovery"
)

// zoneKey is the meta key that places an instance in a zone: node meta
// first, since a zone is a property of the machine, else service meta,
// else the service's locality.
const zoneKey = "zone"

// instances maps the entries of one health answer to catalog instances,
// sorted by ID as a Catalog holds them. Entries without a node or service,
// which Consul never sends, are skipped rather than trusted.
func instances(entries []*api.ServiceEntry, datacenter string) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Node == nil || e.Service == nil {
			continue
		}
		out = append(out, instance(e, datacenter))
	}
	slices.SortFunc(out, func(a, b discovery.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// instance maps one entry. The ID is node/service-ID because Consul
// service IDs are unique only within a node: agents commonly register a
// service under its bare name on every node. datacenter fills in when the
// answer does not name one.
func instance(e *api.ServiceEntry, datacenter string) discovery.Instance {
	svc, node := e.Service, e.Node
	return discovery.Instance{
		ID:         node.Node + "/" + svc.ID,
		Service:    svc.Service,
		Node:       node.Node,
		Address:    cmp.Or(svc.Address, node.Address),
		Port:       svc.Port,
		Tags:       sortedTags(svc.Tags),
		Meta:       nonEmpty(svc.Meta),
		Weights:    weights(svc.Weights),
		Health:     aggregateHealth(e.Checks),
		Datacenter: cmp.Or(node.Datacenter, svc.Datacenter, datacenter),
		Zone:       cmp.Or(node.Meta[zoneKey], svc.Meta[zoneKey], localityZone(svc.Locality)),
	}
}

// localityZone is the zone of Consul's own locality field, the last
// resort after the meta keys that deployments commonly set.
func localityZone(l *api.Locality) string {
	if l == nil {
		return ""
	}
	return l.Zone
}

// aggregateHealth folds the node and service checks of an instance into
// one state. Maintenance, of the node or of the service, wins over
// everything: the instance is leaving whatever its checks say. Otherwise
// the worst check wins; a status Consul does not define counts as
// critical, so that nothing unknown receives traffic.
func aggregateHealth(checks api.HealthChecks) discovery.Health {
	h := discovery.HealthPassing
	for _, c := range checks {
		if c == nil {
			continue
		}
		if c.CheckID == api.NodeMaint || strings.HasPrefix(c.CheckID, api.ServiceMaintPrefix) {
			return discovery.HealthMaintenance
		}
		h = max(h, checkHealth(c.Status))
	}
	return h
}

func checkHealth(status string) discovery.Health {
	switch status {
	case api.HealthPassing:
		return discovery.HealthPassing
	case api.HealthWarning:
		return discovery.HealthWarning
	default:
		return discovery.HealthCritical
	}
}

// weights returns Consul's weights. Consul requires a passing weight of at
// least 1 and fills in 1/1 when a registration gives none, so a zero
// passing weight means the answer carried none: use the same default.
func weights(w api.AgentWeights) discovery.Weights {
	if w.Passing <= 0 {
		return discovery.Weights{Passing: 1, Warning: 1}
	}
	return discovery.Weights{Passing: w.Passing, Warning: w.Warning}
}

// sortedTags returns the tags sorted, or nil when there are none: tags are
// a set, and a fixed order keeps catalogs comparable.
func sortedTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	return slices.Sorted(slices.Values(tags))
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// equalInstances reports whether two lists, in the same order, hold the
// same instances. Nil and empty tags or meta are equal.
func equalInstances(a, b []discovery.Instance) bool {
	return slices.EqualFunc(a, b, func(x, y discovery.Instance) bool {
		return x.ID == y.ID && x.Service == y.Service && x.Node == y.Node &&
			x.Address == y.Address && x.Port == y.Port && x.Weights == y.Weights &&
			x.Health == y.Health && x.Datacenter == y.Datacenter && x.Zone == y.Zone &&
			slices.Equal(x.Tags, y.Tags) && maps.Equal(x.Meta, y.Meta)
	})
}
