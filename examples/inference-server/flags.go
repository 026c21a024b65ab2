package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/spillway/spillway/examples/inference-server/server"
)

// parseFlags reads the command line into a config, reporting every bad
// value at once.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var (
		cfg      config
		latency  string
		logLevel string
		fs       = flag.NewFlagSet("inference-server", flag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:9101",
		"address to serve HTTP (and gRPC with --grpc) on")
	fs.StringVar(&cfg.opts.Name, "name", "", "instance name (default GPU-PORT, such as a100-9101)")
	fs.StringVar(&cfg.opts.GPU, "gpu", server.GPUA100, "accelerator class: a100, t4 or cpu")
	fs.StringVar(&latency, "latency", "",
		"service time distribution: fixed:800ms, uniform:500ms-2s or\n"+
			"lognormal:median=800ms,p99=5s (default depends on --gpu)")
	fs.IntVar(&cfg.opts.Concurrency, "concurrency", server.DefaultConcurrency,
		"requests served at once; more wait in a first-in, first-out queue")
	fs.IntVar(&cfg.opts.MaxQueue, "max-queue", 0,
		"readiness fails while more requests wait than this (default 2 x --concurrency)")
	fs.IntVar(&cfg.opts.QueueCap, "queue-cap", 0,
		"requests beyond this many waiting get 503 at once (default 4 x --max-queue)")
	fs.DurationVar(&cfg.opts.Warmup, "warmup", 5*time.Second,
		"model load and warm-up time: not ready and refusing requests until it has passed")
	fs.DurationVar(&cfg.drainTimeout, "drain-timeout", 2*time.Minute,
		"on SIGTERM, how long in-flight requests and streams may take to finish")
	fs.StringVar(&cfg.consul, "consul", "",
		"Consul agent address (host:port) to register with; empty: none")
	fs.StringVar(&cfg.service, "service", "inference", "service name to register in Consul")
	fs.StringVar(&cfg.advertise, "advertise", "",
		"host:port to register in Consul (default the listen address)")
	fs.BoolVar(&cfg.opts.GRPC, "grpc", false,
		"also serve gRPC (grpc.health.v1 and grpc.testing.TestService) over HTTP/2 without TLS")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, finishConfig(&cfg, latency, logLevel)
}

// finishConfig parses the flags that need more than the flag package
// gives, and checks the ranges.
func finishConfig(cfg *config, latency, logLevel string) error {
	var errs []error
	if latency != "" {
		l, err := server.ParseLatency(latency)
		if err != nil {
			errs = append(errs, fmt.Errorf("--latency: %w", err))
		}
		cfg.opts.Latency = l
	}
	if err := cfg.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel))
	}
	if err := cfg.opts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.drainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %s: want more than 0", cfg.drainTimeout))
	}
	return errors.Join(errs...)
}
