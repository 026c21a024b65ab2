// Package discovery holds the catalog model that every instance source
// delivers and that the xDS translator consumes. It knows nothing of Envoy.
package discovery

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// Health is the aggregated health of one instance as its source reports it.
type Health int

// The health states, in the order of increasing trouble. Maintenance means
// the instance (or its node) is leaving: Envoy stops sending it new requests
// while in-flight ones finish.
const (
	HealthPassing Health = iota
	HealthWarning
	HealthCritical
	HealthMaintenance
)

var healthNames = [...]string{"passing", "warning", "critical", "maintenance"}

// String returns the lowercase name used in catalog files and logs.
func (h Health) String() string {
	if h < 0 || int(h) >= len(healthNames) {
		return "unknown"
	}
	return healthNames[h]
}

// ParseHealth returns the Health named s, as String spells it.
func ParseHealth(s string) (Health, bool) {
	i := slices.Index(healthNames[:], strings.ToLower(s))
	if i < 0 {
		return 0, false
	}
	return Health(i), true
}

// Weights are Consul-style load-balancing weights: Passing applies while the
// instance is passing, Warning while it is warning.
type Weights struct {
	Passing int
	Warning int
}

// Instance is one registered endpoint of a service.
type Instance struct {
	ID         string
	Service    string
	Node       string
	Address    string
	Port       int
	Tags       []string
	Meta       map[string]string
	Weights    Weights
	Health     Health
	Datacenter string
	Zone       string
}

// HasTags reports whether the instance carries every tag in tags.
func (in *Instance) HasTags(tags []string) bool {
	for _, t := range tags {
		if !slices.Contains(in.Tags, t) {
			return false
		}
	}
	return true
}

// Catalog is an immutable snapshot of service name to instances. Instances of
// a service are sorted by ID so that everything built from a catalog is
// deterministic. The zero value is an empty catalog.
type Catalog struct {
	services map[string][]Instance
}

// NewCatalog returns a catalog holding the given instances, grouped by their
// Service field and sorted by ID. It copies what it keeps, so the caller may
// reuse the slice.
func NewCatalog(instances []Instance) *Catalog {
	c := &Catalog{services: make(map[string][]Instance)}
	for _, in := range instances {
		in.Tags = slices.Clone(in.Tags)
		in.Meta = maps.Clone(in.Meta)
		c.services[in.Service] = append(c.services[in.Service], in)
	}
	for _, list := range c.services {
		slices.SortFunc(list, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	}
	return c
}

// Services returns the names of the services in the catalog, sorted.
func (c *Catalog) Services() []string {
	if c == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(c.services))
}

// Instances returns the instances of service, sorted by ID. The caller must
// not modify them.
func (c *Catalog) Instances(service string) []Instance {
	if c == nil {
		return nil
	}
	return c.services[service]
}

// Select returns the instances of service that carry every tag in tags.
func (c *Catalog) Select(service string, tags []string) []Instance {
	var out []Instance
	for _, in := range c.Instances(service) {
		if in.HasTags(tags) {
			out = append(out, in)
		}
	}
	return out
}

// Len returns the number of instances in the catalog.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	n := 0
	for _, list := range c.services {
		n += len(list)
	}
	return n
}

// Selector names the instances that one pool takes from a source: a service
// and the tags its instances must all carry.
type Selector struct {
	Service string
	Tags    []string
}

// Source delivers whole catalogs. Run sends a catalog on out each time the
// set of selected instances changes, starting with the first complete view,
// and returns when ctx ends. A source that cannot reach its backend sends
// nothing, so the last good catalog stays in force; a successful answer
// with zero instances is a real change and is sent.
type Source interface {
	Run(ctx context.Context, out chan<- *Catalog) error
}
