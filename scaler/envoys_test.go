package scaler

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/internal/consultest"
)

// registerEnvoy registers an instance of service on the test agent at
// addr, with a TTL check in status.
func registerEnvoy(t *testing.T, client *api.Client, service, id, addr, status string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	reg := &api.AgentServiceRegistration{ID: id, Name: service, Address: host, Port: p,
		Check: &api.AgentServiceCheck{CheckID: id + "-ttl", TTL: "1h", Status: status}}
	if err := client.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("registering %s: %v", id, err)
	}
}

// TestEnvoysFromConsul runs the checks of Envoys listed by a Consul
// service against one real agent.
func TestEnvoysFromConsul(t *testing.T) {
	agent := consultest.Start(t)
	reg, err := NewConsul(api.Config{Address: agent.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("scraper", func(t *testing.T) { testScraperEnvoysFromConsul(t, agent, reg) })
	t.Run("admins", func(t *testing.T) { testEnvoyAdmins(t, agent, reg) })
}

// testScraperEnvoysFromConsul checks that a scraper whose Envoys are the
// passing instances of a Consul service scrapes exactly those, anew every
// round: both at first, summed; then, one deregistered, only the other.
// An instance failing its check is never scraped.
func testScraperEnvoysFromConsul(t *testing.T, agent *consultest.Agent, reg *Consul) {
	a := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	b := newFakeEnvoy(t, "envoy_b_1.prom", "clusters_b.json")
	broken := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	broken.set("envoy_a_1.prom", http.StatusServiceUnavailable)
	client := agent.Client()
	registerEnvoy(t, client, "envoy", "envoy-a", a.addr(), api.HealthPassing)
	registerEnvoy(t, client, "envoy", "envoy-b", b.addr(), api.HealthPassing)
	registerEnvoy(t, client, "envoy", "envoy-broken", broken.addr(), api.HealthCritical)

	clk := newClock()
	s := NewScraper(ScraperConfig{Now: clk.now,
		ListEnvoys: func(ctx context.Context) ([]string, error) {
			return reg.EnvoyAdmins(ctx, "envoy", 0)
		}})
	steps := []struct {
		name       string
		deregister string
		// A's gpu has 12 active and 3 pending requests, B's 5 and 0.
		wantActive, wantPending float64
	}{
		{"both envoys", "", 17, 3},
		{"one deregistered", "envoy-b", 12, 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.deregister != "" {
				if err := client.Agent().ServiceDeregister(st.deregister); err != nil {
					t.Fatal(err)
				}
			}
			if err := scrape(t, s); err != nil {
				t.Fatalf("Scrape: %v", err)
			}
			sig := s.Signal("gpu", clk.now())
			if sig.Stale || sig.Active != st.wantActive || sig.Pending != st.wantPending {
				t.Errorf("signal = %+v; want fresh, active %v, pending %v", sig,
					st.wantActive, st.wantPending)
			}
		})
	}
}

// testEnvoyAdmins checks the admin addresses read from Consul: the passing
// instances only, at their registered port or at envoy_admin_port.
func testEnvoyAdmins(t *testing.T, agent *consultest.Agent, reg *Consul) {
	client := agent.Client()
	registerEnvoy(t, client, "edge", "e1", "127.0.0.1:10000", api.HealthPassing)
	registerEnvoy(t, client, "edge", "e2", "127.0.0.2:10000", api.HealthWarning)
	registerEnvoy(t, client, "edge", "e3", "127.0.0.3:10000", api.HealthCritical)
	tests := []struct {
		name string
		port int
		want []string
	}{
		{"registered port", 0, []string{"127.0.0.1:10000"}},
		{"admin port", 9901, []string{"127.0.0.1:9901"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reg.EnvoyAdmins(context.Background(), "edge", tt.port)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("admins (-want +got):\n%s", diff)
			}
		})
	}
}
