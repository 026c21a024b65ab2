package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spillway/spillway/internal/app"
)

// Batch settings for the config: fastBatch keeps the tests quick, and
// defaultBatch leaves the production defaults (100ms quiet, 1s at most).
const (
	fastBatch    = "{quiet: 20ms, max_delay: 200ms}"
	defaultBatch = "{}"
	noBatch      = "{quiet: 0s, max_delay: 0s}"
)

// consulConfig is a Spillway config that reads the Consul agent at addr:
// a gpu pool weighted by GPU class and an api pool on Consul's weights.
// The wait time is longer than any test, so that a watch that misses a
// change shows up as a timeout rather than being rescued by a re-read.
func consulConfig(addr, batch string) string {
	return fmt.Sprintf(`
discovery:
  consul: {address: %q, wait_time: 5m}
xds: {listen: 127.0.0.1:0, batch: %s}
admin: {listen: 127.0.0.1:0}
pools:
  gpu:
    service: inference
    tags: [gpu]
    weights: {meta_key: gpu, values: {a100: 3, t4: 1}}
  api:
    service: api
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /api/}, pool: api}
      - {match: {prefix: /}, pool: gpu}
`, addr, batch)
}

// spillway is Serve running in-process, with an xDS client subscribed to it.
type spillway struct {
	admin  string
	client *Client
}

// startSpillway writes config to a file, runs Serve on it on free ports
// and dials a Client. Both stop when the test ends, and the test fails if
// Serve does not return cleanly.
func startSpillway(t testing.TB, config string, logLevel slog.Level) *spillway {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spillway.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	xdsAddr, adminAddr := serve(t, path, logLevel)
	c, err := Dial(xdsAddr, "e2e-"+t.Name(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &spillway{admin: adminAddr, client: c}
}

func serve(t testing.TB, path string, logLevel slog.Level) (xdsAddr, adminAddr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ xds, admin net.Addr }
	started := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.ServeOptions{
			ConfigPath: path,
			Log:        testLogger(t, logLevel),
			Started:    func(x, a net.Addr) { started <- addrs{x, a} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case a := <-started:
		return a.xds.String(), a.admin.String()
	case err := <-done:
		t.Fatalf("serve failed to start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start within 10s")
	}
	return "", ""
}

// get fetches an admin path and returns the status code and body.
func (s *spillway) get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// readiness is the body of /readyz.
type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func (s *spillway) readyz(t testing.TB) (int, readiness) {
	t.Helper()
	code, body := s.get(t, "/readyz")
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decoding /readyz %q: %v", body, err)
	}
	return code, r
}

// discoveryUp returns the value of spillway_discovery_up{source="consul"}
// on /metrics, failing the test when it is missing.
func (s *spillway) discoveryUp(t testing.TB) float64 {
	t.Helper()
	code, body := s.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	for _, m := range families["spillway_discovery_up"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "source" && l.GetValue() == "consul" {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf(`/metrics has no spillway_discovery_up{source="consul"}`)
	return 0
}

// eventually polls cond every 50ms until it returns "" or timeout passes,
// then fails the test with cond's last answer.
func eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger writes Serve's log through t.Log. Tests show it for failures
// and with -v; benchmarks always show it, so they ask for warnings only.
func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
