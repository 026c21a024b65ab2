package consul

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/consultest"
)

// convergeTimeout bounds how long a test waits for the source to deliver an
// expected catalog; it only guards against hangs.
const convergeTimeout = 30 * time.Second

// harness runs a Source against a real agent and reads what it delivers.
type harness struct {
	src  *Source
	out  chan *discovery.Catalog
	m    *discovery.Metrics
	reg  *prometheus.Registry
	logs *syncBuffer
	last *discovery.Catalog
	stop func()
}

func runSource(t *testing.T, agent *consultest.Agent, cfg Config) *harness {
	t.Helper()
	cfg.Address = agent.Addr()
	// Longer than convergeTimeout, so that a watch stuck in a blocking query
	// shows up as a failure.
	cfg.WaitTime = 2 * convergeTimeout
	h := &harness{out: make(chan *discovery.Catalog), reg: prometheus.NewRegistry(),
		logs: &syncBuffer{}}
	h.m = discovery.NewMetrics(h.reg)
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := New(cfg, log, h.m)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.src = src

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, h.out) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// next returns the next catalog, and fails the test if its content equals
// the previous one's: the source must send changes only.
func (h *harness) next(t *testing.T, timeout time.Duration) (*discovery.Catalog, bool) {
	t.Helper()
	var timer <-chan time.Time
	if timeout > 0 {
		timer = time.After(timeout)
	} else {
		closed := make(chan time.Time)
		close(closed)
		timer = closed
	}
	select {
	case c := <-h.out:
		if h.last != nil && cmp.Equal(content(h.last), content(c), cmpopts.EquateEmpty()) {
			t.Errorf("source sent an unchanged catalog: %v", content(c))
		}
		h.last = c
		return c, true
	case <-timer:
		return nil, false
	}
}

// await reads catalogs until one holds exactly want.
func (h *harness) await(t *testing.T, want []discovery.Instance) {
	t.Helper()
	wantContent := content(discovery.NewCatalog(want))
	deadline := time.Now().Add(convergeTimeout)
	for {
		c, ok := h.next(t, time.Until(deadline))
		if !ok {
			diff := "no catalog received"
			if h.last != nil {
				diff = cmp.Diff(wantContent, content(h.last), cmpopts.EquateEmpty())
			}
			t.Fatalf("no matching catalog within %v; last one (-want +got):\n%s",
				convergeTimeout, diff)
		}
		if cmp.Equal(wantContent, content(c), cmpopts.EquateEmpty()) {
			return
		}
	}
}

// queries returns how many queries the source has completed, from its
// latency histogram.
func (h *harness) queries(t *testing.T) uint64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == "spillway_discovery_watch_duration_seconds" {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// errorsTotal sums the errors counter over its reasons.
func (h *harness) errorsTotal(t *testing.T) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() == "spillway_discovery_errors_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// value reads a gauge or counter. client_golang's testutil would do, but
// it needs a module this repository does not otherwise use.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatalf("reading metric: %v", err)
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}

// syncBuffer is a bytes.Buffer that log handlers may share between
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fleet is the set of registrations the agent tests use: two GPU
// instances and an API instance on the agent's own node, plus a GPU
// instance on an external node registered through the catalog, which
// leaves its address and zone to the node.
type fleet struct {
	agent *consultest.Agent
}

func (f fleet) register(t *testing.T) {
	t.Helper()
	a := f.agent.Client().Agent()
	regs := []*api.AgentServiceRegistration{
		{ID: "gpu-a100-1", Name: "inference", Address: "10.0.0.1", Port: 8000,
			Tags: []string{"gpu", "a100"}, Meta: map[string]string{"gpu": "a100", "zone": "z1"},
			Weights: &api.AgentWeights{Passing: 3, Warning: 1},
			Check:   &api.AgentServiceCheck{CheckID: "ttl:gpu-a100-1", TTL: "10m", Status: "passing"}},
		{ID: "gpu-t4-1", Name: "inference", Address: "10.0.0.2", Port: 8000,
			Tags: []string{"gpu"}, Meta: map[string]string{"gpu": "t4"},
			Check: &api.AgentServiceCheck{CheckID: "ttl:gpu-t4-1", TTL: "10m", Status: "passing"}},
		{ID: "api-1", Name: "api", Address: "10.0.1.1", Port: 9000, Tags: []string{"http"}},
	}
	for _, r := range regs {
		if err := a.ServiceRegister(r); err != nil {
			t.Fatalf("registering %s: %v", r.ID, err)
		}
	}
	f.registerExternal(t, "ok")
}

// registerExternal registers (or re-registers) the external node's GPU
// instance with a passing check whose output is output.
func (f fleet) registerExternal(t *testing.T, output string) {
	t.Helper()
	reg := &api.CatalogRegistration{
		Node: "edge-1", Address: "10.0.2.1", NodeMeta: map[string]string{"zone": "z2"},
		Service: &api.AgentService{ID: "gpu-ext", Service: "inference", Port: 8001,
			Tags: []string{"gpu"}, Meta: map[string]string{"gpu": "t4", "zone": "ignored"}},
		Check: &api.AgentCheck{Node: "edge-1", CheckID: "ext", Name: "ext", ServiceID: "gpu-ext",
			Status: api.HealthPassing, Output: output},
	}
	if _, err := f.agent.Client().Catalog().Register(reg, nil); err != nil {
		t.Fatalf("registering the external node: %v", err)
	}
}

// want returns the expected instances, by registration ID, with the given
// health overrides.
func (f fleet) want(ids []string, health map[string]discovery.Health) []discovery.Instance {
	node := f.agent.NodeName()
	all := map[string]discovery.Instance{
		"gpu-a100-1": {ID: node + "/gpu-a100-1", Service: "inference", Node: node,
			Address: "10.0.0.1", Port: 8000, Tags: []string{"a100", "gpu"},
			Meta:    map[string]string{"gpu": "a100", "zone": "z1"},
			Weights: discovery.Weights{Passing: 3, Warning: 1}, Datacenter: "dc1", Zone: "z1"},
		"gpu-t4-1": {ID: node + "/gpu-t4-1", Service: "inference", Node: node,
			Address: "10.0.0.2", Port: 8000, Tags: []string{"gpu"},
			Meta:    map[string]string{"gpu": "t4"},
			Weights: discovery.Weights{Passing: 1, Warning: 1}, Datacenter: "dc1"},
		"api-1": {ID: node + "/api-1", Service: "api", Node: node, Address: "10.0.1.1",
			Port: 9000, Tags: []string{"http"}, Weights: discovery.Weights{Passing: 1, Warning: 1},
			Datacenter: "dc1"},
		"gpu-ext": {ID: "edge-1/gpu-ext", Service: "inference", Node: "edge-1",
			Address: "10.0.2.1", Port: 8001, Tags: []string{"gpu"},
			Meta:    map[string]string{"gpu": "t4", "zone": "ignored"},
			Weights: discovery.Weights{Passing: 1, Warning: 1}, Datacenter: "dc1", Zone: "z2"},
	}
	var out []discovery.Instance
	for _, id := range ids {
		in := all[id]
		in.Health = health[id]
		out = append(out, in)
	}
	return out
}

func selectors() []discovery.Selector {
	return []discovery.Selector{
		{Service: "inference", Tags: []string{"gpu"}},
		{Service: "inference", Tags: []string{"gpu", "a100"}},
		{Service: "api"},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSourceFollowsConsul changes a real agent's registrations and checks
// step by step that the source delivers the matching catalog.
func TestSourceFollowsConsul(t *testing.T) {
	agent := consultest.Start(t)
	f := fleet{agent: agent}
	a := agent.Client().Agent()
	h := runSource(t, agent, Config{Token: secret, Selectors: selectors()})
	all := []string{"gpu-a100-1", "gpu-t4-1", "api-1", "gpu-ext"}
	const (
		pass  = discovery.HealthPassing
		warn  = discovery.HealthWarning
		crit  = discovery.HealthCritical
		maint = discovery.HealthMaintenance
	)

	steps := []struct {
		name   string
		action func(t *testing.T)
		ids    []string
		health map[string]discovery.Health
	}{
		{name: "empty services give an empty catalog", action: func(*testing.T) {}},
		{name: "registered instances appear", action: f.register, ids: all},
		{name: "ttl warning", ids: all, health: map[string]discovery.Health{"gpu-t4-1": warn},
			action: func(t *testing.T) { must(t, a.UpdateTTL("ttl:gpu-t4-1", "slow", "warn")) }},
		{name: "ttl failing", ids: all, health: map[string]discovery.Health{"gpu-t4-1": crit},
			action: func(t *testing.T) { must(t, a.UpdateTTL("ttl:gpu-t4-1", "down", "fail")) }},
		{name: "service maintenance", ids: all,
			health: map[string]discovery.Health{"gpu-t4-1": crit, "gpu-a100-1": maint},
			action: func(t *testing.T) { must(t, a.EnableServiceMaintenance("gpu-a100-1", "drain")) }},
		{name: "maintenance wins over critical", ids: all,
			health: map[string]discovery.Health{"gpu-t4-1": maint, "gpu-a100-1": maint},
			action: func(t *testing.T) { must(t, a.EnableServiceMaintenance("gpu-t4-1", "drain")) }},
		{name: "node maintenance", ids: all,
			health: map[string]discovery.Health{"gpu-t4-1": maint, "gpu-a100-1": maint, "api-1": maint},
			action: func(t *testing.T) {
				must(t, a.DisableServiceMaintenance("gpu-a100-1"))
				must(t, a.EnableNodeMaintenance("scale-in"))
			}},
		{name: "back to passing", ids: all, action: func(t *testing.T) {
			must(t, a.DisableNodeMaintenance())
			must(t, a.DisableServiceMaintenance("gpu-t4-1"))
			must(t, a.UpdateTTL("ttl:gpu-t4-1", "ok", "pass"))
		}},
		{name: "deregistered instances are gone", ids: []string{"gpu-a100-1", "api-1"},
			action: func(t *testing.T) {
				must(t, a.ServiceDeregister("gpu-t4-1"))
				_, err := agent.Client().Catalog().Deregister(
					&api.CatalogDeregistration{Node: "edge-1"}, nil)
				must(t, err)
			}},
		{name: "last instance of a service gone", ids: []string{"gpu-a100-1"},
			action: func(t *testing.T) { must(t, a.ServiceDeregister("api-1")) }},
	}
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			s.action(t)
			h.await(t, f.want(s.ids, s.health))
		})
		if !ok {
			t.FailNow()
		}
		if s.name == "registered instances appear" && !checkUnchangedContentIsNotSent(t, h, f) {
			t.FailNow()
		}
	}
	if !h.src.Up() {
		t.Error("Up() = false with a healthy agent")
	}

	h.stop()
	checkLogs(t, h.logs.String())
}

// checkUnchangedContentIsNotSent changes something in Consul that the
// catalog does not carry (a check's output), waits until the source has
// seen it, then makes a real change: the next catalog must be that real
// change. harness.next fails on a repeated catalog in any case.
func checkUnchangedContentIsNotSent(t *testing.T, h *harness, f fleet) bool {
	return t.Run("change outside the catalog is not sent", func(t *testing.T) {
		before := h.queries(t)
		f.registerExternal(t, "still ok")
		deadline := time.Now().Add(convergeTimeout)
		for h.queries(t) == before {
			if time.Now().After(deadline) {
				t.Fatal("the source never answered the check output change")
			}
			time.Sleep(10 * time.Millisecond)
		}
		must(t, f.agent.Client().Agent().UpdateTTL("ttl:gpu-a100-1", "busy", "warn"))
		c, ok := h.next(t, convergeTimeout)
		if !ok {
			t.Fatal("no catalog after a real change")
		}
		ids := []string{"gpu-a100-1", "gpu-t4-1", "api-1", "gpu-ext"}
		want := f.want(ids, map[string]discovery.Health{"gpu-a100-1": discovery.HealthWarning})
		if diff := cmp.Diff(content(discovery.NewCatalog(want)), content(c),
			cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("first catalog after the output change (-want +got):\n%s", diff)
		}
		must(t, f.agent.Client().Agent().UpdateTTL("ttl:gpu-a100-1", "ok", "pass"))
		h.await(t, f.want(ids, nil))
	})
}

// checkLogs checks that blocking queries were answered by Consul's
// streaming backend and that the token never reached the logs.
func checkLogs(t *testing.T, logs string) {
	if !strings.Contains(logs, `"query_backend":"streaming"`) {
		t.Errorf("no query was answered by the streaming backend; logs:\n%s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the logs show the token")
	}
}

// TestSourceSurvivesAgentLoss stops the agent under a running source: the
// source must send nothing, report down and count errors; after a restart
// and re-registration it must converge to the same catalog again.
func TestSourceSurvivesAgentLoss(t *testing.T) {
	agent := consultest.Start(t)
	f := fleet{agent: agent}
	f.register(t)
	all := []string{"gpu-a100-1", "gpu-t4-1", "api-1", "gpu-ext"}
	h := runSource(t, agent, Config{Selectors: selectors()})
	h.await(t, f.want(all, nil))
	if !h.src.Up() {
		t.Fatal("Up() = false with a healthy agent")
	}

	agent.Stop()
	waitDown(t, h)
	if c, ok := h.next(t, 0); ok {
		t.Fatalf("catalog delivered while the agent was down: %v", content(c))
	}
	if got := value(t, h.m.Errors.WithLabelValues(sourceName, "unreachable")); got < 1 {
		t.Errorf("unreachable errors = %v, want at least 1", got)
	}

	// The restarted agent is empty, which is a real change and must be
	// sent; only then is the fleet registered again. Registering at once
	// could leave the content as it was, and then rightly nothing is sent.
	agent.Restart(t)
	h.await(t, nil)
	f.register(t)
	h.await(t, f.want(all, nil))
	deadline := time.Now().Add(convergeTimeout)
	for !h.src.Up() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !h.src.Up() || value(t, h.m.Up.WithLabelValues(sourceName)) != 1 {
		t.Error("source not up again after the agent came back")
	}
}

// waitDown waits until the source reports down and has counted at least
// two failures, proving that it keeps retrying, and fails if it delivers a
// catalog meanwhile.
func waitDown(t *testing.T, h *harness) {
	t.Helper()
	deadline := time.Now().Add(convergeTimeout)
	for h.src.Up() || h.errorsTotal(t) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after the agent stopped: Up() = %v, errors = %v; want false and >= 2",
				h.src.Up(), h.errorsTotal(t))
		}
		if c, ok := h.next(t, 10*time.Millisecond); ok {
			t.Fatalf("catalog delivered while the agent was down: %v", content(c))
		}
	}
	if got := value(t, h.m.Up.WithLabelValues(sourceName)); got != 0 {
		t.Errorf("spillway_discovery_up = %v while down, want 0", got)
	}
}
