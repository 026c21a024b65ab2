// Package fleet builds the xDS resources that the load harness serves: a
// policy of many pools and a catalog of their instances, run through
// Spillway's translator, so that both servers under test publish the same
// realistic clusters (EDS, active health checks, least-request balancing,
// slow start, circuit breakers, outlier detection), load assignments,
// listeners and routes.
package fleet

import (
	"errors"
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/xds/translate"
)

// Limits of a Spec: instance addresses are 10.<pool/256>.<pool%256>.<1..250>.
const (
	MaxPools     = 65536
	MaxEndpoints = 250
	// RoutesPerListener is how many pools one listener routes to by default.
	RoutesPerListener = 100
)

// Spec sizes a fleet.
type Spec struct {
	// Pools is the number of pools, each one cluster and one load
	// assignment.
	Pools int
	// Endpoints is the number of instances of each pool.
	Endpoints int
	// Listeners is the number of listeners, each with its own route
	// configuration; the pools' routes are spread over them. 0 means one
	// per RoutesPerListener pools.
	Listeners int
}

// Validate reports a size the fleet cannot be built with.
func (s Spec) Validate() error {
	var errs []error
	if s.Pools < 1 || s.Pools > MaxPools {
		errs = append(errs, fmt.Errorf("pools: %d is not within 1..%d", s.Pools, MaxPools))
	}
	if s.Endpoints < 1 || s.Endpoints > MaxEndpoints {
		errs = append(errs, fmt.Errorf("endpoints: %d is not within 1..%d",
			s.Endpoints, MaxEndpoints))
	}
	if s.Listeners < 0 || s.Listeners > s.Pools {
		errs = append(errs, fmt.Errorf("listeners: %d is not within 0..pools (%d)",
			s.Listeners, s.Pools))
	}
	return errors.Join(errs...)
}

// listeners is the number of listeners, the default applied.
func (s Spec) listeners() int {
	if s.Listeners > 0 {
		return s.Listeners
	}
	return (s.Pools + RoutesPerListener - 1) / RoutesPerListener
}

// PoolName is the name of pool i, which is also its cluster's name.
func PoolName(i int) string {
	return fmt.Sprintf("pool-%05d", i)
}

// Resources is what a server publishes for the fleet.
type Resources struct {
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
}

// PerClient is the number of resources one Envoy of the fleet subscribes
// to: every cluster, listener, load assignment and route configuration.
func (r *Resources) PerClient() int {
	return len(r.Clusters) + len(r.Endpoints) + len(r.Listeners) + len(r.Routes)
}

// Build translates the fleet's policy and catalog into resources.
func Build(s Spec) (*Resources, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("building fleet: %w", err)
	}
	cfg, cat := Config(s), Catalog(s)
	r, err := translate.Translate(cfg, cat)
	if err != nil {
		return nil, fmt.Errorf("building fleet: %w", err)
	}
	return &Resources{
		Clusters: r.Clusters, Endpoints: r.Endpoints,
		Listeners: r.Listeners, Routes: r.Routes,
	}, nil
}

// Config is the fleet's policy: s.Pools HTTP pools balanced by least
// request with GPU-class weights, slow start, an active health check,
// circuit breakers and outlier detection, and listeners with one route
// per pool.
func Config(s Spec) *policy.Config {
	cfg := &policy.Config{Pools: make(map[string]*policy.Pool, s.Pools)}
	perListener := (s.Pools + s.listeners() - 1) / s.listeners()
	for i := range s.Pools {
		name := PoolName(i)
		cfg.Pools[name] = pool(name)
		if i%perListener == 0 {
			cfg.Listeners = append(cfg.Listeners, &policy.Listener{
				Name: fmt.Sprintf("listener-%03d", i/perListener),
				Port: uint32(10000 + i/perListener),
			})
		}
		l := cfg.Listeners[len(cfg.Listeners)-1]
		l.Routes = append(l.Routes, route(name))
	}
	return cfg
}

func pool(name string) *policy.Pool {
	return &policy.Pool{
		Name: name, Service: name, Tags: []string{"gpu"},
		Protocol: policy.ProtocolHTTP1, ConnectTimeout: 5 * time.Second,
		Balancing: policy.Balancing{
			Policy: policy.LeastRequest, ChoiceCount: 2, ActiveRequestBias: 1,
		},
		Weights: &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 3, "t4": 1}},
		SlowStart: &policy.SlowStart{
			Window: 2 * time.Minute, Aggression: 1, MinWeightPercent: 10,
		},
		HealthCheck: &policy.HealthCheck{
			Path: "/health/ready", Interval: 15 * time.Second, Timeout: 5 * time.Second,
			NoTrafficInterval: time.Minute, HealthyThreshold: 2, UnhealthyThreshold: 3,
		},
		CircuitBreakers: &policy.CircuitBreakers{MaxRequests: 1000, MaxPendingRequests: 1000},
		OutlierDetection: &policy.OutlierDetection{
			Consecutive5xx: 5, Interval: 10 * time.Second,
			BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 50,
		},
	}
}

func route(pool string) *policy.Route {
	timeout := 60 * time.Second
	return &policy.Route{
		Match: policy.Match{Prefix: "/" + pool + "/"}, Pool: pool, Timeout: &timeout,
		Retries: &policy.Retries{Attempts: 2, On: "reset,connect-failure"},
	}
}

// Catalog holds s.Endpoints passing instances of every pool, spread over
// three zones, half of them A100 and half T4.
func Catalog(s Spec) *discovery.Catalog {
	instances := make([]discovery.Instance, 0, s.Pools*s.Endpoints)
	for i := range s.Pools {
		name := PoolName(i)
		for j := range s.Endpoints {
			instances = append(instances, discovery.Instance{
				ID: fmt.Sprintf("%s-%03d", name, j), Service: name, Node: fmt.Sprintf("gpu-%d", j),
				Address: fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j+1), Port: 8000,
				Tags: []string{"gpu"}, Meta: map[string]string{"gpu": []string{"a100", "t4"}[j%2]},
				Zone: fmt.Sprintf("zone-%d", j%3), Health: discovery.HealthPassing,
				Weights: discovery.Weights{Passing: 10, Warning: 1},
			})
		}
	}
	return discovery.NewCatalog(instances)
}
