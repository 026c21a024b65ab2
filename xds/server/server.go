// Package server is Spillway's ADS server: SotW and delta xDS streams over
// the versioned cache, on a gRPC server with keepalives and stream limits,
// reporting streams, pushes, ACKs and NACKs.
package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/spillway/spillway/xds/cache"
)

// Keepalive holds the gRPC keepalive settings. Its fields match
// policy.Keepalive, so a config converts with Keepalive(cfg.XDS.Keepalive).
type Keepalive struct {
	// Time is how long a connection may be idle before the server pings.
	Time time.Duration
	// Timeout is how long the server waits for the ping's answer.
	Timeout time.Duration
	// MinTime is the shortest client ping interval the server tolerates.
	MinTime time.Duration
}

// Options configures the gRPC server under ADS.
type Options struct {
	// Keepalive sets the server's pings and the client pings it tolerates.
	// Zero fields keep gRPC's defaults. Clients may ping without an open
	// stream.
	Keepalive Keepalive
	// MaxConcurrentStreams limits the streams of one connection; 0 keeps
	// gRPC's default.
	MaxConcurrentStreams uint32
	// MaxMessageBytes limits the size of a received message; 0 keeps gRPC's
	// default. A larger request ends its stream with RESOURCE_EXHAUSTED.
	MaxMessageBytes int
	// TLS serves over TLS; nil serves plaintext. NewTLSConfig builds one
	// from files that rotate, with client certificates and an allow-list.
	// Every failed handshake is counted in
	// spillway_xds_rejected_connections_total{reason} and logged at Warn
	// once per reason and client identity (or address, for a client
	// without one).
	TLS *tls.Config
}

// Server serves the cache over ADS (SotW and delta) and over the per-type
// discovery services of listeners, routes, clusters and endpoints.
type Server struct {
	grpc *grpc.Server
	// cancel ends every xDS stream, which would otherwise stay open for as
	// long as its client does.
	cancel context.CancelFunc
	log    *slog.Logger
}

// New builds a server over c. Its metrics are registered with reg when reg
// is not nil.
func New(c *cache.Cache, opts Options, log *slog.Logger, reg prometheus.Registerer) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	m := newMetrics(reg)
	xds := &services{cache: c, metrics: m, log: log, stop: ctx}

	g := grpc.NewServer(grpcOptions(c, opts, m, log)...)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, xds)
	return &Server{grpc: g, cancel: cancel, log: log}
}

// grpcOptions turns Options into gRPC server options.
func grpcOptions(c *cache.Cache, opts Options, m *metrics, log *slog.Logger) []grpc.ServerOption {
	out := []grpc.ServerOption{
		grpc.ForceServerCodecV2(newCodec(c)),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    opts.Keepalive.Time,
			Timeout: opts.Keepalive.Timeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             opts.Keepalive.MinTime,
			PermitWithoutStream: true,
		}),
	}
	if opts.MaxConcurrentStreams > 0 {
		out = append(out, grpc.MaxConcurrentStreams(opts.MaxConcurrentStreams))
	}
	if opts.MaxMessageBytes > 0 {
		out = append(out, grpc.MaxRecvMsgSize(opts.MaxMessageBytes))
	}
	if opts.TLS != nil {
		creds := credentials.NewTLS(opts.TLS)
		out = append(out, grpc.Creds(newRefusingCreds(creds, m.rejected, log)))
	}
	return out
}

// Serve accepts connections on lis until GracefulStop; it returns nil
// after a stop and the listener's error otherwise.
func (s *Server) Serve(lis net.Listener) error {
	s.log.Info("xds server listening", "addr", lis.Addr().String())
	return s.grpc.Serve(lis)
}

// GracefulStop stops accepting connections, ends every xDS stream so that
// clients reconnect elsewhere, and waits for the handlers to return. When
// ctx ends first it stops the server at once.
func (s *Server) GracefulStop(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	s.cancel()

	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("xds server did not stop in time; closing connections",
			"err", ctx.Err())
		s.grpc.Stop()
		<-done
	}
}

// GRPC returns the underlying gRPC server, for tests and for registering
// more services before Serve.
func (s *Server) GRPC() *grpc.Server {
	return s.grpc
}
