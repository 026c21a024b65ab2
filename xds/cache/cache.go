// Package cache is Spillway's versioned xDS cache. It holds one state of
// listeners, routes, clusters and endpoints for every Envoy (and proxyless
// gRPC client), versions each resource by its content, marshals each
// resource once per version, and keeps, for each xDS stream, what its
// client subscribes to and holds (Stream), so that a change costs each
// stream a look at the names that changed. Access rules can limit which of
// those resources each node receives, without copying them.
package cache

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// Resource is one xDS resource to publish.
type Resource struct {
	// Name is the resource name; it must equal the name inside Message
	// (the cluster_name of a ClusterLoadAssignment, the name of the others).
	Name string
	// Message is the resource itself. The cache keeps it after Set; it must
	// not be modified afterwards, so that passing the same message again
	// can skip marshalling it.
	Message proto.Message
	// ByNameOnly keeps the resource out of wildcard subscriptions: it is
	// sent only to clients that ask for it by name. Proxyless gRPC API
	// listeners use it, since Envoy must not receive them on wildcard LDS.
	ByNameOnly bool
}

// Cache holds the current xDS state and the streams that follow it.
type Cache struct {
	log *slog.Logger

	// setMu serialises Set and SetAccess, so that building a state can
	// read the previous one without holding mu while it marshals.
	setMu sync.Mutex

	mu    sync.RWMutex
	state *state
	ready bool
	// access limits what some nodes receive; nil limits nothing.
	access *accessPolicy
	// seq numbers the states and access rules; history logs what each
	// changed, so that a stream looks only at those names.
	seq     uint64
	history [historySize]change
	streams map[*Stream]struct{}

	marshals     atomic.Uint64
	marshalTotal prometheus.Counter
}

// New returns an empty cache that is not ready until the first Set. Its
// metrics are registered with reg when reg is not nil.
func New(log *slog.Logger, reg prometheus.Registerer) *Cache {
	c := &Cache{
		log:     log,
		state:   emptyState(),
		streams: map[*Stream]struct{}{},
		marshalTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spillway_xds_resource_marshals_total",
			Help: "Resources marshalled by the xDS cache; once per resource version.",
		}),
	}
	if reg != nil {
		reg.MustRegister(c.marshalTotal)
	}
	return c
}

// Set replaces the whole state with resources, keyed by type URL, and wakes
// the streams. A type missing from the map, or mapped to no resources, has
// zero resources from now on. On error the previous state stays in force.
// It returns the version of the new state, which is a hash of its content.
func (c *Cache) Set(resources map[string][]Resource) (string, error) {
	c.setMu.Lock()
	defer c.setMu.Unlock()

	next, err := c.build(resources)
	if err != nil {
		return "", err
	}

	c.mu.Lock()
	prev, first := c.state, !c.ready
	changed := 0
	if first || prev.version != next.version {
		names := make(map[string][]string, len(typeOrder))
		for _, typeURL := range typeOrder {
			names[typeURL] = changedNames(prev.types[typeURL], next.types[typeURL])
			changed += len(names[typeURL])
		}
		c.state, c.ready = next, true
		// The first state concerns every name a stream may have asked
		// for while it waited.
		c.record(names, first)
	}
	c.mu.Unlock()

	c.logSet(prev, next, changed)
	return next.version, nil
}

// logSet reports a new state at Info and an unchanged one at Debug.
func (c *Cache) logSet(prev, next *state, changed int) {
	if prev.version == next.version {
		c.log.Debug("xds resources unchanged", "version", next.version)
		return
	}
	c.log.Debug("xds resources updated", "version", next.version,
		"changed", changed, "resources", next.size())
}

// Version is the version of the current state: a hash of every resource's
// name and version. It is empty before the first Set.
func (c *Cache) Version() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.ready {
		return ""
	}
	return c.state.version
}

// Ready reports whether Set has succeeded at least once. Until then streams
// wait rather than answer with an empty state.
func (c *Cache) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ready
}

// Versions returns the version of every resource of typeURL, by name.
func (c *Cache) Versions(typeURL string) map[string]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ts := c.state.types[typeURL]
	if ts == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(ts.entries))
	for name, e := range ts.entries {
		out[name] = e.version
	}
	return out
}

// Marshals is how many times the cache has marshalled a resource since New;
// it lets tests prove that each version is marshalled once.
func (c *Cache) Marshals() uint64 {
	return c.marshals.Load()
}

// Fetch answers a REST (polling) request with the current resources of its
// type that it names (all for none or "*"), versioned by a hash of that
// list, whatever version the request says it has: a poll gets an answer,
// and the version tells the client whether anything changed.
func (c *Cache) Fetch(req *discovery.DiscoveryRequest) (*discovery.DiscoveryResponse, error) {
	c.mu.RLock()
	st, ready, access := c.state, c.ready, c.access
	c.mu.RUnlock()
	if !ready {
		return nil, fmt.Errorf("fetching %s: no resources set yet", req.GetTypeUrl())
	}
	ts := st.types[req.GetTypeUrl()]
	if ts == nil {
		return nil, fmt.Errorf("fetching: unsupported type URL %q", req.GetTypeUrl())
	}
	ts = access.grantFor(req.GetNode()).typeState(req.GetTypeUrl(), ts)
	var list []string
	wildcard := len(req.GetResourceNames()) == 0
	for _, name := range req.GetResourceNames() {
		if name == wildcardKey {
			wildcard = true
			continue
		}
		list = append(list, name)
	}
	view, version := ts.view(wildcard, newNameSet(list))
	return &discovery.DiscoveryResponse{
		VersionInfo: version, Resources: anys(view), TypeUrl: req.GetTypeUrl(),
	}, nil
}
