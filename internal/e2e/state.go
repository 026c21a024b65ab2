package e2e

import (
	"fmt"
	"maps"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// State is what a Client holds after one accepted response. A State is
// never changed once published, so it may be read without locks; the
// messages in it must not be modified.
type State struct {
	// Clusters are the clusters of the last CDS response, by name.
	Clusters map[string]*clusterv3.Cluster
	// Endpoints are the load assignments received for the current
	// clusters, by cluster name.
	Endpoints map[string]*endpointv3.ClusterLoadAssignment
	// Versions holds the version_info last accepted, by type URL.
	Versions map[string]string
	// Responses counts the responses accepted on the stream so far.
	Responses int
	// Received is when the response that made this state arrived and was
	// decoded.
	Received time.Time
}

// Endpoint is what an Envoy acts on for one endpoint: its health and its
// load-balancing weight.
type Endpoint struct {
	Health corev3.HealthStatus
	Weight uint32
}

// String formats the endpoint as HEALTH/weight, which keeps diffs short.
func (e Endpoint) String() string {
	return fmt.Sprintf("%s/%d", e.Health, e.Weight)
}

// EndpointsOf returns the endpoints of cluster by "host:port", across all
// its localities; nil when the client holds no assignment for it.
func (s *State) EndpointsOf(cluster string) map[string]Endpoint {
	cla, ok := s.Endpoints[cluster]
	if !ok {
		return nil
	}
	out := make(map[string]Endpoint)
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			addr := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue())
			out[addr] = Endpoint{
				Health: lb.GetHealthStatus(),
				Weight: lb.GetLoadBalancingWeight().GetValue(),
			}
		}
	}
	return out
}

// ClusterNames returns the names of the clusters, sorted.
func (s *State) ClusterNames() []string {
	return slices.Sorted(maps.Keys(s.Clusters))
}

// emptyState is the state before any response.
func emptyState() *State {
	return &State{
		Clusters:  map[string]*clusterv3.Cluster{},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{},
		Versions:  map[string]string{},
	}
}

// next returns the state after resp, or an error, which the client sends
// back as a NACK, when a resource does not decode or validate.
//
// Clusters are a full-state type: a response lists them all, and a cluster
// left out is gone, with its endpoints. Endpoints are not: a response may
// carry only the assignments that changed, and the others stay.
func (s *State) next(resp *discoveryv3.DiscoveryResponse, now time.Time) (*State, error) {
	n := &State{
		Clusters:  s.Clusters,
		Endpoints: s.Endpoints,
		Versions:  maps.Clone(s.Versions),
		Responses: s.Responses + 1,
		Received:  now,
	}
	switch resp.GetTypeUrl() {
	case resourcev3.ClusterType:
		clusters, err := decodeAll(resp.GetResources(), func() *clusterv3.Cluster {
			return &clusterv3.Cluster{}
		})
		if err != nil {
			return nil, err
		}
		n.Clusters = byName(clusters, (*clusterv3.Cluster).GetName)
		n.Endpoints = maps.Clone(s.Endpoints)
		maps.DeleteFunc(n.Endpoints, func(name string, _ *endpointv3.ClusterLoadAssignment) bool {
			return n.Clusters[name] == nil
		})
	case resourcev3.EndpointType:
		assignments, err := decodeAll(resp.GetResources(), func() *endpointv3.ClusterLoadAssignment {
			return &endpointv3.ClusterLoadAssignment{}
		})
		if err != nil {
			return nil, err
		}
		n.Endpoints = maps.Clone(s.Endpoints)
		maps.Copy(n.Endpoints, byName(assignments, (*endpointv3.ClusterLoadAssignment).GetClusterName))
	default:
		return nil, fmt.Errorf("unexpected type %s: the client subscribed to clusters and endpoints only",
			resp.GetTypeUrl())
	}
	n.Versions[resp.GetTypeUrl()] = resp.GetVersionInfo()
	return n, nil
}

// validated is a generated Envoy message with its protoc-gen-validate
// checks.
type validated interface {
	proto.Message
	ValidateAll() error
}

// decodeAll unpacks each resource into a new message and validates it, as
// Envoy does before it accepts a response.
func decodeAll[T validated](resources []*anypb.Any, newMsg func() T) ([]T, error) {
	out := make([]T, 0, len(resources))
	for i, a := range resources {
		m := newMsg()
		if err := a.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("decoding resource %d (%s): %w", i, a.GetTypeUrl(), err)
		}
		if err := m.ValidateAll(); err != nil {
			return nil, fmt.Errorf("validating resource %d (%s): %w", i, a.GetTypeUrl(), err)
		}
		out = append(out, m)
	}
	return out, nil
}

func byName[T any](list []T, name func(T) string) map[string]T {
	out := make(map[string]T, len(list))
	for _, m := range list {
		out[name(m)] = m
	}
	return out
}
