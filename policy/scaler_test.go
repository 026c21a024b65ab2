package policy

import (
	"strings"
	"testing"
	"time"
)

// scalerHead is a valid config up to the scaler's pool; each case below
// appends the pool's fields, starting at line 8.
const scalerHead = `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"]}
  pools:
    gpu:
      max: 4
      target: {queue_per_instance: 5}
      actuator: {exec: {command: [scale.sh]}}
`

// TestScalerPanicAndTimeouts covers the panic settings, the start and
// remove timeouts and the scaler's admin address: their checks in the
// FILE:LINE: path: message form, and the values that pass.
func TestScalerPanicAndTimeouts(t *testing.T) {
	tests := []struct {
		name string
		tail string
		want []string // nil: valid
	}{
		{name: "defaults", tail: ""},
		{name: "panic off", tail: "      panic: {threshold: 0}\n"},
		{name: "panic without window or lead",
			tail: "      panic: {threshold: 3, window: 0s, lead: 0s}\n"},
		{name: "threshold 1", tail: "      panic: {threshold: 1}\n",
			want: []string{`13: scaler.pools.gpu.panic.threshold: want 0 (off) or more than 1, got "1"`}},
		{name: "threshold below 1", tail: "      panic: {threshold: 0.5}\n",
			want: []string{`13: scaler.pools.gpu.panic.threshold: want 0 (off) or more than 1, got "0.5"`}},
		{name: "negative window and lead",
			tail: "      panic:\n        window: -1s\n        lead: -30s\n",
			want: []string{
				`14: scaler.pools.gpu.panic.window: must not be negative, got "-1s"`,
				`15: scaler.pools.gpu.panic.lead: must not be negative, got "-30s"`,
			}},
		{name: "zero start timeout", tail: "      start_timeout: 0s\n",
			want: []string{`13: scaler.pools.gpu.start_timeout: must be more than 0s, got "0s"`}},
		{name: "negative drain times", tail: "      drain: {deadline: -1s, remove_timeout: -2s}\n",
			want: []string{
				`13: scaler.pools.gpu.drain.deadline: must not be negative, got "-1s"`,
				`13: scaler.pools.gpu.drain.remove_timeout: must not be negative, got "-2s"`,
			}},
		{name: "zero remove timeout", tail: "      drain: {remove_timeout: 0s}\n"},
		{name: "bad admin listen", tail: "  admin: {listen: \"19001\"}\n",
			want: []string{`13: scaler.admin.listen: want host:port, got "19001"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := scalerHead + tt.tail
			if tt.want != nil {
				checkErrors(t, body, tt.want)
				return
			}
			if _, err := Load(writeConfig(t, body)); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// TestScalerPanicValues checks that written panic values are kept and
// that the ones left out get their defaults one by one.
func TestScalerPanicValues(t *testing.T) {
	cfg, err := Load(writeConfig(t, scalerHead+"      panic: {lead: 45s}\n"+
		"      start_timeout: 3m\n      drain: {remove_timeout: 30s}\n"+
		"  admin: {listen: \"127.0.0.1:0\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sp := cfg.Scaler.Pools["gpu"]
	want := Panic{Threshold: 2, Window: time.Minute, Lead: 45 * time.Second}
	if sp.Panic != want {
		t.Errorf("panic = %+v, want %+v", sp.Panic, want)
	}
	if sp.StartTimeout != 3*time.Minute {
		t.Errorf("start_timeout = %v, want 3m", sp.StartTimeout)
	}
	if sp.Drain.RemoveTimeout != 30*time.Second || sp.Drain.Deadline != 5*time.Minute {
		t.Errorf("drain = %+v, want deadline 5m, remove_timeout 30s", sp.Drain)
	}
	if cfg.Scaler.Admin.Listen != "127.0.0.1:0" {
		t.Errorf("admin.listen = %q, want 127.0.0.1:0", cfg.Scaler.Admin.Listen)
	}
}

// kedaHead is a valid config up to the scaler's pool; each case below
// writes the pool's actuator from line 10 and may add sections after it.
const kedaHead = `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"]}
  pools:
    gpu: {max: 4, target: {queue_per_instance: 5},
      actuator: `

// TestScalerKEDA covers the keda actuator and the scaler.keda server it
// needs: the configs that pass, and the checks of the others.
func TestScalerKEDA(t *testing.T) {
	tests := []struct {
		name string
		tail string
		want []string // nil: valid
	}{
		{name: "keda pool with a server", tail: "{keda: {}}}\n  keda: {listen: 0.0.0.0:9090}\n"},
		{name: "keda written as null", tail: "{keda: }}\n  keda: {listen: \"127.0.0.1:0\"}\n"},
		{name: "server without a keda pool",
			tail: "{exec: {command: [scale.sh]}}}\n  keda: {listen: \"[::1]:9090\"}\n"},
		{name: "keda pool without a server", tail: "{keda: {}}}\n",
			want: []string{`10: scaler.pools.gpu.actuator.keda: needs scaler.keda with a listen ` +
				`address: KEDA reads the pool's signal there`}},
		{name: "keda and exec", tail: "{keda: {}, exec: {command: [scale.sh]}}}\n" +
			"  keda: {listen: 0.0.0.0:9090}\n",
			want: []string{`10: scaler.pools.gpu.actuator: set exactly one of exec, webhook, ` +
				`kubernetes or keda`}},
		{name: "keda takes no settings", tail: "{keda: {replicas: 3}}}\n" +
			"  keda: {listen: 0.0.0.0:9090}\n",
			want: []string{`10: scaler.pools.gpu.actuator.keda.replicas: unknown field "replicas"`}},
		{name: "server without listen", tail: "{keda: {}}}\n  keda: {}\n",
			want: []string{`11: scaler.keda.listen: required: host:port to listen on`}},
		{name: "server on a bare port", tail: "{keda: {}}}\n  keda: {listen: \"9090\"}\n",
			want: []string{`11: scaler.keda.listen: want host:port, got "9090"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := kedaHead + tt.tail
			if tt.want != nil {
				checkErrors(t, body, tt.want)
				return
			}
			cfg, err := Load(writeConfig(t, body))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Scaler.KEDA == nil || cfg.Scaler.KEDA.Listen == "" {
				t.Errorf("scaler.keda = %+v, want the listen address written", cfg.Scaler.KEDA)
			}
			a := cfg.Scaler.Pools["gpu"].Actuator
			if want := strings.Contains(tt.tail, "{keda:"); (a.KEDA != nil) != want {
				t.Errorf("actuator.keda set = %v, want %v", a.KEDA != nil, want)
			}
		})
	}
}

// TestScalerStatsSources covers the combinations of signal and host
// sources: the signal from prometheus, else from exactly one of the Envoy
// list and the Envoy service; with prometheus, either Envoy field may add
// the hosts' view.
func TestScalerStatsSources(t *testing.T) {
	const head = `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  pools: {gpu: {max: 2, target: {queue_per_instance: 5}, actuator: {exec: {command: [x]}}}}
  stats: `
	tests := []struct {
		name  string
		stats string
		want  []string // nil: valid
	}{
		{name: "envoy list", stats: `{envoy_admin: ["127.0.0.1:9901"]}`},
		{name: "envoy service", stats: `{envoy_service: envoy}`},
		{name: "envoy service on another admin port",
			stats: `{envoy_service: envoy, envoy_admin_port: 9901}`},
		{name: "prometheus alone", stats: `{prometheus: "http://prom:9090"}`},
		{name: "prometheus and an envoy list",
			stats: `{prometheus: "http://prom:9090", envoy_admin: ["127.0.0.1:9901"]}`},
		{name: "prometheus and an envoy service",
			stats: `{prometheus: "https://prom", envoy_service: envoy}`},
		{name: "none", stats: `{interval: 5s}`,
			want: []string{`8: scaler.stats: name envoy_admin addresses, an envoy_service ` +
				`or a prometheus URL`}},
		{name: "list and service", stats: `{envoy_admin: ["e:9901"], envoy_service: envoy}`,
			want: []string{`8: scaler.stats: set envoy_admin or envoy_service, not both`}},
		{name: "negative admin port", stats: `{envoy_service: envoy, envoy_admin_port: -1}`,
			want: []string{`8: scaler.stats.envoy_admin_port: want a port from 1 to 65535, got "-1"`}},
		{name: "control character in service", stats: `{envoy_service: "env\toy\u0001"}`,
			want: []string{`8: scaler.stats.envoy_service: must not contain control characters, ` +
				`got "env\toy\x01"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := head + tt.stats + "\n"
			if tt.want != nil {
				checkErrors(t, body, tt.want)
				return
			}
			if _, err := Load(writeConfig(t, body)); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}
