package consul

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

const secret = "s3cr3t-acl-token-0f9e"

// clearEnv unsets the Consul variables for one test, so that the
// developer's own environment cannot change the outcome.
func clearEnv(t *testing.T) {
	for _, k := range []string{envAddr, envToken, envTokenFile} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestConfigNeverShowsTheToken(t *testing.T) {
	cfg := Config{Address: "10.0.0.1:8500", Token: secret,
		Selectors: []discovery.Selector{{Service: "inference", Tags: []string{"gpu"}}}}

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", cfg)
	outputs := map[string]string{
		"%v of a pointer": fmt.Sprintf("%v", &cfg),
		"slog":            logs.String(),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		outputs[verb] = fmt.Sprintf(verb, cfg)
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, secret) {
				t.Errorf("output shows the token: %s", out)
			}
			if !strings.Contains(out, redacted) || !strings.Contains(out, "10.0.0.1:8500") {
				t.Errorf("output lacks the redacted token or the address: %s", out)
			}
		})
	}
}

func TestConfigToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileToken := write("token", "  from-file\n")
	envFileToken := write("env-token", "from-env-file")
	empty := write("empty", "\n")

	tests := []struct {
		name    string
		cfg     Config
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "none", want: ""},
		{name: "explicit wins", cfg: Config{Token: "explicit", TokenFile: fileToken},
			env: map[string]string{envToken: "env"}, want: "explicit"},
		{name: "file, trimmed", cfg: Config{TokenFile: fileToken},
			env: map[string]string{envToken: "env"}, want: "from-file"},
		{name: "env file before env token",
			env: map[string]string{envTokenFile: envFileToken, envToken: "env"}, want: "from-env-file"},
		{name: "env token", env: map[string]string{envToken: "env"}, want: "env"},
		{name: "missing file", cfg: Config{TokenFile: filepath.Join(dir, "nope")},
			wantErr: filepath.Join(dir, "nope")},
		{name: "empty file", cfg: Config{TokenFile: empty}, wantErr: empty + ": the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := tt.cfg.token()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("token() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("token() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestConfigAddressAndWait(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		envAddr  string
		wantAddr string
		wantWait time.Duration
	}{
		{name: "defaults", wantAddr: DefaultAddress, wantWait: DefaultWaitTime},
		{name: "env address", envAddr: "10.1.1.1:8500", wantAddr: "10.1.1.1:8500",
			wantWait: DefaultWaitTime},
		{name: "config wins over env", cfg: Config{Address: "https://c:8501", WaitTime: time.Minute},
			envAddr: "10.1.1.1:8500", wantAddr: "https://c:8501", wantWait: time.Minute},
		{name: "wait capped", cfg: Config{WaitTime: time.Hour}, wantAddr: DefaultAddress,
			wantWait: MaxWaitTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			if tt.envAddr != "" {
				t.Setenv(envAddr, tt.envAddr)
			}
			if got := tt.cfg.address(); got != tt.wantAddr {
				t.Errorf("address() = %q, want %q", got, tt.wantAddr)
			}
			if got := tt.cfg.waitTime(); got != tt.wantWait {
				t.Errorf("waitTime() = %v, want %v", got, tt.wantWait)
			}
		})
	}
}

func TestNew(t *testing.T) {
	clearEnv(t)
	sel := func(names ...string) []discovery.Selector {
		var out []discovery.Selector
		for _, n := range names {
			out = append(out, discovery.Selector{Service: n, Tags: []string{n + "-tag"}})
		}
		return out
	}
	tests := []struct {
		name         string
		cfg          Config
		wantServices []string
		wantErr      string
	}{
		{name: "pools sharing a service share its watch",
			cfg:          Config{Selectors: sel("inference", "api", "inference")},
			wantServices: []string{"api", "inference"}},
		{name: "no selectors", cfg: Config{}, wantServices: nil},
		{name: "empty service name", cfg: Config{Selectors: sel("api", " ")},
			wantErr: "selector 1: empty service name"},
		{name: "missing token file", cfg: Config{TokenFile: "/nonexistent/token"},
			wantErr: "/nonexistent/token"},
		{name: "bad scheme", cfg: Config{Address: "ftp://x"}, wantErr: "ftp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if diff := cmp.Diff(tt.wantServices, s.services); diff != "" {
				t.Errorf("watched services (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromPolicy(t *testing.T) {
	sel := []discovery.Selector{{Service: "api"}}
	p := &policy.ConsulDiscovery{Address: "c:8501", Datacenter: "dc2", TokenFile: "/t",
		WaitTime: time.Minute, Stale: true,
		TLS: &policy.ConsulTLS{CAFile: "/ca", ServerName: "consul.local"}}
	want := Config{Address: "c:8501", Datacenter: "dc2", TokenFile: "/t", WaitTime: time.Minute,
		Stale: true, TLS: TLS{CAFile: "/ca", ServerName: "consul.local"}, Selectors: sel}
	if diff := cmp.Diff(want, FromPolicy(p, sel)); diff != "" {
		t.Errorf("FromPolicy (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Config{Selectors: sel}, FromPolicy(nil, sel)); diff != "" {
		t.Errorf("FromPolicy(nil) (-want +got):\n%s", diff)
	}
}
