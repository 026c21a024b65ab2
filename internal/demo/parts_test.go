package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/discovery/file"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

func TestCatalogListsInstancesByTheirState(t *testing.T) {
	tests := []struct {
		name    string
		listing listing
		want    discovery.Health
	}{
		{"warming is critical", listedWarming, discovery.HealthCritical},
		{"ready is passing", listedReady, discovery.HealthPassing},
		{"draining is in maintenance", listedDraining, discovery.HealthMaintenance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := renderCatalog([]entry{{ID: "gpu-a100-1", Port: 9101, GPU: gpuA100,
				Zone: "zone-a", Listing: tt.listing}})
			cat, err := file.Parse(catalogFile, data)
			if err != nil {
				t.Fatalf("the catalog does not parse: %v\n%s", err, data)
			}
			got := cat.Select(serviceName, []string{"gpu"})
			if len(got) != 1 {
				t.Fatalf("pool selects %d instances, want 1", len(got))
			}
			if got[0].Health != tt.want || got[0].Port != 9101 || got[0].Meta["gpu"] != gpuA100 {
				t.Errorf("instance = %+v, want health %v, port 9101, meta gpu a100", got[0], tt.want)
			}
		})
	}
	t.Run("no instances", func(t *testing.T) {
		cat, err := file.Parse(catalogFile, renderCatalog(nil))
		if err != nil || cat.Len() != 0 {
			t.Errorf("empty catalog: %d instances, err %v", cat.Len(), err)
		}
	})
}

func TestConfigLoadsForBothTimings(t *testing.T) {
	tests := []struct {
		name string
		data configData
	}{
		{"default, no envoy", configData{T: DefaultTiming(), EnvoyAdmin: "127.0.0.1:9901"}},
		{"compressed, with envoy", configData{T: CompressedTiming(), ListenerPort: 18080,
			EnvoyAdmin: "127.0.0.1:19901"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := writeConfig(t.TempDir(), tt.data)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := policy.Load(path)
			if err != nil {
				t.Fatalf("the demo config is invalid: %v", err)
			}
			p := cfg.Scaler.Pools[poolName]
			if p == nil || p.Min != 1 || p.ScaleDown.Stabilization != tt.data.T.ScaleDownStabilization {
				t.Errorf("scaler pool = %+v, want min 1 and the timing's stabilization", p)
			}
			if got := len(cfg.Listeners); got != min(tt.data.ListenerPort, 1) {
				t.Errorf("%d listeners, want one only with envoy", got)
			}
		})
	}
}

func TestPhaseAt(t *testing.T) {
	tm := Timing{Phases: []Phase{
		{Name: "a", Length: 10 * time.Second, Rate: 1},
		{Name: "b", Length: 5 * time.Second, Rate: 2},
	}}
	tests := []struct {
		elapsed  time.Duration
		want     string
		wantLeft time.Duration
	}{
		{0, "a", 10 * time.Second},
		{9 * time.Second, "a", time.Second},
		{10 * time.Second, "b", 5 * time.Second},
		{16 * time.Second, "a", 9 * time.Second}, // the schedule repeats
		{-time.Second, "a", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.elapsed.String(), func(t *testing.T) {
			p, left := tm.phaseAt(tt.elapsed)
			if p.Name != tt.want || left != tt.wantLeft {
				t.Errorf("phaseAt(%s) = %s, %s left; want %s, %s", tt.elapsed, p.Name, left,
					tt.want, tt.wantLeft)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.95, 0},
		{"one", ms(7), 0.95, 7 * time.Millisecond},
		{"p95 of 20 is the 19th",
			ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20),
			0.95, 19 * time.Millisecond},
		{"median of 4 is the 2nd", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("quantile = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestStateCountsLikeTheTracker(t *testing.T) {
	now := time.Now()
	a, b, c, d, e := &instance{}, &instance{}, &instance{}, &instance{}, &instance{}
	ms := []member{
		{in: a, listing: listedReady, readySince: now.Add(-time.Minute)}, // past slow start
		{in: b, listing: listedReady, readySince: now.Add(-time.Second)}, // in slow start
		{in: c, listing: listedReady, readySince: now},                   // a veteran
		{in: d, listing: listedWarming},
		{in: e, listing: listedDraining},
	}
	got := state(ms, map[*instance]bool{c: true}, 10*time.Second, now)
	want := scaler.State{Current: 4, Ready: 2, Starting: 2}
	if got != want {
		t.Errorf("state = %+v, want %+v", got, want)
	}
}

func TestDrainingIn(t *testing.T) {
	doc := `[
	  {"cluster_name": "other", "endpoints": [{"lb_endpoints": [{"health_status": "DRAINING",
	    "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}}}}]}]},
	  {"cluster_name": "gpu", "endpoints": [{"lb_endpoints": [
	    {"health_status": "DRAINING",
	     "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 2}}}},
	    {"health_status": "HEALTHY",
	     "endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 3}}}}
	  ]}]}
	]`
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		t.Fatal(err)
	}
	got, err := drainingIn(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["127.0.0.1:2"] {
		t.Errorf("draining = %v, want only 127.0.0.1:2 of the gpu pool", got)
	}
}

func TestPrinterQuietKeepsOnlyTheSummary(t *testing.T) {
	tk := tick{at: time.Unix(62, 0), phase: "spike", ready: 2, starting: 4,
		decision: scaler.Decision{Current: 2, Desired: 6, Reason: "queue 32 over 2×4"}}
	tests := []struct {
		quiet   bool
		want    []string
		wantNot []string
	}{
		{false, []string{"signal: queue", header[:20], " 1:02  spike", "up 2→6: queue 32 over 2×4",
			"summary after", "Where to go next:"}, nil},
		{true, []string{"summary after", "Where to go next:"},
			[]string{"signal: queue", header[:20], "up 2→6"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("quiet=%t", tt.quiet), func(t *testing.T) {
			var b strings.Builder
			p := &printer{w: &b, quiet: tt.quiet, start: time.Unix(0, 0)}
			p.intro(intro{timing: CompressedTiming()})
			p.tick(tk)
			p.summary(Summary{OK: 10})
			p.nextSteps()
			for _, s := range tt.want {
				if !strings.Contains(b.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, b.String())
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(b.String(), s) {
					t.Errorf("output has %q:\n%s", s, b.String())
				}
			}
		})
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	serve := func(context.Context, string, func(xds, admin net.Addr)) error { return nil }
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no serve function", Options{}, "no serve function"},
		{"a phase without length", Options{Serve: serve, Timing: Timing{
			Phases: []Phase{{Name: "flat", Rate: 1}}, Tick: time.Second}},
			"phase 0 (flat)"},
		{"no tick", Options{Serve: serve, Timing: Timing{
			Phases: []Phase{{Name: "flat", Length: time.Second, Rate: 1}}}},
			"tick must be more than 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestPointBootstrap rewrites the repository's own demo bootstrap, which
// the demo copies when Envoy is installed. Envoy itself cannot run here.
func TestPointBootstrap(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", envoyBootstrap))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pointBootstrap(string(data), 40123, 40124)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"port_value: 40123", "port_value: 40124"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("rewritten bootstrap has %q %d times, want once", want, strings.Count(got, want))
		}
	}
	if strings.Contains(got, bootstrapADS) || strings.Contains(got, bootstrapAdmin) {
		t.Error("rewritten bootstrap still has the original ports")
	}
	if _, err := pointBootstrap("admin: {}", 1, 2); err == nil {
		t.Error("a bootstrap without the ports was accepted")
	}
}
