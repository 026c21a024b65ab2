package translate

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/xds"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

// proxylessWait bounds how long a test waits for the gRPC client; it only
// turns a hang into a failure and is not a speed assertion.
const proxylessWait = 30 * time.Second

// TestProxylessGRPC serves the translator's output to real grpc-go xDS
// clients over ADS on loopback and makes a call through each gRPC pool, one
// per balancing policy. A call can only succeed if the client accepted the
// listener, route configuration, cluster and endpoints; the test also fails
// on any NACK the server sees.
func TestProxylessGRPC(t *testing.T) {
	backends := []string{startBackend(t), startBackend(t)}
	cfg := proxylessConfig()
	res, err := Translate(cfg, proxylessCatalog(t, backends))
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	xdsAddr, nacks := startXDS(t, map[string]*Resources{"proxyless": res})

	for _, pool := range []string{"lr", "rr", "rh", "mg"} {
		t.Run(pool, func(t *testing.T) {
			conn := dialPool(t, xdsAddr, "proxyless", pool)
			ctx, cancel := context.WithTimeout(context.Background(), proxylessWait)
			defer cancel()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatalf("call through xds:///%s: %v (NACKs: %v)", pool, err, nacks.all())
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("status = %v, want SERVING", resp.GetStatus())
			}
		})
	}
	if got := nacks.all(); len(got) != 0 {
		t.Errorf("the gRPC clients rejected resources: %v", got)
	}
}

// TestProxylessGRPCDetectsNACK is the control for TestProxylessGRPC: a
// cluster that gRPC must reject (ring hash with the default hash function)
// is seen as a NACK, so the test above would notice one.
func TestProxylessGRPCDetectsNACK(t *testing.T) {
	backends := []string{startBackend(t)}
	res, err := Translate(proxylessConfig(), proxylessCatalog(t, backends))
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	for _, c := range res.Clusters {
		if c.GetName() == "rh" {
			c.LoadBalancingPolicy = mustRingHashPolicy(t, ringhashv3.RingHash_DEFAULT_HASH)
		}
	}
	xdsAddr, nacks := startXDS(t, map[string]*Resources{"nack": res})

	conn := dialPool(t, xdsAddr, "nack", "rh")
	conn.Connect()
	select {
	case n := <-nacks.first:
		t.Logf("NACK of %s: %s", n.typeURL, n.detail)
		if n.typeURL != resourcev3.ClusterType {
			t.Errorf("NACK of %s, want a cluster NACK: %s", n.typeURL, n.detail)
		}
	case <-time.After(proxylessWait):
		t.Fatal("the gRPC client did not NACK a ring hash cluster with DEFAULT_HASH")
	}
}

func proxylessConfig() *policy.Config {
	grpcPool := func(b policy.Balancing) *policy.Pool {
		return &policy.Pool{
			Service:        "echo",
			Protocol:       policy.ProtocolGRPC,
			Balancing:      b,
			ConnectTimeout: time.Second,
			Weights:        &policy.Weights{MetaKey: "gpu", Values: map[string]uint32{"a100": 3}},
			HealthCheck: &policy.HealthCheck{Path: "/healthz", Interval: time.Second,
				Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1},
			CircuitBreakers:  &policy.CircuitBreakers{MaxRequests: 100},
			OutlierDetection: &policy.OutlierDetection{Consecutive5xx: 5, MaxEjectionPercent: 50},
		}
	}
	lr := grpcPool(policy.Balancing{Policy: policy.LeastRequest, ChoiceCount: 2, ActiveRequestBias: 1})
	lr.SlowStart = &policy.SlowStart{Window: time.Minute, Aggression: 1, MinWeightPercent: 10}
	rr := grpcPool(policy.Balancing{Policy: policy.RoundRobin})
	rr.SlowStart = &policy.SlowStart{Window: time.Minute}
	return &policy.Config{
		Pools: map[string]*policy.Pool{
			"lr": lr,
			"rr": rr,
			"rh": grpcPool(policy.Balancing{Policy: policy.RingHash, MinRingSize: 1024}),
			"mg": grpcPool(policy.Balancing{Policy: policy.Maglev, TableSize: 65537}),
		},
		Listeners: []*policy.Listener{{Name: "edge", Port: 8080, Routes: []*policy.Route{
			{Match: policy.Match{Prefix: "/"}, Pool: "lr"},
		}}},
	}
}

// proxylessCatalog puts the live backends in two zones and adds instances
// that gRPC must not use: one draining, one critical.
func proxylessCatalog(t *testing.T, backends []string) *discovery.Catalog {
	var instances []discovery.Instance
	for i, addr := range backends {
		host, port := splitHostPort(t, addr)
		instances = append(instances, discovery.Instance{
			ID: fmt.Sprintf("live-%d", i), Service: "echo", Address: host, Port: port,
			Zone: fmt.Sprintf("zone-%d", i), Meta: map[string]string{"gpu": "a100"},
		})
	}
	instances = append(instances,
		discovery.Instance{ID: "draining", Service: "echo", Address: "127.0.0.1", Port: 1,
			Health: discovery.HealthMaintenance, Zone: "zone-0"},
		discovery.Instance{ID: "critical", Service: "echo", Address: "127.0.0.1", Port: 2,
			Health: discovery.HealthCritical, Zone: "zone-1"},
	)
	return discovery.NewCatalog(instances)
}

// startBackend serves the gRPC health service on loopback.
func startBackend(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// nackLog records the NACKs that clients send.
type nackLog struct {
	mu    sync.Mutex
	list  []nack
	first chan nack
}

type nack struct{ typeURL, detail string }

func (l *nackLog) add(n nack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) == 0 {
		l.first <- n
	}
	l.list = append(l.list, n)
}

func (l *nackLog) all() []nack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]nack(nil), l.list...)
}

// startXDS serves each node's resources over ADS on loopback with
// go-control-plane's server, recording NACKs.
func startXDS(t *testing.T, nodes map[string]*Resources) (string, *nackLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	for node, res := range nodes {
		snap, err := cachev3.NewSnapshot("1", snapshotResources(res))
		if err != nil {
			t.Fatal(err)
		}
		if err := cache.SetSnapshot(ctx, node, snap); err != nil {
			t.Fatal(err)
		}
	}

	nacks := &nackLog{first: make(chan nack, 1)}
	callbacks := serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discoverygrpc.DiscoveryRequest) error {
			if d := req.GetErrorDetail(); d != nil {
				nacks.add(nack{typeURL: req.GetTypeUrl(), detail: d.GetMessage()})
			}
			return nil
		},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ads := serverv3.NewServer(ctx, cache, callbacks)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(srv, ads)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), nacks
}

func snapshotResources(r *Resources) map[string][]types.Resource {
	out := map[string][]types.Resource{}
	for _, c := range r.Clusters {
		out[resourcev3.ClusterType] = append(out[resourcev3.ClusterType], c)
	}
	for _, e := range r.Endpoints {
		out[resourcev3.EndpointType] = append(out[resourcev3.EndpointType], e)
	}
	for _, l := range append(r.Listeners, r.APIListeners...) {
		out[resourcev3.ListenerType] = append(out[resourcev3.ListenerType], l)
	}
	for _, rc := range r.Routes {
		out[resourcev3.RouteType] = append(out[resourcev3.RouteType], rc)
	}
	return out
}

// dialPool opens a proxyless client channel to xds:///<pool> whose xDS
// client talks to xdsAddr as node.
func dialPool(t *testing.T, xdsAddr, node, pool string) *grpc.ClientConn {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}],
			"server_features": ["xds_v3"]}],
		"node": {"id": %q}
	}`, xdsAddr, node)
	resolver, err := xds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///"+pool,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func mustRingHashPolicy(
	t *testing.T, fn ringhashv3.RingHash_HashFunction,
) *clusterv3.LoadBalancingPolicy {
	t.Helper()
	p, err := lbExtension("envoy.load_balancing_policies.ring_hash",
		&ringhashv3.RingHash{HashFunction: fn})
	if err != nil {
		t.Fatal(err)
	}
	return &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{p}}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
