package server

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// z99 is the 99th percentile of the standard normal distribution: a
// lognormal's p99 is its median times exp(z99 * sigma).
const z99 = 2.3263478740408408

// Latency is a distribution of service times. The zero Latency always
// yields zero.
type Latency struct {
	spec   string
	sample func() time.Duration
}

// Sample draws one service time. It is safe for concurrent use.
func (l Latency) Sample() time.Duration {
	if l.sample == nil {
		return 0
	}
	return l.sample()
}

// String returns the spec the Latency was parsed from.
func (l Latency) String() string { return l.spec }

// IsZero reports whether l is the zero Latency.
func (l Latency) IsZero() bool { return l.sample == nil }

// ParseLatency parses a distribution of service times:
//
//	fixed:800ms                     always 800 ms
//	uniform:500ms-2s                uniformly between 0.5 s and 2 s
//	lognormal:median=800ms,p99=5s   long-tailed, as real inference is
//
// Durations are Go durations (300ms, 1.5s, 2m).
func ParseLatency(spec string) (Latency, error) {
	kind, args, ok := strings.Cut(spec, ":")
	var (
		sample func() time.Duration
		err    error
	)
	switch {
	case !ok:
		err = fmt.Errorf("want KIND:ARGS, KIND being fixed, uniform or lognormal")
	case kind == "fixed":
		sample, err = parseFixed(args)
	case kind == "uniform":
		sample, err = parseUniform(args)
	case kind == "lognormal":
		sample, err = parseLognormal(args)
	default:
		err = fmt.Errorf("unknown kind %q: want fixed, uniform or lognormal", kind)
	}
	if err != nil {
		return Latency{}, fmt.Errorf("parsing latency %q: %w", spec, err)
	}
	return Latency{spec: spec, sample: sample}, nil
}

// MustParseLatency is ParseLatency for specs written in code; it panics on
// a bad spec, which is a programming error there.
func MustParseLatency(spec string) Latency {
	l, err := ParseLatency(spec)
	if err != nil {
		panic(err)
	}
	return l
}

func parseFixed(args string) (func() time.Duration, error) {
	d, err := parseDuration(args)
	if err != nil {
		return nil, err
	}
	return func() time.Duration { return d }, nil
}

func parseUniform(args string) (func() time.Duration, error) {
	first, second, ok := strings.Cut(args, "-")
	if !ok {
		return nil, fmt.Errorf("want uniform:MIN-MAX, got %q", args)
	}
	lo, err := parseDuration(first)
	if err != nil {
		return nil, err
	}
	hi, err := parseDuration(second)
	if err != nil {
		return nil, err
	}
	if hi < lo {
		return nil, fmt.Errorf("max %s is below min %s", hi, lo)
	}
	return func() time.Duration {
		return lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
	}, nil
}

func parseLognormal(args string) (func() time.Duration, error) {
	params, err := parseParams(args, "median", "p99")
	if err != nil {
		return nil, err
	}
	median, p99 := params["median"], params["p99"]
	if median <= 0 || p99 < median {
		return nil, fmt.Errorf("want 0 < median <= p99, got median=%s p99=%s", median, p99)
	}
	mu := math.Log(median.Seconds())
	sigma := math.Log(float64(p99)/float64(median)) / z99
	return func() time.Duration {
		s := math.Exp(mu + sigma*rand.NormFloat64())
		return time.Duration(s * float64(time.Second))
	}, nil
}

// parseParams parses "k1=D1,k2=D2" and requires exactly the keys named.
func parseParams(args string, keys ...string) (map[string]time.Duration, error) {
	params := make(map[string]time.Duration, len(keys))
	for _, kv := range strings.Split(args, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("want KEY=DURATION, got %q", kv)
		}
		if _, dup := params[k]; dup {
			return nil, fmt.Errorf("%s given twice", k)
		}
		d, err := parseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		params[k] = d
	}
	for k := range params {
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("unknown parameter %q: want %s", k, strings.Join(keys, " and "))
		}
	}
	for _, k := range keys {
		if _, ok := params[k]; !ok {
			return nil, fmt.Errorf("missing %s", k)
		}
	}
	return params, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %s is negative", d)
	}
	return d, nil
}
