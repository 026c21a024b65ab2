package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goodConfig is a minimal valid config; each bad case edits one line of it.
const goodConfig = `discovery: {file: {path: catalog.yaml}}
pools:
  gpu:
    service: inference
    balancing: {choice_count: 2}
    weights: {meta_key: gpu, values: {a100: 3, t4: 1}}
    health_check: {path: /health/ready, interval: 15s, healthy_threshold: 2}
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /predict}, pool: gpu, timeout: 60s}
`

const catalog = `services:
  inference:
    - {id: a, address: 127.0.0.1, port: 9101, meta: {gpu: a100}}
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "catalog.yaml"), []byte(catalog), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string // replace old with new in goodConfig
		want      string // the one error line, after "FILE:"
		wantExit  int
		wantStdio string
	}{
		{name: "valid", wantExit: 0, wantStdio: "ok: 1 pool, 1 listener, 1 route"},
		{name: "route to undefined pool", old: "pool: gpu, timeout", new: "pool: cpu, timeout",
			want: `12: listeners[0].routes[0].pool: unknown pool "cpu"; defined pools: gpu`, wantExit: 1},
		{name: "choice_count below 2", old: "choice_count: 2", new: "choice_count: 1",
			want: `5: pools.gpu.balancing.choice_count: must be at least 2, got "1"`, wantExit: 1},
		{name: "weight above 128", old: "a100: 3", new: "a100: 300",
			want: `6: pools.gpu.weights.values.a100: want a weight from 1 to 128, got "300"`, wantExit: 1},
		{name: "zero interval", old: "interval: 15s", new: "interval: 0s",
			want: `7: pools.gpu.health_check.interval: must be more than 0s, got "0s"`, wantExit: 1},
		{name: "threshold below 1", old: "healthy_threshold: 2", new: "healthy_threshold: 0",
			want: `7: pools.gpu.health_check.healthy_threshold: must be at least 1, got "0"`, wantExit: 1},
		{name: "negative timeout", old: "timeout: 60s", new: "timeout: -1s",
			want: `12: listeners[0].routes[0].timeout: must not be negative, got "-1s"`, wantExit: 1},
		{name: "unknown field", old: "service: inference", new: "service: inference\n    colour: blue",
			want: `5: pools.gpu.colour: unknown field "colour"`, wantExit: 1},
		{name: "missing TLS file", old: "service: inference", new: "service: inference\n    tls: {ca_file: ca.pem}",
			want: `5: pools.gpu.tls.ca_file: file "ca.pem" (resolved to "DIR/ca.pem") does not exist`, wantExit: 1},
		{name: "duplicate listener", old: "listeners:\n",
			new: "listeners:\n  - {name: public, port: 9090, " +
				"routes: [{match: {prefix: /}, pool: gpu}]}\n",
			want: `10: listeners[1].name: duplicate listener name "public", first used by listeners[0]`, wantExit: 1},
		{name: "both discovery sources", old: "discovery: {file: {path: catalog.yaml}}",
			new:  "discovery: {file: {path: catalog.yaml}, consul: {address: 127.0.0.1:8500}}",
			want: `1: discovery: name one source, consul or file, not both`, wantExit: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := goodConfig
			if tt.old != "" {
				if !strings.Contains(body, tt.old) {
					t.Fatalf("test bug: %q not in the config", tt.old)
				}
				body = strings.Replace(body, tt.old, tt.new, 1)
			}
			path := writeConfig(t, body)
			var stdout, stderr bytes.Buffer
			code := run([]string{"check", "--config", path}, &stdout, &stderr)
			if code != tt.wantExit {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, tt.wantExit, stderr.String())
			}
			if tt.want != "" {
				want := path + ":" + strings.ReplaceAll(tt.want, "DIR", filepath.Dir(path))
				if got := strings.TrimSpace(stderr.String()); got != want {
					t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
				}
			}
			if !strings.Contains(stdout.String(), tt.wantStdio) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantStdio)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"nope"}, 2},
		{[]string{"check"}, 2},
		{[]string{"version"}, 0},
		{[]string{"serve", "--log-format", "xml", "--config", "x.yaml"}, 2},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if got := run(tt.args, &out, &errOut); got != tt.want {
			t.Errorf("run(%q) = %d, want %d; stderr %q", tt.args, got, tt.want, errOut.String())
		}
	}
}

func TestRender(t *testing.T) {
	path := writeConfig(t, goodConfig)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "--config", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{`"version"`, `"clusters"`, `"cluster_name": "gpu"`,
		`"port_value": 9101`, `"route_config_name": "public"`} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("render output lacks %s", want)
		}
	}
}
