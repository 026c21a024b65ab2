package e2e

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/spillway/spillway/internal/consultest"
)

// convergeTimeout bounds a wait for Spillway to catch up with Consul; it
// only guards against hangs. recoverTimeout also covers the watch's
// backoff, which grows while the agent is away.
const (
	convergeTimeout = 15 * time.Second
	recoverTimeout  = 90 * time.Second
)

// holdDown is how long the agent stays away while the test checks that
// nothing Spillway serves changes: a minute, long enough for the watch's
// backoff to reach its cap, or a few seconds under -short.
func holdDown() time.Duration {
	if testing.Short() {
		return 3 * time.Second
	}
	return time.Minute
}

// TestConsulToEDS registers a fleet in a real agent and changes it through
// Consul's own API, checking after each change every endpoint the ADS
// client holds: health, weight, and presence.
func TestConsulToEDS(t *testing.T) {
	agent := consultest.Start(t)
	c := agent.Client()
	registerFleet(t, c)
	sw := startSpillway(t, consulConfig(agent.Addr(), fastBatch), slog.LevelInfo)

	want := baseline()
	t.Run("clusters and weights", func(t *testing.T) {
		st := awaitFleet(t, sw.client, convergeTimeout, want)
		if diff := cmp.Diff([]string{"api", "gpu"}, st.ClusterNames()); diff != "" {
			t.Errorf("clusters (-want +got):\n%s", diff)
		}
	})

	for _, step := range healthSteps() {
		want = want.with(step.edits...)
		ok := t.Run(step.name, func(t *testing.T) {
			if err := step.change(c); err != nil {
				t.Fatalf("changing consul: %v", err)
			}
			awaitFleet(t, sw.client, convergeTimeout, want)
		})
		if !ok {
			// Each step starts from the state the previous one left.
			return
		}
	}
}

// healthStep is one change made through Consul and the endpoints it edits.
type healthStep struct {
	name   string
	change func(*api.Client) error
	edits  []edit
}

func healthSteps() []healthStep {
	ttl := func(id, status string) func(*api.Client) error {
		return func(c *api.Client) error { return c.Agent().UpdateTTL(checkID(id), "", status) }
	}
	return []healthStep{
		{"warning is healthy with the warning weight", ttl("api-1", api.HealthWarning),
			[]edit{set("api", "127.0.0.1:9101", healthy, 2)}},
		{"critical is unhealthy", ttl("api-1", api.HealthCritical),
			[]edit{set("api", "127.0.0.1:9101", unhealthy, 5)}},
		{"passing again is healthy with the passing weight", ttl("api-1", api.HealthPassing),
			[]edit{set("api", "127.0.0.1:9101", healthy, 5)}},
		{"critical gpu keeps its pool weight", ttl("gpu-t4-1", api.HealthCritical),
			[]edit{set("gpu", "127.0.0.1:9002", unhealthy, 1)}},
		{"service maintenance is draining",
			func(c *api.Client) error { return c.Agent().EnableServiceMaintenance("gpu-a100-1", "e2e") },
			[]edit{set("gpu", "127.0.0.1:9001", draining, 3)}},
		{"service maintenance off",
			func(c *api.Client) error { return c.Agent().DisableServiceMaintenance("gpu-a100-1") },
			[]edit{set("gpu", "127.0.0.1:9001", healthy, 3)}},
		// The second node's a100 keeps serving.
		{"node maintenance drains every endpoint on the node",
			func(c *api.Client) error { return c.Agent().EnableNodeMaintenance("e2e") },
			[]edit{
				set("gpu", "127.0.0.1:9001", draining, 3),
				set("gpu", "127.0.0.1:9002", draining, 1),
				set("gpu", "127.0.0.1:9004", draining, 7),
				set("api", "127.0.0.1:9101", draining, 5),
				set("api", "127.0.0.1:9102", draining, 1),
			}},
		{"node maintenance off restores each endpoint's own health",
			func(c *api.Client) error { return c.Agent().DisableNodeMaintenance() },
			[]edit{
				set("gpu", "127.0.0.1:9001", healthy, 3),
				set("gpu", "127.0.0.1:9002", unhealthy, 1),
				set("gpu", "127.0.0.1:9004", healthy, 7),
				set("api", "127.0.0.1:9101", healthy, 5),
				set("api", "127.0.0.1:9102", healthy, 1),
			}},
		{"deregistered instances are gone",
			func(c *api.Client) error {
				if err := c.Agent().ServiceDeregister("api-2"); err != nil {
					return err
				}
				return c.Agent().ServiceDeregister("gpu-t4-1")
			},
			[]edit{gone("api", "127.0.0.1:9102"), gone("gpu", "127.0.0.1:9002")}},
		{"a deregistered node's instances are gone",
			func(c *api.Client) error {
				_, err := c.Catalog().Deregister(&api.CatalogDeregistration{Node: otherNode}, nil)
				return err
			},
			[]edit{gone("gpu", "127.0.0.2:9001")}},
	}
}

// TestConsulAgentLoss stops the agent under a running Spillway: the last
// good resources keep being served unchanged, readiness stays but says
// discovery is down, and after the agent returns Spillway converges again.
func TestConsulAgentLoss(t *testing.T) {
	agent := consultest.Start(t)
	registerFleet(t, agent.Client())
	sw := startSpillway(t, consulConfig(agent.Addr(), fastBatch), slog.LevelInfo)
	before := awaitFleet(t, sw.client, convergeTimeout, baseline())
	eventually(t, convergeTimeout, sw.discoveryState(t, "ok"))
	_, resourcesBefore := sw.get(t, "/debug/resources")

	agent.Stop()

	t.Run("readyz stays ready and says discovery is down", func(t *testing.T) {
		eventually(t, convergeTimeout, sw.discoveryState(t, "down"))
		code, r := sw.readyz(t)
		if code != http.StatusOK || !r.Ready || r.Checks["snapshot"] != "ok" {
			t.Errorf("/readyz = %d %+v, want 200, ready, snapshot ok", code, r)
		}
	})
	t.Run("spillway_discovery_up is 0", func(t *testing.T) {
		if got := sw.discoveryUp(t); got != 0 {
			t.Errorf("spillway_discovery_up = %v, want 0", got)
		}
	})
	t.Run("resources unchanged while the agent is away", func(t *testing.T) {
		time.Sleep(holdDown())
		assertUnchanged(t, before, sw.client.Latest())
		_, resourcesAfter := sw.get(t, "/debug/resources")
		if diff := cmp.Diff(string(resourcesBefore), string(resourcesAfter)); diff != "" {
			t.Errorf("/debug/resources changed (-before +after):\n%s", diff)
		}
	})

	agent.Restart(t)
	registerFleet(t, agent.Client())

	t.Run("converges again after the agent returns", func(t *testing.T) {
		after := awaitFleet(t, sw.client, recoverTimeout, baseline())
		if diff := cmp.Diff(before.ClusterNames(), after.ClusterNames()); diff != "" {
			t.Errorf("clusters (-before +after):\n%s", diff)
		}
		// Each service has its own watch and backoff: the fleet can be whole
		// again from one watch's answer while another still waits out its
		// backoff, so discovery may report up a little later.
		eventually(t, recoverTimeout, sw.discoveryState(t, "ok"))
		if got := sw.discoveryUp(t); got != 1 {
			t.Errorf("spillway_discovery_up = %v, want 1", got)
		}
	})
}

// assertUnchanged fails unless after holds the very resources and versions
// of before, and no response arrived in between.
func assertUnchanged(t *testing.T, before, after *State) {
	t.Helper()
	if after.Responses != before.Responses {
		t.Errorf("client received %d responses while the agent was away, want none",
			after.Responses-before.Responses)
	}
	if diff := cmp.Diff(before.Versions, after.Versions); diff != "" {
		t.Errorf("versions changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before.Clusters, after.Clusters, protocmp.Transform()); diff != "" {
		t.Errorf("clusters changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before.Endpoints, after.Endpoints, protocmp.Transform()); diff != "" {
		t.Errorf("endpoints changed (-before +after):\n%s", diff)
	}
	for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
		if before.Versions[typeURL] == "" {
			t.Errorf("no %s version before the agent left", typeURL)
		}
	}
}

// discoveryState returns a condition for eventually: /readyz reports the
// discovery check as "ok", or as starting with "down".
func (s *spillway) discoveryState(t testing.TB, want string) func() string {
	return func() string {
		_, r := s.readyz(t)
		got := r.Checks["discovery"]
		if got == want || (want == "down" && strings.HasPrefix(got, "down")) {
			return ""
		}
		return "discovery check is " + got + ", want " + want
	}
}
