package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway/spillway/policy"
)

// TestSimulateDocumented replays the spike trace through examples/scaler.yaml
// as docs/scaler.md says, with and without a warm pool, and checks that the
// document shows exactly the tables the command prints.
func TestSimulateDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 95,000 requests six times")
	}
	doc, err := os.ReadFile("../../docs/scaler.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, warm := range []int{700, 0} {
		var out bytes.Buffer
		err := Simulate(SimulateOptions{ConfigPath: "../../examples/scaler.yaml", Pool: "gpu",
			Trace: "../../examples/traces/spike.csv", WarmPool: warm}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(doc, out.Bytes()) {
			t.Errorf("docs/scaler.md does not show the table for --warm-pool %d:\n%s", warm, out.String())
		}
	}
}

// TestSimulateOptions covers the model options, the timeline and the
// errors, on a short trace.
func TestSimulateOptions(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "short.csv")
	writeAtomic(t, trace, "# service: uniform 1s 3s\nsecond,rate\n0,2\n120,2\n")
	cfg := filepath.Join(dir, "spillway.yaml")
	writeAtomic(t, filepath.Join(dir, "catalog.yaml"), "services: {}\n")
	writeAtomic(t, cfg, `discovery: {file: {path: catalog.yaml}}
pools: {gpu: {service: inference}, api: {service: api}}
listeners: [{name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}]
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"], interval: 2s}
  pools:
    gpu: {min: 1, max: 4, target: {queue_per_instance: 1}, actuator: {exec: {command: [true]}}}
`)
	noScaler := filepath.Join(dir, "noscaler.yaml")
	writeAtomic(t, noScaler, `discovery: {file: {path: catalog.yaml}}
pools: {gpu: {service: inference}}
listeners: [{name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}]
`)
	timeline := filepath.Join(dir, "timeline.csv")

	var out bytes.Buffer
	err := Simulate(SimulateOptions{ConfigPath: cfg, Pool: "gpu", Trace: trace, Timeline: timeline,
		Seed: 7, WarmPool: 2, ColdStart: 20 * time.Second, Slots: 3}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"model: 3 slots per instance, cold start 20s, slow start 30s from 50%, warm pool 2 ready in 15s",
		"pool: min 1, max 4; queue-wait target 2s",
		"spillway  hpa 70%  static 4",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	csv, err := os.ReadFile(timeline)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(csv), "policy,time_s,ready,starting,draining,queue,active,p95_s\n") ||
		!strings.Contains(string(csv), "\nspillway,5,") {
		t.Errorf("timeline does not look like the runs' CSV:\n%.300s", csv)
	}

	loaded, err := policy.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m := simModel(loaded, SimulateOptions{}); m.StatsInterval != 2*time.Second || m.Seed != 1 {
		t.Errorf("model decides every %v with seed %d, want scaler.stats.interval 2s and seed 1",
			m.StatsInterval, m.Seed)
	}

	errs := []struct {
		name string
		opts SimulateOptions
		want string
	}{
		{"pool without policy", SimulateOptions{ConfigPath: cfg, Pool: "api", Trace: trace},
			`pool "api" has no scaler policy; scaler pools: gpu`},
		{"no scaler section", SimulateOptions{ConfigPath: noScaler, Pool: "gpu", Trace: trace},
			"no scaler section to simulate"},
		{"missing trace", SimulateOptions{ConfigPath: cfg, Pool: "gpu", Trace: trace + ".gone"},
			"short.csv.gone"},
		{"negative warm pool", SimulateOptions{ConfigPath: cfg, Pool: "gpu", Trace: trace, WarmPool: -1},
			"--warm-pool must not be negative, got -1"},
		{"negative cold start", SimulateOptions{ConfigPath: cfg, Pool: "gpu", Trace: trace,
			ColdStart: -time.Second}, "--cold-start must not be negative, got -1s"},
		{"negative slots", SimulateOptions{ConfigPath: cfg, Pool: "gpu", Trace: trace, Slots: -8},
			"--slots must not be negative, got -8"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			err := Simulate(tt.opts, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Simulate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
