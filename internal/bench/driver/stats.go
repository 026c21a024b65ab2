package driver

import (
	"math"
	"slices"
	"time"
)

// Missing stands for the latency of a change that was never ACKed by every
// stream; it sorts after every measured one.
const Missing = time.Duration(math.MaxInt64)

// Percentiles summarises latencies.
type Percentiles struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// summarize returns the nearest-rank percentiles of ds, which may hold
// Missing.
func summarize(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Percentiles{
		N: len(s), P50: rank(s, 0.50), P90: rank(s, 0.90), P99: rank(s, 0.99), Max: s[len(s)-1],
	}
}

// rank is the nearest-rank q-quantile of sorted s.
func rank(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// perUnit divides a byte difference, which may be negative when the heap
// shrank, by n.
func perUnit(after, before uint64, n int) float64 {
	if n <= 0 {
		return 0
	}
	return (float64(after) - float64(before)) / float64(n)
}
