package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/internal/consultest"
	"github.com/spillway/spillway/scaler"
)

// scaleConfig serves and scales the pool gpu of service inference from the
// Consul agent at %[1]s, with stats from the Envoy admin at %[2]s. Queue 12
// for 3 instances at 100 each asks for the minimum, 2: one scale-in of one
// instance, and no other within the hour.
const scaleConfig = `discovery: {consul: {address: "%[1]s"}}
xds: {listen: 127.0.0.1:0, batch: {quiet: 20ms, max_delay: 200ms}}
admin: {listen: 127.0.0.1:0}
pools:
  gpu: {service: inference}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  stats: {envoy_admin: ["%[2]s"], interval: 1s}
  admin: {listen: 127.0.0.1:0}
  lock_key: spillway/test/scaler
  pools:
    gpu:
      min: 2
      max: 3
      target: {queue_per_instance: 100}
      scale_down: {stabilization: 0s, max_step: 1, max_percent: 0, period: 1h}
      drain: {deadline: 1m, remove_timeout: 2s}
      actuator: {exec: {command: [./scale.sh], timeout: 10s}}
`

// scaleScript records each change it is asked for, one line per call.
const scaleScript = `#!/bin/sh
echo "$SPILLWAY_POOL $SPILLWAY_CURRENT $SPILLWAY_DESIRED $SPILLWAY_VICTIM_IDS $SPILLWAY_VICTIMS" \
  >> "$(dirname "$0")/scaled.log"
`

func writeScaleFiles(t *testing.T, consulAddr, envoyAdmin string) (cfgPath, logPath string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "spillway.yaml")
	writeAtomic(t, cfgPath, fmt.Sprintf(scaleConfig, consulAddr, envoyAdmin))
	if err := os.WriteFile(filepath.Join(dir, "scale.sh"), []byte(scaleScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "scaled.log")
}

func registerInference(t *testing.T, c *api.Client, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		reg := &api.AgentServiceRegistration{ID: fmt.Sprintf("inference-%d", i), Name: "inference",
			Address: "127.0.0.1", Port: 9100 + i}
		if err := c.Agent().ServiceRegister(reg); err != nil {
			t.Fatal(err)
		}
	}
}

// drainNote returns the maintenance note of a service on the agent: empty
// when it is not in maintenance.
func drainNote(t *testing.T, c *api.Client, serviceID string) string {
	t.Helper()
	checks, err := c.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if ck := checks[api.ServiceMaintPrefix+serviceID]; ck != nil {
		return ck.Notes
	}
	return ""
}

// TestScaleDrainsBeforeRemoving runs spillway serve and spillway scale on
// a real Consul agent, with a real ADS client subscribed to the pool's
// endpoints. The scaler decides to remove one of three instances; the one
// with the fewest requests goes into maintenance, the ADS client sees it
// DRAINING, the exec actuator runs only once its requests have finished,
// and since the "platform" (the script) keeps the instance, its
// maintenance is lifted and it serves again.
func TestScaleDrainsBeforeRemoving(t *testing.T) {
	agent := consultest.Start(t)
	consul := agent.Client()
	registerInference(t, consul, 3)

	// Serve first, with a placeholder stats address: serve ignores it.
	cfgPath, logPath := writeScaleFiles(t, agent.Addr(), "127.0.0.1:9")
	xdsAddr, _ := startServe(t, cfgPath)
	eds := subscribeEDS(t, xdsAddr, "gpu")
	for i := 1; i <= 3; i++ {
		eds.waitHealth(t, fmt.Sprintf("127.0.0.1:%d", 9100+i), corev3.HealthStatus_HEALTHY)
	}
	const victim, victimAddr = "inference-1", "127.0.0.1:9101"
	envoy := startEnvoyAdmin(t, eds, "gpu", map[string]uint64{
		victimAddr: 2, "127.0.0.1:9102": 5, "127.0.0.1:9103": 5})
	writeAtomic(t, cfgPath, fmt.Sprintf(scaleConfig, agent.Addr(), envoy.srv.URL))
	adminAddr, _ := startScale(t, cfgPath)

	eventually(t, 20*time.Second, "the victim is in spillway's maintenance", func() bool {
		return drainNote(t, consul, victim) == scaler.DrainReason
	})
	eds.waitHealth(t, victimAddr, corev3.HealthStatus_DRAINING)
	for _, other := range []string{"inference-2", "inference-3"} {
		if note := drainNote(t, consul, other); note != "" {
			t.Errorf("%s is in maintenance (%q); only %s should drain", other, note, victim)
		}
	}

	// Two requests are still in flight: three drain polls later, nothing
	// may have been removed.
	time.Sleep(3 * scaler.DefaultPoll)
	if _, err := os.Stat(logPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the actuator ran while requests were in flight (log: %v)", err)
	}
	envoy.setActive(victimAddr, 0)
	eventually(t, 20*time.Second, "the actuator has run", func() bool {
		_, err := os.Stat(logPath)
		return err == nil
	})
	body, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "gpu 3 2 " + agent.NodeName() + "/" + victim + " " + victimAddr + "\n"
	if string(body) != want {
		t.Errorf("actuator log = %q, want %q", body, want)
	}

	// The script removed nothing: after remove_timeout the victim serves
	// again, in Consul and at the ADS client.
	eventually(t, 20*time.Second, "the surviving victim's maintenance is lifted", func() bool {
		return drainNote(t, consul, victim) == ""
	})
	eds.waitHealth(t, victimAddr, corev3.HealthStatus_HEALTHY)

	checks := []struct{ series, want string }{
		{"spillway_scaler_leader", "1"},
		{`spillway_scaler_actuations_total{direction="down",pool="gpu",result="ok"}`, "1"},
		{`spillway_scaler_drain_duration_seconds_count{pool="gpu"}`, "1"},
	}
	for _, c := range checks {
		if got := metricValue(t, adminAddr, c.series); got != c.want {
			t.Errorf("%s = %q, want %q", c.series, got, c.want)
		}
	}
	if code, body := httpGet(t, "http://"+adminAddr+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %s, want 200", code, body)
	}
	if got, _ := os.ReadFile(logPath); string(got) != want {
		t.Errorf("actuator log at the end = %q, want the one scale-in only", got)
	}
}

// TestScaleLeaderHandover runs two spillway scale processes on one lock:
// the first leads, the second stands by, and when the first stops the
// second takes over within the lock's bound.
func TestScaleLeaderHandover(t *testing.T) {
	agent := consultest.Start(t)
	registerInference(t, agent.Client(), 2)
	cfgPath, _ := writeScaleFiles(t, agent.Addr(), "127.0.0.1:9")

	first, stopFirst := startScale(t, cfgPath)
	eventually(t, 20*time.Second, "the first scaler leads", func() bool {
		return metricValue(t, first, "spillway_scaler_leader") == "1"
	})
	second, _ := startScale(t, cfgPath)
	// The follower is ready while it stands by, and does not lead.
	eventually(t, 20*time.Second, "the second scaler answers /readyz", func() bool {
		code, _ := httpGet(t, "http://"+second+"/readyz")
		return code == 200
	})
	if got := metricValue(t, second, "spillway_scaler_leader"); got != "0" {
		t.Fatalf("second scaler leader gauge = %q while the first leads, want 0", got)
	}

	stopFirst()
	bound := 2*scaler.DefaultSessionTTL + scaler.DefaultLockDelay
	eventually(t, bound, "the second scaler leads", func() bool {
		return metricValue(t, second, "spillway_scaler_leader") == "1"
	})
}

// TestScaleRefuses checks the configs scale cannot run, with the reason.
func TestScaleRefuses(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "catalog.yaml"), "services: {}\n")
	tests := []struct {
		name, config, want string
	}{
		{"no scaler section", `discovery: {consul: {}}
pools: {gpu: {service: inference}}
listeners: [{name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}]
`, "no scaler section: nothing to scale"},
		{"file discovery", `discovery: {file: {path: catalog.yaml}}
pools: {gpu: {service: inference}}
listeners: [{name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}]
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"]}
  pools: {gpu: {max: 2, target: {queue_per_instance: 5}, actuator: {exec: {command: [true]}}}}
`, "scale needs discovery.consul"},
		{"missing script", `discovery: {consul: {}}
pools: {gpu: {service: inference}}
listeners: [{name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}]
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"]}
  pools: {gpu: {max: 2, target: {queue_per_instance: 5}, actuator: {exec: {command: [./nope.sh]}}}}
`, "scaler.pools.gpu.actuator.exec.command[0]: stat " + filepath.Join(dir, "nope.sh")},
		{"kubernetes actuator", `discovery: {consul: {}}
pools: {gpu: {service: inference}}
listeners: [{name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}]
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"]}
  pools:
    gpu:
      max: 2
      target: {queue_per_instance: 5}
      actuator: {kubernetes: {kubeconfig: missing.kubeconfig, resource: deployment/gpu}}
`, "scaler.pools.gpu.actuator: kubernetes actuator: loading kubeconfig " +
			filepath.Join(dir, "missing.kubeconfig")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			writeAtomic(t, path, tt.config)
			err := Scale(context.Background(), ScaleOptions{ConfigPath: path, Log: testLogger(t)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Scale: %v, want an error containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q does not start with the config file", err)
			}
		})
	}
}
