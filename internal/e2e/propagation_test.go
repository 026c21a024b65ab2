package e2e

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/internal/consultest"
)

// changesPerOp is how many changes one benchmark iteration makes, so that
// even -benchtime 1x gives a p99 that rests on more than one sample.
const changesPerOp = 100

// settle is the pause after a change has arrived before the next one is
// made. The watch of a service starts its queries at least 100ms apart;
// without the pause, a change made right after the previous one would
// measure that pacing instead of the path from Consul to the client.
const settle = 150 * time.Millisecond

// flip is a change that moves one endpoint between two states: odd changes
// apply on, even ones off, so that an even number of changes ends where it
// began.
type flip struct {
	pool, addr  string
	on, off     func(*api.Client) error
	onEP, offEP Endpoint
}

// ttlFlip turns api-1's TTL check critical and passing again.
var ttlFlip = flip{
	pool: "api", addr: "127.0.0.1:9101",
	on: func(c *api.Client) error {
		return c.Agent().UpdateTTL(checkID("api-1"), "", api.HealthCritical)
	},
	off: func(c *api.Client) error {
		return c.Agent().UpdateTTL(checkID("api-1"), "", api.HealthPassing)
	},
	onEP:  Endpoint{unhealthy, 5},
	offEP: Endpoint{healthy, 5},
}

// maintenanceFlip puts gpu-a100-1 into service maintenance and out again.
var maintenanceFlip = flip{
	pool: "gpu", addr: "127.0.0.1:9001",
	on: func(c *api.Client) error {
		return c.Agent().EnableServiceMaintenance("gpu-a100-1", "benchmark")
	},
	off: func(c *api.Client) error {
		return c.Agent().DisableServiceMaintenance("gpu-a100-1")
	},
	onEP:  Endpoint{draining, 3},
	offEP: Endpoint{healthy, 3},
}

// BenchmarkConsulPropagation measures, for each change made through
// Consul's API, the time from the API call returning to the ADS client
// holding the endpoint's new state: Consul's commit and blocking query,
// Spillway's watch, batching, translation and push, and the client's
// decoding. It reports the median, p99 and maximum in milliseconds over
// changesPerOp changes per iteration; ns/op is left out, since it would
// mostly count the pauses between changes.
func BenchmarkConsulPropagation(b *testing.B) {
	agent := consultest.Start(b)
	c := agent.Client()
	registerFleet(b, c)
	logQueryBackend(b, c)

	cases := []struct {
		name  string
		batch string
		flip  flip
	}{
		{"ttl/batch=default", defaultBatch, ttlFlip},
		{"maintenance/batch=default", defaultBatch, maintenanceFlip},
		{"ttl/batch=off", noBatch, ttlFlip},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			sw := startSpillway(b, consulConfig(agent.Addr(), bc.batch), slog.LevelWarn)
			awaitFleet(b, sw.client, convergeTimeout, baseline())

			var samples []time.Duration
			b.ResetTimer()
			for range b.N {
				for i := range changesPerOp {
					samples = append(samples, propagate(b, c, sw.client, bc.flip, i%2 == 0))
					time.Sleep(settle)
				}
			}
			b.StopTimer()
			reportLatencies(b, samples)
		})
	}
}

// propagate makes one change and returns how long after the API call
// returned the client received the state it causes.
func propagate(b *testing.B, c *api.Client, client *Client, f flip, on bool) time.Duration {
	b.Helper()
	apply, want := f.off, f.offEP
	if on {
		apply, want = f.on, f.onEP
	}
	if err := apply(c); err != nil {
		b.Fatalf("changing consul: %v", err)
	}
	start := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	st, err := client.Wait(ctx, func(st *State) bool {
		got, ok := st.EndpointsOf(f.pool)[f.addr]
		return ok && got == want
	})
	if err != nil {
		b.Fatalf("%s %s never became %v: %v; it is %v", f.pool, f.addr, want, err,
			st.EndpointsOf(f.pool)[f.addr])
	}
	return st.Received.Sub(start)
}

// reportLatencies reports the median, p99 and maximum of samples in
// milliseconds, by nearest rank, and how many changes they cover.
func reportLatencies(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return samples[max(i, 0)]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(rank(0.5)), "median_ms")
	b.ReportMetric(ms(rank(0.99)), "p99_ms")
	b.ReportMetric(ms(samples[len(samples)-1]), "max_ms")
	b.ReportMetric(float64(len(samples)), "changes")
}

// logQueryBackend logs which backend answers a blocking health query:
// "streaming" when the agent serves it from its materialized view.
func logQueryBackend(b *testing.B, c *api.Client) {
	b.Helper()
	_, meta, err := c.Health().Service("api", "", false, nil)
	if err != nil {
		b.Fatalf("querying consul: %v", err)
	}
	_, meta, err = c.Health().Service("api", "", false,
		&api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 50 * time.Millisecond})
	if err != nil {
		b.Fatalf("querying consul: %v", err)
	}
	b.Logf("consul answers blocking health queries with the %q backend", meta.QueryBackend)
}
