// Package app runs Spillway's commands in-process, so that tests drive the
// same code as the binary. cmd/spillway only parses flags and signals.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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
	if err := c.SetAccess(cacheAccess(cfg)); err != nil {
		return err
	}
	sopts, err := serverOptions(cfg, log)
	if err != nil {
		return err
	}
	p := newPipeline(cfg, c, newServeMetrics(reg), discovery.NewMetrics(reg), log)
	xdsLis, adminLis, err := listen(cfg)
	if err != nil {
		return err
	}
	srv := server.New(c, sopts, log, reg)
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

// serverOptions are the ADS server's options from cfg; with xds.tls it
// reads the certificate files, which must load.
func serverOptions(cfg *policy.Config, log *slog.Logger) (server.Options, error) {
	opts := server.Options{
		Keepalive: server.Keepalive{
			Time:    cfg.XDS.Keepalive.Time,
			Timeout: cfg.XDS.Keepalive.Timeout,
			MinTime: cfg.XDS.Keepalive.MinTime,
		},
		MaxConcurrentStreams: cfg.XDS.MaxConcurrentStreams,
		MaxMessageBytes:      cfg.XDS.MaxMessageBytes,
	}
	if t := cfg.XDS.TLS; t != nil {
		tc, err := server.NewTLSConfig(server.TLSFiles{
			CertFile:          cfg.Resolve(t.CertFile),
			KeyFile:           cfg.Resolve(t.KeyFile),
			ClientCAFile:      cfg.Resolve(t.ClientCAFile),
			AllowedIdentities: t.AllowedIdentities,
		}, log)
		if err != nil {
			return opts, err
		}
		opts.TLS = tc
	}
	return opts, nil
}

// cacheAccess turns xds.access into the resource names each rule lets its
// nodes receive. A listener brings its route configuration, which has its
// name. A pool brings its cluster and endpoints, named after it, and for a
// grpc pool the API listener (the pool's name) and route configuration
// ("grpc.<pool>") that the translator makes for proxyless clients. A type
// that a rule does not limit is left out of its names.
func cacheAccess(cfg *policy.Config) cache.Access {
	a := cfg.XDS.Access
	if a == nil {
		return cache.Access{}
	}
	out := cache.Access{DenyUnmatched: a.Default == policy.AccessDeny}
	for _, r := range a.Rules {
		out.Rules = append(out.Rules, cache.AccessRule{
			NodeID: r.Match.NodeID, NodeCluster: r.Match.NodeCluster, Names: ruleNames(cfg, r),
		})
	}
	return out
}

// ruleNames lists by type URL the names a rule allows; nil allows all.
func ruleNames(cfg *policy.Config, r *policy.AccessRule) map[string][]string {
	if len(r.Listeners) == 0 && len(r.Pools) == 0 {
		return nil
	}
	listeners, pools := r.Listeners, r.Pools
	if len(listeners) == 0 {
		for _, l := range cfg.Listeners {
			listeners = append(listeners, l.Name)
		}
	}
	if len(pools) == 0 {
		pools = cfg.PoolNames()
	}
	// Listeners are limited even when only pools are, since the API
	// listeners of grpc pools are listeners too.
	names := map[string][]string{
		resourcev3.ListenerType: slices.Clone(listeners),
		resourcev3.RouteType:    slices.Clone(listeners),
	}
	for _, name := range pools {
		if p := cfg.Pools[name]; p != nil && p.Protocol == policy.ProtocolGRPC {
			names[resourcev3.ListenerType] = append(names[resourcev3.ListenerType], name)
			names[resourcev3.RouteType] = append(names[resourcev3.RouteType], "grpc."+name)
		}
	}
	if len(r.Pools) > 0 {
		names[resourcev3.ClusterType] = slices.Clone(pools)
		names[resourcev3.EndpointType] = slices.Clone(pools)
	}
	return names
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
