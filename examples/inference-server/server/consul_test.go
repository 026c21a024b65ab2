package server

import (
	"strings"
	"testing"
)

// TestConsulService checks the registration an instance makes. Talking to
// a real agent is left to the repository's Consul integration tests.
func TestConsulService(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		addr      string
		wantTag   string
		wantCheck string
	}{
		{"a100", Options{Name: "gpu-a100-1", GPU: GPUA100}, "127.0.0.1:9101",
			"gpu", "http://127.0.0.1:9101/health/ready"},
		{"t4", Options{Name: "gpu-t4-1", GPU: GPUT4}, "10.0.0.7:9103",
			"gpu", "http://10.0.0.7:9103/health/ready"},
		{"cpu", Options{Name: "api-1", GPU: GPUCPU}, "[::1]:9201",
			"cpu", "http://[::1]:9201/health/ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := ConsulService(tt.opts, "inference", tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if reg.ID != tt.opts.Name || reg.Name != "inference" || reg.Meta["gpu"] != tt.opts.GPU {
				t.Errorf("id %q name %q meta %v, want %q inference gpu=%s",
					reg.ID, reg.Name, reg.Meta, tt.opts.Name, tt.opts.GPU)
			}
			if len(reg.Tags) != 1 || reg.Tags[0] != tt.wantTag {
				t.Errorf("tags = %v, want [%s]", reg.Tags, tt.wantTag)
			}
			if reg.Check == nil || reg.Check.HTTP != tt.wantCheck {
				t.Errorf("check = %+v, want HTTP %s", reg.Check, tt.wantCheck)
			}
		})
	}
}

func TestConsulServiceRejectsAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9101", "[::]:9101", ":9101", "127.0.0.1", "127.0.0.1:0",
		"127.0.0.1:http"} {
		t.Run(addr, func(t *testing.T) {
			_, err := ConsulService(Options{}, "inference", addr)
			if err == nil || !strings.Contains(err.Error(), addr) {
				t.Errorf("error = %v, want one naming %q", err, addr)
			}
		})
	}
}
