package consul

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/discovery"
)

func TestAggregateHealth(t *testing.T) {
	check := func(id, status string) *api.HealthCheck {
		return &api.HealthCheck{CheckID: id, Status: status}
	}
	tests := []struct {
		name   string
		checks api.HealthChecks
		want   discovery.Health
	}{
		{"no checks", nil, discovery.HealthPassing},
		{"all passing", api.HealthChecks{check("serfHealth", "passing"), check("a", "passing")},
			discovery.HealthPassing},
		{"one warning", api.HealthChecks{check("serfHealth", "passing"), check("a", "warning")},
			discovery.HealthWarning},
		{"critical beats warning", api.HealthChecks{check("a", "warning"), check("b", "critical")},
			discovery.HealthCritical},
		{"node check critical", api.HealthChecks{check("serfHealth", "critical"), check("a", "passing")},
			discovery.HealthCritical},
		{"unknown status counts as critical", api.HealthChecks{check("a", "bogus")},
			discovery.HealthCritical},
		{"service maintenance", api.HealthChecks{check("a", "passing"),
			check("_service_maintenance:gpu-1", "critical")}, discovery.HealthMaintenance},
		{"node maintenance", api.HealthChecks{check("_node_maintenance", "critical"),
			check("a", "passing")}, discovery.HealthMaintenance},
		{"maintenance beats an earlier critical", api.HealthChecks{check("a", "critical"),
			check("_node_maintenance", "critical")}, discovery.HealthMaintenance},
		{"maintenance-like id is not maintenance", api.HealthChecks{
			check("_service_maintenance", "passing")}, discovery.HealthPassing},
		{"nil check is skipped", api.HealthChecks{nil, check("a", "warning")},
			discovery.HealthWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := aggregateHealth(tt.checks); got != tt.want {
				t.Errorf("aggregateHealth = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInstance(t *testing.T) {
	node := func(name, addr, dc string, meta map[string]string) *api.Node {
		return &api.Node{Node: name, Address: addr, Datacenter: dc, Meta: meta}
	}
	tests := []struct {
		name  string
		entry api.ServiceEntry
		want  discovery.Instance
	}{{
		name: "service address and weights",
		entry: api.ServiceEntry{
			Node: node("n1", "10.0.0.1", "dc2", nil),
			Service: &api.AgentService{ID: "gpu-1", Service: "inference", Address: "10.9.9.9",
				Port: 8000, Tags: []string{"gpu", "a100"}, Meta: map[string]string{"gpu": "a100"},
				Weights: api.AgentWeights{Passing: 3, Warning: 1}},
		},
		want: discovery.Instance{ID: "n1/gpu-1", Service: "inference", Node: "n1",
			Address: "10.9.9.9", Port: 8000, Tags: []string{"a100", "gpu"},
			Meta: map[string]string{"gpu": "a100"}, Weights: discovery.Weights{Passing: 3, Warning: 1},
			Datacenter: "dc2"},
	}, {
		name: "node address when the service has none; empty weights default to 1/1",
		entry: api.ServiceEntry{
			Node:    node("n2", "10.0.0.2", "", nil),
			Service: &api.AgentService{ID: "api", Service: "api", Port: 9000},
		},
		want: discovery.Instance{ID: "n2/api", Service: "api", Node: "n2", Address: "10.0.0.2",
			Port: 9000, Weights: discovery.Weights{Passing: 1, Warning: 1}, Datacenter: "dc-default"},
	}, {
		name: "zone from node meta wins over service meta",
		entry: api.ServiceEntry{
			Node: node("n3", "10.0.0.3", "dc1", map[string]string{"zone": "us-east-1a"}),
			Service: &api.AgentService{ID: "s", Service: "api", Port: 1,
				Meta:    map[string]string{"zone": "us-east-1b"},
				Weights: api.AgentWeights{Passing: 1, Warning: 0}},
		},
		want: discovery.Instance{ID: "n3/s", Service: "api", Node: "n3", Address: "10.0.0.3", Port: 1,
			Meta: map[string]string{"zone": "us-east-1b"}, Weights: discovery.Weights{Passing: 1},
			Datacenter: "dc1", Zone: "us-east-1a"},
	}, {
		name: "zone from service meta, then locality",
		entry: api.ServiceEntry{
			Node: node("n4", "10.0.0.4", "dc1", map[string]string{"rack": "r1"}),
			Service: &api.AgentService{ID: "s", Service: "api", Port: 1,
				Locality: &api.Locality{Region: "us-east-1", Zone: "us-east-1c"}},
			Checks: api.HealthChecks{{CheckID: "serfHealth", Status: "warning"}},
		},
		want: discovery.Instance{ID: "n4/s", Service: "api", Node: "n4", Address: "10.0.0.4", Port: 1,
			Weights: discovery.Weights{Passing: 1, Warning: 1}, Health: discovery.HealthWarning,
			Datacenter: "dc1", Zone: "us-east-1c"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := instance(&tt.entry, "dc-default")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("instance mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInstancesSortsAndSkipsIncomplete(t *testing.T) {
	n := &api.Node{Node: "n", Address: "10.0.0.1"}
	entries := []*api.ServiceEntry{
		{Node: n, Service: &api.AgentService{ID: "b", Service: "s"}},
		nil,
		{Node: nil, Service: &api.AgentService{ID: "x", Service: "s"}},
		{Node: n, Service: nil},
		{Node: n, Service: &api.AgentService{ID: "a", Service: "s"}},
	}
	var ids []string
	for _, in := range instances(entries, "dc1") {
		ids = append(ids, in.ID)
	}
	if diff := cmp.Diff([]string{"n/a", "n/b"}, ids); diff != "" {
		t.Errorf("instance IDs (-want +got):\n%s", diff)
	}
}
