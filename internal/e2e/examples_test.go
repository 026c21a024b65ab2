package e2e

import (
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/spillway/spillway/internal/consultest"
)

// TestServiceDefinitions registers the service definitions shipped in
// examples/consul with a real agent through Consul's own CLI, and checks
// that Spillway turns them into the endpoints the example config means:
// the A100 at weight 3, the T4 at 1, and the API instance. Nothing listens
// on their ports, so their HTTP checks fail and Envoy is told they are
// unhealthy; the weights are the pool's all the same.
func TestServiceDefinitions(t *testing.T) {
	agent := consultest.Start(t)
	bin := consultest.Binary(t)
	files, err := filepath.Glob("../../examples/consul/*.json")
	if err != nil || len(files) != 3 {
		t.Fatalf("want 3 service definitions, found %v (%v)", files, err)
	}
	for _, f := range files {
		out, err := exec.Command(bin, "services", "register",
			"-http-addr=http://"+agent.Addr(), f).CombinedOutput()
		if err != nil {
			t.Fatalf("consul services register %s: %v\n%s", f, err, out)
		}
	}

	s := startSpillway(t, consulConfig(agent.Addr(), fastBatch), slog.LevelInfo)
	unhealthy := corev3.HealthStatus_UNHEALTHY
	awaitFleet(t, s.client, 20*time.Second, fleetState{
		"gpu": {
			"127.0.0.1:9101": {Health: unhealthy, Weight: 3},
			"127.0.0.1:9103": {Health: unhealthy, Weight: 1},
		},
		"api": {"127.0.0.1:9201": {Health: unhealthy, Weight: 1}},
	})
}
