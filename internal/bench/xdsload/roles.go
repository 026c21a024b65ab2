package xdsload

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"runtime"

	"github.com/spillway/spillway/internal/bench/fleet"
	"github.com/spillway/spillway/internal/bench/loadclient"
	"github.com/spillway/spillway/internal/bench/loadserver"
)

// serverCmd serves the fleet until ctx ends, the driver asks it to quit,
// or, with --exit-on-eof, its stdin ends. It prints one JSON line telling
// where it listens.
func serverCmd(ctx context.Context, args []string, stdin io.Reader,
	stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xdsload server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := loadserver.Options{}
	fs.StringVar(&opts.Impl, "impl", loadserver.ImplSpillway, "spillway or stock")
	spec := fleetFlags(fs)
	fs.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "ADS listen address")
	fs.StringVar(&opts.ControlAddr, "control", "127.0.0.1:0", "control endpoint listen address")
	fs.StringVar(&opts.CPUProfile, "cpuprofile", "",
		"write CPU profiles, one per phase the driver names, to `PREFIX`-<phase>.pprof")
	eof := fs.Bool("exit-on-eof", false, "exit when stdin ends (the driver's pipe closes)")
	mutex := fs.Int("mutex-profile-fraction", 0,
		"sample 1 in N mutex contention events for /debug/pprof/mutex (0: off)")
	level := fs.String("log-level", "warn", "log level on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	opts.Fleet, opts.Log = *spec, log
	runtime.SetMutexProfileFraction(*mutex)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *eof {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	enc := json.NewEncoder(stdout)
	opts.Ready = func(r loadserver.Ready) { _ = enc.Encode(r) }
	return loadserver.Run(ctx, opts)
}

// fleetFlags defines the flags that size the fleet.
func fleetFlags(fs *flag.FlagSet) *fleet.Spec {
	s := &fleet.Spec{}
	fs.IntVar(&s.Pools, "pools", 1000, "pools, each one cluster and one load assignment")
	fs.IntVar(&s.Endpoints, "endpoints", 10, "endpoints per pool")
	fs.IntVar(&s.Listeners, "listeners", 0,
		"listeners, each with a route configuration (0: one per 100 pools)")
	return s
}

// clientsCmd runs ADS streams against a server until stdin ends, reading
// commands from stdin and writing events to stdout.
func clientsCmd(ctx context.Context, args []string, stdin io.Reader,
	stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xdsload clients", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := loadclient.Options{In: stdin, Out: stdout}
	fs.StringVar(&opts.Addr, "addr", "", "ADS server address, host:port")
	fs.IntVar(&opts.Streams, "n", 1000, "ADS streams, each its own node")
	fs.StringVar(&opts.Mode, "mode", loadclient.ModeSotW, "sotw or delta")
	fs.IntVar(&opts.StreamsPerConn, "per-conn", 100,
		"streams per gRPC connection (1: a connection per stream)")
	fs.StringVar(&opts.NodePrefix, "node-prefix", "envoy", "node IDs are PREFIX-<number>")
	level := fs.String("log-level", "warn", "log level on stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return usageError{err}
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	opts.Log = log
	return loadclient.Run(ctx, opts)
}
