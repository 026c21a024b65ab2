package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDefaults loads a config that leaves out everything it may and
// compares the whole result with the documented defaults.
func TestDefaults(t *testing.T) {
	path := writeConfig(t, `discovery: {file: {path: catalog.yaml}}
pools:
  gpu:
    service: inference
    health_check: {path: /health}
    slow_start: {window: 1m}
    outlier_detection:
  hash:
    service: s
    balancing: {policy: ring_hash}
  mag:
    service: s
    balancing: {policy: maglev}
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /}, pool: gpu, retries: {attempts: 2}}
      - {match: {prefix: /h}, pool: hash, timeout: ~}
scaler:
  stats: {prometheus: "http://prom:9090"}
  pools:
    gpu:
      max: 4
      target: {queue_per_instance: 5}
      actuator: {exec: {command: [scale.sh]}}
    mag:
      max: 4
      target: {latency_p95: 2s}
      actuator: {webhook: {url: "http://scaler/hook"}}
`)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}

	timeout := DefaultRouteTimeout
	upRule := ScaleRule{MaxStep: 4, MaxPercent: 100, Period: time.Minute}
	downRule := ScaleRule{Stabilization: 5 * time.Minute, MaxStep: 2, MaxPercent: 50,
		Period: 2 * time.Minute}
	scalerPanic := Panic{Threshold: 2, Window: time.Minute, Lead: 30 * time.Second}
	want := &Config{
		Path:      path,
		Discovery: Discovery{File: &FileDiscovery{Path: "catalog.yaml"}},
		XDS: XDS{
			Listen: "127.0.0.1:18000",
			Batch:  Batch{Quiet: 100 * time.Millisecond, MaxDelay: time.Second},
			Keepalive: Keepalive{Time: 30 * time.Second, Timeout: 10 * time.Second,
				MinTime: 10 * time.Second},
			MaxConcurrentStreams: 100,
			MaxMessageBytes:      4 << 20,
		},
		Admin: Admin{Listen: "127.0.0.1:19000"},
		Pools: map[string]*Pool{
			"gpu": {
				Name: "gpu", Service: "inference", Protocol: "http1",
				Balancing:      Balancing{Policy: "least_request", ChoiceCount: 2, ActiveRequestBias: 1},
				ConnectTimeout: 5 * time.Second,
				HealthCheck: &HealthCheck{Protocol: HealthHTTP, Path: "/health", Interval: 15 * time.Second,
					Timeout: 5 * time.Second, NoTrafficInterval: time.Minute,
					HealthyThreshold: 2, UnhealthyThreshold: 3},
				SlowStart: &SlowStart{Window: time.Minute, Aggression: 1, MinWeightPercent: 10},
				OutlierDetection: &OutlierDetection{Consecutive5xx: 5, Interval: 10 * time.Second,
					BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 50},
			},
			"hash": {
				Name: "hash", Service: "s", Protocol: "http1",
				Balancing:      Balancing{Policy: "ring_hash", MinRingSize: 1024},
				ConnectTimeout: 5 * time.Second,
			},
			"mag": {
				Name: "mag", Service: "s", Protocol: "http1",
				Balancing:      Balancing{Policy: "maglev", TableSize: 65537},
				ConnectTimeout: 5 * time.Second,
			},
		},
		Listeners: []*Listener{{
			Name: "public", Address: "0.0.0.0", Port: 8080, Domains: []string{"*"},
			Routes: []*Route{{
				Match: Match{Prefix: "/"}, Pool: "gpu", Timeout: &timeout,
				Retries: &Retries{Attempts: 2, On: DefaultRetryOn},
			}, {
				// A null timeout is the same as none: the default.
				Match: Match{Prefix: "/h"}, Pool: "hash", Timeout: &timeout,
			}},
		}},
		Scaler: &Scaler{
			Stats: Stats{Prometheus: "http://prom:9090", Interval: 5 * time.Second,
				StaleAfter: 15 * time.Second},
			Admin: Admin{Listen: "127.0.0.1:19001"},
			Pools: map[string]*ScalerPool{
				"gpu": {
					Max: 4, Target: Target{QueuePerInstance: 5}, Tolerance: 0.1,
					ScaleUp: upRule, ScaleDown: downRule,
					Panic:        scalerPanic,
					StartTimeout: 10 * time.Minute,
					Drain:        Drain{Deadline: 5 * time.Minute, RemoveTimeout: 2 * time.Minute},
					Actuator: Actuator{Exec: &ExecActuator{Command: []string{"scale.sh"},
						Timeout: 30 * time.Second}},
				},
				"mag": {
					Max: 4, Target: Target{LatencyP95: 2 * time.Second}, Tolerance: 0.1,
					ScaleUp: upRule, ScaleDown: downRule,
					Panic:        scalerPanic,
					StartTimeout: 10 * time.Minute,
					Drain:        Drain{Deadline: 5 * time.Minute, RemoveTimeout: 2 * time.Minute},
					Actuator: Actuator{Webhook: &WebhookActuator{URL: "http://scaler/hook",
						Timeout: 30 * time.Second}},
				},
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults differ (-want +got):\n%s", diff)
	}
}

// TestExplicitZeroStays checks that a zero written in the file is kept
// rather than replaced by the default.
func TestExplicitZeroStays(t *testing.T) {
	cfg, err := Load(writeConfig(t, `discovery: {file: {path: catalog.yaml}}
xds: {batch: {quiet: 0s}}
pools:
  gpu:
    service: inference
    balancing: {active_request_bias: 0}
    slow_start: {window: 1m, min_weight_percent: 0}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu, timeout: 0s}]}
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"], interval: 2s}
  pools:
    gpu:
      max: 3
      tolerance: 0
      target: {queue_per_instance: 1}
      scale_down: {stabilization: 0s, max_percent: 0}
      drain: {deadline: 0s}
      panic: {threshold: 0, lead: 0s}
      actuator: {kubernetes: {resource: deployment/gpu}}
`))
	if err != nil {
		t.Fatal(err)
	}
	gpu, sp := cfg.Pools["gpu"], cfg.Scaler.Pools["gpu"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"xds.batch.quiet", cfg.XDS.Batch.Quiet, time.Duration(0)},
		{"active_request_bias", gpu.Balancing.ActiveRequestBias, 0.0},
		{"min_weight_percent", gpu.SlowStart.MinWeightPercent, 0.0},
		{"route timeout", *cfg.Listeners[0].Routes[0].Timeout, time.Duration(0)},
		{"stale_after", cfg.Scaler.Stats.StaleAfter, 6 * time.Second},
		{"tolerance", sp.Tolerance, 0.0},
		{"scale_down.stabilization", sp.ScaleDown.Stabilization, time.Duration(0)},
		{"scale_down.max_percent", sp.ScaleDown.MaxPercent, 0.0},
		{"scale_down.max_step", sp.ScaleDown.MaxStep, 2},
		{"drain.deadline", sp.Drain.Deadline, time.Duration(0)},
		{"panic.threshold", sp.Panic.Threshold, 0.0},
		{"panic.lead", sp.Panic.Lead, time.Duration(0)},
		{"panic.window", sp.Panic.Window, time.Minute},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
