package keda

import (
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/spillway/spillway/scaler/keda/externalscaler"
)

// Signal is what the scaler knows about one pool at a moment: its demand,
// its target and the replica count its rules want.
type Signal struct {
	// Queue is the pool's demand: requests in flight plus requests pending
	// in Envoy, summed over the Envoys.
	Queue float64
	// QueueTarget is the pool's queue_per_instance; 0 when the pool has
	// no queue target, in which case the queue metric cannot be served.
	QueueTarget float64
	// Desired is the replica count the scaler's rules want now, after
	// tolerance, stabilization, step limits and min/max.
	Desired int
	// Active is true when the pool should run at least one replica: its
	// demand is at or above the activation threshold, or Desired is above
	// zero.
	Active bool
	// Stale is true when the stats behind the signal are too old to act
	// on. The scaler freezes such a pool, and so does KEDA: it is told the
	// metric is unavailable and keeps the current replicas.
	Stale bool
}

// SignalSource gives the latest Signal of a pool by its name in the
// scaler config; ok is false when no such pool is scaled. It is called
// from many goroutines at once.
type SignalSource interface {
	Signal(pool string) (sig Signal, ok bool)
}

// SignalFunc adapts a function to a SignalSource.
type SignalFunc func(pool string) (Signal, bool)

// Signal calls f.
func (f SignalFunc) Signal(pool string) (Signal, bool) { return f(pool) }

// The metrics a ScaledObject can ask for with scalerMetadata.metric.
const (
	// MetricDesired is Spillway's desired replica count with a target of
	// one per replica, so KEDA's HPA arrives at the same count. It is the
	// default since it carries every rule, latency included.
	MetricDesired = "desired"
	// MetricQueue is the pool's raw demand with queue_per_instance as the
	// per-replica target, for those who want the HPA's own rules to apply.
	MetricQueue = "queue"
)

// Keys of the trigger metadata in a ScaledObject.
const (
	metaPool   = "pool"
	metaMetric = "metric"
)

// query is a ScaledObject's request, parsed: the pool and the metric.
type query struct {
	ref    string // namespace/name of the ScaledObject, for messages
	pool   string
	metric string
}

// metricName is the name under which the metric appears in KEDA's HPA.
func (q query) metricName() string {
	return "spillway-" + q.pool + "-" + q.metric
}

// parseRef reads the pool and metric from a ScaledObject's metadata.
func parseRef(ref *pb.ScaledObjectRef) (query, error) {
	q := query{ref: ref.GetNamespace() + "/" + ref.GetName()}
	md := ref.GetScalerMetadata()
	q.pool = md[metaPool]
	if q.pool == "" {
		return q, status.Errorf(codes.InvalidArgument,
			"scaledobject %s: trigger metadata %q is required: name a pool of the scaler config",
			q.ref, metaPool)
	}
	q.metric = md[metaMetric]
	switch q.metric {
	case "":
		q.metric = MetricDesired
	case MetricDesired, MetricQueue:
	default:
		return q, status.Errorf(codes.InvalidArgument,
			"scaledobject %s: trigger metadata %q: want %q or %q, got %q",
			q.ref, metaMetric, MetricDesired, MetricQueue, q.metric)
	}
	return q, nil
}

// lookup fetches the pool's signal, or the status error that tells KEDA
// why there is none.
func lookup(src SignalSource, q query) (Signal, error) {
	sig, ok := src.Signal(q.pool)
	if !ok {
		return sig, status.Errorf(codes.NotFound,
			"scaledobject %s: pool %q is not in the scaler config of this spillway",
			q.ref, q.pool)
	}
	if sig.Stale {
		return sig, status.Errorf(codes.Unavailable,
			"pool %q: envoy stats are stale; replicas stay as they are until fresh stats arrive",
			q.pool)
	}
	return sig, nil
}

// target is the per-replica value of the query's metric.
func (q query) target(sig Signal) (float64, error) {
	if q.metric == MetricDesired {
		return 1, nil
	}
	if sig.QueueTarget <= 0 {
		return 0, status.Errorf(codes.FailedPrecondition,
			"scaledobject %s: pool %q has no queue_per_instance target; use metric %q",
			q.ref, q.pool, MetricDesired)
	}
	return sig.QueueTarget, nil
}

// value is the current value of the query's metric.
func (q query) value(sig Signal) float64 {
	if q.metric == MetricDesired {
		return float64(sig.Desired)
	}
	return sig.Queue
}

// wholeTarget is the integer target for KEDA releases that read only the
// integer field: rounded, and never 0, which the HPA would refuse.
func wholeTarget(v float64) int64 {
	return max(1, int64(math.Round(v)))
}
