package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"
)

// dialPool dials xds:///gpu with grpc-go's own xDS client, bootstrapped to
// the in-process ADS server: the client learns the pool's listener, route,
// cluster and endpoints from Spillway and balances over the endpoints
// itself, with no proxy in between.
func dialPool(xdsAddr string) (*grpc.ClientConn, error) {
	bootstrap, err := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      xdsAddr,
			"channel_creds":   []any{map[string]string{"type": "insecure"}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]string{"id": "spillway-demo-client", "cluster": "demo"},
	})
	if err != nil {
		return nil, fmt.Errorf("writing the xds bootstrap: %w", err)
	}
	// The resolver carries its own bootstrap, so that the demo needs no
	// GRPC_XDS_BOOTSTRAP file or environment variable.
	rb, err := xds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("building the xds resolver: %w", err)
	}
	cc, err := grpc.NewClient("xds:///"+poolName, grpc.WithResolvers(rb),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dialing xds:///%s: %w", poolName, err)
	}
	return cc, nil
}

// dialDirect dials a plain gRPC address, such as Envoy's listener.
func dialDirect(addr string) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", addr, err)
	}
	return cc, nil
}

// firstAnswer sends one request, waiting for the pool to have an endpoint,
// until it succeeds or ctx ends.
func firstAnswer(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{},
		grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("waiting for the first answer through xds:///%s: %w", poolName, err)
	}
	return nil
}
