package consultest

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

// TestAgentLifecycle checks that an agent answers, that Stop makes it
// unreachable and that Restart brings it back on the same address without
// the registrations made before.
func TestAgentLifecycle(t *testing.T) {
	a := Start(t)
	agent := a.Client().Agent()
	reg := &api.AgentServiceRegistration{ID: "probe-1", Name: "probe", Port: 9000}
	if err := agent.ServiceRegister(reg); err != nil {
		t.Fatalf("registering: %v", err)
	}
	if got := services(t, a); len(got) != 1 {
		t.Fatalf("before stop: %d instances of probe, want 1", len(got))
	}

	a.Stop()
	if _, err := a.Client().Status().Leader(); err == nil {
		t.Fatal("stopped agent still answers")
	}
	a.Stop() // a second Stop must be harmless

	addr := a.Addr()
	a.Restart(t)
	if a.Addr() != addr {
		t.Fatalf("restart moved the agent from %s to %s", addr, a.Addr())
	}
	if got := services(t, a); len(got) != 0 {
		t.Fatalf("after restart: %d instances of probe, want 0 (dev agents keep no state)", len(got))
	}
}

func services(t *testing.T, a *Agent) []*api.CatalogService {
	t.Helper()
	list, _, err := a.Client().Catalog().Service("probe", "", nil)
	if err != nil {
		t.Fatalf("reading catalog: %v", err)
	}
	return list
}
