package demo

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// maxInFlight bounds the client's concurrency: an arrival that finds this
// many requests open is shed, not sent, as a client with a bounded pool
// would.
const maxInFlight = 600

// envoyShare sends one request in this many through Envoy, when it runs.
const envoyShare = 5

// traffic is the demo's client: open-loop arrivals on the schedule of
// Timing, each request a gRPC UnaryCall with a deadline.
type traffic struct {
	timing Timing
	rng    *rand.Rand
	xds    *grpc.ClientConn
	envoy  *grpc.ClientConn // nil without Envoy

	requests sync.WaitGroup
	started  atomic.Int64 // when traffic began, in Unix nanoseconds
	inFlight atomic.Int64
	sent     atomic.Int64
	ok       atomic.Int64
	viaEnvoy atomic.Int64
	shed     atomic.Int64

	mu       sync.Mutex
	failures map[string]int64 // by gRPC code
	lat      []completion     // successes in the window, oldest first
	winStart time.Time        // when traffic began
}

func newTraffic(t Timing, seed uint64, xds, envoy *grpc.ClientConn) *traffic {
	return &traffic{
		timing: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), xds: xds, envoy: envoy,
		failures: map[string]int64{},
	}
}

// run sends requests until ctx ends, then waits for those in flight,
// which are not cut: each ends with its answer or its deadline.
func (t *traffic) run(ctx context.Context) {
	defer t.requests.Wait()
	start := time.Now()
	t.started.Store(start.UnixNano())
	t.mu.Lock()
	t.winStart = start
	t.mu.Unlock()
	for {
		phase, left := t.timing.phaseAt(time.Since(start))
		wait := left
		if phase.Rate > 0 {
			// Arrivals of a Poisson process are memoryless, so a gap that
			// runs past the phase's end can be drawn again at the next rate.
			wait = min(time.Duration(t.rng.ExpFloat64()/phase.Rate*float64(time.Second)), left)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if wait < left {
			t.fire(ctx)
		}
	}
}

// phase returns the phase in force now; "" before traffic began.
func (t *traffic) phase() string {
	ns := t.started.Load()
	if ns == 0 {
		return ""
	}
	p, _ := t.timing.phaseAt(time.Since(time.Unix(0, ns)))
	return p.Name
}

// fire sends one request in the background, unless too many are open.
func (t *traffic) fire(ctx context.Context) {
	if t.inFlight.Load() >= maxInFlight {
		t.shed.Add(1)
		return
	}
	n := t.sent.Add(1)
	cc, viaEnvoy := t.xds, false
	if t.envoy != nil && n%envoyShare == 0 {
		cc, viaEnvoy = t.envoy, true
	}
	t.inFlight.Add(1)
	// The request outlives ctx: stopping the demo lets it finish.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timing.Deadline)
	t.requests.Go(func() {
		defer t.inFlight.Add(-1)
		defer cancel()
		began := time.Now()
		_, err := testpb.NewTestServiceClient(cc).UnaryCall(rctx, &testpb.SimpleRequest{},
			grpc.WaitForReady(true))
		t.record(time.Since(began), err, viaEnvoy)
	})
}

func (t *traffic) record(took time.Duration, err error, viaEnvoy bool) {
	if err != nil {
		t.mu.Lock()
		t.failures[status.Code(err).String()]++
		t.mu.Unlock()
		return
	}
	t.ok.Add(1)
	if viaEnvoy {
		t.viaEnvoy.Add(1)
	}
	t.mu.Lock()
	t.lat = append(t.lat, completion{at: time.Now(), took: took})
	t.mu.Unlock()
}

// failed returns the failures so far, in total and by gRPC code.
func (t *traffic) failed() (int64, map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var total int64
	for _, n := range t.failures {
		total += n
	}
	out := make(map[string]int64, len(t.failures))
	for code, n := range t.failures {
		out[code] = n
	}
	return total, out
}

// latencyWindow is what the client observed over the last span.
type latencyWindow struct {
	samples       int
	rps           float64
	p50, p95, p99 time.Duration
}

// completion is one successful request: when it ended and what it took.
type completion struct {
	at   time.Time
	took time.Duration
}

// window returns the latencies of the requests that succeeded within span
// before now, and forgets older ones. A span of several ticks keeps the
// p95 of a lull, a few requests a tick, from swinging on one slow answer.
func (t *traffic) window(now time.Time, span time.Duration) latencyWindow {
	from := now.Add(-span)
	t.mu.Lock()
	i := 0
	for i < len(t.lat) && !t.lat[i].at.After(from) {
		i++
	}
	t.lat = t.lat[i:]
	lat := make([]time.Duration, len(t.lat))
	for j, c := range t.lat {
		lat[j] = c.took
	}
	if t.winStart.After(from) {
		from = t.winStart
	}
	t.mu.Unlock()

	w := latencyWindow{samples: len(lat)}
	if secs := now.Sub(from).Seconds(); secs > 0 {
		w.rps = float64(len(lat)) / secs
	}
	slices.Sort(lat)
	w.p50, w.p95, w.p99 = quantile(lat, 0.5), quantile(lat, 0.95), quantile(lat, 0.99)
	return w
}

// quantile is the nearest-rank q-quantile of sorted; 0 when it is empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
