package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

func dial(t *testing.T, in *instance) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(in.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestGRPC checks that one port serves gRPC health and predictions and
// the HTTP endpoints, over HTTP/1.1 and over cleartext HTTP/2 as Envoy's
// health checks of an HTTP/2 pool use it.
func TestGRPC(t *testing.T) {
	if TestServiceName != testpb.TestService_ServiceDesc.ServiceName {
		t.Fatalf("TestServiceName = %q, want %q",
			TestServiceName, testpb.TestService_ServiceDesc.ServiceName)
	}
	in := start(t, Options{GRPC: true, Latency: MustParseLatency("fixed:1ms")})
	conn := dial(t, in)
	ctx := context.Background()

	for _, service := range []string{"", TestServiceName} {
		req := &healthpb.HealthCheckRequest{Service: service}
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, req)
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %v %v, want SERVING", service, resp.GetStatus(), err)
		}
	}

	resp, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
	if err != nil {
		t.Fatalf("UnaryCall: %v", err)
	}
	var res Result
	if err := json.Unmarshal(resp.GetPayload().GetBody(), &res); err != nil {
		t.Fatalf("payload %q: %v", resp.GetPayload().GetBody(), err)
	}
	if resp.GetServerId() != "test-1" || res.Instance != "test-1" || res.ServiceMS <= 0 {
		t.Errorf("UnaryCall = server %q, result %+v; want test-1 with service_ms > 0",
			resp.GetServerId(), res)
	}

	if code, _ := in.get(t, ctx, "/health/ready"); code != http.StatusOK {
		t.Errorf("HTTP/1.1 /health/ready = %d, want 200", code)
	}
	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &h2}}
	defer h2c.CloseIdleConnections()
	r, err := h2c.Get(in.url + "/health/ready")
	if err != nil {
		t.Fatalf("HTTP/2 /health/ready: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.ProtoMajor != 2 {
		t.Errorf("HTTP/2 /health/ready = %d over %s, want 200 over HTTP/2", r.StatusCode, r.Proto)
	}
}

// TestGRPCWarmingUp checks that a cold instance says NOT_SERVING and
// refuses predictions with Unavailable, which clients retry elsewhere.
func TestGRPCWarmingUp(t *testing.T) {
	in := start(t, Options{GRPC: true, Warmup: 1 << 40})
	conn := dial(t, in)
	ctx := context.Background()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health = %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	_, err = testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("UnaryCall = %v, want Unavailable", err)
	}
}

// TestGRPCHealthFollowsDrain watches health while an instance drains: it
// turns NOT_SERVING at once, and the call in flight still succeeds.
func TestGRPCHealthFollowsDrain(t *testing.T) {
	in := start(t, Options{GRPC: true, Latency: MustParseLatency("fixed:1s")})
	conn := dial(t, in)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := nextStatus(t, watch); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health = %v, want SERVING", got)
	}
	called := make(chan error, 1)
	go func() {
		_, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
		called <- err
	}()
	in.waitCounts(t, 0, 1)

	shutdown := make(chan error, 1)
	go func() { shutdown <- in.Shutdown(context.Background()) }()
	if got := nextStatus(t, watch); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health while draining = %v, want NOT_SERVING", got)
	}
	_, err = testpb.NewTestServiceClient(conn).UnaryCall(ctx, &testpb.SimpleRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("UnaryCall while draining = %v, want Unavailable", err)
	}
	if err := recv(t, called, "the call in flight"); err != nil {
		t.Errorf("call in flight: %v", err)
	}
	if err := recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func nextStatus(
	t *testing.T, w healthpb.Health_WatchClient,
) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := w.Recv()
	if err != nil {
		t.Fatalf("watching health: %v", err)
	}
	return resp.GetStatus()
}
