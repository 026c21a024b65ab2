package translate

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

var gpuWeights = &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 3, "t4": 1}}

func TestEndpointWeightAndHealth(t *testing.T) {
	tests := []struct {
		name    string
		in      discovery.Instance
		weights *policy.Weights
		want    *endpointv3.LbEndpoint
	}{{
		name:    "meta value listed",
		in:      instance(discovery.HealthPassing, "a100", discovery.Weights{Passing: 7, Warning: 1}),
		weights: gpuWeights,
		want:    wantEndpoint(corev3.HealthStatus_HEALTHY, 3),
	}, {
		name:    "meta value wins over warning weight",
		in:      instance(discovery.HealthWarning, "t4", discovery.Weights{Passing: 7, Warning: 5}),
		weights: gpuWeights,
		want:    wantEndpoint(corev3.HealthStatus_HEALTHY, 1),
	}, {
		name: "meta value not listed takes the default",
		in:   instance(discovery.HealthPassing, "l4", discovery.Weights{Passing: 7}),
		weights: &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 3},
			Default: 2},
		want: wantEndpoint(corev3.HealthStatus_HEALTHY, 2),
	}, {
		name:    "meta value not listed and no default takes the consul weight",
		in:      instance(discovery.HealthPassing, "l4", discovery.Weights{Passing: 7}),
		weights: gpuWeights,
		want:    wantEndpoint(corev3.HealthStatus_HEALTHY, 7),
	}, {
		name:    "no meta key takes the consul weight",
		in:      instance(discovery.HealthPassing, "", discovery.Weights{Passing: 4}),
		weights: gpuWeights,
		want:    wantEndpoint(corev3.HealthStatus_HEALTHY, 4),
	}, {
		name: "warning takes the warning weight",
		in:   instance(discovery.HealthWarning, "", discovery.Weights{Passing: 10, Warning: 2}),
		want: wantEndpoint(corev3.HealthStatus_HEALTHY, 2),
	}, {
		name: "critical is unhealthy",
		in:   instance(discovery.HealthCritical, "", discovery.Weights{Passing: 10, Warning: 2}),
		want: wantEndpoint(corev3.HealthStatus_UNHEALTHY, 10),
	}, {
		name: "maintenance drains with the passing weight",
		in:   instance(discovery.HealthMaintenance, "", discovery.Weights{Passing: 10, Warning: 2}),
		want: wantEndpoint(corev3.HealthStatus_DRAINING, 10),
	}, {
		name: "unknown health is unhealthy",
		in:   instance(discovery.Health(42), "", discovery.Weights{Passing: 1}),
		want: wantEndpoint(corev3.HealthStatus_UNHEALTHY, 1),
	}, {
		name: "zero consul weight becomes 1",
		in:   instance(discovery.HealthWarning, "", discovery.Weights{Passing: 5, Warning: 0}),
		want: wantEndpoint(corev3.HealthStatus_HEALTHY, 1),
	}, {
		name: "negative consul weight becomes 1",
		in:   instance(discovery.HealthPassing, "", discovery.Weights{Passing: -3}),
		want: wantEndpoint(corev3.HealthStatus_HEALTHY, 1),
	}, {
		name: "large consul weight is capped",
		in:   instance(discovery.HealthPassing, "", discovery.Weights{Passing: 65535}),
		want: wantEndpoint(corev3.HealthStatus_HEALTHY, maxEndpointWeight),
	}, {
		name:    "large meta weight is capped",
		in:      instance(discovery.HealthPassing, "a100", discovery.Weights{Passing: 1}),
		weights: &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 1000}},
		want:    wantEndpoint(corev3.HealthStatus_HEALTHY, maxEndpointWeight),
	}, {
		name:    "zero meta weight becomes 1",
		in:      instance(discovery.HealthPassing, "a100", discovery.Weights{Passing: 9}),
		weights: &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 0}},
		want:    wantEndpoint(corev3.HealthStatus_HEALTHY, 1),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lbEndpoint(&tt.in, tt.weights)
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("endpoint (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadAssignment(t *testing.T) {
	pool := &policy.Pool{Service: "svc", Tags: []string{"gpu"}, Weights: gpuWeights}
	tests := []struct {
		name      string
		instances []discovery.Instance
		want      *endpointv3.ClusterLoadAssignment
	}{{
		name: "no instances gives an empty assignment",
		want: &endpointv3.ClusterLoadAssignment{ClusterName: "p"},
	}, {
		name: "localities by zone, sorted, weighted by their endpoints",
		instances: []discovery.Instance{
			{ID: "1", Service: "svc", Address: "10.0.0.1", Port: 80, Zone: "b",
				Tags: []string{"gpu"}, Meta: map[string]string{"gpu": "a100"}},
			{ID: "2", Service: "svc", Address: "10.0.0.2", Port: 80, Zone: "a",
				Tags: []string{"gpu"}, Meta: map[string]string{"gpu": "t4"}},
			{ID: "3", Service: "svc", Address: "10.0.0.3", Port: 80, Zone: "b",
				Tags: []string{"gpu"}, Meta: map[string]string{"gpu": "t4"}},
			{ID: "4", Service: "svc", Address: "10.0.0.4", Port: 80, Zone: "a"},
			{ID: "5", Service: "other", Address: "10.0.0.5", Port: 80, Tags: []string{"gpu"}},
		},
		want: assignment(
			locality("a", 1, endpointAt("10.0.0.2", 1)),
			locality("b", 4, endpointAt("10.0.0.1", 3), endpointAt("10.0.0.3", 1)),
		),
	}, {
		name: "undialable instances are left out",
		instances: []discovery.Instance{
			{ID: "1", Service: "svc", Address: "", Port: 80, Tags: []string{"gpu"}},
			{ID: "2", Service: "svc", Address: "10.0.0.2", Port: 0, Tags: []string{"gpu"}},
			{ID: "3", Service: "svc", Address: "10.0.0.3", Port: 70000, Tags: []string{"gpu"}},
			{ID: "4", Service: "svc", Address: "10.0.0.4", Port: 80, Tags: []string{"gpu"}},
		},
		want: assignment(
			locality("", 1, endpointAt("10.0.0.4", 1)),
		),
	}, {
		name: "one address once, the healthier instance kept",
		instances: []discovery.Instance{
			{ID: "1", Service: "svc", Address: "10.0.0.1", Port: 80, Tags: []string{"gpu"},
				Health: discovery.HealthCritical},
			{ID: "2", Service: "svc", Address: "10.0.0.1", Port: 80, Tags: []string{"gpu"},
				Meta: map[string]string{"gpu": "a100"}},
			{ID: "3", Service: "svc", Address: "10.0.0.1", Port: 80, Tags: []string{"gpu"}},
		},
		want: assignment(
			locality("", 3, endpointAt("10.0.0.1", 3)),
		),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildLoadAssignment("p", pool, discovery.NewCatalog(tt.instances))
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("assignment (-want +got):\n%s", diff)
			}
		})
	}
}

func instance(h discovery.Health, gpu string, w discovery.Weights) discovery.Instance {
	in := discovery.Instance{ID: "i", Address: "10.0.0.1", Port: 8000, Health: h, Weights: w}
	if gpu != "" {
		in.Meta = map[string]string{"gpu": gpu}
	}
	return in
}

func wantEndpoint(h corev3.HealthStatus, weight uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress("10.0.0.1", 8000),
		}},
		HealthStatus:        h,
		LoadBalancingWeight: wrapperspb.UInt32(weight),
	}
}

// endpointAt is a healthy endpoint on port 80.
func endpointAt(addr string, weight uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(addr, 80),
		}},
		HealthStatus:        corev3.HealthStatus_HEALTHY,
		LoadBalancingWeight: wrapperspb.UInt32(weight),
	}
}

func assignment(localities ...*endpointv3.LocalityLbEndpoints) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: "p", Endpoints: localities}
}

func locality(
	zone string, weight uint32, eps ...*endpointv3.LbEndpoint,
) *endpointv3.LocalityLbEndpoints {
	return &endpointv3.LocalityLbEndpoints{
		Locality:            &corev3.Locality{Zone: zone},
		LbEndpoints:         eps,
		LoadBalancingWeight: wrapperspb.UInt32(weight),
	}
}
