package translate

import (
	"fmt"
	"testing"
	"time"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

func BenchmarkTranslate(b *testing.B) {
	for _, size := range []struct{ pools, perPool int }{{100, 10}, {1000, 10}} {
		name := fmt.Sprintf("pools=%d/endpoints=%d", size.pools, size.pools*size.perPool)
		b.Run(name, func(b *testing.B) {
			cfg, instances := benchInputs(size.pools, size.perPool)
			cat := discovery.NewCatalog(instances)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Translate(cfg, cat); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchInputs builds a config of n pools, each with perPool instances in
// three zones, every fourth pool speaking gRPC, and one listener per ten
// pools with a route to each.
func benchInputs(n, perPool int) (*policy.Config, []discovery.Instance) {
	policies := []string{policy.LeastRequest, policy.RoundRobin, policy.RingHash, policy.Maglev}
	cfg := &policy.Config{Pools: map[string]*policy.Pool{}}
	var instances []discovery.Instance
	for i := range n {
		name := fmt.Sprintf("pool-%04d", i)
		pool := benchPool(name, policies[i%len(policies)])
		if i%4 == 1 {
			pool.Protocol = policy.ProtocolGRPC
		}
		cfg.Pools[name] = pool
		for j := range perPool {
			instances = append(instances, discovery.Instance{
				ID: fmt.Sprintf("%s-%03d", name, j), Service: pool.Service,
				Address: fmt.Sprintf("10.%d.%d.%d", i/256, i%256, j%250+1), Port: 8000 + j/250,
				Tags: []string{"gpu"}, Meta: map[string]string{"gpu": []string{"a100", "t4"}[j%2]},
				Zone: fmt.Sprintf("zone-%d", j%3), Health: discovery.Health(j % 4),
				Weights: discovery.Weights{Passing: 10, Warning: 1},
			})
		}
		addBenchRoute(cfg, i, name)
	}
	return cfg, instances
}

func benchPool(name, balancing string) *policy.Pool {
	p := &policy.Pool{
		Service: name + "-svc", Tags: []string{"gpu"}, Protocol: policy.ProtocolHTTP1,
		ConnectTimeout: 5 * time.Second,
		Balancing: policy.Balancing{Policy: balancing, ChoiceCount: 2, ActiveRequestBias: 1,
			MinRingSize: 1024, TableSize: 65537},
		Weights: &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 3, "t4": 1}},
		HealthCheck: &policy.HealthCheck{Path: "/health", Interval: 15 * time.Second,
			Timeout: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3},
		CircuitBreakers:  &policy.CircuitBreakers{MaxRequests: 1000},
		OutlierDetection: &policy.OutlierDetection{Consecutive5xx: 5},
	}
	if balancing == policy.LeastRequest || balancing == policy.RoundRobin {
		p.SlowStart = &policy.SlowStart{Window: time.Minute, Aggression: 1, MinWeightPercent: 10}
	}
	return p
}

func addBenchRoute(cfg *policy.Config, i int, pool string) {
	if i%10 == 0 {
		cfg.Listeners = append(cfg.Listeners, &policy.Listener{
			Name: fmt.Sprintf("listener-%03d", i/10), Port: uint32(10000 + i/10),
		})
	}
	l := cfg.Listeners[len(cfg.Listeners)-1]
	timeout := 30 * time.Second
	l.Routes = append(l.Routes, &policy.Route{
		Match: policy.Match{Prefix: "/" + pool + "/"}, Pool: pool, Timeout: &timeout,
		Retries: &policy.Retries{Attempts: 2, On: "reset"},
	})
}
