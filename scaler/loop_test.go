package scaler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/consultest"
	"github.com/spillway/spillway/policy"
)

// recorder is an actuator that records every request and fails the first
// failures of them. It stands in for the platform that runs the instances.
type recorder struct {
	mu       sync.Mutex
	reqs     []Request
	failures int
	called   chan Request
}

func newRecorder(failures int) *recorder {
	return &recorder{failures: failures, called: make(chan Request, 100)}
}

func (r *recorder) Scale(_ context.Context, req Request) error {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	fail := len(r.reqs) <= r.failures
	r.mu.Unlock()
	r.called <- req
	if fail {
		return errors.New("platform says no")
	}
	return nil
}

func (r *recorder) requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// syncClock is a settable time for the loop and the scraper alike, read
// from the action goroutines too.
type syncClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *syncClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *syncClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// register adds a gpu instance on the test agent at 127.0.0.1:port, with a
// TTL check in the given status, or none when status is empty.
func register(t *testing.T, client *api.Client, id string, port int, status string) {
	t.Helper()
	reg := &api.AgentServiceRegistration{ID: id, Name: "gpu", Address: "127.0.0.1", Port: port}
	if status != "" {
		reg.Check = &api.AgentServiceCheck{CheckID: id + "-ttl", TTL: "1h", Status: status}
	}
	if err := client.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("registering %s: %v", id, err)
	}
}

// testPolicy scales by 5 requests per instance between 1 and 10, at once in
// both directions, without panic mode.
func testPolicy() Policy {
	return NewPolicy(&policy.ScalerPool{
		Min: 1, Max: 10, Tolerance: 0.1,
		Target:       policy.Target{QueuePerInstance: 5},
		StartTimeout: 10 * time.Minute,
		Drain:        policy.Drain{Deadline: time.Minute, RemoveTimeout: time.Second},
	})
}

type loopFixture struct {
	consul *Consul
	envoy  *adminEnvoy
	act    *recorder
	clock  *syncClock
	loop   *Loop
}

func newLoopFixture(t *testing.T, agent *consultest.Agent, act *recorder,
	hosts ...host) *loopFixture {
	t.Helper()
	reg, err := NewConsul(api.Config{Address: agent.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	f := &loopFixture{consul: reg, envoy: startAdmin(t, "gpu", hosts...), act: act,
		clock: &syncClock{now: time.Now()}}
	f.loop, err = NewLoop(LoopConfig{
		Pools: []PoolSpec{{Name: "gpu", Selector: discovery.Selector{Service: "gpu"},
			Policy: testPolicy(), Actuator: act}},
		Interval: time.Second,
		Scraper: NewScraper(ScraperConfig{Admins: []string{f.envoy.admin()},
			Now: f.clock.Now}),
		Registry: reg,
		Backoff:  Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 3},
		Poll:     20 * time.Millisecond,
		Now:      f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// round runs one round 5 s after the last and waits for the action it
// started, if any, to have an outcome.
func (f *loopFixture) round(t *testing.T) {
	t.Helper()
	f.clock.advance(5 * time.Second)
	f.loop.Round(context.Background())
	if a := f.loop.pools[0].action; a != nil {
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the action has no outcome after 30s")
		}
	}
}

func (f *loopFixture) wait() { f.loop.actions.Wait() }

// TestLoopScalesUpOnce checks that one decision is carried out once: while
// the instances asked for have not registered, later rounds count them as
// starting and ask for nothing more, until start_timeout passes.
func TestLoopScalesUpOnce(t *testing.T) {
	agent := consultest.Start(t)
	register(t, agent.Client(), "gpu-1", 9001, "")
	register(t, agent.Client(), "gpu-2", 9002, "")
	act := newRecorder(0)
	f := newLoopFixture(t, agent, act,
		host{"127.0.0.1:9001", 15, healthy}, host{"127.0.0.1:9002", 15, healthy})
	defer f.wait()

	for range 4 {
		f.round(t)
	}
	want := Request{Pool: "gpu", Current: 2, Desired: 6, Reason: "queue 30 over 2×5"}
	if diff := cmp.Diff([]Request{want}, act.requests()); diff != "" {
		t.Fatalf("requests after 4 rounds (-want +got):\n%s", diff)
	}

	// The four asked for never came: after start_timeout they are asked
	// for again, as a new decision.
	f.clock.advance(10 * time.Minute)
	f.round(t)
	if diff := cmp.Diff([]Request{want, want}, act.requests()); diff != "" {
		t.Fatalf("requests after start_timeout (-want +got):\n%s", diff)
	}
}

// TestLoopRetries checks the actuator retries of one decision: a call that
// fails twice is made a third time and then holds; a decision whose every
// attempt fails is given up, and the next round decides afresh from what
// is registered.
func TestLoopRetries(t *testing.T) {
	agent := consultest.Start(t)
	register(t, agent.Client(), "gpu-1", 9001, "")
	hosts := []host{{"127.0.0.1:9001", 12, healthy}}

	t.Run("succeeds on the third attempt", func(t *testing.T) {
		act := newRecorder(2)
		f := newLoopFixture(t, agent, act, hosts...)
		defer f.wait()
		f.round(t)
		f.round(t)
		if got := act.requests(); len(got) != 3 {
			t.Fatalf("requests = %+v, want 3 attempts of one decision", got)
		}
		for _, r := range act.requests() {
			if r.Current != 1 || r.Desired != 3 {
				t.Errorf("attempt %+v, want 1 → 3", r)
			}
		}
	})
	t.Run("gives up and decides again", func(t *testing.T) {
		act := newRecorder(1000)
		f := newLoopFixture(t, agent, act, hosts...)
		defer f.wait()
		f.round(t)
		if got := len(act.requests()); got != 3 {
			t.Fatalf("%d attempts, want 3", got)
		}
		f.round(t) // the failure is undone: the pool counts 1 again
		got := act.requests()
		if len(got) != 6 || got[5].Current != 1 || got[5].Desired != 3 {
			t.Fatalf("requests = %+v, want a second decision 1 → 3 tried 3 times", got)
		}
	})
}

// maintenance returns the drain notes of the gpu members, by service ID:
// empty for those not in maintenance.
func maintenance(t *testing.T, reg *Consul) map[string]string {
	t.Helper()
	ms, err := reg.Members(context.Background(), discovery.Selector{Service: "gpu"})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.ServiceID] = m.MaintenanceReason
	}
	return out
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLoopSpikeStopsDrain checks that a spike during a drain abandons it:
// the victims come back at once, which is faster than any new instance,
// and the scale-in is never actuated.
func TestLoopSpikeStopsDrain(t *testing.T) {
	agent := consultest.Start(t)
	for i := 1; i <= 3; i++ {
		register(t, agent.Client(), fmt.Sprintf("gpu-%d", i), 9000+i, "")
	}
	act := newRecorder(0)
	// The Envoy never reports the victims as draining: the drain waits.
	f := newLoopFixture(t, agent, act, host{"127.0.0.1:9001", 1, healthy},
		host{"127.0.0.1:9002", 2, healthy}, host{"127.0.0.1:9003", 2, healthy})
	defer f.wait()

	f.clock.advance(5 * time.Second)
	f.loop.Round(context.Background()) // queue 5: down to 1, draining two
	waitFor(t, "two victims are in maintenance", func() bool {
		m := maintenance(t, f.consul)
		return m["gpu-1"] == DrainReason && m["gpu-2"] == DrainReason && m["gpu-3"] == ""
	})

	f.envoy.setPending(100)
	f.round(t) // the spike stops the drain; the action ends
	if m := maintenance(t, f.consul); m["gpu-1"] != "" || m["gpu-2"] != "" {
		t.Fatalf("maintenance after the stopped drain = %v, want none", m)
	}
	f.round(t)
	want := []Request{{Pool: "gpu", Current: 3, Desired: 10,
		Reason: "queue 105 over 3×5; at max 10"}}
	if diff := cmp.Diff(want, act.requests()); diff != "" {
		t.Fatalf("requests (-want +got): only the scale-up\n%s", diff)
	}
}

// TestLoopLiftsStaleDrains checks that a starting loop takes out of
// maintenance what an earlier scaler's drain left, and only that.
func TestLoopLiftsStaleDrains(t *testing.T) {
	agent := consultest.Start(t)
	c := agent.Client()
	for i := 1; i <= 3; i++ {
		register(t, c, fmt.Sprintf("gpu-%d", i), 9000+i, "")
	}
	if err := c.Agent().EnableServiceMaintenance("gpu-1", DrainReason); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().EnableServiceMaintenance("gpu-2", "kernel upgrade"); err != nil {
		t.Fatal(err)
	}
	act := newRecorder(0)
	f := newLoopFixture(t, agent, act, host{"127.0.0.1:9001", 5, healthy},
		host{"127.0.0.1:9002", 0, draining}, host{"127.0.0.1:9003", 5, healthy})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.loop.Run(ctx) }()
	waitFor(t, "the loop has run a round", func() bool {
		n, _ := f.loop.Status()
		return n > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := map[string]string{"gpu-1": "", "gpu-2": "kernel upgrade", "gpu-3": ""}
	got := maintenance(t, f.consul)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s maintenance = %q, want %q", id, got[id], w)
		}
	}
}
