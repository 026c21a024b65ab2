// Package translate turns a validated policy and a discovery catalog into
// Envoy v3 resources. It is a pure function of its inputs: the same config
// and catalog always give the same resources, every list sorted by name, so
// that versions can be derived from content and diffs stay readable.
package translate

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

// Resources is one complete, validated set of Envoy resources. Every slice
// is sorted by resource name.
type Resources struct {
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	// Listeners are for Envoy, which subscribes to all listeners at once.
	Listeners []*listenerv3.Listener
	// APIListeners are for proxyless gRPC clients. They must only be sent
	// to a client that asks for them by name: Envoy cannot take an API
	// listener over LDS.
	APIListeners []*listenerv3.Listener
	Routes       []*routev3.RouteConfiguration
}

// Translate builds the Envoy resources for cfg from the instances in cat.
// It returns an error, and no resources, if any resource cannot be built or
// fails validation, so that a partial config is never published.
func Translate(cfg *policy.Config, cat *discovery.Catalog) (*Resources, error) {
	if cfg == nil {
		return nil, errors.New("translating: no config")
	}
	r := &Resources{}

	for _, name := range slices.Sorted(maps.Keys(cfg.Pools)) {
		if err := r.addPool(cfg, name, cat); err != nil {
			return nil, fmt.Errorf("translating pool %q: %w", name, err)
		}
	}
	for i, l := range cfg.Listeners {
		if err := r.addListener(cfg, l); err != nil {
			return nil, fmt.Errorf("translating listener %d (%q): %w", i, listenerName(l), err)
		}
	}

	r.sort()
	if err := r.checkNames(); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// addPool adds the cluster and endpoints of one pool, and the proxyless
// gRPC resources when the pool speaks gRPC.
func (r *Resources) addPool(cfg *policy.Config, name string, cat *discovery.Catalog) error {
	pool := cfg.Pools[name]
	if pool == nil {
		return errors.New("pool has no definition")
	}

	c, err := buildCluster(cfg, name, pool)
	if err != nil {
		return err
	}
	r.Clusters = append(r.Clusters, c)
	r.Endpoints = append(r.Endpoints, buildLoadAssignment(name, pool, cat))

	if pool.Protocol != policy.ProtocolGRPC {
		return nil
	}
	lis, err := buildAPIListener(name)
	if err != nil {
		return err
	}
	r.APIListeners = append(r.APIListeners, lis)
	r.Routes = append(r.Routes, buildGRPCRouteConfig(name))
	return nil
}

// addListener adds one Envoy listener and its route configuration.
func (r *Resources) addListener(cfg *policy.Config, l *policy.Listener) error {
	if l == nil {
		return errors.New("listener has no definition")
	}
	lis, err := buildListener(cfg, l)
	if err != nil {
		return err
	}
	rc, err := buildRouteConfig(cfg, l)
	if err != nil {
		return err
	}
	r.Listeners = append(r.Listeners, lis)
	r.Routes = append(r.Routes, rc)
	return nil
}

func listenerName(l *policy.Listener) string {
	if l == nil {
		return ""
	}
	return l.Name
}

// sort orders every slice by resource name.
func (r *Resources) sort() {
	slices.SortFunc(r.Clusters, byName[*clusterv3.Cluster])
	slices.SortFunc(r.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return cmp.Compare(a.GetClusterName(), b.GetClusterName())
	})
	slices.SortFunc(r.Listeners, byName[*listenerv3.Listener])
	slices.SortFunc(r.APIListeners, byName[*listenerv3.Listener])
	slices.SortFunc(r.Routes, byName[*routev3.RouteConfiguration])
}

type named interface{ GetName() string }

func byName[T named](a, b T) int { return cmp.Compare(a.GetName(), b.GetName()) }

// checkNames rejects two resources of one type with the same name. Envoy
// listeners and API listeners share the listener type, and listener route
// configurations share the route type with the grpc.<pool> ones.
func (r *Resources) checkNames() error {
	var listeners []string
	for _, l := range slices.Concat(r.Listeners, r.APIListeners) {
		listeners = append(listeners, l.GetName())
	}
	var routes []string
	for _, rc := range r.Routes {
		routes = append(routes, rc.GetName())
	}
	return errors.Join(
		duplicate("listener", listeners),
		duplicate("route configuration", routes),
	)
}

func duplicate(kind string, names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("two %ss are named %q: a listener may not share its name "+
				"with a gRPC pool, nor be named grpc.<pool>", kind, n)
		}
		seen[n] = true
	}
	return nil
}

// validate runs Validate on every resource and names the first that fails
// in each type.
func (r *Resources) validate() error {
	return errors.Join(
		validateEach("cluster", r.Clusters),
		validateEach("cluster load assignment", r.Endpoints),
		validateEach("listener", r.Listeners),
		validateEach("api listener", r.APIListeners),
		validateEach("route configuration", r.Routes),
	)
}

func validateEach[T proto.Message](kind string, msgs []T) error {
	for _, m := range msgs {
		if err := Validate(m); err != nil {
			return fmt.Errorf("invalid %s %q: %w", kind, resourceName(m), err)
		}
	}
	return nil
}

func resourceName(m proto.Message) string {
	switch m := m.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return m.GetClusterName()
	case named:
		return m.GetName()
	}
	return ""
}

// pack wraps m in an Any. Marshalling is deterministic so that equal
// resources have equal bytes, which content-based versions rely on.
func pack(m proto.Message) (*anypb.Any, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		return nil, fmt.Errorf("packing %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a, nil
}

// adsConfigSource tells the client to fetch a dependent resource over the
// same ADS stream. gRPC clients accept only ads or self here.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}
