package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scalerSection gives goodConfig's gpu pool a scaler policy.
const scalerSection = `scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"], interval: 5s}
  pools:
    gpu: {min: 1, max: 4, target: {queue_per_instance: 1}, actuator: {exec: {command: [true]}}}
`

// TestSimulateAndScaleCommands runs the two scaler commands through the
// command line: their required flags, a short simulation, and scale's
// refusal of a config without Consul.
func TestSimulateAndScaleCommands(t *testing.T) {
	path := writeConfig(t, goodConfig+scalerSection)
	trace := filepath.Join(filepath.Dir(path), "trace.csv")
	if err := os.WriteFile(trace, []byte("# service: fixed 2s\nsecond,rate\n0,1\n60,1\n"),
		0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantExit   int
		wantStdout string
		wantStderr string
	}{
		{name: "simulate needs a pool", args: []string{"simulate", "--config", path, "--trace", trace},
			wantExit: 2, wantStderr: "spillway simulate: --pool is required"},
		{name: "simulate needs a trace", args: []string{"simulate", "--config", path, "--pool", "gpu"},
			wantExit: 2, wantStderr: "spillway simulate: --trace is required"},
		{name: "simulate a bad duration", args: []string{"simulate", "--config", path, "--pool", "gpu",
			"--trace", trace, "--cold-start", "soon"}, wantExit: 2, wantStderr: "invalid value"},
		{name: "simulate", args: []string{"simulate", "--config", path, "--pool", "gpu", "--trace", trace,
			"--slots", "2", "--warm-pool", "1", "--seed", "3", "--cold-start", "30s"},
			wantStdout: "model: 2 slots per instance, cold start 30s"},
		{name: "simulate an unknown pool", args: []string{"simulate", "--config", path, "--pool", "cpu",
			"--trace", trace}, wantExit: 1, wantStderr: `pool "cpu" has no scaler policy`},
		{name: "scale without consul", args: []string{"scale", "--config", path}, wantExit: 1,
			wantStderr: "scale needs discovery.consul"},
		{name: "scale needs a config", args: []string{"scale"}, wantExit: 2,
			wantStderr: "spillway scale: --config is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.wantExit {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, tt.wantExit, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
