package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// The gRPC side uses the interop TestService of grpc-go rather than a
// proto of its own: its UnaryCall is a prediction, answered with the
// instance in server_id and the Result as JSON in the payload body, so
// that any gRPC client (grpc-go's interop client, grpcurl, a proxyless
// xDS client) can call it without generated code from this repository.

// TestServiceName is the full name of the gRPC service that predicts; the
// health service reports it and the empty name alike.
const TestServiceName = "grpc.testing.TestService"

// healthService is the full name of the standard gRPC health service.
var healthService = healthpb.Health_ServiceDesc.ServiceName

// newGRPC builds the gRPC server: health, whose status follows Ready, and
// the TestService. Both start NOT_SERVING, as the model is not warm yet.
func newGRPC(s *Server) (*grpc.Server, *health.Server) {
	g := grpc.NewServer()
	h := health.NewServer()
	setHealth(h, false)
	healthpb.RegisterHealthServer(g, h)
	testpb.RegisterTestServiceServer(g, &testService{s: s})
	return g, h
}

func setHealth(h *health.Server, ready bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	h.SetServingStatus("", st)
	h.SetServingStatus(TestServiceName, st)
}

// testService implements UnaryCall as a prediction; the interop methods it
// does not need answer Unimplemented.
type testService struct {
	testpb.UnimplementedTestServiceServer
	s *Server
}

// UnaryCall serves one prediction. The request's fields (payload sizes,
// compression) are ignored: a prediction's cost is its latency.
func (t *testService) UnaryCall(
	ctx context.Context, _ *testpb.SimpleRequest,
) (*testpb.SimpleResponse, error) {
	res, err := t.s.predict(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding result: %v", err)
	}
	return &testpb.SimpleResponse{
		ServerId: res.Instance,
		Hostname: res.Instance,
		Payload:  &testpb.Payload{Type: testpb.PayloadType_COMPRESSABLE, Body: body},
	}, nil
}

// refuseGRPC answers a gRPC call refused before it reached the gRPC server
// with a trailers-only response: status Unavailable, no message.
func refuseGRPC(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(codes.Unavailable)))
	h.Set("Grpc-Message", err.Error())
	w.WriteHeader(http.StatusOK)
}

// grpcError maps the errors of predict to gRPC codes. Refusals are
// Unavailable, which gRPC clients may retry on another instance.
func grpcError(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case statusCode(err) == 503:
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
