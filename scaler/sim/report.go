package sim

import (
	"slices"
	"time"
)

// Report is the outcome of one run.
type Report struct {
	// Name is the controller's.
	Name     string
	Requests int
	// Wait is the time from a request's arrival to its getting a slot.
	WaitP50, WaitP95, WaitP99, WaitMax time.Duration
	// WithinTarget is the share of requests that waited at most
	// WaitTarget.
	WaitTarget   time.Duration
	WithinTarget float64
	// ReplicaHours is the instance time paid for over the trace, cold
	// start and draining included. WarmHours is the warm pool's waiting
	// instance time, reported apart since a stopped instance costs a
	// fraction of a running one.
	ReplicaHours float64
	WarmHours    float64
	PeakReplicas int
	// Unserved counts requests still waiting when the run was cut short,
	// hours after the trace ended, because no capacity came.
	Unserved int
	Changes  []Change
	Timeline []Point

	waits       []time.Duration
	served      int
	lastP95     time.Duration
	replicaTime time.Duration
	warmTime    time.Duration
}

// Change is one change of the replica count and its reason.
type Change struct {
	At       time.Duration
	From, To int
	Reason   string
}

// Point is the pool every 5 s, for the timeline.
type Point struct {
	At       time.Duration
	Ready    int
	Starting int
	Draining int
	Queue    int
	Active   int
	// P95 is the latency (wait plus service) of the requests completed in
	// the controller's last interval.
	P95 time.Duration
}

// ScaleEvents is the number of changes of the replica count.
func (r *Report) ScaleEvents() int { return len(r.Changes) }

func (r *Report) observeWait(w time.Duration) {
	r.waits = append(r.waits, w)
	r.served++
}

func (r *Report) finish() {
	slices.Sort(r.waits)
	r.WaitP50 = quantile(r.waits, 0.50)
	r.WaitP95 = quantile(r.waits, 0.95)
	r.WaitP99 = quantile(r.waits, 0.99)
	if n := len(r.waits); n > 0 {
		r.WaitMax = r.waits[n-1]
		within, _ := slices.BinarySearch(r.waits, r.WaitTarget+1)
		r.WithinTarget = float64(within) / float64(n)
	}
	r.ReplicaHours = r.replicaTime.Hours()
	r.WarmHours = r.warmTime.Hours()
	r.waits = nil
}
