// Package app runs Spillway's commands in-process, so that tests drive the
// same code as the binary. cmd/spillway only parses flags and signals.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/admin"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/server"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	ConfigPath string
	Log        *slog.Logger
	// Registry collects every metric; nil makes a new one.
	Registry *prometheus.Registry
	// Reload asks for the config file to be read again (SIGHUP). Changes to
	// the file are picked up without it.
	Reload <-chan struct{}
	// Started, when set, is called with the bound addresses once both
	// servers listen; tests use it to find ports chosen by the kernel.
	Started func(xds, admin net.Addr)
	// ShutdownTimeout bounds the graceful stop; 0 means 10 s.
	ShutdownTimeout time.Duration
}

// Serve runs the ADS server and the admin server for the config at
// opts.ConfigPath until ctx ends, then stops gracefully.
func Serve(ctx context.Context, opts ServeOptions) error {
	cfg, err := policy.Load(opts.ConfigPath)
	if err != nil {
		return err
	}
	log := opts.Log
	reg := opts.Registry
	if reg == nil {
		reg = newRegistry()
	}

	c := cache.New(log, reg)
	p := newPipeline(cfg, c, newServeMetrics(reg), discovery.NewMetrics(reg), log)
	xdsLis, adminLis, err := listen(cfg)
	if err != nil {
		return err
	}
	srv := server.New(c, serverOptions(cfg), log, reg)
	adm := admin.New(admin.Options{
		Gatherer:  reg,
		Ready:     []admin.Check{{Name: "snapshot", Func: p.ready}, {Name: "discovery", Func: p.discoveryUp, Advisory: true}},
		Resources: p.render,
		Pprof:     cfg.Admin.Pprof,
	}, log)
	if opts.Started != nil {
		opts.Started(xdsLis.Addr(), adminLis.Addr())
	}
	log.Info("serving", "xds", xdsLis.Addr().String(), "admin", adminLis.Addr().String(),
		"config", cfg.Path, "summary", cfg.Summary())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	go func() { errc <- wrap("xds server", srv.Serve(xdsLis)) }()
	go func() { errc <- wrap("admin server", adm.Serve(adminLis)) }()
	go func() { errc <- wrap("pipeline", p.run(ctx)) }()
	go func() { errc <- wrap("config watch", watchConfig(ctx, cfg.Path, opts.Reload, p, log)) }()

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	cancel()
	shutdown(srv, adm, opts.ShutdownTimeout, log)
	return first
}

func listen(cfg *policy.Config) (xdsLis, adminLis net.Listener, err error) {
	xdsLis, err = net.Listen("tcp", cfg.XDS.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listening for xds: %w", err)
	}
	adminLis, err = net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		xdsLis.Close()
		return nil, nil, fmt.Errorf("listening for admin: %w", err)
	}
	return xdsLis, adminLis, nil
}

func serverOptions(cfg *policy.Config) server.Options {
	return server.Options{
		Keepalive: server.Keepalive{
			Time:    cfg.XDS.Keepalive.Time,
			Timeout: cfg.XDS.Keepalive.Timeout,
			MinTime: cfg.XDS.Keepalive.MinTime,
		},
		MaxConcurrentStreams: cfg.XDS.MaxConcurrentStreams,
		MaxMessageBytes:      cfg.XDS.MaxMessageBytes,
	}
}

// shutdown lets open ADS streams and admin requests finish, within timeout.
func shutdown(srv *server.Server, adm *admin.Server, timeout time.Duration, log *slog.Logger) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log.Info("shutting down")
	srv.GracefulStop(ctx)
	if err := adm.Shutdown(ctx); err != nil {
		log.Warn("admin server shutdown", "err", err)
	}
}

// wrap names the part of serve an error came from; nil stays nil.
func wrap(what string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
