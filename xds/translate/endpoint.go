package translate

import (
	"maps"
	"net"
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

// maxEndpointWeight caps endpoint weights. Consul weights reach 65535; a
// small cap keeps locality sums far from the uint32 limit that gRPC
// enforces and keeps weights comparable with the meta-key values.
const maxEndpointWeight = 128

// buildLoadAssignment returns the endpoints of one pool, one locality per
// zone. A pool without instances still gets an empty assignment, so that
// Envoy does not wait for one before it finishes its cluster warm-up.
//
// Proxyless gRPC clients ignore a locality without a weight, so each
// locality's weight is the sum of its endpoint weights: with it, an
// endpoint's share of traffic is its weight over the pool's total weight,
// whichever zone it is in. Envoy ignores locality weights unless the
// cluster asks for locality-weighted balancing, which it does not.
func buildLoadAssignment(
	name string, pool *policy.Pool, cat *discovery.Catalog,
) *endpointv3.ClusterLoadAssignment {
	zones := make(map[string][]discovery.Instance)
	for _, in := range dialable(cat.Select(pool.Service, pool.Tags)) {
		zones[in.Zone] = append(zones[in.Zone], in)
	}

	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for _, zone := range slices.Sorted(maps.Keys(zones)) {
		cla.Endpoints = append(cla.Endpoints, localityEndpoints(zone, zones[zone], pool.Weights))
	}
	return cla
}

func localityEndpoints(
	zone string, instances []discovery.Instance, w *policy.Weights,
) *endpointv3.LocalityLbEndpoints {
	loc := &endpointv3.LocalityLbEndpoints{
		Locality:    &corev3.Locality{Zone: zone},
		LbEndpoints: make([]*endpointv3.LbEndpoint, 0, len(instances)),
	}
	var sum uint32
	for i := range instances {
		ep := lbEndpoint(&instances[i], w)
		sum += ep.GetLoadBalancingWeight().GetValue()
		loc.LbEndpoints = append(loc.LbEndpoints, ep)
	}
	loc.LoadBalancingWeight = wrapperspb.UInt32(sum)
	return loc
}

func lbEndpoint(in *discovery.Instance, w *policy.Weights) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(in.Address, uint32(in.Port)),
		}},
		HealthStatus:        healthStatus(in.Health),
		LoadBalancingWeight: wrapperspb.UInt32(endpointWeight(in, w)),
	}
}

// dialable drops instances that Envoy cannot dial, so that one bad
// registration cannot block every pool's update, and keeps one instance per
// address, since gRPC clients reject an assignment that repeats one. Of two
// instances with one address the healthier wins, then the lower ID.
func dialable(instances []discovery.Instance) []discovery.Instance {
	out := make([]discovery.Instance, 0, len(instances))
	index := make(map[string]int, len(instances))
	for _, in := range instances {
		if in.Address == "" || in.Port <= 0 || in.Port > 65535 {
			continue
		}
		addr := net.JoinHostPort(in.Address, strconv.Itoa(in.Port))
		if i, ok := index[addr]; ok {
			if in.Health < out[i].Health {
				out[i] = in
			}
			continue
		}
		index[addr] = len(out)
		out = append(out, in)
	}
	return out
}

// healthStatus maps catalog health to EDS health. Warning stays HEALTHY
// (with its own weight); maintenance is DRAINING, so that Envoy sends no new
// requests while in-flight ones finish. An unknown state is treated as
// unhealthy rather than trusted.
func healthStatus(h discovery.Health) corev3.HealthStatus {
	switch h {
	case discovery.HealthPassing, discovery.HealthWarning:
		return corev3.HealthStatus_HEALTHY
	case discovery.HealthMaintenance:
		return corev3.HealthStatus_DRAINING
	}
	return corev3.HealthStatus_UNHEALTHY
}

// endpointWeight is the weight its meta value maps to, else the pool's
// default weight, else the instance's Consul weight for its health; always
// within 1..maxEndpointWeight, since EDS forbids zero.
func endpointWeight(in *discovery.Instance, w *policy.Weights) uint32 {
	var v uint64
	switch {
	case w != nil && hasMetaWeight(in, w):
		v = uint64(w.Values[in.Meta[w.MetaKey]])
	case w != nil && w.Default != 0:
		v = uint64(w.Default)
	case in.Health == discovery.HealthWarning:
		v = uint64(max(in.Weights.Warning, 0))
	default:
		v = uint64(max(in.Weights.Passing, 0))
	}
	return uint32(min(max(v, 1), maxEndpointWeight))
}

func hasMetaWeight(in *discovery.Instance, w *policy.Weights) bool {
	if w.MetaKey == "" {
		return false
	}
	value, ok := in.Meta[w.MetaKey]
	if !ok {
		return false
	}
	_, ok = w.Values[value]
	return ok
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{
			Address:       host,
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		},
	}}
}
