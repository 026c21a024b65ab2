package driver

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestSummarize(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(100 - i) // unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", []time.Duration{ms(7)},
			Percentiles{N: 1, P50: ms(7), P90: ms(7), P99: ms(7), Max: ms(7)}},
		{"hundred", hundred, Percentiles{N: 100, P50: ms(50), P90: ms(90), P99: ms(99), Max: ms(100)}},
		{"missing sorts last", []time.Duration{Missing, ms(1), ms(2)},
			Percentiles{N: 3, P50: ms(2), P90: Missing, P99: Missing, Max: Missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, summarize(tt.in)); diff != "" {
				t.Errorf("summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLagGrew(t *testing.T) {
	tests := []struct {
		first, last time.Duration
		want        bool
	}{
		{ms(5), ms(5), false},
		{ms(5), ms(110), false},
		{ms(5), ms(111), true},
		{ms(400), ms(900), false},
		{ms(400), ms(901), true},
		{ms(5), Missing, true},
		{Missing, ms(5), true},
	}
	for _, tt := range tests {
		if got := lagGrew(tt.first, tt.last); got != tt.want {
			t.Errorf("lagGrew(%v, %v) = %v, want %v", tt.first, tt.last, got, tt.want)
		}
	}
}

func TestTargets(t *testing.T) {
	spillway := &Result{Impl: "spillway", Mode: "sotw", PerClient: 1000,
		Sync:      &SyncResult{Duration: 2 * time.Second, HeapPerStream: 100 << 10},
		Changes:   &ChangesResult{Latency: Percentiles{P99: ms(100)}},
		Sustained: &SustainedResult{Rate: 200, Duration: time.Minute, Latency: Percentiles{P99: ms(300)}},
	}
	slowStock := &Result{Impl: "stock", Mode: "sotw",
		Changes: &ChangesResult{Latency: Percentiles{P99: ms(500)}}}
	tests := []struct {
		name   string
		mutate func(sp *Result)
		stock  *Result
		want   []string
	}{
		{"all met", func(*Result) {}, slowStock, []string{"met", "met", "met", "met", "met"}},
		{"stock not run", func(*Result) {}, nil, []string{"met", "not judged", "met", "met", "met"}},
		{"misses", func(sp *Result) {
			sp.Changes = &ChangesResult{Latency: Percentiles{P99: ms(300)}}
			sp.Sync = &SyncResult{Duration: 6 * time.Second, HeapPerStream: 200 << 10}
			sp.Sustained = &SustainedResult{Rate: 200, Duration: time.Minute, Growing: true}
		}, slowStock, []string{"NOT MET", "NOT MET", "NOT MET", "NOT MET", "NOT MET"}},
		{"sustained too short to judge", func(sp *Result) {
			sp.Sustained = &SustainedResult{Rate: 200, Duration: time.Second}
		}, slowStock, []string{"met", "met", "met", "met", "not judged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := *spillway
			tt.mutate(&sp)
			rep := &Report{Results: []*Result{&sp}}
			if tt.stock != nil {
				rep.Results = append(rep.Results, tt.stock)
			}
			var got []string
			for _, target := range rep.Targets("sotw") {
				got = append(got, target.verdict())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}
