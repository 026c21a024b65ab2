package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const reloadCatalog = `services:
  inference:
    - {id: a, address: 127.0.0.1, port: 9101}
  grpc-svc:
    - {id: g, address: 127.0.0.1, port: 9301}
`

const reloadConfig = `discovery: {file: {path: catalog.yaml}}
xds: {listen: 127.0.0.1:0, batch: {quiet: 10ms, max_delay: 100ms}}
admin: {listen: 127.0.0.1:0}
pools:
  gpu: {service: inference}
  rpc: {service: grpc-svc, protocol: grpc}
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /predict}, pool: gpu, timeout: 60s}
`

// served runs Serve on cfgPath with its own registry and returns the admin
// address and the registry.
func served(t *testing.T, cfgPath string, reload chan struct{}) (string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{ConfigPath: cfgPath, Log: testLogger(t), Registry: reg,
			Reload: reload, Started: func(_, a net.Addr) { started <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case a := <-started:
		return a.String(), reg
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return "", nil
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// publishedVersion waits until /debug/resources answers and returns the
// version with the resources' JSON.
func publishedVersion(t *testing.T, admin string) (string, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, "http://"+admin+"/debug/resources")
		if code == http.StatusOK {
			var r struct{ Version string }
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			return r.Version, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing published within 10s: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counter returns the value of the counter name{label=value} in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// waitCounter waits until the counter reaches want.
func waitCounter(t *testing.T, reg *prometheus.Registry, name, label, value string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for counter(t, reg, name, label, value) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s=%q} = %v, want %v within 10s", name, label, value,
				counter(t, reg, name, label, value), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spillway.yaml")
	writeAtomic(t, filepath.Join(dir, "catalog.yaml"), reloadCatalog)
	writeAtomic(t, cfgPath, reloadConfig)
	reload := make(chan struct{})
	admin, reg := served(t, cfgPath, reload)
	v1, _ := publishedVersion(t, admin)
	const reloads = "spillway_config_reloads_total"

	bad := []struct{ name, config string }{
		{"invalid", strings.Replace(reloadConfig, "pool: gpu", "pool: nope", 1)},
		{"truncated", reloadConfig[:len(reloadConfig)/2]},
		// Valid YAML and policy, but the translator refuses TLS files on a
		// proxyless gRPC pool, so it never reaches the cache.
		{"untranslatable", strings.Replace(reloadConfig, "protocol: grpc}",
			"protocol: grpc, tls: {sni: x}}", 1)},
	}
	for i, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			writeAtomic(t, cfgPath, b.config)
			waitCounter(t, reg, reloads, "result", "rejected", float64(i+1))
			if v, _ := publishedVersion(t, admin); v != v1 {
				t.Errorf("version changed to %s after a rejected config, want %s", v, v1)
			}
		})
	}

	t.Run("valid change applies", func(t *testing.T) {
		writeAtomic(t, cfgPath, strings.Replace(reloadConfig, "timeout: 60s", "timeout: 90s", 1))
		waitCounter(t, reg, reloads, "result", "applied", 1)
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, body := publishedVersion(t, admin)
			if v != v1 && strings.Contains(body, `"timeout": "90s"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("new route timeout not published; version %s", v)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("reload signal re-reads the file", func(t *testing.T) {
		reload <- struct{}{}
		waitCounter(t, reg, reloads, "result", "applied", 2)
	})
}

func TestReadyz(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spillway.yaml")
	writeAtomic(t, filepath.Join(dir, "catalog.yaml"), reloadCatalog)
	writeAtomic(t, cfgPath, reloadConfig)
	admin, _ := served(t, cfgPath, nil)
	publishedVersion(t, admin)
	code, body := httpGet(t, "http://"+admin+"/readyz")
	if code != http.StatusOK || !strings.Contains(string(body), `"snapshot":"ok"`) {
		t.Errorf("/readyz = %d %s", code, body)
	}
	if code, _ := httpGet(t, "http://"+admin+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if _, body := httpGet(t, "http://"+admin+"/metrics"); !strings.Contains(string(body),
		`spillway_snapshot_builds_total{result="published"}`) {
		t.Errorf("/metrics lacks the build counter")
	}
	if code, _ := httpGet(t, "http://"+admin+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof served without admin.pprof: %d", code)
	}
}
