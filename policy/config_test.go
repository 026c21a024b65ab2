package policy

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/spillway/spillway/discovery"
)

func TestResolve(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "ca.pem")
	tests := []struct {
		cfgPath, p, want string
	}{
		{"/etc/spillway/spillway.yaml", "certs/ca.pem", "/etc/spillway/certs/ca.pem"},
		{"/etc/spillway/spillway.yaml", "../catalog.yaml", "/etc/catalog.yaml"},
		{"/etc/spillway/spillway.yaml", abs, abs},
		{"/etc/spillway/spillway.yaml", "", ""},
		{"spillway.yaml", "catalog.yaml", "catalog.yaml"},
		{"examples/quickstart.yaml", "catalog.yaml", "examples/catalog.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.cfgPath+"|"+tt.p, func(t *testing.T) {
			c := &Config{Path: tt.cfgPath}
			if got := c.Resolve(tt.p); got != tt.want {
				t.Errorf("Resolve(%q) = %q, want %q", tt.p, got, tt.want)
			}
		})
	}
}

func TestSelectorsAndPoolNames(t *testing.T) {
	cfg, err := Load(writeConfig(t, goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"api", "chat", "gpu"}, cfg.PoolNames()); diff != "" {
		t.Errorf("PoolNames (-want +got):\n%s", diff)
	}
	want := []discovery.Selector{
		{Service: "api"},
		{Service: "chat"},
		{Service: "inference", Tags: []string{"gpu"}},
	}
	got := cfg.Selectors()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Selectors (-want +got):\n%s", diff)
	}
	got[2].Tags[0] = "changed"
	if cfg.Pools["gpu"].Tags[0] != "gpu" {
		t.Error("Selectors shares its tags with the config")
	}
}

func TestErrorsFormat(t *testing.T) {
	errs := Errors{
		{File: "a.yaml", Line: 3, Path: "pools.gpu.protocol", Value: "http3",
			Msg: `want http1, http2 or grpc, got "http3"`},
		{File: "a.yaml", Line: 7, Msg: "invalid YAML: did not find expected key"},
	}
	want := "a.yaml:3: pools.gpu.protocol: want http1, http2 or grpc, got \"http3\"\n" +
		"a.yaml:7: invalid YAML: did not find expected key"
	if got := errs.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	var fe *FieldError
	if !errors.As(error(errs), &fe) || fe != errs[0] {
		t.Errorf("errors.As found %v, want the first problem", fe)
	}
	if (Errors(nil)).err() != nil {
		t.Error("an empty Errors must be a nil error")
	}
}
