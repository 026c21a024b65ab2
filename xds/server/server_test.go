package server_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	sotwclient "github.com/envoyproxy/go-control-plane/pkg/client/sotw/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/spillway/spillway/xds/cache"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fleet is a small published state whose messages tests reuse or replace.
type fleet struct {
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	listeners []*listenerv3.Listener
	routes    []*routev3.RouteConfiguration
}

func newFleet() *fleet {
	return &fleet{
		clusters:  []*clusterv3.Cluster{cluster("a", time.Second), cluster("b", time.Second)},
		endpoints: []*endpointv3.ClusterLoadAssignment{endpoints("a", 8001), endpoints("b", 8002)},
		listeners: []*listenerv3.Listener{listener("public", 8080)},
		routes:    []*routev3.RouteConfiguration{route("public", "a")},
	}
}

func (f *fleet) resources() map[string][]cache.Resource {
	out := map[string][]cache.Resource{}
	for _, m := range f.clusters {
		out[resource.ClusterType] = append(out[resource.ClusterType], named(m)...)
	}
	for _, m := range f.endpoints {
		out[resource.EndpointType] = append(out[resource.EndpointType], named(m)...)
	}
	for _, m := range f.listeners {
		out[resource.ListenerType] = append(out[resource.ListenerType], named(m)...)
	}
	for _, m := range f.routes {
		out[resource.RouteType] = append(out[resource.RouteType], named(m)...)
	}
	return out
}

// subscribeLikeEnvoy opens CDS and LDS wildcard, then EDS and RDS by name,
// ACKing every response, and returns the last response of each type.
func subscribeLikeEnvoy(t *testing.T, a *adsStream) map[string]*discovery.DiscoveryResponse {
	t.Helper()
	a.request(resource.ClusterType, nil, nil)
	a.request(resource.ListenerType, nil, nil)
	got := a.recvTypes(resource.ClusterType, resource.ListenerType)
	a.request(resource.ClusterType, nil, got[resource.ClusterType])
	a.request(resource.ListenerType, nil, got[resource.ListenerType])

	a.request(resource.EndpointType, []string{"a", "b"}, nil)
	a.request(resource.RouteType, []string{"public"}, nil)
	more := a.recvTypes(resource.EndpointType, resource.RouteType)
	a.request(resource.EndpointType, []string{"a", "b"}, more[resource.EndpointType])
	a.request(resource.RouteType, []string{"public"}, more[resource.RouteType])
	got[resource.EndpointType] = more[resource.EndpointType]
	got[resource.RouteType] = more[resource.RouteType]
	return got
}

func TestEnvoyLikeSubscriptionGetsOnlyChanges(t *testing.T) {
	e := start(t)
	f := newFleet()
	e.set(t, f.resources())
	a := e.openADS(t, "envoy-1")

	first := subscribeLikeEnvoy(t, a)
	for typeURL, want := range map[string][]string{
		resource.ClusterType: {"a", "b"}, resource.ListenerType: {"public"},
		resource.EndpointType: {"a", "b"}, resource.RouteType: {"public"},
	} {
		if got := names(t, first[typeURL]); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", typeURL, got, want)
		}
	}
	a.none() // ACKs must not bring the same versions back

	clustersBefore := e.cache.Versions(resource.ClusterType)
	f.endpoints[0] = endpoints("a", 8001, 8003)
	e.set(t, f.resources())

	r := a.recv()
	oldVersion := first[resource.EndpointType].GetVersionInfo()
	if r.GetTypeUrl() != resource.EndpointType || r.GetVersionInfo() == oldVersion {
		t.Fatalf("got %s version %s, want a new endpoint version", r.GetTypeUrl(), r.GetVersionInfo())
	}
	pushed := unpack(t, r)
	if diff := cmp.Diff([]proto.Message{f.endpoints[0]}, pushed, protocmp.Transform()); diff != "" {
		t.Errorf("endpoint push (-want +got):\n%s", diff)
	}
	a.request(resource.EndpointType, []string{"a", "b"}, r)
	a.none() // clusters, listeners and routes did not change

	if diff := cmp.Diff(clustersBefore, e.cache.Versions(resource.ClusterType)); diff != "" {
		t.Errorf("cluster versions changed with endpoints only (-before +after):\n%s", diff)
	}
	counts := map[string]float64{"cluster": 1, "listener": 1, "endpoint": 2, "route": 1}
	for typeURL, n := range counts {
		e.eventually(t, "spillway_xds_acks_total", typeURL, n)
		if got := e.metric(t, "spillway_xds_pushes_total", typeURL); got != n {
			t.Errorf("pushes{%s} = %v, want %v", typeURL, got, n)
		}
	}
}

func TestUnchangedClusterKeepsVersion(t *testing.T) {
	e := start(t)
	f := newFleet()
	e.set(t, f.resources())
	a := e.openADS(t, "envoy-1")
	first := subscribeLikeEnvoy(t, a)
	before := e.cache.Versions(resource.ClusterType)

	// A fresh but equal cluster a, a changed cluster b and endpoints a.
	f.clusters = []*clusterv3.Cluster{cluster("a", time.Second), cluster("b", 2*time.Second)}
	f.endpoints[0] = endpoints("a", 9001)
	e.set(t, f.resources())

	got := a.recvTypes(resource.ClusterType, resource.EndpointType)
	after := e.cache.Versions(resource.ClusterType)
	if before["a"] != after["a"] || before["b"] == after["b"] {
		t.Errorf("cluster versions before %v, after %v: want a kept and b changed", before, after)
	}
	if n := names(t, got[resource.ClusterType]); !slices.Equal(n, []string{"a", "b"}) {
		t.Errorf("clusters are full state: got %v", n)
	}
	if got[resource.ClusterType].GetVersionInfo() == first[resource.ClusterType].GetVersionInfo() {
		t.Error("cluster response kept its version although b changed")
	}
	if n := names(t, got[resource.EndpointType]); !slices.Equal(n, []string{"a"}) {
		t.Errorf("endpoints: got %v, want only the changed one", n)
	}
}

func TestNACKIsCountedLoggedOnceAndNotResent(t *testing.T) {
	e := start(t)
	f := newFleet()
	e.set(t, f.resources())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := sotwclient.NewADSClient(ctx, &corev3.Node{Id: "nacker"}, resource.ClusterType)
	if err := client.InitConnect(e.conn); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Fetch(); err != nil {
		t.Fatal(err)
	}
	// Envoy repeats the error detail while it keeps the same nonce.
	for range 2 {
		if err := client.Nack("cluster a: bad slow start window"); err != nil {
			t.Fatal(err)
		}
	}

	fetched := fetchLater(client)
	select {
	case <-fetched:
		t.Fatal("the server sent again after a NACK")
	case <-time.After(quiet):
	}
	e.eventually(t, "spillway_xds_nacks_total", "cluster", 1)
	warned := e.logs.lines("level=WARN", "node_id=nacker", "type_url="+resource.ClusterType,
		`err="cluster a: bad slow start window"`)
	if len(warned) != 1 {
		t.Fatalf("NACK logged %d times, want once:\n%v", len(warned), warned)
	}
	if !regexp.MustCompile(`version=[0-9a-f]{16} nonce=1 `).MatchString(warned[0]) {
		t.Errorf("NACK log lacks the rejected version and nonce: %s", warned[0])
	}

	f.clusters[1] = cluster("b", 3*time.Second)
	e.set(t, f.resources())
	select {
	case n, ok := <-fetched:
		if !ok || n != 2 {
			t.Fatalf("after a new Set: got %d resources (ok=%v), want 2", n, ok)
		}
	case <-time.After(wait):
		t.Fatal("a new version was not delivered after a NACK")
	}
	if err := client.Ack(); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "spillway_xds_acks_total", "cluster", 1)
	if got := e.metric(t, "spillway_xds_nacks_total", "cluster"); got != 1 {
		t.Errorf("nacks = %v, want 1", got)
	}
}

// fetchLater waits for the client's next response in the background and
// delivers how many resources it had; the channel closes on error.
func fetchLater(client sotwclient.ADSClient) chan int {
	fetched := make(chan int, 1)
	go func() {
		r, err := client.Fetch()
		if err != nil {
			close(fetched)
			return
		}
		fetched <- len(r.Resources)
	}()
	return fetched
}

func TestByNameOnlyListener(t *testing.T) {
	e := start(t)
	f := newFleet()
	rs := f.resources()
	rs[resource.ListenerType] = append(rs[resource.ListenerType],
		cache.Resource{Name: "grpc-pool", Message: apiListener("grpc-pool"), ByNameOnly: true})
	e.set(t, rs)

	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{name: "wildcard", want: []string{"public"}},
		{name: "explicit wildcard", names: []string{"*"}, want: []string{"public"}},
		{name: "by name", names: []string{"grpc-pool"}, want: []string{"grpc-pool"}},
		{name: "wildcard and name", names: []string{"*", "grpc-pool"},
			want: []string{"grpc-pool", "public"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.openADS(t, "client-"+tt.name)
			a.request(resource.ListenerType, tt.names, nil)
			if got := names(t, a.recv()); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("change reaches only named subscribers", func(t *testing.T) {
		wild := e.openADS(t, "envoy")
		wild.request(resource.ListenerType, nil, nil)
		wild.request(resource.ListenerType, nil, wild.recv())
		grpcClient := e.openADS(t, "grpc")
		grpcClient.request(resource.ListenerType, []string{"grpc-pool"}, nil)
		grpcClient.request(resource.ListenerType, []string{"grpc-pool"}, grpcClient.recv())

		changed := apiListener("grpc-pool")
		changed.StatPrefix = "changed"
		rs[resource.ListenerType][1].Message = changed
		e.set(t, rs)

		if got := unpack(t, grpcClient.recv()); len(got) != 1 ||
			got[0].(*listenerv3.Listener).GetStatPrefix() != "changed" {
			t.Errorf("named subscriber got %v", got)
		}
		wild.none()
	})
}

func TestDeltaSendsOnlyChangesAndRemovals(t *testing.T) {
	e := start(t)
	rs := map[string][]cache.Resource{resource.ClusterType: named(
		cluster("a", time.Second), cluster("b", time.Second), cluster("c", time.Second))}
	e.set(t, rs)
	v1 := e.cache.Versions(resource.ClusterType)

	d := e.openDelta(t, "delta-1")
	d.request(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType})
	r := d.recv()
	if diff := cmp.Diff(v1, deltaVersions(r)); diff != "" || len(r.GetRemovedResources()) != 0 {
		t.Fatalf("first delta response (-want +got):\n%s removed %v", diff, r.GetRemovedResources())
	}
	d.ack(r)
	d.none()

	// a unchanged, b changed, c removed, d added.
	e.set(t, map[string][]cache.Resource{resource.ClusterType: named(
		cluster("a", time.Second), cluster("b", 5*time.Second), cluster("d", time.Second))})
	v2 := e.cache.Versions(resource.ClusterType)
	r = d.recv()
	want := map[string]string{"b": v2["b"], "d": v2["d"]}
	if diff := cmp.Diff(want, deltaVersions(r)); diff != "" {
		t.Errorf("changed resources (-want +got):\n%s", diff)
	}
	if !slices.Equal(r.GetRemovedResources(), []string{"c"}) {
		t.Errorf("removed = %v, want [c]", r.GetRemovedResources())
	}
	d.ack(r)
	e.eventually(t, "spillway_xds_acks_total", "cluster", 2)

	t.Run("initial resource versions", func(t *testing.T) {
		d2 := e.openDelta(t, "delta-2")
		d2.request(&discovery.DeltaDiscoveryRequest{
			TypeUrl: resource.ClusterType,
			// a is current, b is stale, c is gone, d is unknown.
			InitialResourceVersions: map[string]string{"a": v2["a"], "b": v1["b"], "c": v1["c"]},
		})
		r := d2.recv()
		want := map[string]string{"b": v2["b"], "d": v2["d"]}
		if diff := cmp.Diff(want, deltaVersions(r)); diff != "" {
			t.Errorf("resources (-want +got):\n%s", diff)
		}
		if !slices.Equal(r.GetRemovedResources(), []string{"c"}) {
			t.Errorf("removed = %v, want [c]", r.GetRemovedResources())
		}
	})

	t.Run("NACK is not resent", func(t *testing.T) {
		e.set(t, map[string][]cache.Resource{resource.ClusterType: named(
			cluster("a", time.Second), cluster("b", 6*time.Second), cluster("d", time.Second))})
		r := d.recv()
		d.request(&discovery.DeltaDiscoveryRequest{
			TypeUrl: resource.ClusterType, ResponseNonce: r.GetNonce(),
			ErrorDetail: statusMessage("cluster b: rejected"),
		})
		d.none()
		e.eventually(t, "spillway_xds_nacks_total", "cluster", 1)
	})
}

func TestEachResourceMarshalledOncePerVersion(t *testing.T) {
	e := start(t)
	f := newFleet()
	e.set(t, f.resources())

	const streams = 50
	clients := make([]*adsStream, streams)
	for i := range clients {
		clients[i] = e.openADS(t, fmt.Sprintf("envoy-%d", i))
		clients[i].request(resource.EndpointType, []string{"a", "b"}, nil)
	}
	firsts := make([]*discovery.DiscoveryResponse, streams)
	for i, c := range clients {
		firsts[i] = c.recv()
		c.request(resource.EndpointType, []string{"a", "b"}, firsts[i])
	}
	e.eventually(t, "spillway_xds_streams", "", streams)

	tests := []struct {
		name   string
		change func()
		// marshals is how many resources the Set marshals; pushed whether
		// the streams get endpoint a.
		marshals uint64
		pushed   bool
	}{
		{name: "one changed message", change: func() { f.endpoints[0] = endpoints("a", 7001) },
			marshals: 1, pushed: true},
		{name: "every message rebuilt, same content", change: func() { f = rebuilt(f) },
			marshals: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.cache.Marshals()
			metricBefore := e.metric(t, "spillway_xds_resource_marshals_total", "")
			tt.change()
			e.set(t, f.resources())

			if got := e.cache.Marshals() - before; got != tt.marshals {
				t.Errorf("marshals = %d, want %d", got, tt.marshals)
			}
			want := metricBefore + float64(tt.marshals)
			if got := e.metric(t, "spillway_xds_resource_marshals_total", ""); got != want {
				t.Errorf("marshals metric = %v, want %v", got, want)
			}
			if !tt.pushed {
				clients[0].none()
				return
			}
			for i, c := range clients {
				r := c.recv()
				if n := names(t, r); !slices.Equal(n, []string{"a"}) {
					t.Fatalf("stream %d got %v", i, n)
				}
				c.request(resource.EndpointType, []string{"a", "b"}, r)
			}
		})
	}
}

// rebuilt returns a fleet of new messages equal to f's.
func rebuilt(f *fleet) *fleet {
	out := &fleet{}
	for _, m := range f.clusters {
		out.clusters = append(out.clusters, cloneOf(m))
	}
	for _, m := range f.endpoints {
		out.endpoints = append(out.endpoints, cloneOf(m))
	}
	for _, m := range f.listeners {
		out.listeners = append(out.listeners, cloneOf(m))
	}
	for _, m := range f.routes {
		out.routes = append(out.routes, cloneOf(m))
	}
	return out
}

func TestStreamsGauge(t *testing.T) {
	e := start(t)
	e.set(t, newFleet().resources())
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discovery.NewAggregatedDiscoveryServiceClient(e.conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "spillway_xds_streams", "", 1)
	cancel()
	e.eventually(t, "spillway_xds_streams", "", 0)
}

func TestADSSendsClustersFirst(t *testing.T) {
	e := start(t)
	f := newFleet()
	e.set(t, f.resources())
	a := e.openADS(t, "envoy-1")
	subscribeLikeEnvoy(t, a)
	// The last ACKs must have opened their watches before the Set, or their
	// types would be answered when the ACKs arrive instead.
	e.eventually(t, "spillway_xds_acks_total", "route", 1)
	e.eventually(t, "spillway_xds_acks_total", "endpoint", 1)
	a.none()

	// One Set changes every type; Envoy must get them in dependency order.
	f.clusters[0] = cluster("a", 4*time.Second)
	f.endpoints[0] = endpoints("a", 8004)
	f.listeners[0] = listener("public", 8081)
	f.routes[0] = route("public", "b")
	e.set(t, f.resources())

	var order []string
	for range 4 {
		order = append(order, a.recv().GetTypeUrl())
	}
	want := []string{resource.ClusterType, resource.EndpointType,
		resource.ListenerType, resource.RouteType}
	if !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
}

func TestPerTypeServices(t *testing.T) {
	e := start(t)
	e.set(t, newFleet().resources())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tests := []struct {
		name  string
		open  func() (sotwStream, error)
		req   *discovery.DiscoveryRequest
		names []string
	}{
		{
			name: "clusters",
			open: func() (sotwStream, error) {
				return clusterservice.NewClusterDiscoveryServiceClient(e.conn).StreamClusters(ctx)
			},
			req:   &discovery.DiscoveryRequest{},
			names: []string{"a", "b"},
		},
		{
			name: "endpoints",
			open: func() (sotwStream, error) {
				return endpointservice.NewEndpointDiscoveryServiceClient(e.conn).StreamEndpoints(ctx)
			},
			req:   &discovery.DiscoveryRequest{ResourceNames: []string{"b"}},
			names: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(tt.req); err != nil {
				t.Fatal(err)
			}
			r, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if got := names(t, r); !slices.Equal(got, tt.names) {
				t.Errorf("got %v, want %v", got, tt.names)
			}
		})
	}
}

// sotwStream is what the per-type SotW clients have in common.
type sotwStream interface {
	Send(*discovery.DiscoveryRequest) error
	Recv() (*discovery.DiscoveryResponse, error)
}

// TestFetchOverGRPC checks the per-type services' REST-style Fetch: it
// answers with the named resources of its service's type, fills in an
// empty type URL, and refuses another type's.
func TestFetchOverGRPC(t *testing.T) {
	e := start(t)
	e.set(t, newFleet().resources())
	client := clusterservice.NewClusterDiscoveryServiceClient(e.conn)

	r, err := client.FetchClusters(context.Background(),
		&discovery.DiscoveryRequest{ResourceNames: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, r); !slices.Equal(got, []string{"b"}) || r.GetVersionInfo() == "" {
		t.Errorf("got %v version %q, want [b] with a version", got, r.GetVersionInfo())
	}
	_, err = client.FetchClusters(context.Background(),
		&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("fetch of endpoints on the cluster service: %v, want InvalidArgument", err)
	}
}
