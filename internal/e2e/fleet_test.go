package e2e

import (
	"context"
	"maps"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/consul/api"
)

// instance is one service instance that the tests register with the
// agent, each with a TTL check that starts passing.
type instance struct {
	id      string
	service string
	tags    []string
	port    int
	gpu     string // meta gpu, when set
	weights *api.AgentWeights
}

var gpuTags = []string{"gpu"}

// fleet is registered on the agent's own node, whose address is 127.0.0.1.
// The h100 has no pool weight, so it keeps its Consul weight; the cpu
// instance lacks the gpu tag and stays out of the gpu pool; api-2 has no
// weights, so Consul gives it 1/1.
var fleet = []instance{
	{id: "gpu-a100-1", service: "inference", tags: gpuTags, port: 9001, gpu: "a100"},
	{id: "gpu-t4-1", service: "inference", tags: gpuTags, port: 9002, gpu: "t4"},
	{id: "gpu-h100-1", service: "inference", tags: gpuTags, port: 9004, gpu: "h100",
		weights: &api.AgentWeights{Passing: 7, Warning: 1}},
	{id: "cpu-infer-1", service: "inference", tags: []string{"cpu"}, port: 9003},
	{id: "api-1", service: "api", port: 9101, weights: &api.AgentWeights{Passing: 5, Warning: 2}},
	{id: "api-2", service: "api", port: 9102},
}

// The second node has no agent: it is registered through the catalog API,
// so node maintenance of the agent's node does not touch it.
const (
	otherNode     = "rack-2"
	otherAddress  = "127.0.0.2"
	otherInstance = "gpu-a100-2"
)

func checkID(instanceID string) string {
	return "ttl-" + instanceID
}

// registerFleet registers every instance of fleet and the a100 on the
// second node, all passing.
func registerFleet(t testing.TB, c *api.Client) {
	t.Helper()
	for _, in := range fleet {
		reg := &api.AgentServiceRegistration{
			ID: in.id, Name: in.service, Tags: in.tags,
			Address: "127.0.0.1", Port: in.port, Weights: in.weights,
			Check: &api.AgentServiceCheck{
				CheckID: checkID(in.id), TTL: "30m", Status: api.HealthPassing,
			},
		}
		if in.gpu != "" {
			reg.Meta = map[string]string{"gpu": in.gpu}
		}
		if err := c.Agent().ServiceRegister(reg); err != nil {
			t.Fatalf("registering %s: %v", in.id, err)
		}
	}
	_, err := c.Catalog().Register(&api.CatalogRegistration{
		Node: otherNode, Address: otherAddress,
		Service: &api.AgentService{
			ID: otherInstance, Service: "inference", Tags: gpuTags, Port: 9001,
			Meta: map[string]string{"gpu": "a100"},
		},
		Check: &api.AgentCheck{
			Node: otherNode, CheckID: "up", Name: "up", Status: api.HealthPassing,
			ServiceID: otherInstance,
		},
	}, nil)
	if err != nil {
		t.Fatalf("registering %s on %s: %v", otherInstance, otherNode, err)
	}
}

// fleetState is what the client holds: pool (cluster) → host:port →
// endpoint.
type fleetState map[string]map[string]Endpoint

var (
	healthy   = corev3.HealthStatus_HEALTHY
	unhealthy = corev3.HealthStatus_UNHEALTHY
	draining  = corev3.HealthStatus_DRAINING
)

// baseline is the state of the registered fleet, all passing: a100s weigh
// 3 and the t4 1 by the pool's weights, the h100 its Consul weight 7, and
// the api instances their Consul passing weights.
func baseline() fleetState {
	return fleetState{
		"gpu": {
			"127.0.0.1:9001": {healthy, 3},
			"127.0.0.1:9002": {healthy, 1},
			"127.0.0.1:9004": {healthy, 7},
			"127.0.0.2:9001": {healthy, 3},
		},
		"api": {
			"127.0.0.1:9101": {healthy, 5},
			"127.0.0.1:9102": {healthy, 1},
		},
	}
}

// edit changes one endpoint of a fleetState: to ep, or away when ep is
// nil.
type edit struct {
	pool, addr string
	ep         *Endpoint
}

// with returns a copy of s with the edits applied.
func (s fleetState) with(edits ...edit) fleetState {
	out := make(fleetState, len(s))
	for pool, eps := range s {
		out[pool] = maps.Clone(eps)
	}
	for _, e := range edits {
		if e.ep == nil {
			delete(out[e.pool], e.addr)
			continue
		}
		out[e.pool][e.addr] = *e.ep
	}
	return out
}

func set(pool, addr string, h corev3.HealthStatus, weight uint32) edit {
	return edit{pool: pool, addr: addr, ep: &Endpoint{Health: h, Weight: weight}}
}

func gone(pool, addr string) edit {
	return edit{pool: pool, addr: addr}
}

// fleetOf returns the endpoints st holds for each cluster.
func fleetOf(st *State) fleetState {
	out := fleetState{}
	for name := range st.Clusters {
		out[name] = st.EndpointsOf(name)
	}
	return out
}

// awaitFleet waits until c holds exactly want, or fails the test with
// the difference.
func awaitFleet(t testing.TB, c *Client, timeout time.Duration, want fleetState) *State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := c.Wait(ctx, func(st *State) bool {
		return cmp.Equal(want, fleetOf(st), cmpopts.EquateEmpty())
	})
	if err != nil {
		t.Fatalf("endpoints did not converge: %v; (-want +got):\n%s",
			err, cmp.Diff(want, fleetOf(st), cmpopts.EquateEmpty()))
	}
	return st
}
