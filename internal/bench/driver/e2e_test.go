package driver_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway/spillway/internal/bench/driver"
	"github.com/spillway/spillway/internal/bench/fleet"
	"github.com/spillway/spillway/internal/bench/loadclient"
	"github.com/spillway/spillway/internal/bench/loadserver"
	"github.com/spillway/spillway/internal/bench/xdsload"
)

// TestMain lets the test binary stand in for xdsload: the driver starts
// its server and clients by running its own executable with a role.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == driver.RoleServer || os.Args[1] == driver.RoleClients) {
		os.Exit(xdsload.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// logWriter passes the children's logs to the test log.
type logWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and clients as processes")
	}
	launch, err := driver.SelfLauncher()
	if err != nil {
		t.Fatal(err)
	}
	both := []string{loadserver.ImplSpillway, loadserver.ImplStock}
	tests := []struct {
		name     string
		modes    []string
		streams  int
		perConn  int
		duration time.Duration
	}{
		{"both modes, shared connections", []string{loadclient.ModeSotW, loadclient.ModeDelta},
			20, 7, 2 * time.Second},
		{"a connection per stream", []string{loadclient.ModeDelta}, 5, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &logWriter{t: t}
			cfg := driver.Config{
				Impls: both, Modes: tt.modes, Streams: tt.streams, StreamsPerConn: tt.perConn,
				Fleet: fleet.Spec{Pools: 50, Endpoints: 10}, Changes: 5, Rate: 20,
				Duration: tt.duration, SyncTimeout: 30 * time.Second,
				ChangeTimeout: 30 * time.Second, DrainTimeout: 30 * time.Second,
				Launch: launch, Stderr: w, Progress: w, Command: "xdsload run (test)",
			}
			rep, err := driver.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != len(tt.modes)*len(both) {
				t.Fatalf("%d results, want %d", len(rep.Results), len(tt.modes)*len(both))
			}
			for _, res := range rep.Results {
				t.Run(res.Mode+"/"+res.Impl, func(t *testing.T) { checkResult(t, cfg, res) })
			}
			checkReports(t, rep)
		})
	}
}

// checkResult checks that a run synced every stream and saw every change
// ACKed by all of them; it judges no speed.
func checkResult(t *testing.T, cfg driver.Config, res *driver.Result) {
	t.Helper()
	if res.Err != "" {
		t.Fatalf("run stopped: %s", res.Err)
	}
	if res.PerClient != 2*cfg.Fleet.Pools+2 {
		t.Errorf("PerClient = %d, want %d", res.PerClient, 2*cfg.Fleet.Pools+2)
	}
	if s := res.Sync; s == nil || s.Duration <= 0 || s.HeapAfter == 0 || s.RSSAfter == 0 {
		t.Errorf("sync figures missing or zero: %+v", s)
	}
	c := res.Changes
	if c == nil || c.Latency.N != cfg.Changes {
		t.Fatalf("changes measured: %+v, want %d", c, cfg.Changes)
	}
	if c.FirstAck.P50 <= 0 || c.FirstAck.Max > c.Latency.Max || c.ServerCPU <= 0 {
		t.Errorf("change figures implausible: %+v", c)
	}
	if cfg.Duration == 0 {
		if res.Sustained != nil {
			t.Errorf("sustained phase ran with no duration: %+v", res.Sustained)
		}
		return
	}
	s := res.Sustained
	if s == nil || s.Issued == 0 || s.Acked != s.Issued || s.Latency.Max == driver.Missing {
		t.Errorf("sustained changes not all ACKed: %+v", s)
	}
}

// checkReports checks that both reports render every target.
func checkReports(t *testing.T, rep *driver.Report) {
	t.Helper()
	var text, md strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"endpoint change → last ACK, p99",
		"connect storm: all streams synced", "server heap per stream", "stock / spillway"} {
		if !strings.Contains(text.String(), want) || !strings.Contains(md.String(), want) {
			t.Errorf("reports lack %q", want)
		}
	}
	if !strings.Contains(md.String(), "`xdsload run (test)`") {
		t.Error("markdown lacks the command")
	}
}

func TestConfigValidate(t *testing.T) {
	launch, err := driver.SelfLauncher()
	if err != nil {
		t.Fatal(err)
	}
	good := driver.Config{Impls: []string{"spillway"}, Modes: []string{"sotw"}, Streams: 1,
		StreamsPerConn: 1, Fleet: fleet.Spec{Pools: 1, Endpoints: 1}, Launch: launch}
	tests := []struct {
		name   string
		mutate func(*driver.Config)
	}{
		{"unknown impl", func(c *driver.Config) { c.Impls = []string{"envoy"} }},
		{"unknown mode", func(c *driver.Config) { c.Modes = []string{"rest"} }},
		{"no streams", func(c *driver.Config) { c.Streams = 0 }},
		{"duration without rate", func(c *driver.Config) { c.Duration = time.Second }},
		{"too many changes", func(c *driver.Config) { c.Changes = fleet.MaxSeq }},
		{"bad fleet", func(c *driver.Config) { c.Fleet.Pools = 0 }},
		{"no launcher", func(c *driver.Config) { c.Launch = nil }},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			if err := c.Validate(); err == nil {
				t.Error("Validate succeeded, want an error")
			}
		})
	}
}
