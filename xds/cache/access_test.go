package cache

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// edgeAccess lets nodes of cluster edge have cluster a only, and nodes
// whose ID starts with "deny-" nothing; the rest have everything.
var edgeAccess = Access{Rules: []AccessRule{
	{NodeCluster: "edge", Names: map[string][]string{resource.ClusterType: {"a"}}},
	{NodeID: "deny-*", Names: map[string][]string{resource.ClusterType: nil}},
}}

func abcClusters() map[string][]Resource {
	return map[string][]Resource{resource.ClusterType: res(
		cluster("a", 1), cluster("b", 1), cluster("c", 1))}
}

// clusterWatch opens a SotW cluster watch of node for names (none:
// wildcard).
func clusterWatch(
	t *testing.T, c *Cache, node *corev3.Node, names ...string,
) chan cachev3.Response {
	t.Helper()
	return sotwWatch(t, c, &discovery.DiscoveryRequest{
		Node: node, TypeUrl: resource.ClusterType, ResourceNames: names,
	}, stream.NewSotwSubscription(names, true))
}

func TestAccessLimitsSotwWatches(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	if err := c.SetAccess(edgeAccess); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		node  *corev3.Node
		names []string
		want  []string
	}{
		{name: "limited wildcard", node: &corev3.Node{Id: "e1", Cluster: "edge"},
			want: []string{"a"}},
		{name: "limited asks for a forbidden name", node: &corev3.Node{Cluster: "edge"},
			names: []string{"b", "c"}, want: nil},
		{name: "limited asks for allowed and forbidden", node: &corev3.Node{Cluster: "edge"},
			names: []string{"a", "b"}, want: []string{"a"}},
		{name: "denied", node: &corev3.Node{Id: "deny-1", Cluster: "core"}, want: nil},
		{name: "first rule wins", node: &corev3.Node{Id: "deny-2", Cluster: "edge"},
			want: []string{"a"}},
		{name: "unmatched", node: &corev3.Node{Id: "core-1", Cluster: "core"},
			want: []string{"a", "b", "c"}},
		{name: "no node", want: []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := got(t, clusterWatch(t, c, tt.node, tt.names...))
			if n := responseNames(t, r); !slices.Equal(n, tt.want) {
				t.Errorf("got %v, want %v", n, tt.want)
			}
		})
	}
}

// TestAccessSharesMarshalledResources checks that a limited node gets the
// same marshalled objects as the others, that nodes of one rule share one
// filtered list, and that without rules nothing is filtered at all.
func TestAccessSharesMarshalledResources(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())

	open := got(t, clusterWatch(t, c, &corev3.Node{Id: "e1", Cluster: "edge"}))
	w := &watch{typeURL: resource.ClusterType, node: &corev3.Node{Cluster: "edge"}}
	w.grant = c.access.grantFor(w.node)
	if w.grant != nil || w.resourcesOf(c.state) != c.state.types[resource.ClusterType] {
		t.Fatal("a cache without rules does not hand out its own state")
	}
	if len(open.GetResources()) != 3 {
		t.Fatalf("without rules got %d clusters", len(open.GetResources()))
	}

	if err := c.SetAccess(edgeAccess); err != nil {
		t.Fatal(err)
	}
	limited := got(t, clusterWatch(t, c, &corev3.Node{Id: "e1", Cluster: "edge"}))
	if len(limited.GetResources()) != 1 || limited.GetResources()[0] != open.GetResources()[0] {
		t.Error("the limited node's cluster a is not the shared marshalled object")
	}
	w.grant = c.access.grantFor(w.node)
	other := &watch{typeURL: resource.ClusterType, node: &corev3.Node{Id: "e2", Cluster: "edge"}}
	other.grant = c.access.grantFor(other.node)
	if w.resourcesOf(c.state) != other.resourcesOf(c.state) {
		t.Error("two nodes of one rule got separate filtered lists")
	}
	free := &watch{typeURL: resource.ClusterType, node: &corev3.Node{Cluster: "core"}}
	free.grant = c.access.grantFor(free.node)
	if free.resourcesOf(c.state) != c.state.types[resource.ClusterType] {
		t.Error("an unmatched node does not get the state itself")
	}
}

// TestSetAccessAnswersOpenWatches checks that changing the rules sends a
// waiting client what it may now have, and removes what it may not.
func TestSetAccessAnswersOpenWatches(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	node := &corev3.Node{Id: "e1", Cluster: "edge"}

	// SotW: the full list is sent again, without the hidden clusters.
	sub := stream.NewSotwSubscription(nil, true)
	req := &discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}
	first := <-sotwWatch(t, c, req, sub)
	sub.SetReturnedResources(first.GetReturnedResources())
	next := &discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType,
		ResponseNonce: "1"}
	sotw := sotwWatch(t, c, next, sub)

	// Delta: the hidden clusters are named as removed.
	dch := make(chan cachev3.DeltaResponse, 2)
	dsub := stream.NewDeltaSubscription(nil, nil, c.Versions(resource.ClusterType), true)
	cancel, err := c.CreateDeltaWatch(&discovery.DeltaDiscoveryRequest{Node: node,
		TypeUrl: resource.ClusterType, ResponseNonce: "1"}, dsub, dch)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	nothing(t, sotw)
	if len(dch) != 0 {
		t.Fatal("delta watch answered before the rules changed")
	}

	if err := c.SetAccess(edgeAccess); err != nil {
		t.Fatal(err)
	}
	if n := responseNames(t, got(t, sotw)); !slices.Equal(n, []string{"a"}) {
		t.Errorf("SotW after SetAccess: %v, want [a]", n)
	}
	d, _ := (<-dch).GetDeltaDiscoveryResponse()
	if len(d.GetResources()) != 0 || !slices.Equal(d.GetRemovedResources(), []string{"b", "c"}) {
		t.Errorf("delta after SetAccess: %d resources, removed %v; want removed [b c]",
			len(d.GetResources()), d.GetRemovedResources())
	}
}

func TestAccessFetch(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	if err := c.SetAccess(edgeAccess); err != nil {
		t.Fatal(err)
	}
	r, err := c.Fetch(context.Background(), &discovery.DiscoveryRequest{
		Node: &corev3.Node{Cluster: "edge"}, TypeUrl: resource.ClusterType,
		ResourceNames: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := r.GetDiscoveryResponse()
	if n := responseNames(t, out); !slices.Equal(n, []string{"a"}) {
		t.Errorf("got %v, want [a]", n)
	}
}

func TestAccessDenyUnmatched(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	err := c.SetAccess(Access{DenyUnmatched: true, Rules: []AccessRule{{NodeID: "trusted"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := responseNames(t, got(t, clusterWatch(t, c, &corev3.Node{Id: "trusted"}))); len(n) != 3 {
		t.Errorf("matched node got %v, want every cluster", n)
	}
	if n := responseNames(t, got(t, clusterWatch(t, c, &corev3.Node{Id: "x"}, "a"))); n != nil {
		t.Errorf("unmatched node got %v, want nothing", n)
	}
}

func TestSetAccessRejectsBadRules(t *testing.T) {
	tests := []struct {
		name string
		a    Access
		want string
	}{
		{name: "bad pattern", a: Access{Rules: []AccessRule{{NodeID: "a["}}},
			want: `access rule 0: pattern "a[": syntax error in pattern`},
		{name: "unsupported type", a: Access{Rules: []AccessRule{{NodeID: "a",
			Names: map[string][]string{resource.SecretType: nil}}}},
			want: `access rule 0: unsupported type URL "` + resource.SecretType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t)
			mustSet(t, c, abcClusters())
			if err := c.SetAccess(edgeAccess); err != nil {
				t.Fatal(err)
			}
			err := c.SetAccess(tt.a)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SetAccess error = %v, want it to contain %q", err, tt.want)
			}
			r := got(t, clusterWatch(t, c, &corev3.Node{Cluster: "edge"}))
			if n := responseNames(t, r); !slices.Equal(n, []string{"a"}) {
				t.Errorf("after a rejected SetAccess the edge node got %v, want [a]", n)
			}
		})
	}
}
