package e2e

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/server"
)

// adsServer is Spillway's cache and ADS server on loopback, without the
// rest of Serve, so that a test can publish any resources, invalid ones
// included.
type adsServer struct {
	cache *cache.Cache
	reg   *prometheus.Registry
	addr  string
}

func startADS(t *testing.T) *adsServer {
	t.Helper()
	log := testLogger(t, slog.LevelInfo)
	reg := prometheus.NewRegistry()
	c := cache.New(log, reg)
	srv := server.New(c, server.Options{}, log, reg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.GracefulStop(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &adsServer{cache: c, reg: reg, addr: lis.Addr().String()}
}

// publish sets the clusters named in eps, each with its endpoints.
// invalid, when set, is published as one more cluster.
func (s *adsServer) publish(t *testing.T, eps fleetState, invalid *clusterv3.Cluster) {
	t.Helper()
	res := map[string][]cache.Resource{}
	for name, endpoints := range eps {
		cl := &clusterv3.Cluster{Name: name, ConnectTimeout: durationpb.New(time.Second)}
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType],
			cache.Resource{Name: name, Message: cl})
		res[resourcev3.EndpointType] = append(res[resourcev3.EndpointType],
			cache.Resource{Name: name, Message: assignment(name, endpoints)})
	}
	if invalid != nil {
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType],
			cache.Resource{Name: invalid.GetName(), Message: invalid})
	}
	if _, err := s.cache.Set(res); err != nil {
		t.Fatalf("publishing: %v", err)
	}
}

func assignment(cluster string, eps map[string]Endpoint) *endpointv3.ClusterLoadAssignment {
	loc := &endpointv3.LocalityLbEndpoints{}
	for addr, ep := range eps {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.ParseUint(port, 10, 16)
		loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{
						Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
					},
				}},
			}},
			HealthStatus:        ep.Health,
			LoadBalancingWeight: wrapperspb.UInt32(ep.Weight),
		})
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{loc},
	}
}

// counter returns the value of a counter for a type URL, which the server
// labels with its short form.
func (s *adsServer) counter(t *testing.T, name, typeURL string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type_url" && l.GetValue() == cache.ShortType(typeURL) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestClient checks the client itself against Spillway's ADS server: it
// follows the clusters with its endpoint subscription, keeps assignments
// that a response leaves out, drops those of removed clusters, ACKs what
// it accepts and NACKs an invalid resource.
func TestClient(t *testing.T) {
	s := startADS(t)
	c, err := Dial(s.addr, "client-test", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	a := map[string]Endpoint{"10.0.0.1:80": {healthy, 1}}
	b := map[string]Endpoint{"10.0.0.2:80": {draining, 2}}
	b2 := map[string]Endpoint{"10.0.0.2:80": {healthy, 2}, "10.0.0.3:80": {unhealthy, 4}}
	steps := []struct {
		name      string
		published fleetState
		want      fleetState
	}{
		{"clusters and their endpoints", fleetState{"a": a, "b": b}, fleetState{"a": a, "b": b}},
		// The server sends only b's assignment; a's must stay.
		{"one assignment changes", fleetState{"a": a, "b": b2}, fleetState{"a": a, "b": b2}},
		{"a removed cluster takes its endpoints", fleetState{"b": b2}, fleetState{"b": b2}},
		{"a new cluster gets its endpoints", fleetState{"a": a, "b": b2}, fleetState{"a": a, "b": b2}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			s.publish(t, step.published, nil)
			st := awaitFleet(t, c, 5*time.Second, step.want)
			if len(st.Endpoints) != len(step.want) {
				t.Errorf("client holds assignments of %d clusters, want %d",
					len(st.Endpoints), len(step.want))
			}
		})
	}

	t.Run("acks", func(t *testing.T) {
		for _, typeURL := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
			eventually(t, 5*time.Second, func() string {
				if s.counter(t, "spillway_xds_acks_total", typeURL) == 0 {
					return "no ACK of " + typeURL
				}
				return ""
			})
		}
	})

	t.Run("an invalid cluster is rejected", func(t *testing.T) {
		before := c.Latest()
		bad := &clusterv3.Cluster{Name: "bad", ConnectTimeout: durationpb.New(-time.Second)}
		s.publish(t, fleetState{"a": a, "b": b2}, bad)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Wait(ctx, func(st *State) bool { return st.Clusters["bad"] != nil })
		if err == nil || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("Wait = %v, want the rejection", err)
		}
		// Endpoint responses of the earlier steps may still land; what
		// must not change is the cluster view the rejection refused.
		got := c.Latest()
		if got.Clusters["bad"] != nil ||
			got.Versions[resourcev3.ClusterType] != before.Versions[resourcev3.ClusterType] {
			t.Errorf("clusters changed after a rejected response: %v (version %s, was %s)",
				got.ClusterNames(), got.Versions[resourcev3.ClusterType],
				before.Versions[resourcev3.ClusterType])
		}
		eventually(t, 5*time.Second, func() string {
			if s.counter(t, "spillway_xds_nacks_total", resourcev3.ClusterType) != 1 {
				return "the server counted no NACK of clusters"
			}
			return ""
		})
	})
}
