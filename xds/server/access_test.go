package server_test

import (
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/spillway/spillway/xds/cache"
)

// edgeFleet is newFleet with a second listener, internal, whose routes go
// to cluster b.
func edgeFleet() *fleet {
	f := newFleet()
	f.listeners = append(f.listeners, listener("internal", 8081))
	f.routes = append(f.routes, route("internal", "b"))
	return f
}

// edgeOnly lets nodes of cluster edge have listener public, its routes and
// cluster a with its endpoints.
var edgeOnly = cache.Access{Rules: []cache.AccessRule{{
	NodeCluster: "edge",
	Names: map[string][]string{
		resource.ListenerType: {"public"}, resource.RouteType: {"public"},
		resource.ClusterType: {"a"}, resource.EndpointType: {"a"},
	},
}}}

// TestAccessOverADS runs two nodes side by side: one of cluster edge,
// limited by a rule, and one that no rule matches.
func TestAccessOverADS(t *testing.T) {
	e := start(t)
	f := edgeFleet()
	e.set(t, f.resources())
	if err := e.cache.SetAccess(edgeOnly); err != nil {
		t.Fatal(err)
	}
	edge := openADSOn(t, e.conn, &corev3.Node{Id: "edge-1", Cluster: "edge"})
	core := openADSOn(t, e.conn, &corev3.Node{Id: "core-1", Cluster: "core"})

	tests := []struct {
		stream *adsStream
		want   map[string][]string
	}{
		{stream: edge, want: map[string][]string{
			resource.ClusterType: {"a"}, resource.ListenerType: {"public"},
			resource.EndpointType: {"a"}, resource.RouteType: {"public"},
		}},
		{stream: core, want: map[string][]string{
			resource.ClusterType: {"a", "b"}, resource.ListenerType: {"internal", "public"},
			resource.EndpointType: {"a", "b"}, resource.RouteType: {"internal", "public"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.stream.node.GetId(), func(t *testing.T) {
			got := subscribeAll(t, tt.stream)
			for typeURL, want := range tt.want {
				if n := names(t, got[typeURL]); !slices.Equal(n, want) {
					t.Errorf("%s: got %v, want %v", typeURL, n, want)
				}
			}
		})
	}

	// A change to cluster b's endpoints reaches only the node that has b.
	f.endpoints[1] = endpoints("b", 8002, 8004)
	e.set(t, f.resources())
	if r := core.recv(); r.GetTypeUrl() != resource.EndpointType ||
		!slices.Equal(names(t, r), []string{"b"}) {
		t.Errorf("core node got %s %v, want endpoints b", r.GetTypeUrl(), names(t, r))
	}
	edge.none()
}

// subscribeAll subscribes like Envoy, asking for endpoints a and b and
// routes public and internal by name whatever it was given, and returns
// the last response of each type.
func subscribeAll(t *testing.T, a *adsStream) map[string]*discovery.DiscoveryResponse {
	t.Helper()
	a.request(resource.ClusterType, nil, nil)
	a.request(resource.ListenerType, nil, nil)
	got := a.recvTypes(resource.ClusterType, resource.ListenerType)
	a.request(resource.ClusterType, nil, got[resource.ClusterType])
	a.request(resource.ListenerType, nil, got[resource.ListenerType])

	eds, rds := []string{"a", "b"}, []string{"internal", "public"}
	a.request(resource.EndpointType, eds, nil)
	a.request(resource.RouteType, rds, nil)
	more := a.recvTypes(resource.EndpointType, resource.RouteType)
	a.request(resource.EndpointType, eds, more[resource.EndpointType])
	a.request(resource.RouteType, rds, more[resource.RouteType])
	got[resource.EndpointType] = more[resource.EndpointType]
	got[resource.RouteType] = more[resource.RouteType]
	return got
}

// TestAccessRefusesForbiddenNames asks by name for what the node may not
// have, over SotW and delta.
func TestAccessRefusesForbiddenNames(t *testing.T) {
	e := start(t)
	e.set(t, edgeFleet().resources())
	if err := e.cache.SetAccess(edgeOnly); err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "edge-2", Cluster: "edge"}

	t.Run("sotw cluster by name", func(t *testing.T) {
		a := openADSOn(t, e.conn, node)
		a.request(resource.ClusterType, []string{"b"}, nil)
		if n := names(t, a.recv()); len(n) != 0 {
			t.Errorf("got clusters %v, want none", n)
		}
	})
	t.Run("sotw endpoints by name", func(t *testing.T) {
		a := openADSOn(t, e.conn, node)
		a.request(resource.EndpointType, []string{"b"}, nil)
		a.none()
	})
	t.Run("delta cluster by name", func(t *testing.T) {
		d := e.openDelta(t, "")
		d.node = node
		d.request(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType,
			ResourceNamesSubscribe: []string{"b"}})
		d.none()
		d.request(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType,
			ResourceNamesSubscribe: []string{"a"}})
		r := d.recv()
		if got := deltaVersions(r); len(got) != 1 || got["a"] == "" {
			t.Errorf("after asking for a: %v, want a alone", got)
		}
	})
}

// TestAccessChangeReachesOpenStreams limits a node that is already
// subscribed: its next response no longer holds what it lost.
func TestAccessChangeReachesOpenStreams(t *testing.T) {
	e := start(t)
	e.set(t, edgeFleet().resources())
	a := openADSOn(t, e.conn, &corev3.Node{Id: "edge-3", Cluster: "edge"})
	a.request(resource.ClusterType, nil, nil)
	first := a.recv()
	if n := names(t, first); !slices.Equal(n, []string{"a", "b"}) {
		t.Fatalf("before the rule: %v", n)
	}
	a.request(resource.ClusterType, nil, first)
	a.none()

	if err := e.cache.SetAccess(edgeOnly); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-a.resps:
		if n := names(t, r); !slices.Equal(n, []string{"a"}) {
			t.Errorf("after the rule: %v, want [a]", n)
		}
	case <-time.After(wait):
		t.Fatal("no response after the rule changed")
	}
}
