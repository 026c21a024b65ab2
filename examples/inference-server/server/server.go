// Package server is a stand-in for a model server (vLLM, TGI, Triton) that
// behaves like one where a load balancer and an autoscaler can tell: a few
// requests at a time and a queue for the rest, long-tailed service times,
// token streams, a warm-up before it is ready, readiness that fails when
// the queue is long, queue gauges in Prometheus format, and a graceful
// drain that finishes every admitted request and stream.
//
// New builds a Server; Serve runs it on a listener, or Handler mounts it
// elsewhere; Shutdown drains it. Several can run in one process.
package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// Server is one simulated model-server instance.
type Server struct {
	opts     Options
	started  time.Time
	slots    *slots
	inflight *inflight
	metrics  *metrics
	handler  http.Handler
	warm     *time.Timer

	grpc   *grpc.Server   // nil unless Options.GRPC
	health *health.Server // nil unless Options.GRPC

	readyMu   sync.Mutex // serialises readiness changes sent to health
	lastReady bool

	httpMu sync.Mutex
	http   *http.Server // set by Serve
	closed bool         // Shutdown has begun; Serve must not start
}

// Result is what one prediction reports.
type Result struct {
	Instance  string  `json:"instance"`
	GPU       string  `json:"gpu"`
	QueueMS   float64 `json:"queue_ms"`
	ServiceMS float64 `json:"service_ms"`
}

// New returns a Server that starts warming up at once.
func New(opts Options) *Server {
	s := &Server{opts: opts.withDefaults(), started: time.Now(), inflight: newInflight()}
	s.slots = &slots{size: s.opts.Concurrency, queueCap: s.opts.QueueCap, changed: s.readinessChanged}
	s.metrics = newMetrics(s)
	if s.opts.GRPC {
		s.grpc, s.health = newGRPC(s)
	}
	s.handler = s.routes()
	s.warm = time.AfterFunc(s.opts.Warmup, func() {
		s.opts.Logger.Info("model warm", "instance", s.opts.Name, "warmup", s.opts.Warmup)
		s.readinessChanged()
	})
	s.opts.Logger.Info("model loading", "instance", s.opts.Name, "gpu", s.opts.GPU,
		"latency", s.opts.Latency.String(), "concurrency", s.opts.Concurrency,
		"max_queue", s.opts.MaxQueue, "queue_cap", s.opts.QueueCap)
	return s
}

// Options returns the options in force, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// Ready reports whether the instance should get traffic, and if not, why:
// it is warming up, draining, or more requests wait than MaxQueue.
func (s *Server) Ready() (bool, string) {
	switch waiting, _ := s.slots.counts(); {
	case s.inflight.isDraining():
		return false, ErrDraining.Error()
	case time.Since(s.started) < s.opts.Warmup:
		return false, ErrWarmingUp.Error()
	case waiting > s.opts.MaxQueue:
		return false, fmt.Sprintf("%d requests waiting, more than %d", waiting, s.opts.MaxQueue)
	}
	return true, "ready"
}

// predict serves one request: it waits for a slot, then for a service time
// drawn from Options.Latency.
func (s *Server) predict(ctx context.Context) (Result, error) {
	return s.serve(ctx, func(ctx context.Context, _ Result) error {
		return sleep(ctx, s.opts.Latency.Sample())
	})
}

// serve holds a slot while work runs and records the outcome. It fails
// with ErrWarmingUp or ErrQueueFull when the request is refused, or the
// context's error when the caller gives up. work gets the result so far
// (queue time filled in). Admission during a drain is decided before, by
// admit.
func (s *Server) serve(
	ctx context.Context, work func(context.Context, Result) error,
) (Result, error) {
	arrived := time.Now()
	res := Result{Instance: s.opts.Name, GPU: s.opts.GPU}
	if time.Since(s.started) < s.opts.Warmup {
		s.metrics.observe(statusCode(ErrWarmingUp), 0)
		return res, ErrWarmingUp
	}

	err := s.slots.acquire(ctx)
	res.QueueMS = millis(time.Since(arrived))
	if err == nil {
		began := time.Now()
		err = work(ctx, res)
		res.ServiceMS = millis(time.Since(began))
		s.slots.release()
	}

	s.metrics.observe(statusCode(err), time.Since(arrived))
	s.opts.Logger.Debug("request", "instance", s.opts.Name, "queue_ms", res.QueueMS,
		"service_ms", res.ServiceMS, "err", err)
	return res, err
}

// admit wraps a handler that does work (HTTP predictions and streams, gRPC
// calls) so that a drain knows when the last one has written its last
// byte. While draining it refuses newcomers through refuse instead.
func (s *Server) admit(h http.Handler, refuse func(http.ResponseWriter, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.inflight.enter(); err != nil {
			s.metrics.observe(statusCode(err), 0)
			refuse(w, err)
			return
		}
		defer s.inflight.leave()
		h.ServeHTTP(w, r)
	})
}

// errClientGone ends work whose client stopped listening.
var errClientGone = errors.New("client went away")

// statusCode maps the outcome of serve to an HTTP status. 499 (a client
// that closed its request, as nginx logs it) is never sent, only counted.
func statusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrWarmingUp), errors.Is(err, ErrDraining), errors.Is(err, ErrQueueFull):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, errClientGone):
		return 499
	}
	return http.StatusInternalServerError
}

// readinessChanged tells the gRPC health service when readiness flips.
func (s *Server) readinessChanged() {
	if s.health == nil {
		return
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	ready, _ := s.Ready()
	if ready != s.lastReady {
		s.lastReady = ready
		setHealth(s.health, ready)
	}
}

// Serve answers HTTP/1.1 and, without TLS, HTTP/2 on lis until Shutdown;
// HTTP/2 carries gRPC when Options.GRPC is set. It returns nil after
// Shutdown.
func (s *Server) Serve(lis net.Listener) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		// No write timeout: a stream may rightly last minutes.
		IdleTimeout: 2 * time.Minute,
	}

	s.httpMu.Lock()
	if s.closed || s.http != nil {
		s.httpMu.Unlock()
		return errors.New("serving: server is shut down or already serving")
	}
	s.http = srv
	s.httpMu.Unlock()

	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", lis.Addr(), err)
	}
	return nil
}

// Shutdown drains the instance: it fails readiness at once, refuses new
// requests with 503, lets every admitted request and stream finish, then
// stops the gRPC server and the HTTP server Serve runs. If ctx ends
// first, what is still running is cut and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	idle, started := s.inflight.drain()
	s.warm.Stop()
	s.readinessChanged()
	if started {
		waiting, running := s.slots.counts()
		s.opts.Logger.Info("draining", "instance", s.opts.Name, "waiting", waiting, "running", running)
	}

	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = fmt.Errorf("draining: %w", ctx.Err())
	}

	// Only health checks and watches are left on gRPC now; the watches
	// would hold the HTTP server open forever.
	if s.grpc != nil {
		s.grpc.Stop()
	}
	s.httpMu.Lock()
	s.closed = true
	srv := s.http
	s.httpMu.Unlock()
	if srv != nil {
		if cerr := closeHTTP(ctx, srv, err != nil); cerr != nil && err == nil {
			err = fmt.Errorf("closing the HTTP server: %w", cerr)
		}
	}
	if err == nil {
		s.opts.Logger.Info("drained", "instance", s.opts.Name)
	}
	return err
}

// closeHTTP stops srv: gently when the drain finished (only idle
// connections are left), at once when it ran out of time.
func closeHTTP(ctx context.Context, srv *http.Server, cut bool) error {
	if cut {
		return srv.Close()
	}
	return srv.Shutdown(ctx)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// millis converts d to milliseconds, rounded to the microsecond.
func millis(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}
