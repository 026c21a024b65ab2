package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/spillway/spillway/examples/inference-server/server"
	"github.com/spillway/spillway/scaler"
)

// GPU classes as the example server and the pool's weights name them.
const (
	gpuA100 = server.GPUA100
	gpuT4   = server.GPUT4
)

// Service times of the two classes: a T4 is about three times slower than
// an A100, and both have a long tail, as inference does.
var latencies = map[string]string{
	gpuA100: "lognormal:median=300ms,p99=1500ms",
	gpuT4:   "lognormal:median=900ms,p99=4s",
}

// Each instance serves this many requests at once and queues the rest, as
// a model server batches a few. The queue cap is generous so that a spike
// queues, as it would at a real server, rather than being refused; the
// client's deadline bounds the wait.
const (
	slotsPerInstance = 4
	queueCap         = 200
)

// instance is one example inference server of the fleet.
type instance struct {
	id     string
	gpu    string
	zone   string
	port   int
	srv    *server.Server
	served chan error // Serve's result

	// Guarded by fleet.mu.
	listing    listing
	readySince time.Time
}

func (in *instance) addr() string { return fmt.Sprintf("127.0.0.1:%d", in.port) }

// fleet is the demo's platform and registry in one: it starts and stops
// the example servers and keeps the catalog file in step with them.
type fleet struct {
	ctx     context.Context // ends the warm-up watchers
	catalog string
	warmup  time.Duration
	log     *slog.Logger

	watchers sync.WaitGroup

	mu        sync.Mutex
	instances []*instance // in start order; stopped ones are removed
	named     map[string]int
	spawned   int
}

func newFleet(ctx context.Context, dir string, warmup time.Duration, log *slog.Logger) *fleet {
	return &fleet{ctx: ctx, catalog: filepath.Join(dir, catalogFile), warmup: warmup, log: log,
		named: map[string]int{}}
}

// nextClass picks the class of the next instance: two A100s for every T4.
func (f *fleet) nextClass() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spawned++
	if f.spawned%3 == 2 {
		return gpuT4
	}
	return gpuA100
}

// start launches one server of class gpu on a free loopback port, lists it
// as warming, and watches it until it is ready.
func (f *fleet) start(gpu string) (*instance, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting a %s server: %w", gpu, err)
	}
	in := &instance{gpu: gpu, port: lis.Addr().(*net.TCPAddr).Port, served: make(chan error, 1)}

	f.mu.Lock()
	f.named[gpu]++
	in.id = fmt.Sprintf("gpu-%s-%d", gpu, f.named[gpu])
	in.zone = []string{"zone-a", "zone-b"}[(f.named[gpu]-1)%2]
	in.srv = server.New(server.Options{
		Name: in.id, GPU: gpu, Latency: server.MustParseLatency(latencies[gpu]),
		Concurrency: slotsPerInstance, QueueCap: queueCap, Warmup: f.warmup, GRPC: true,
		Logger: f.log,
	})
	go func() { in.served <- in.srv.Serve(lis) }()
	f.instances = append(f.instances, in)
	err = f.writeCatalogLocked()
	f.mu.Unlock()

	f.watchers.Go(func() { f.watchWarmup(in) })
	return in, err
}

// watchWarmup lists in as ready once its readiness first passes. It gives
// up when the instance is drained while still warming, or the demo ends.
func (f *fleet) watchWarmup(in *instance) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-tick.C:
		}
		ready, _ := in.srv.Ready()
		f.mu.Lock()
		if in.listing != listedWarming {
			f.mu.Unlock()
			return
		}
		if ready {
			in.listing, in.readySince = listedReady, time.Now()
			err := f.writeCatalogLocked()
			f.mu.Unlock()
			if err != nil {
				f.log.Error("cannot list a warm instance", "instance", in.id, "err", err)
			}
			return
		}
		f.mu.Unlock()
	}
}

// writeCatalogLocked writes every instance to the catalog file.
func (f *fleet) writeCatalogLocked() error {
	entries := make([]entry, 0, len(f.instances))
	for _, in := range f.instances {
		entries = append(entries, entry{ID: in.id, Port: in.port, GPU: in.gpu, Zone: in.zone,
			Listing: in.listing})
	}
	return writeAtomic(f.catalog, renderCatalog(entries))
}

// members returns the instances and how each is listed, in start order.
func (f *fleet) members() []member {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]member, 0, len(f.instances))
	for _, in := range f.instances {
		out = append(out, member{in: in, listing: in.listing, readySince: in.readySince})
	}
	return out
}

// member is an instance as it was listed at one moment.
type member struct {
	in         *instance
	listing    listing
	readySince time.Time
}

// state counts the pool as the scaler's tracker does: draining instances
// count for nothing, warming ones and those still in their slow-start
// window are starting, the rest (veterans included) are ready.
func state(ms []member, veterans map[*instance]bool, slowStart time.Duration,
	now time.Time) scaler.State {
	var st scaler.State
	for _, m := range ms {
		switch {
		case m.listing == listedDraining:
			continue
		case m.listing == listedReady && (veterans[m.in] || now.Sub(m.readySince) >= slowStart):
			st.Ready++
		default:
			st.Starting++
		}
		st.Current++
	}
	return st
}

// veterans returns the members listed ready.
func veterans(ms []member) map[*instance]bool {
	out := map[*instance]bool{}
	for _, m := range ms {
		if m.listing == listedReady {
			out[m.in] = true
		}
	}
	return out
}

// drain lists the instances in maintenance, so that Spillway publishes
// them DRAINING.
func (f *fleet) drain(victims []*instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range victims {
		in.listing = listedDraining
	}
	return f.writeCatalogLocked()
}

// stop shuts in down gracefully, waiting for every request it admitted,
// then takes it out of the catalog.
func (f *fleet) stop(ctx context.Context, in *instance) error {
	f.mu.Lock()
	in.listing = listedDraining // ends its warm-up watcher, if it is still warming
	f.mu.Unlock()
	err := in.srv.Shutdown(ctx)
	if serr := <-in.served; serr != nil && err == nil {
		err = serr
	}
	f.mu.Lock()
	f.instances = slices.DeleteFunc(f.instances, func(x *instance) bool { return x == in })
	werr := f.writeCatalogLocked()
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("stopping %s: %w", in.id, err)
	}
	return werr
}

// stopAll stops every instance that is left, in parallel, and waits for
// the warm-up watchers.
func (f *fleet) stopAll(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, m := range f.members() {
		wg.Go(func() {
			if err := f.stop(ctx, m.in); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	f.watchers.Wait()
	return errors.Join(errs...)
}

// byID returns the running instance named id, or nil.
func (f *fleet) byID(id string) *instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range f.instances {
		if in.id == id {
			return in
		}
	}
	return nil
}
