package server

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// GPU classes an instance can claim. The class is reported in responses
// and in Consul meta (key "gpu"), where Spillway weighs it, and it picks
// the default latency.
const (
	GPUA100 = "a100"
	GPUT4   = "t4"
	GPUCPU  = "cpu"
)

// Options configure a Server. The zero value of each field means its
// default; see withDefaults.
type Options struct {
	// Name identifies the instance in responses and logs.
	Name string
	// GPU is the class of accelerator: GPUA100, GPUT4 or GPUCPU.
	GPU string
	// Latency is the service time of one request; the zero Latency
	// means DefaultLatency(GPU).
	Latency Latency
	// Concurrency is how many requests are served at once; more wait in
	// a first-in, first-out queue.
	Concurrency int
	// MaxQueue is how many requests may wait before readiness fails, so
	// that a health-checking balancer sends its traffic elsewhere.
	MaxQueue int
	// QueueCap is how many may wait at all: one more is answered 503 at
	// once. It is at least MaxQueue.
	QueueCap int
	// Warmup is how long loading and warming the model takes: until it
	// has passed, the instance is not ready and refuses requests.
	Warmup time.Duration
	// GRPC makes Handler also serve gRPC (health and the interop
	// TestService) next to the HTTP endpoints, over HTTP/2 without TLS.
	GRPC bool
	// Logger receives state changes at Info and each request at Debug.
	Logger *slog.Logger
}

// Defaults for Options; the queue defaults scale with Concurrency.
const (
	DefaultConcurrency = 4
	defaultQueueFactor = 2 // MaxQueue = factor * Concurrency
	defaultCapFactor   = 4 // QueueCap = factor * MaxQueue
)

// DefaultLatency is a plausible service-time distribution for a GPU class:
// long-tailed, slower on a T4 than on an A100, slowest on a CPU.
func DefaultLatency(gpu string) Latency {
	switch gpu {
	case GPUA100:
		return MustParseLatency("lognormal:median=400ms,p99=3s")
	case GPUT4:
		return MustParseLatency("lognormal:median=1200ms,p99=8s")
	default:
		return MustParseLatency("lognormal:median=3s,p99=20s")
	}
}

// Validate reports every option that is out of range. New does not need
// it (it falls back to defaults), but a command line should tell the user.
func (o Options) Validate() error {
	var errs []error
	switch o.GPU {
	case "", GPUA100, GPUT4, GPUCPU:
	default:
		errs = append(errs, fmt.Errorf("gpu %q: want %s, %s or %s", o.GPU, GPUA100, GPUT4, GPUCPU))
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"concurrency", o.Concurrency}, {"max queue", o.MaxQueue}, {"queue cap", o.QueueCap}} {
		if f.value < 0 {
			errs = append(errs, fmt.Errorf("%s %d is negative", f.name, f.value))
		}
	}
	if o.QueueCap > 0 && o.QueueCap < o.MaxQueue {
		errs = append(errs, fmt.Errorf("queue cap %d is below max queue %d", o.QueueCap, o.MaxQueue))
	}
	if o.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup %s is negative", o.Warmup))
	}
	return errors.Join(errs...)
}

// withDefaults fills every zero or out-of-range field with its default.
func (o Options) withDefaults() Options {
	if o.GPU == "" {
		o.GPU = GPUA100
	}
	if o.Name == "" {
		o.Name = "inference-" + o.GPU
	}
	if o.Latency.IsZero() {
		o.Latency = DefaultLatency(o.GPU)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = defaultQueueFactor * o.Concurrency
	}
	if o.QueueCap < o.MaxQueue {
		o.QueueCap = defaultCapFactor * o.MaxQueue
	}
	o.Warmup = max(o.Warmup, 0)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
