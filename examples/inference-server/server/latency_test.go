package server

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLatency(t *testing.T) {
	tests := []struct {
		spec     string
		min, max time.Duration // every sample must lie in [min, max]
	}{
		{"fixed:800ms", 800 * time.Millisecond, 800 * time.Millisecond},
		{"fixed:0s", 0, 0},
		{"uniform:500ms-2s", 500 * time.Millisecond, 2 * time.Second},
		{"uniform: 1s - 1s", time.Second, time.Second},
		{"lognormal:median=800ms,p99=5s", 1, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			l, err := ParseLatency(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if l.String() != tt.spec {
				t.Errorf("String() = %q, want %q", l.String(), tt.spec)
			}
			for range 1000 {
				if d := l.Sample(); d < tt.min || d > tt.max {
					t.Fatalf("sample %s outside [%s, %s]", d, tt.min, tt.max)
				}
			}
		})
	}
}

// TestLognormalQuantiles checks that the median and p99 of many samples
// land near the parameters. The bounds are several standard errors wide.
func TestLognormalQuantiles(t *testing.T) {
	l := MustParseLatency("lognormal:median=800ms,p99=5s")
	samples := make([]time.Duration, 20001)
	for i := range samples {
		samples[i] = l.Sample()
	}
	slices.Sort(samples)
	quantile := func(q float64) time.Duration { return samples[int(q*float64(len(samples)-1))] }

	if m := quantile(0.5); m < 700*time.Millisecond || m > 900*time.Millisecond {
		t.Errorf("median = %s, want about 800ms", m)
	}
	if p := quantile(0.99); p < 4*time.Second || p > 6*time.Second {
		t.Errorf("p99 = %s, want about 5s", p)
	}
}

func TestParseLatencyErrors(t *testing.T) {
	tests := []struct {
		spec, wantErr string
	}{
		{"800ms", "want KIND:ARGS"},
		{"gamma:1s", `unknown kind "gamma"`},
		{"fixed:soon", "soon"},
		{"fixed:-1s", "negative"},
		{"uniform:2s", "want uniform:MIN-MAX"},
		{"uniform:2s-1s", "below min"},
		{"lognormal:median=1s", "missing p99"},
		{"lognormal:median=1s,p99=500ms", "median <= p99"},
		{"lognormal:median=0s,p99=1s", "0 < median"},
		{"lognormal:median=1s,p99=5s,p50=1s", `unknown parameter "p50"`},
		{"lognormal:median=1s,median=2s,p99=5s", "median given twice"},
		{"lognormal:median", "want KEY=DURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := ParseLatency(tt.spec)
			if err == nil {
				t.Fatal("no error")
			}
			// Every error names the whole spec, so a user can find it.
			if !strings.Contains(err.Error(), tt.spec) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q and %q", err, tt.spec, tt.wantErr)
			}
		})
	}
}
