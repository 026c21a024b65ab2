package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goodConfig is the config sketched in the design, with file discovery,
// upstream TLS, affinity, retries and a scaler. certs/ca.pem must exist
// beside it.
const goodConfig = `discovery:
  file: {path: catalog.yaml}
xds: {listen: 127.0.0.1:18000}
admin: {listen: 127.0.0.1:19000}
pools:
  gpu:
    service: inference
    tags: [gpu]
    balancing: {policy: least_request, choice_count: 2, active_request_bias: 1.0}
    weights: {meta_key: gpu, values: {a100: 3, t4: 1}}
    slow_start: {window: 120s, aggression: 1.0, min_weight_percent: 10}
    health_check: {path: /health/ready, interval: 15s, timeout: 10s,
                   healthy_threshold: 2, unhealthy_threshold: 3}
  api:
    service: api
    health_check: {path: /health, interval: 15s, timeout: 5s}
    tls: {ca_file: certs/ca.pem, sni: api.internal}
  chat:
    service: chat
    balancing: {policy: ring_hash}
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /api/}, pool: api, timeout: 30s}
      - {match: {prefix: /predict}, pool: gpu, timeout: 60s, retries: {attempts: 2}}
      - {match: {prefix: /stream}, pool: gpu, timeout: 0s, idle_timeout: 300s}
      - {match: {prefix: /chat}, pool: chat, affinity: {cookie: {name: session, ttl: 1h}}}
scaler:
  stats: {envoy_admin: [127.0.0.1:9901], interval: 5s}
  pools:
    gpu:
      min: 2
      max: 15
      target: {queue_per_instance: 5, latency_p95: 2s}
      scale_up: {stabilization: 0s, max_step: 4, period: 60s}
      scale_down: {stabilization: 300s, max_step: 2, period: 120s}
      actuator: {exec: {command: [./scripts/scale.sh]}}
`

// writeConfig writes body as spillway.yaml in a fresh directory, with an
// empty certs/ca.pem beside it, and returns the file's path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "ca.pem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "spillway.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadGoodConfig(t *testing.T) {
	path := writeConfig(t, goodConfig)
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	if cfg.Path != path {
		t.Errorf("Path = %q, want %q", cfg.Path, path)
	}
	for name, p := range cfg.Pools {
		if p.Name != name {
			t.Errorf("pool %q has Name %q", name, p.Name)
		}
	}
	want := "3 pools, 1 listener, 4 routes, discovery file catalog.yaml, scaler for 1 pool"
	if got := cfg.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	routes := cfg.Listeners[0].Routes
	for i, want := range []time.Duration{30 * time.Second, 60 * time.Second, 0, DefaultRouteTimeout} {
		if got := *routes[i].Timeout; got != want {
			t.Errorf("routes[%d].Timeout = %v, want %v", i, got, want)
		}
	}
	if got := routes[1].Retries.On; got != DefaultRetryOn {
		t.Errorf("routes[1].Retries.On = %q, want the default", got)
	}
	if got := cfg.Pools["gpu"].Weights.Values["a100"]; got != 3 {
		t.Errorf("gpu weight of a100 = %d, want 3", got)
	}
	if got := cfg.Pools["chat"].Balancing.MinRingSize; got != 1024 {
		t.Errorf("chat min_ring_size = %d, want the default 1024", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want an error wrapping os.ErrNotExist", err)
	}
}

// minimal is the smallest valid config; bad cases start from it.
const minimal = `discovery: {file: {path: catalog.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
`

func TestLoadMinimal(t *testing.T) {
	if _, err := Load(writeConfig(t, minimal)); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

// checkErrors parses body and compares the error with want, line by line.
// Each want line is "LINE: path: message"; $DIR stands for the directory
// of the config file.
func checkErrors(t *testing.T, body string, want []string) {
	t.Helper()
	path := writeConfig(t, body)
	cfg, err := Load(path)
	if err == nil {
		t.Fatalf("Load accepted the config: %+v", cfg)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	got := strings.Split(err.Error(), "\n")
	dir := filepath.Dir(path)
	for i := range want {
		want[i] = path + ":" + strings.ReplaceAll(want[i], "$DIR", dir)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(errs) != len(got) {
		t.Errorf("Errors holds %d problems but prints %d lines", len(errs), len(got))
	}
}
