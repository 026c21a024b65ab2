package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

// ServeFunc runs Spillway's serve for the config at configPath until ctx
// ends, and calls started with the bound addresses once it listens. It is
// app.Serve, passed in by internal/app, which imports this package.
type ServeFunc func(ctx context.Context, configPath string, started func(xds, admin net.Addr)) error

// Options configure Run.
type Options struct {
	// Serve runs Spillway; required.
	Serve ServeFunc
	// Duration ends the demo after this long; 0 runs it until ctx ends.
	Duration time.Duration
	// Seed draws the arrival times of the requests; 0 means 1. The
	// servers draw their service times on their own.
	Seed uint64
	// Quiet leaves out the status lines: only the intro and the summary.
	Quiet bool
	// Out receives the demo's output; nil discards it.
	Out io.Writer
	// Log receives the logs of the demo and of the servers it starts; nil
	// discards them.
	Log *slog.Logger
	// Timing is the schedule and the scaler's windows; no phases means
	// DefaultTiming.
	Timing Timing
}

func (o Options) withDefaults() Options {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if len(o.Timing.Phases) == 0 {
		o.Timing = DefaultTiming()
	}
	return o
}

// Summary is the outcome of a run.
type Summary struct {
	// Elapsed is the time traffic ran.
	Elapsed time.Duration
	// OK, Failed and Shed count the requests that succeeded, that failed
	// (by gRPC code in FailedByCode), and that the client did not send
	// because too many were open. ViaEnvoy counts the successes that went
	// through Envoy.
	OK, Failed, Shed, ViaEnvoy int64
	FailedByCode               map[string]int64
	// ScaleUps and ScaleDowns count the decisions carried out;
	// MostReplicas is the largest replica count decided.
	ScaleUps, ScaleDowns, MostReplicas int
}

// initialFleet is what runs before the scaler's first decision.
var initialFleet = []string{gpuA100, gpuT4}

// Run plays the demo until ctx ends or opts.Duration passes, then shuts
// everything down gracefully and prints the summary.
func Run(ctx context.Context, opts Options) (Summary, error) {
	opts = opts.withDefaults()
	if opts.Serve == nil {
		return Summary{}, errors.New("demo: no serve function")
	}
	if err := opts.Timing.check(); err != nil {
		return Summary{}, err
	}
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	dir, err := os.MkdirTemp("", "spillway-demo-")
	if err != nil {
		return Summary{}, fmt.Errorf("creating the demo directory: %w", err)
	}
	d := newDemo(opts, dir)
	err = d.play(ctx)
	serr := d.shutdown()
	sum := d.summary()
	d.out.summary(sum)
	d.out.stopped(dir, serr)
	d.out.nextSteps()
	return sum, errors.Join(err, serr)
}

// demo is one run: every part it starts, so that shutdown can stop
// whatever was started, in order.
type demo struct {
	opts   Options
	dir    string
	log    *slog.Logger
	out    *printer
	envoy  envoyPlan
	scrape *scraper

	// stopWatches ends the fleet's warm-up watchers.
	stopWatches context.CancelFunc
	fleet       *fleet

	stopServe  context.CancelFunc
	served     chan error
	envoyProc  *envoyProc
	conns      []*grpc.ClientConn
	traffic    *traffic
	loop       *scaleLoop
	trafficEnd time.Time
	began      time.Time
}

func newDemo(opts Options, dir string) *demo {
	fctx, cancel := context.WithCancel(context.Background())
	return &demo{
		opts: opts, dir: dir, log: opts.Log, scrape: newScraper(),
		out:         &printer{w: opts.Out, quiet: opts.Quiet},
		stopWatches: cancel, fleet: newFleet(fctx, dir, opts.Timing.Warmup, opts.Log),
	}
}

// play starts every part, runs the schedule until ctx ends, and stops the
// client and the scale loop; shutdown stops the rest.
func (d *demo) play(ctx context.Context) error {
	d.envoy = planEnvoy()
	for _, gpu := range initialFleet {
		if _, err := d.fleet.start(gpu); err != nil {
			return err
		}
	}
	cfgPath, err := writeConfig(d.dir, configData{T: d.opts.Timing,
		ListenerPort: d.envoy.listenerPort, EnvoyAdmin: d.envoy.adminAddr()})
	if err != nil {
		return err
	}
	cfg, err := policy.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("loading the demo config: %w", err)
	}
	xdsAddr, adminAddr, err := d.serve(cfgPath)
	if err != nil {
		return err
	}
	envoyNote, err := d.connect(xdsAddr)
	if err != nil {
		return err
	}
	d.out.intro(intro{dir: d.dir, config: cfgPath, xds: xdsAddr.String(),
		admin: adminAddr.String(), instances: len(initialFleet), envoy: envoyNote,
		consul: "not used: the catalog file stands in for Consul", timing: d.opts.Timing})
	return d.drive(ctx, cfg, adminAddr.String())
}

// serve starts Spillway and waits until it listens.
func (d *demo) serve(cfgPath string) (xdsAddr, adminAddr net.Addr, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ xds, admin net.Addr }
	started := make(chan addrs, 1)
	d.stopServe, d.served = cancel, make(chan error, 1)
	go func() {
		d.served <- d.opts.Serve(ctx, cfgPath, func(x, a net.Addr) { started <- addrs{x, a} })
	}()
	select {
	case a := <-started:
		return a.xds, a.admin, nil
	case err := <-d.served:
		cancel()
		d.stopServe = nil // it has returned already
		if err == nil {
			err = errors.New("serve returned before it listened")
		}
		return nil, nil, fmt.Errorf("starting spillway: %w", err)
	}
}

// connect dials the pool through Spillway and, when it runs, Envoy, and
// returns what to say about Envoy.
func (d *demo) connect(xdsAddr net.Addr) (string, error) {
	cc, err := dialPool(xdsAddr.String())
	if err != nil {
		return "", err
	}
	d.conns = append(d.conns, cc)
	note, envoyCC := d.startEnvoy(xdsAddr.(*net.TCPAddr).Port)
	d.traffic = newTraffic(d.opts.Timing, d.opts.Seed, cc, envoyCC)
	return note, nil
}

// startEnvoy runs Envoy when the plan has one; a failure only leaves it
// out.
func (d *demo) startEnvoy(adsPort int) (string, *grpc.ClientConn) {
	if d.envoy.bin == "" {
		return d.envoy.why, nil
	}
	proc, err := startEnvoy(d.envoy, d.dir, adsPort)
	if err != nil {
		d.log.Warn("running without envoy", "err", err)
		return "found, but it did not start: " + err.Error(), nil
	}
	d.envoyProc = proc
	addr := fmt.Sprintf("127.0.0.1:%d", d.envoy.listenerPort)
	cc, err := dialDirect(addr)
	if err != nil {
		return "started, but its listener cannot be dialled: " + err.Error(), nil
	}
	d.conns = append(d.conns, cc)
	return fmt.Sprintf("%s: listener %s, admin 127.0.0.1:%d; one request in %d goes through it",
		d.envoy.bin, addr, d.envoy.adminPort, envoyShare), cc
}

// drive waits for the first answer, then runs the traffic and the scale
// loop until ctx ends, and waits for both to stop.
func (d *demo) drive(ctx context.Context, cfg *policy.Config, admin string) error {
	d.out.note("waiting for the first models to warm up (%s)...", d.opts.Timing.Warmup)
	wctx, cancel := context.WithTimeout(ctx, d.opts.Timing.Warmup+30*time.Second)
	err := firstAnswer(wctx, d.conns[0])
	cancel()
	if ctx.Err() != nil {
		return nil // stopped while waiting: not a failure
	}
	if err != nil {
		return err
	}

	d.loop = d.newLoop(cfg, admin)
	d.began = time.Now()
	d.out.start = d.began
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		d.traffic.run(ctx)
	}()
	d.loop.run(ctx)
	d.out.note("stopping: %d requests in flight may take until their deadline (%s); then "+
		"every server drains and Spillway stops...", d.traffic.inFlight.Load(), d.opts.Timing.Deadline)
	<-trafficDone
	d.trafficEnd = time.Now()
	return nil
}

// newLoop builds the scale loop of the gpu pool from the loaded config.
func (d *demo) newLoop(cfg *policy.Config, admin string) *scaleLoop {
	return &scaleLoop{
		policy:  scaler.NewPolicy(cfg.Scaler.Pools[poolName]),
		history: scaler.NewHistory(time.Now()),
		timing:  d.opts.Timing, fleet: d.fleet, scrape: d.scrape, traffic: d.traffic,
		act:   &actuator{fleet: d.fleet, stopTimeout: drainDeadline},
		admin: admin, log: d.log, report: d.out.tick,
	}
}

// shutdown stops, in order, what play started: the client connections,
// the servers (each finishing the requests it holds), Envoy and Spillway;
// then it removes the demo's directory.
func (d *demo) shutdown() error {
	var errs []error
	for _, cc := range d.conns {
		errs = append(errs, cc.Close())
	}
	d.stopWatches()
	ctx, cancel := context.WithTimeout(context.Background(), drainDeadline)
	defer cancel()
	errs = append(errs, d.fleet.stopAll(ctx))
	if d.envoyProc != nil {
		d.envoyProc.stop(10 * time.Second)
	}
	if d.stopServe != nil {
		d.stopServe()
		if err := <-d.served; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("spillway serve: %w", err))
		}
	}
	d.scrape.close()
	errs = append(errs, os.RemoveAll(d.dir))
	return errors.Join(errs...)
}

// summary collects the totals once everything has stopped.
func (d *demo) summary() Summary {
	var s Summary
	if d.traffic != nil {
		t := d.traffic
		s.OK, s.Shed, s.ViaEnvoy = t.ok.Load(), t.shed.Load(), t.viaEnvoy.Load()
		s.Failed, s.FailedByCode = t.failed()
	}
	if d.loop != nil {
		s.ScaleUps, s.ScaleDowns, s.MostReplicas = d.loop.ups, d.loop.downs, d.loop.most
		s.Elapsed = d.trafficEnd.Sub(d.began)
	}
	return s
}
