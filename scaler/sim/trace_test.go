package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTraceRequests(t *testing.T) {
	in := `# two requests, out of order
arrival_s,service_s
1.5, 12
0.25,30
`
	tr, err := ParseTrace(strings.NewReader(in), "dir/req.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Request{
		{Arrival: 250 * time.Millisecond, Service: 30 * time.Second},
		{Arrival: 1500 * time.Millisecond, Service: 12 * time.Second},
	}
	if diff := cmp.Diff(want, tr.Requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if tr.Name != "req.csv" || tr.End() != 1500*time.Millisecond {
		t.Errorf("name, end = %q, %v", tr.Name, tr.End())
	}
}

func TestParseTraceRates(t *testing.T) {
	in := `# service: uniform 10s 30s
second,rate
0,2
60,2
60,10
120,0
`
	tr, err := ParseTrace(strings.NewReader(in), "rates.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Service != (Dist{Min: 10 * time.Second, Max: 30 * time.Second}) {
		t.Errorf("service = %+v", tr.Service)
	}
	if len(tr.Rates) != 4 || tr.End() != 2*time.Minute {
		t.Errorf("rates = %+v, end %v", tr.Rates, tr.End())
	}
}

func TestParseTraceErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no header", "1,2\n", "t.csv:1: header \"1,2\": want arrival_s,service_s or second,rate"},
		{"empty", "# nothing\n", "t.csv: no header"},
		{"bad number", "second,rate\n0,1\n5,fast\n", "t.csv:3: rate: not a number: \"fast\""},
		{"negative", "second,rate\n0,1\n5,-1\n", "t.csv:3: rate: must not be negative, got -1"},
		{"nan", "arrival_s,service_s\nNaN,1\n", "t.csv:2: arrival_s: not a number: \"NaN\""},
		{"field count", "second,rate\n0,1,2\n", "t.csv:2: want 2 fields, got 3"},
		{"time goes back", "second,rate\n10,1\n5,1\n", "t.csv:3: second: 5 is before the previous row"},
		{"zero service", "arrival_s,service_s\n1,0\n", "t.csv:2: service_s: must be above 0, got 0"},
		{"bad service line", "# service: uniform 30s 10s\nsecond,rate\n",
			"t.csv:1: service: max 10s is below min 30s"},
		{"unknown dist", "# service: normal 20s\nsecond,rate\n",
			"t.csv:1: service: \"normal 20s\": want"},
		{"service on requests", "# service: fixed 20s\narrival_s,service_s\n1,2\n",
			"t.csv:1: service: a per-request trace gives each request's time"},
		{"one rate row", "second,rate\n0,1\n", "t.csv: a rate trace needs at least two rows"},
		{"no requests", "arrival_s,service_s\n", "t.csv: no requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrace(strings.NewReader(tt.in), "t.csv")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestExpandRates(t *testing.T) {
	tr := Trace{
		Rates: []RatePoint{
			{0, 10}, {100 * time.Second, 10}, {100 * time.Second, 0}, {200 * time.Second, 20}},
		Service: Dist{Min: 10 * time.Second, Max: 30 * time.Second},
	}
	reqs := tr.Expand(7)
	var first, second int
	for i, r := range reqs {
		if i > 0 && r.Arrival < reqs[i-1].Arrival {
			t.Fatalf("arrivals out of order at %d", i)
		}
		if r.Service < 10*time.Second || r.Service >= 30*time.Second {
			t.Fatalf("service %v outside the uniform range", r.Service)
		}
		if r.Arrival < 100*time.Second {
			first++
		} else {
			second++
		}
	}
	// 1000 expected in each half (10/s flat, then a 0→20/s ramp); Poisson
	// noise is about ±32, so 5 sigma is a safe band.
	for _, n := range []int{first, second} {
		if math.Abs(float64(n)-1000) > 160 {
			t.Errorf("halves got %d and %d requests, want about 1000 each", first, second)
		}
	}
	if again := tr.Expand(7); !cmp.Equal(reqs, again) {
		t.Error("Expand with the same seed gave different requests")
	}
}

func TestExampleSpikeTrace(t *testing.T) {
	tr, err := ReadTrace("../../examples/traces/spike.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tr.End() != 35*time.Minute || tr.Service.Mean() != 20*time.Second {
		t.Errorf("end %v, mean service %v; want 35m and 20s", tr.End(), tr.Service.Mean())
	}
	peak := 0.0
	for _, p := range tr.Rates {
		peak = max(peak, p.Rate)
	}
	if first := tr.Rates[0].Rate; peak/first != 100 {
		t.Errorf("peak %v over baseline %v is not 100×", peak, first)
	}
	if inFlight := peak * tr.Service.Mean().Seconds(); inFlight != 5000 {
		t.Errorf("peak in flight = %v, want 5000", inFlight)
	}
}
