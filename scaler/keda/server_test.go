package keda

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	pb "github.com/spillway/spillway/scaler/keda/externalscaler"
)

// TestMain fails the package if a stream or server outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pools is a SignalSource whose signals a test changes while the server
// runs. Each read is announced on polled, under the lock, so that a test
// can wait until the server has seen a value it set.
type pools struct {
	mu     sync.Mutex
	sigs   map[string]Signal
	polled chan struct{}
}

func newPools(sigs map[string]Signal) *pools {
	return &pools{sigs: sigs, polled: make(chan struct{}, 1)}
}

func (p *pools) Signal(pool string) (Signal, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sig, ok := p.sigs[pool]
	select {
	case p.polled <- struct{}{}:
	default:
	}
	return sig, ok
}

// set changes a pool's signal and forgets reads made before the change.
func (p *pools) set(pool string, sig Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sigs[pool] = sig
	select {
	case <-p.polled:
	default:
	}
}

// waitRead returns once the source was read after the last set.
func (p *pools) waitRead(t *testing.T) {
	t.Helper()
	select {
	case <-p.polled:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not read the signal source")
	}
}

// harness is a real server on loopback and a client generated from the
// same proto, the way KEDA talks to it.
type harness struct {
	srv    *Server
	client pb.ExternalScalerClient
	reg    *prometheus.Registry
	logs   *bytes.Buffer
}

func start(t *testing.T, src SignalSource) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: h.logs},
		&slog.HandlerOptions{Level: slog.LevelWarn}))
	h.srv = NewServer(src, logger, h.reg, WithPollInterval(5*time.Millisecond))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, lis) }()

	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.client = pb.NewExternalScalerClient(conn)
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	})
	return h
}

// value reads a counter or gauge.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}

// syncWriter lets the server's goroutines share the log buffer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func ref(md map[string]string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Name: "gpu-inference", Namespace: "inference", ScalerMetadata: md}
}

// fleet is the source most tests use: gpu has both signals, api has only
// a latency target, cold is idle at zero and stale has old stats.
func fleet() *pools {
	return newPools(map[string]Signal{
		"gpu":   {Queue: 23, QueueTarget: 5, Desired: 5, Active: true},
		"api":   {Queue: 4, Desired: 2, Active: true},
		"half":  {Queue: 3.5, QueueTarget: 2.5, Desired: 2, Active: true},
		"cold":  {},
		"stale": {Queue: 9, QueueTarget: 5, Desired: 2, Active: true, Stale: true},
	})
}

// wantCode checks a gRPC status code and that the message names what is
// wrong.
func wantCode(t *testing.T, err error, code codes.Code, words ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got error %v, want code %v", err, code)
	}
	for _, w := range words {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Errorf("message %q does not mention %q", status.Convert(err).Message(), w)
		}
	}
}

// failures are the bad requests that every unary method refuses alike.
var failures = []struct {
	name  string
	md    map[string]string
	code  codes.Code
	words []string
}{
	{"no pool", map[string]string{"metric": "queue"}, codes.InvalidArgument,
		[]string{"inference/gpu-inference", `"pool"`}},
	{"bad metric", map[string]string{"pool": "gpu", "metric": "p95"}, codes.InvalidArgument,
		[]string{`"metric"`, `"p95"`}},
	{"unknown pool", map[string]string{"pool": "tpu"}, codes.NotFound,
		[]string{`pool "tpu"`, "inference/gpu-inference"}},
	{"stale", map[string]string{"pool": "stale"}, codes.Unavailable,
		[]string{`pool "stale"`, "stale"}},
}

func TestGetMetricSpec(t *testing.T) {
	h := start(t, fleet())
	ctx := t.Context()
	tests := []struct {
		name string
		md   map[string]string
		want *pb.MetricSpec
	}{
		{"desired by default", map[string]string{"pool": "gpu"},
			&pb.MetricSpec{MetricName: "spillway-gpu-desired", TargetSize: 1, TargetSizeFloat: 1}},
		{"queue", map[string]string{"pool": "gpu", "metric": "queue"},
			&pb.MetricSpec{MetricName: "spillway-gpu-queue", TargetSize: 5, TargetSizeFloat: 5}},
		{"fractional queue target", map[string]string{"pool": "half", "metric": "queue"},
			&pb.MetricSpec{MetricName: "spillway-half-queue", TargetSize: 3, TargetSizeFloat: 2.5}},
		{"desired of a pool at zero", map[string]string{"pool": "cold", "metric": "desired"},
			&pb.MetricSpec{MetricName: "spillway-cold-desired", TargetSize: 1, TargetSizeFloat: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.client.GetMetricSpec(ctx, ref(tt.md))
			if err != nil {
				t.Fatal(err)
			}
			want := &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{tt.want}}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("queue without a queue target", func(t *testing.T) {
		_, err := h.client.GetMetricSpec(ctx, ref(map[string]string{"pool": "api", "metric": "queue"}))
		wantCode(t, err, codes.FailedPrecondition, "queue_per_instance", `"desired"`)
	})
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.GetMetricSpec(ctx, ref(tt.md))
			wantCode(t, err, tt.code, tt.words...)
		})
	}
}

func TestGetMetrics(t *testing.T) {
	h := start(t, fleet())
	ctx := t.Context()
	tests := []struct {
		name string
		md   map[string]string
		want *pb.MetricValue
	}{
		{"desired", map[string]string{"pool": "gpu"},
			&pb.MetricValue{MetricName: "spillway-gpu-desired", MetricValue: 5, MetricValueFloat: 5}},
		{"queue", map[string]string{"pool": "gpu", "metric": "queue"},
			&pb.MetricValue{MetricName: "spillway-gpu-queue", MetricValue: 23, MetricValueFloat: 23}},
		{"fractional queue", map[string]string{"pool": "half", "metric": "queue"},
			&pb.MetricValue{MetricName: "spillway-half-queue", MetricValue: 4, MetricValueFloat: 3.5}},
		{"desired at zero", map[string]string{"pool": "cold"},
			&pb.MetricValue{MetricName: "spillway-cold-desired"}},
		{"latency-only pool", map[string]string{"pool": "api"},
			&pb.MetricValue{MetricName: "spillway-api-desired", MetricValue: 2, MetricValueFloat: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &pb.GetMetricsRequest{ScaledObjectRef: ref(tt.md), MetricName: tt.want.MetricName}
			got, err := h.client.GetMetrics(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			want := &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{tt.want}}
			if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("queue without a queue target", func(t *testing.T) {
		md := map[string]string{"pool": "api", "metric": "queue"}
		req := &pb.GetMetricsRequest{ScaledObjectRef: ref(md)}
		_, err := h.client.GetMetrics(ctx, req)
		wantCode(t, err, codes.FailedPrecondition, "queue_per_instance")
	})
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref(tt.md)})
			wantCode(t, err, tt.code, tt.words...)
		})
	}
}

func TestIsActive(t *testing.T) {
	h := start(t, fleet())
	ctx := t.Context()
	tests := []struct {
		name string
		pool string
		want bool
	}{
		{"busy pool", "gpu", true},
		{"idle pool at zero", "cold", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.client.IsActive(ctx, ref(map[string]string{"pool": tt.pool}))
			if err != nil {
				t.Fatal(err)
			}
			if got.GetResult() != tt.want {
				t.Errorf("IsActive(%s) = %v, want %v", tt.pool, got.GetResult(), tt.want)
			}
		})
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.IsActive(ctx, ref(tt.md))
			wantCode(t, err, tt.code, tt.words...)
		})
	}
}

// TestStreamIsActive drives one stream through a change, a stale spell and
// a shutdown. The stream sends only changes, so the values alternate
// whatever happens; what shows that the stale spell was held is the
// number of messages before the end of the stream.
func TestStreamIsActive(t *testing.T) {
	src := newPools(map[string]Signal{"gpu": {Desired: 0}})
	h := start(t, src)
	stream, err := h.client.StreamIsActive(t.Context(), ref(map[string]string{"pool": "gpu"}))
	if err != nil {
		t.Fatal(err)
	}
	recv := func(want bool) {
		t.Helper()
		got, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if got.GetResult() != want {
			t.Fatalf("Recv = %v, want %v", got.GetResult(), want)
		}
	}

	recv(false)
	src.set("gpu", Signal{Queue: 3, Desired: 1, Active: true})
	recv(true)

	// Stale stats that say inactive must not reach KEDA; fresh ones that
	// agree with the last answer send nothing either.
	src.set("gpu", Signal{Stale: true})
	src.waitRead(t)
	src.set("gpu", Signal{Queue: 3, Desired: 1, Active: true})
	src.waitRead(t)
	src.set("gpu", Signal{})
	recv(false)

	h.srv.Close()
	if got, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Close: Recv = %v, %v; want io.EOF", got, err)
	}
	if got := value(t, h.srv.metrics.streams); got != 0 {
		t.Errorf("open streams after close = %v, want 0", got)
	}
}

func TestStreamIsActiveRefusals(t *testing.T) {
	h := start(t, fleet())
	for _, tt := range failures {
		if tt.code == codes.Unavailable {
			continue // a stale pool holds the stream open; see TestStreamIsActive
		}
		t.Run(tt.name, func(t *testing.T) {
			stream, err := h.client.StreamIsActive(t.Context(), ref(tt.md))
			if err != nil {
				t.Fatal(err)
			}
			_, err = stream.Recv()
			wantCode(t, err, tt.code, tt.words...)
		})
	}
}

// TestComplaintsLoggedOnce checks that a misconfigured ScaledObject, asked
// about on every polling interval, warns once per distinct problem.
func TestComplaintsLoggedOnce(t *testing.T) {
	src := fleet()
	h := start(t, src)
	ask := func(pool string) {
		_, _ = h.client.IsActive(t.Context(), ref(map[string]string{"pool": pool}))
	}
	ask("tpu")
	ask("tpu")
	ask("tpu")
	ask("gpu") // fixed: the next failure is news again
	ask("tpu")

	if got := strings.Count(h.logs.String(), "level=WARN"); got != 2 {
		t.Errorf("warnings = %d, want 2; logs:\n%s", got, h.logs)
	}
	notFound := value(t, h.srv.metrics.requests.WithLabelValues("IsActive", "NotFound"))
	ok := value(t, h.srv.metrics.requests.WithLabelValues("IsActive", "OK"))
	if notFound != 4 || ok != 1 {
		t.Errorf("requests: NotFound %v OK %v, want 4 and 1", notFound, ok)
	}
}
