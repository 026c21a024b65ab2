package app

import (
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

// TestScraperConfig checks how scaler.stats becomes the scraper's config:
// Prometheus and its window, a fixed list, or a list read from Consul.
func TestScraperConfig(t *testing.T) {
	registry, err := scaler.NewConsul(api.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		stats          policy.Stats
		wantProm       string
		wantAdmins     int
		wantListEnvoys bool
	}{
		{"envoy list", policy.Stats{EnvoyAdmin: []string{"a:1", "b:1"}}, "", 2, false},
		{"envoy service", policy.Stats{EnvoyService: "envoy"}, "", 0, true},
		{"prometheus alone", policy.Stats{Prometheus: "http://prom"}, "http://prom", 0, false},
		{"prometheus and envoy service", policy.Stats{Prometheus: "http://prom",
			EnvoyService: "envoy"}, "http://prom", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.stats.Interval, tt.stats.StaleAfter = 7*time.Second, 21*time.Second
			sc := scraperConfig(tt.stats, registry, testLogger(t))
			if sc.Prometheus != tt.wantProm || len(sc.Admins) != tt.wantAdmins ||
				(sc.ListEnvoys != nil) != tt.wantListEnvoys {
				t.Errorf("config = prometheus %q, %d admins, list envoys %v; want %q, %d, %v",
					sc.Prometheus, len(sc.Admins), sc.ListEnvoys != nil,
					tt.wantProm, tt.wantAdmins, tt.wantListEnvoys)
			}
			if sc.Window != 7*time.Second || sc.StaleAfter != 21*time.Second {
				t.Errorf("window %s, stale_after %s; want the interval 7s and 21s",
					sc.Window, sc.StaleAfter)
			}
		})
	}
}
