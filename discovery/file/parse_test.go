package file

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spillway/spillway/discovery"
)

// byService flattens a catalog for comparison.
func byService(c *discovery.Catalog) map[string][]discovery.Instance {
	out := make(map[string][]discovery.Instance)
	for _, s := range c.Services() {
		out[s] = c.Instances(s)
	}
	return out
}

// gpu is a minimal valid instance of service "inference" with the defaults
// Parse applies.
func gpu(id string, port int) discovery.Instance {
	return discovery.Instance{
		ID: id, Service: "inference", Address: "127.0.0.1", Port: port,
		Weights: discovery.Weights{Passing: 1, Warning: 1},
	}
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string][]discovery.Instance
	}{{
		name: "every field",
		in: `services:
  inference:
    - id: gpu-a100-1
      address: 10.0.0.7
      port: 8001
      node: node-a
      datacenter: dc1
      zone: zone-a
      tags: [gpu, a100]
      meta: {gpu: a100, vram_gb: 80}
      weights: {passing: 3, warning: 0}
      health: warning
      maintenance: false
`,
		want: map[string][]discovery.Instance{"inference": {{
			ID: "gpu-a100-1", Service: "inference", Node: "node-a",
			Address: "10.0.0.7", Port: 8001, Tags: []string{"gpu", "a100"},
			Meta:       map[string]string{"gpu": "a100", "vram_gb": "80"},
			Weights:    discovery.Weights{Passing: 3, Warning: 0},
			Health:     discovery.HealthWarning,
			Datacenter: "dc1", Zone: "zone-a",
		}}},
	}, {
		name: "defaults and sorting by id",
		in: `services:
  inference:
    - {id: b, address: 127.0.0.1, port: 2}
    - {id: a, address: 127.0.0.1, port: 1, node: ~, tags: [], meta: {}}
`,
		want: map[string][]discovery.Instance{"inference": {gpu("a", 1), gpu("b", 2)}},
	}, {
		name: "one weight keeps the other default",
		in: `services:
  inference:
    - {id: a, address: 127.0.0.1, port: 1, weights: {passing: 5}}
`,
		want: map[string][]discovery.Instance{"inference": {func() discovery.Instance {
			in := gpu("a", 1)
			in.Weights.Passing = 5
			return in
		}()}},
	}, {
		name: "maintenance overrides health",
		in: `services:
  inference:
    - {id: a, address: 127.0.0.1, port: 1, health: critical, maintenance: true}
    - {id: b, address: 127.0.0.1, port: 2, health: Maintenance}
`,
		want: map[string][]discovery.Instance{"inference": func() []discovery.Instance {
			a, b := gpu("a", 1), gpu("b", 2)
			a.Health, b.Health = discovery.HealthMaintenance, discovery.HealthMaintenance
			return []discovery.Instance{a, b}
		}()},
	}, {
		name: "hostnames and IPv6",
		in: `services:
  api:
    - {id: a, address: api-1.internal.example, port: 80}
    - {id: b, address: "::1", port: 80}
    - {id: c, address: localhost, port: 80}
    - {id: d, address: my_service, port: 80}
`,
		want: map[string][]discovery.Instance{"api": {
			{ID: "a", Service: "api", Address: "api-1.internal.example", Port: 80,
				Weights: discovery.Weights{Passing: 1, Warning: 1}},
			{ID: "b", Service: "api", Address: "::1", Port: 80,
				Weights: discovery.Weights{Passing: 1, Warning: 1}},
			{ID: "c", Service: "api", Address: "localhost", Port: 80,
				Weights: discovery.Weights{Passing: 1, Warning: 1}},
			{ID: "d", Service: "api", Address: "my_service", Port: 80,
				Weights: discovery.Weights{Passing: 1, Warning: 1}},
		}},
	}, {
		name: "anchors share values",
		in: `services:
  inference:
    - {id: a, address: 127.0.0.1, port: 1, tags: &t [gpu], meta: &m {gpu: t4}}
    - {id: b, address: 127.0.0.1, port: 2, tags: *t, meta: *m}
`,
		want: map[string][]discovery.Instance{"inference": func() []discovery.Instance {
			a, b := gpu("a", 1), gpu("b", 2)
			a.Tags, b.Tags = []string{"gpu"}, []string{"gpu"}
			a.Meta, b.Meta = map[string]string{"gpu": "t4"}, map[string]string{"gpu": "t4"}
			return []discovery.Instance{a, b}
		}()},
	}, {
		name: "no services",
		in:   "services: {}\n",
		want: map[string][]discovery.Instance{},
	}, {
		name: "services without instances",
		in:   "services:\n  inference: []\n  api:\n",
		want: map[string][]discovery.Instance{},
	}, {
		name: "same id in two services",
		in: `services:
  inference: [{id: x, address: 127.0.0.1, port: 1}]
  api: [{id: x, address: 127.0.0.1, port: 2}]
`,
		want: map[string][]discovery.Instance{
			"inference": {gpu("x", 1)},
			"api": {{ID: "x", Service: "api", Address: "127.0.0.1", Port: 2,
				Weights: discovery.Weights{Passing: 1, Warning: 1}}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("catalog.yaml", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, byService(c)); diff != "" {
				t.Errorf("catalog (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	const missing = `required field is missing ` +
		`(write "services: {}" for a catalog with no instances)`
	tests := []struct {
		name string
		in   string
		want []string
	}{{
		name: "empty file",
		in:   "",
		want: []string{"catalog.yaml:1: services: " + missing},
	}, {
		name: "comments only",
		in:   "# nothing yet\n",
		want: []string{"catalog.yaml:1: services: " + missing},
	}, {
		name: "services left empty",
		in:   "services:\n",
		want: []string{"catalog.yaml:1: services: " + missing},
	}, {
		name: "not a mapping",
		in:   "- a\n",
		want: []string{"catalog.yaml:1: the file must be a mapping with the key services"},
	}, {
		name: "unknown top-level field",
		in:   "services: {}\nservice: {}\n",
		want: []string{`catalog.yaml:2: service: unknown field (did you mean "services"?)`},
	}, {
		name: "syntax error",
		in:   "services:\n  inference: [\n",
		want: []string{"catalog.yaml:2: invalid YAML: did not find expected node content"},
	}, {
		name: "two documents",
		in:   "services: {}\n---\nservices: {}\n",
		want: []string{"catalog.yaml:2: a catalog file holds one YAML document, found a second"},
	}, {
		name: "service is not a list",
		in:   "services:\n  inference: gpu-1\n",
		want: []string{`catalog.yaml:2: services.inference: must be a list of instances ` +
			`(value "gpu-1")`},
	}, {
		name: "service name with a space",
		in:   "services:\n  \"my api\": []\n",
		want: []string{`catalog.yaml:2: services["my api"]: service names must be ` +
			`non-empty, without spaces (value "my api")`},
	}, {
		name: "instance is not a mapping",
		in:   "services:\n  inference:\n    - gpu-1\n",
		want: []string{`catalog.yaml:3: services.inference[0]: must be a mapping (value "gpu-1")`},
	}, {
		name: "every problem at once",
		in: `services:
  inference:
    - id: a
      address: 127.0.0.1:8001
      prot: 8001
      port: eighty
      tags: [gpu, ""]
      meta: {gpu: [a100]}
      weights: {passing: 0, warnin: 1}
      health: ok
      maintenance: yes
    - id: a
      address: 10.0.0.256
      port: 70000
    - {node: n}
`,
		want: []string{
			`catalog.yaml:4: services.inference[0].address: must not include the port; ` +
				`set port instead (value "127.0.0.1:8001")`,
			`catalog.yaml:5: services.inference[0].prot: unknown field (did you mean "port"?)`,
			`catalog.yaml:6: services.inference[0].port: must be an integer from 1 to 65535 ` +
				`(value "eighty")`,
			`catalog.yaml:7: services.inference[0].tags[1]: must not be empty (value "")`,
			`catalog.yaml:8: services.inference[0].meta.gpu: must be a string`,
			`catalog.yaml:9: services.inference[0].weights.warnin: unknown field ` +
				`(did you mean "warning"?)`,
			`catalog.yaml:9: services.inference[0].weights.passing: must be an integer ` +
				`from 1 to 65535 (value "0")`,
			`catalog.yaml:10: services.inference[0].health: must be one of passing, warning, ` +
				`critical, maintenance (value "ok")`,
			`catalog.yaml:11: services.inference[0].maintenance: must be true or false ` +
				`(value "yes")`,
			`catalog.yaml:12: services.inference[1].id: duplicate id, first used at line 3 ` +
				`(value "a")`,
			`catalog.yaml:13: services.inference[1].address: must be an IP address or ` +
				`a hostname (value "10.0.0.256")`,
			`catalog.yaml:14: services.inference[1].port: must be an integer from 1 to 65535 ` +
				`(value "70000")`,
			`catalog.yaml:15: services.inference[2].id: required field is missing`,
			`catalog.yaml:15: services.inference[2].address: required field is missing`,
			`catalog.yaml:15: services.inference[2].port: required field is missing`,
		},
	}, {
		name: "repeated field",
		in:   "services:\n  inference:\n    - {id: a, address: h, port: 1, port: 2}\n",
		want: []string{`catalog.yaml:3: services.inference[0].port: repeated key, ` +
			`first set at line 3`},
	}, {
		name: "repeated service",
		in:   "services:\n  api: []\n  api: []\n",
		want: []string{`catalog.yaml:3: services.api: repeated key, first set at line 2`},
	}, {
		name: "quoted port",
		in:   "services:\n  api:\n    - {id: a, address: h, port: \"80\"}\n",
		want: []string{`catalog.yaml:3: services.api[0].port: must be an integer ` +
			`from 1 to 65535 (value "80")`},
	}, {
		name: "empty id",
		in:   "services:\n  api:\n    - {id: \"\", address: h, port: 80}\n",
		want: []string{`catalog.yaml:3: services.api[0].id: must not be empty (value "")`},
	}, {
		name: "merge key",
		in:   "services:\n  api:\n    - {<<: {port: 80}, id: a, address: h, port: 80}\n",
		want: []string{`catalog.yaml:3: services.api[0]: merge keys (<<) are not ` +
			`supported; write the fields out`},
	}, {
		name: "self-referencing anchor",
		in:   "services: &s\n  api: *s\n",
		want: []string{`catalog.yaml:1: services.api: must be a list of instances`},
	}, {
		name: "unrelated unknown field lists the known ones",
		in:   "services:\n  api:\n    - {id: a, address: h, port: 80, owner: me}\n",
		want: []string{`catalog.yaml:3: services.api[0].owner: unknown field (known fields: ` +
			`id, address, port, node, datacenter, zone, tags, meta, weights, health, ` +
			`maintenance)`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("catalog.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded with %d instances, want errors", c.Len())
			}
			got := strings.Split(err.Error(), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCapsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n  api:\n")
	for range maxProblems + 5 {
		b.WriteString("    - {id: a, address: h, port: 0}\n") // id repeats too
	}
	_, err := Parse("catalog.yaml", []byte(b.String()))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxProblems+1 {
		t.Fatalf("got %d lines, want %d", len(lines), maxProblems+1)
	}
	// Each instance has a bad port and all but the first a repeated id.
	hidden := 2*(maxProblems+5) - 1 - maxProblems
	want := fmt.Sprintf("catalog.yaml: %d more problems not shown", hidden)
	if lines[maxProblems] != want {
		t.Errorf("last line %q, want %q", lines[maxProblems], want)
	}
}

func TestLoad(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		path := writeTemp(t, "services:\n  inference: [{id: a, address: 127.0.0.1, port: 1}]\n")
		c, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if diff := cmp.Diff(map[string][]discovery.Instance{"inference": {gpu("a", 1)}},
			byService(c)); diff != "" {
			t.Errorf("catalog (-want +got):\n%s", diff)
		}
	})
	t.Run("errors name the path", func(t *testing.T) {
		path := writeTemp(t, "services:\n  inference: 1\n")
		_, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), path+":2: services.inference: ") {
			t.Errorf("Load error = %v, want it to start with %q", err, path+":2:")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(t.TempDir() + "/none.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), "reading catalog: ") {
			t.Errorf("Load error = %v, want a read error", err)
		}
	})
}

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"127.0.0.1", ""},
		{"fe80::1%eth0", ""},
		{"gpu-1.dc1.example.", ""},
		{"", "must be an IP address or a hostname"},
		{"[::1]", "must be an IP address or a hostname"},
		{"[::1]:80", "must not include the port; set port instead"},
		{"host:80", "must not include the port; set port instead"},
		{"-bad.example", "must be an IP address or a hostname"},
		{"1.2.3", "must be an IP address or a hostname"},
		{"http://host", "must be an IP address or a hostname"},
		{strings.Repeat("a", 64) + ".example", "must be an IP address or a hostname"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := checkAddress(tt.in); got != tt.want {
				t.Errorf("checkAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestExampleCatalog keeps examples/catalog.yaml valid and shaped as the
// quickstart expects.
func TestExampleCatalog(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "examples", "catalog.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	type summary struct {
		Port   int
		Tags   []string
		GPU    string
		Zone   string
		Health discovery.Health
	}
	got := make(map[string][]summary)
	for _, s := range c.Services() {
		for _, in := range c.Instances(s) {
			got[s] = append(got[s], summary{in.Port, in.Tags, in.Meta["gpu"], in.Zone, in.Health})
		}
	}
	gpu := []string{"gpu"}
	cpu := []string{"cpu"}
	want := map[string][]summary{
		"inference": {
			{9101, gpu, "a100", "zone-a", discovery.HealthPassing},
			{9102, gpu, "a100", "zone-b", discovery.HealthPassing},
			{9103, gpu, "t4", "zone-a", discovery.HealthPassing},
			{9104, gpu, "t4", "zone-b", discovery.HealthPassing},
		},
		"api": {
			{9201, cpu, "", "zone-a", discovery.HealthPassing},
			{9202, cpu, "", "zone-b", discovery.HealthPassing},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example catalog (-want +got):\n%s", diff)
	}
}
