package scaler

import "time"

// Backoff bounds the retries of a failed actuator call: Attempts calls in
// all, the waits between them doubling from Initial up to Max.
type Backoff struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultBackoff retries a failed actuator call four times over about 15 s:
// long enough to ride out a platform API's brief outage, short enough that
// a decision is not carried out long after the demand behind it changed.
var DefaultBackoff = Backoff{Initial: time.Second, Max: 30 * time.Second, Attempts: 5}

// withDefaults fills the zero fields from DefaultBackoff.
func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max < b.Initial {
		b.Max = max(DefaultBackoff.Max, b.Initial)
	}
	if b.Attempts <= 0 {
		b.Attempts = DefaultBackoff.Attempts
	}
	return b
}

// delay is the wait after the given failed attempt, counted from 1.
func (b Backoff) delay(attempt int) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}
