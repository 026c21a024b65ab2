package file

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		catalogA,
		"services: {}\n",
		`services:
  inference:
    - id: gpu-a100-1
      address: 127.0.0.1
      port: 9101
      node: node-a
      datacenter: dc1
      zone: zone-a
      tags: [gpu]
      meta: {gpu: a100}
      weights: {passing: 3, warning: 1}
      health: warning
      maintenance: false
`,
		broken,
		"",
		"services:\n",
		"- a\n",
		"services: &s\n  api: *s\n",
		"services:\n  api:\n    - {<<: {port: 80}, id: a, address: h, port: 80}\n",
		"services:\n  api: [{id: a, address: \"[::1]:80\", port: 99999999999999999999}]\n",
		"services: {}\n---\nservices: {}\n",
		"services:\n  api: [\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse("f.yaml", []byte(in))
		if err != nil {
			// Every line must name the file, so that it can be found.
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml") {
					t.Fatalf("error line without the file: %q", line)
				}
			}
			return
		}
		for _, s := range c.Services() {
			for _, in := range c.Instances(s) {
				if in.ID == "" || in.Port < 1 || in.Port > 65535 || in.Weights.Passing < 1 ||
					checkAddress(in.Address) != "" {
					t.Fatalf("invalid instance accepted: %+v", in)
				}
			}
		}
	})
}
