package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Names of the files the demo writes into its directory, and of the pool.
const (
	configFile  = "spillway.yaml"
	catalogFile = "catalog.yaml"
	poolName    = "gpu"
	serviceName = "inference"
)

// configTemplate is the Spillway config of the demo: the gpu pool as the
// quickstart has it, but gRPC and with checks and windows sized for a run
// of minutes, and the scaler section whose gpu policy the demo's scale loop
// runs.
var configTemplate = template.Must(template.New("config").Parse(
	`# Written by "spillway demo". Serve reads this file as "spillway serve"
# would; the demo's scale loop takes the targets and limits of the gpu pool
# from the scaler section below.
discovery:
  file: {path: ` + catalogFile + `}
xds:
  listen: 127.0.0.1:0
  batch: {quiet: 20ms, max_delay: 200ms}
admin:
  listen: 127.0.0.1:0

pools:
  ` + poolName + `:
    service: ` + serviceName + `
    tags: [gpu]
    protocol: grpc
    balancing: {policy: least_request, choice_count: 2, active_request_bias: 1.0}
    weights: {meta_key: gpu, values: {a100: 3, t4: 1}}
    slow_start: {window: {{.T.SlowStart}}, aggression: 1.0, min_weight_percent: 10}
    health_check:
      protocol: grpc
      interval: 2s
      timeout: 1s
      no_traffic_interval: 5s
      healthy_threshold: 1
      unhealthy_threshold: 2
{{- if .ListenerPort}}

# Only written when an envoy binary was found: the listener of the Envoy the
# demo starts.
listeners:
  - name: demo
    address: 127.0.0.1
    port: {{.ListenerPort}}
    routes:
      - {match: {prefix: /}, pool: ` + poolName + `, timeout: {{.T.Deadline}}}
{{- end}}

# The demo reads this section for the gpu pool's targets and limits, and
# carries the decisions out itself: it starts and stops in-process servers,
# and its signal comes from the model servers' own queue gauges and the
# client's latencies. "spillway scale" would read the stats of the Envoys
# named here and run this actuator instead (a no-op command here).
scaler:
  stats: {envoy_admin: [{{.EnvoyAdmin}}], interval: {{.T.Tick}}}
  pools:
    ` + poolName + `:
      min: 1
      max: 8
      target: {queue_per_instance: 4, latency_p95: 5s}
      scale_up: {stabilization: 0s, max_step: 4, period: {{.T.ScaleUpPeriod}}}
      scale_down:
        {stabilization: {{.T.ScaleDownStabilization}}, max_step: 2, period: {{.T.ScaleDownPeriod}}}
      panic: {threshold: 2, window: {{.T.PanicWindow}}, lead: {{.T.PanicLead}}}
      start_timeout: 1m
      drain: {deadline: 60s}
      actuator: {exec: {command: ["true"]}}
`))

// configData fills configTemplate.
type configData struct {
	T Timing
	// ListenerPort is the Envoy listener's port; 0 writes no listener.
	ListenerPort int
	// EnvoyAdmin is the admin address the scaler section names.
	EnvoyAdmin string
}

// writeConfig writes the Spillway config into dir and returns its path.
func writeConfig(dir string, data configData) (string, error) {
	var b strings.Builder
	if err := configTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("writing the demo config: %w", err)
	}
	path := filepath.Join(dir, configFile)
	if err := writeAtomic(path, []byte(b.String())); err != nil {
		return "", err
	}
	return path, nil
}

// listing is how an instance appears in the catalog.
type listing int

const (
	// listedWarming instances are critical: no client is sent there.
	listedWarming listing = iota
	// listedReady instances are passing.
	listedReady
	// listedDraining instances are in maintenance: DRAINING.
	listedDraining
)

// entry is one instance of the catalog file.
type entry struct {
	ID      string
	Port    int
	GPU     string
	Zone    string
	Listing listing
}

// renderCatalog writes the catalog file's contents for the entries, in
// their order.
func renderCatalog(entries []entry) []byte {
	var b strings.Builder
	b.WriteString("# Written by \"spillway demo\": critical while a model warms, passing once\n")
	b.WriteString("# it is ready, maintenance while it drains before it is stopped.\n")
	if len(entries) == 0 {
		b.WriteString("services: {}\n")
		return []byte(b.String())
	}
	b.WriteString("services:\n  " + serviceName + ":\n")
	for _, e := range entries {
		health, maint := "critical", false
		switch e.Listing {
		case listedReady:
			health = "passing"
		case listedDraining:
			health, maint = "passing", true
		}
		fmt.Fprintf(&b, "    - {id: %s, address: 127.0.0.1, port: %d, zone: %s, tags: [gpu],\n"+
			"       meta: {gpu: %s}, health: %s, maintenance: %t}\n",
			e.ID, e.Port, e.Zone, e.GPU, health, maint)
	}
	return []byte(b.String())
}

// writeAtomic replaces path by renaming a finished temporary file over it,
// so that Spillway's file source never reads half a file.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
