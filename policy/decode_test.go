package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDecodeErrors covers what the decoder refuses: syntax, unknown and
// duplicate keys, wrong types and self-merging mappings.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{{
		name: "unknown field with a suggestion",
		yaml: `discovery: {file: {path: c.yaml}}
pool:
  gpu: {service: inference}
`,
		want: []string{
			"1: listeners: at least one listener is required unless a pool has protocol grpc",
			"1: pools: at least one pool is required",
			`2: pool: unknown field "pool"; did you mean "pools"?`,
		},
	}, {
		name: "unknown nested field",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu:
    service: inference
    health_check:
      path: /health
      intervl: 5s
      scheme: h2
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
`,
		want: []string{
			`7: pools.gpu.health_check.intervl: unknown field "intervl"; did you mean "interval"?`,
			`8: pools.gpu.health_check.scheme: unknown field "scheme"`,
		},
	}, {
		name: "wrong types",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu:
    service: inference
    connect_timeout: 5
    balancing: {choice_count: -1, active_request_bias: abc}
    health_check: {path: /h, interval: soon, healthy_threshold: "2"}
    tags: gpu
    weights: {meta_key: {a: b}, values: {a100: 1.5}}
listeners:
  - name: public
    port: 99999999999
    routes:
      - {match: {prefix: /}, pool: gpu, timeout: [1s]}
admin: {pprof: yes}
xds: {max_message_bytes: 1e3, batch: {quiet: -1s}}
`,
		want: []string{
			`5: pools.gpu.connect_timeout: want a duration with a unit, such as "15s", got "5"`,
			`6: pools.gpu.balancing.active_request_bias: want a number, got "abc"`,
			`6: pools.gpu.balancing.choice_count: must not be negative, got "-1"`,
			`7: pools.gpu.health_check.healthy_threshold: want a whole number, got "2"`,
			`7: pools.gpu.health_check.interval: want a duration such as "15s", got "soon"`,
			`8: pools.gpu.tags: want a list, got "gpu"`,
			`9: pools.gpu.weights.meta_key: want a string, got a mapping`,
			`9: pools.gpu.weights.values.a100: want a whole number, got "1.5"`,
			`12: listeners[0].port: want a whole number from 0 to 4294967295, got "99999999999"`,
			`14: listeners[0].routes[0].timeout: want a duration such as "15s", got a list`,
			`15: admin.pprof: want true or false, got "yes"`,
			`16: xds.batch.quiet: must not be negative, got "-1s"`,
			`16: xds.max_message_bytes: want a whole number, got "1e3"`,
		},
	}, {
		name: "sections of the wrong kind",
		yaml: `discovery:
  file: catalog.yaml
pools: [gpu]
listeners: {name: public}
`,
		want: []string{
			`2: discovery.file: want a mapping of fields, got "catalog.yaml"`,
			`3: pools: want a mapping, got a list`,
			`4: listeners: want a list, got a mapping`,
		},
	}, {
		name: "not a mapping at all",
		yaml: "- discovery\n- pools\n",
		want: []string{"1: want a mapping of fields, got a list"},
	}, {
		name: "duplicate keys",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
  gpu: {service: other, service: again}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
`,
		want: []string{
			`4: pools.gpu: duplicate key "gpu", first written on line 3`,
		},
	}, {
		name: "syntax error",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference
listeners: []
`,
		want: []string{`2: invalid YAML: did not find expected ',' or '}'`},
	}, {
		name: "tab indentation",
		yaml: "discovery:\n\tfile: {path: c.yaml}\n",
		want: []string{"2: invalid YAML: found character that cannot start any token"},
	}, {
		name: "two documents",
		yaml: `discovery: {file: {path: c.yaml}}
---
pools: {}
`,
		want: []string{"2: a second YAML document; the config must be one document"},
	}, {
		name: "merge into itself",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: &gpu
    service: inference
    tags: [gpu]
  cpu:
    <<: *gpu
    tags: [cpu]
    health_check: &self
      <<: *self
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
`,
		want: []string{"9: pools.cpu.health_check: << merges a mapping into itself"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, tt.yaml, tt.want)
		})
	}
}

// TestMergeKeys checks that YAML merge keys work and that a mapping's own
// keys override merged ones.
func TestMergeKeys(t *testing.T) {
	cfg, err := Load(writeConfig(t, `discovery: {file: {path: c.yaml}}
pools:
  gpu: &gpu
    service: inference
    tags: [gpu]
    health_check: {path: /health}
  cpu:
    <<: *gpu
    tags: [cpu]
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: cpu}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cpu := cfg.Pools["cpu"]
	if cpu.Service != "inference" || len(cpu.Tags) != 1 || cpu.Tags[0] != "cpu" {
		t.Errorf("cpu pool = service %q tags %v, want inference [cpu]", cpu.Service, cpu.Tags)
	}
	if cpu.HealthCheck == nil || cpu.HealthCheck.Path != "/health" {
		t.Errorf("cpu health check = %+v, want the merged one", cpu.HealthCheck)
	}
}

// TestAliasExpansionIsBounded checks that a small file whose aliases expand
// to millions of values is refused quickly with one clear problem.
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("discovery: {file: {path: c.yaml}}\npools: {gpu: {service: x}}\n")
	b.WriteString("listeners:\n  - &l\n    name: a\n    port: 1\n    routes:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - {match: {prefix: /a%d}, pool: gpu, timeout: 1s}\n", i)
	}
	for range 1000 {
		b.WriteString("  - *l\n")
	}
	_, err := Parse("alias.yaml", []byte(b.String()))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("Parse: %v, want one problem", err)
	}
	want := "the document expands to more than 250000 values; is an alias used too often?"
	if errs[0].Msg != want {
		t.Errorf("problem = %q, want %q", errs[0].Msg, want)
	}
}
