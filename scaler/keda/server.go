// Package keda serves KEDA's external scaler protocol, so that KEDA can own
// a workload's replicas while Spillway supplies the signal: whether the
// pool should run at all, and a metric its HPA scales on.
//
// A ScaledObject names the pool in its trigger metadata:
//
//	triggers:
//	  - type: external            # or external-push for StreamIsActive
//	    metadata:
//	      scalerAddress: spillway-scaler.inference:9090
//	      pool: gpu               # required: a pool of the scaler config
//	      metric: desired         # desired (default) or queue
package keda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	pb "github.com/spillway/spillway/scaler/keda/externalscaler"
)

// DefaultPollInterval is how often StreamIsActive reads the signal source
// to notice a change of activity.
const DefaultPollInterval = time.Second

// Server answers KEDA from a SignalSource. It keeps no state of its own
// beyond the streams it holds open.
type Server struct {
	pb.UnimplementedExternalScalerServer

	src     SignalSource
	log     *slog.Logger
	metrics *metrics
	poll    time.Duration

	// done is closed by Close so that open streams end and a graceful
	// stop of the gRPC server does not wait on them forever.
	done      chan struct{}
	closeOnce sync.Once

	// complaints holds the last error told to each ScaledObject, so that a
	// misconfigured one is logged once and not on every poll.
	mu         sync.Mutex
	complaints map[string]string
}

// Option changes a Server's defaults.
type Option func(*Server)

// WithPollInterval sets how often StreamIsActive reads the source; d at or
// below zero keeps DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.poll = d
		}
	}
}

// NewServer returns a server that answers from src, logs to logger (nil
// discards) and registers its metrics with reg (nil registers nothing).
func NewServer(src SignalSource, logger *slog.Logger, reg prometheus.Registerer,
	opts ...Option) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		src:        src,
		log:        logger.With("component", "keda"),
		metrics:    newMetrics(reg),
		poll:       DefaultPollInterval,
		done:       make(chan struct{}),
		complaints: map[string]string{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Register adds the ExternalScaler service to a gRPC server that the
// caller runs. Call Close before stopping that server gracefully.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterExternalScalerServer(gs, s)
}

// Close ends every open StreamIsActive; each ends cleanly, so KEDA
// reconnects. Calls after the first do nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// Serve runs a gRPC server with the ExternalScaler service on lis until
// ctx ends, then closes the streams and stops gracefully. It returns nil
// after a stop through ctx.
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	gs := grpc.NewServer(opts...)
	s.Register(gs)
	s.log.Info("serving keda external scaler", "address", lis.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serving keda external scaler on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}

	s.Close()
	gs.GracefulStop()
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving keda external scaler on %s: %w", lis.Addr(), err)
	}
	return nil
}

// IsActive tells KEDA whether the pool should run at least one replica.
func (s *Server) IsActive(_ context.Context, ref *pb.ScaledObjectRef) (
	*pb.IsActiveResponse, error) {
	q, sig, err := s.resolve(ref)
	s.observe("IsActive", q, err)
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: sig.Active}, nil
}

// GetMetricSpec names the pool's metric and what one replica should carry.
func (s *Server) GetMetricSpec(_ context.Context, ref *pb.ScaledObjectRef) (
	*pb.GetMetricSpecResponse, error) {
	q, sig, err := s.resolve(ref)
	var target float64
	if err == nil {
		target, err = q.target(sig)
	}
	s.observe("GetMetricSpec", q, err)
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName:      q.metricName(),
		TargetSize:      wholeTarget(target),
		TargetSizeFloat: target,
	}}}, nil
}

// GetMetrics returns the metric's current value. The metric is the one the
// ScaledObject's metadata selects; the requested name is not consulted,
// since KEDA only ever asks for the name GetMetricSpec gave it.
func (s *Server) GetMetrics(_ context.Context, req *pb.GetMetricsRequest) (
	*pb.GetMetricsResponse, error) {
	q, sig, err := s.resolve(req.GetScaledObjectRef())
	if err == nil {
		// A metric without a target is not served, the same as in the spec.
		_, err = q.target(sig)
	}
	s.observe("GetMetrics", q, err)
	if err != nil {
		return nil, err
	}
	v := q.value(sig)
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName:       q.metricName(),
		MetricValue:      int64(math.Round(v)),
		MetricValueFloat: v,
	}}}, nil
}

// resolve parses the ScaledObject's metadata and fetches its pool's signal.
func (s *Server) resolve(ref *pb.ScaledObjectRef) (query, Signal, error) {
	q, err := parseRef(ref)
	if err != nil {
		return q, Signal{}, err
	}
	sig, err := lookup(s.src, q)
	return q, sig, err
}
