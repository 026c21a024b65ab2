package scaler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEnvoy is a real HTTP server that answers the two admin paths the
// scraper reads with testdata files, switchable between scrapes.
type fakeEnvoy struct {
	mu       sync.Mutex
	stats    string
	clusters string
	status   int
	srv      *httptest.Server
}

func newFakeEnvoy(t *testing.T, stats, clusters string) *fakeEnvoy {
	f := &fakeEnvoy{stats: stats, clusters: clusters, status: http.StatusOK}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEnvoy) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	name, status := f.stats, f.status
	if r.URL.Path == "/clusters" {
		name = f.clusters
	}
	f.mu.Unlock()
	switch {
	case status != http.StatusOK:
		http.Error(w, "admin unavailable", status)
		return
	case r.URL.Path == "/stats/prometheus" && r.URL.Query().Get("filter") != `^cluster\.`:
		http.Error(w, "unexpected filter "+r.URL.RawQuery, http.StatusBadRequest)
		return
	case r.URL.Path == "/clusters" && r.URL.Query().Get("format") != "json":
		http.Error(w, "want format=json", http.StatusBadRequest)
		return
	}
	body, err := os.ReadFile("testdata/" + name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(body)
}

func (f *fakeEnvoy) set(stats string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats, f.status = stats, status
}

func (f *fakeEnvoy) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// clock is a manual clock for the scraper.
type clock struct{ t time.Time }

func (c *clock) now() time.Time             { return c.t }
func (c *clock) advance(d time.Duration)    { c.t = c.t.Add(d) }
func newClock() *clock                      { return &clock{t: time.Unix(1_700_000_000, 0)} }
func scrape(t *testing.T, s *Scraper) error { t.Helper(); return s.Scrape(context.Background()) }

func TestScraperSumsEnvoys(t *testing.T) {
	a := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	b := newFakeEnvoy(t, "envoy_b_1.prom", "clusters_b.json")
	clk := newClock()
	s := NewScraper(ScraperConfig{Admins: []string{a.addr(), b.srv.URL}, Now: clk.now})

	if err := scrape(t, s); err != nil {
		t.Fatal(err)
	}
	first := s.Signal("gpu", clk.now())
	if first.Stale || first.Active != 17 || first.Pending != 3 || first.Samples != 0 {
		t.Errorf("first signal = %+v; want fresh, active 17, pending 3, no samples yet", first)
	}

	a.set("envoy_a_2.prom", http.StatusOK)
	b.set("envoy_b_2.prom", http.StatusOK)
	clk.advance(5 * time.Second)
	if err := scrape(t, s); err != nil {
		t.Fatal(err)
	}
	sig := s.Signal("gpu", clk.now())
	// Between the scrapes A served 10 requests up to 10 s, 20 up to 30 s and
	// 20 up to 60 s; B served 20 up to 30 s. Quantiles interpolate in those
	// 70: the median is 25/40 into (10 s, 30 s].
	checks := []struct {
		name      string
		got, want float64
	}{
		{"active", sig.Active, 25},
		{"pending", sig.Pending, 7},
		{"rps", sig.RPS, 14},
		{"samples", sig.Samples, 70},
		{"p50 ms", float64(sig.P50) / 1e6, 22500},
		{"p95 ms", float64(sig.P95) / 1e6, 54750},
		{"p99 ms", float64(sig.P99) / 1e6, 58950},
		{"healthy", float64(sig.Healthy), 4},
		{"members", float64(sig.Members), 5},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if sig.Stale || !sig.At.Equal(clk.now()) {
		t.Errorf("stale = %v (%s), at = %v; want fresh at %v", sig.Stale, sig.StaleReason, sig.At, clk.now())
	}
}

func TestScraperStale(t *testing.T) {
	tests := []struct {
		name string
		// step runs after one good scrape of both Envoys.
		step func(t *testing.T, s *Scraper, b *fakeEnvoy, clk *clock)
		want string
	}{
		{"good scrape is fresh", func(*testing.T, *Scraper, *fakeEnvoy, *clock) {}, ""},
		{"failed scrape", func(t *testing.T, s *Scraper, b *fakeEnvoy, clk *clock) {
			b.set("envoy_b_2.prom", http.StatusServiceUnavailable)
			clk.advance(5 * time.Second)
			if err := scrape(t, s); err == nil {
				t.Error("Scrape returned no error for a 503")
			}
		}, "scrape failed: envoy 127.0.0.1"},
		{"too old", func(t *testing.T, s *Scraper, b *fakeEnvoy, clk *clock) {
			clk.advance(16 * time.Second)
		}, "are 16s old"},
		{"unknown cluster", nil, "no envoy reports cluster nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
			b := newFakeEnvoy(t, "envoy_b_1.prom", "clusters_b.json")
			clk := newClock()
			s := NewScraper(ScraperConfig{Admins: []string{a.addr(), b.addr()}, Now: clk.now})
			if err := scrape(t, s); err != nil {
				t.Fatal(err)
			}
			cluster := "gpu"
			if tt.step == nil {
				cluster = "nope"
			} else {
				tt.step(t, s, b, clk)
			}
			sig := s.Signal(cluster, clk.now())
			if sig.Stale != (tt.want != "") || !strings.Contains(sig.StaleReason, tt.want) {
				t.Errorf("stale = %v, reason %q; want reason containing %q",
					sig.Stale, sig.StaleReason, tt.want)
			}
		})
	}
}

func TestScraperNeverScraped(t *testing.T) {
	a := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	s := NewScraper(ScraperConfig{Admins: []string{a.addr()}})
	sig := s.Signal("gpu", time.Now())
	if !sig.Stale || !strings.Contains(sig.StaleReason, "no stats from") {
		t.Errorf("signal before any scrape = %+v, want stale", sig)
	}
}

func TestScraperCounterReset(t *testing.T) {
	a := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	b := newFakeEnvoy(t, "envoy_b_1.prom", "clusters_b.json")
	clk := newClock()
	s := NewScraper(ScraperConfig{Admins: []string{a.addr(), b.addr()}, Now: clk.now})
	if err := scrape(t, s); err != nil {
		t.Fatal(err)
	}
	a.set("envoy_a_2.prom", http.StatusOK)
	b.set("envoy_b_restarted.prom", http.StatusOK)
	clk.advance(5 * time.Second)
	if err := scrape(t, s); err != nil {
		t.Fatal(err)
	}
	sig := s.Signal("gpu", clk.now())
	// Only Envoy A's deltas count: 50 requests over 5 s.
	if sig.RPS != 10 || sig.Samples != 50 || sig.Active != 21 {
		t.Errorf("rps, samples, active = %v, %v, %v; want 10, 50, 21",
			sig.RPS, sig.Samples, sig.Active)
	}
	if len(sig.Ignored) != 2 {
		t.Fatalf("ignored = %v, want the counter and the histogram reset", sig.Ignored)
	}
	for _, ig := range sig.Ignored {
		if !strings.Contains(ig.Reason, "went down") {
			t.Errorf("ignored reason %q, want it to say the value went down", ig.Reason)
		}
	}
}

func TestScraperTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	s := NewScraper(ScraperConfig{Admins: []string{slow.URL}, Timeout: 50 * time.Millisecond})
	err := s.Scrape(context.Background())
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if sig := s.Signal("gpu", time.Now()); !sig.Stale {
		t.Error("signal after a timed-out scrape is not stale")
	}
}

func TestScraperInstances(t *testing.T) {
	a := newFakeEnvoy(t, "envoy_a_1.prom", "clusters_a.json")
	b := newFakeEnvoy(t, "envoy_b_1.prom", "clusters_b.json")
	s := NewScraper(ScraperConfig{Admins: []string{a.addr(), b.addr()}})
	hosts, err := s.Instances(context.Background(), "gpu")
	if err != nil {
		t.Fatal(err)
	}
	victims := PickVictims(hosts, 2)
	if len(victims) != 2 || victims[0].Address != "10.0.1.13:8000" ||
		victims[1].Address != "10.0.1.12:8000" {
		t.Errorf("victims = %+v", victims)
	}
	b.set("envoy_b_1.prom", http.StatusInternalServerError)
	if _, err := s.Instances(context.Background(), "gpu"); err == nil {
		t.Error("Instances succeeded with one Envoy failing")
	}
}
