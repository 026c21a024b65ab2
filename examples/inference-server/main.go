// Command inference-server is a stand-in for a GPU model server, for
// trying Spillway without GPUs. It serves /predict, /stream (Server-Sent
// Events), /health, /health/ready and /metrics like a real one: a few
// requests at a time with the rest queued, long-tailed latencies, a
// warm-up before it is ready, readiness that fails when the queue is
// long, and a graceful drain on SIGTERM or Ctrl-C.
//
// The quickstart catalog (examples/catalog.yaml) expects four of them:
//
//	go run ./examples/inference-server --listen 127.0.0.1:9101 --gpu a100 &
//	go run ./examples/inference-server --listen 127.0.0.1:9102 --gpu a100 &
//	go run ./examples/inference-server --listen 127.0.0.1:9103 --gpu t4 &
//	go run ./examples/inference-server --listen 127.0.0.1:9104 --gpu t4 &
//
// With --consul it registers itself in the local Consul agent, with a
// readiness check, and on shutdown puts itself into maintenance (which
// Spillway publishes as draining), drains, and deregisters.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spillway/spillway/examples/inference-server/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// config is the command line, parsed.
type config struct {
	listen       string
	advertise    string
	drainTimeout time.Duration
	consul       string
	service      string
	logLevel     slog.Level
	opts         server.Options
}

// run parses args, serves until SIGTERM or SIGINT, drains, and returns
// the exit code: 0 after a complete drain, 1 on failure, 2 for bad usage.
func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "inference-server: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	cfg.opts.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return serve(ctx, cfg, logger, nil)
}

// serve runs the instance until ctx ends, then drains it. onListen, when
// set, learns the address being served (tests listen on port 0).
func serve(ctx context.Context, cfg config, logger *slog.Logger, onListen func(net.Addr)) int {
	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		logger.Error("listening", "listen", cfg.listen, "err", err)
		return 1
	}
	if cfg.opts.Name == "" {
		cfg.opts.Name = defaultName(cfg.opts.GPU, lis.Addr())
	}
	s := server.New(cfg.opts)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	logger.Info("serving", "instance", cfg.opts.Name, "listen", lis.Addr().String(),
		"grpc", cfg.opts.GRPC)
	if onListen != nil {
		onListen(lis.Addr())
	}

	reg, err := register(ctx, cfg, lis.Addr())
	if err != nil {
		logger.Error("registering in Consul", "err", err)
		_ = s.Shutdown(context.Background())
		return 1
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Error("serving", "err", err)
		return 1
	}
	code := drain(cfg, s, reg, logger)
	if err := <-served; err != nil {
		logger.Error("serving", "err", err)
		code = 1
	}
	return code
}

// drain takes the instance out of rotation and waits for its requests,
// for at most the drain timeout.
func drain(cfg config, s *server.Server, reg *server.ConsulRegistration, logger *slog.Logger) int {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.drainTimeout)
	defer cancel()
	code := 0

	// Consul first, so that Spillway stops routing here while we drain.
	if reg != nil {
		if err := reg.Drain(ctx); err != nil {
			logger.Warn("draining in Consul", "err", err)
		}
	}
	if err := s.Shutdown(ctx); err != nil {
		logger.Error("draining", "drain_timeout", cfg.drainTimeout, "err", err)
		code = 1
	}
	if reg != nil {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer dcancel()
		if err := reg.Deregister(dctx); err != nil {
			logger.Warn("deregistering from Consul", "err", err)
		}
	}
	return code
}

// register registers the instance in Consul when --consul is set.
func register(ctx context.Context, cfg config, addr net.Addr) (*server.ConsulRegistration, error) {
	if cfg.consul == "" {
		return nil, nil
	}
	advertise := cfg.advertise
	if advertise == "" {
		advertise = addr.String()
	}
	reg, err := server.ConsulService(cfg.opts, cfg.service, advertise)
	if err != nil {
		return nil, err
	}
	return server.RegisterConsul(ctx, cfg.consul, reg)
}

// defaultName names an instance after its class and port, such as
// "a100-9101", so that several on one machine are told apart.
func defaultName(gpu string, addr net.Addr) string {
	if gpu == "" {
		gpu = server.GPUA100
	}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return fmt.Sprintf("%s-%d", gpu, tcp.Port)
	}
	return gpu
}
