package cache

import (
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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

// clusterResponse is the response to a new stream of node asking for
// clusters names (none: wildcard).
func clusterResponse(
	t *testing.T, c *Cache, node *corev3.Node, names ...string,
) *discovery.DiscoveryResponse {
	t.Helper()
	return one(t, open(t, c, &discovery.DiscoveryRequest{
		Node: node, TypeUrl: resource.ClusterType, ResourceNames: names,
	}))
}

func TestAccessLimitsSotwStreams(t *testing.T) {
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
			r := clusterResponse(t, c, tt.node, tt.names...)
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
	clustersOf := func(node *corev3.Node) *typeState {
		all := c.state.types[resource.ClusterType]
		return c.access.grantFor(node).typeState(resource.ClusterType, all)
	}
	edge := &corev3.Node{Cluster: "edge"}

	free := clusterResponse(t, c, &corev3.Node{Id: "e1", Cluster: "edge"})
	if c.access.grantFor(edge) != nil || clustersOf(edge) != c.state.types[resource.ClusterType] {
		t.Fatal("a cache without rules does not hand out its own state")
	}
	if len(free.GetResources()) != 3 {
		t.Fatalf("without rules got %d clusters", len(free.GetResources()))
	}

	if err := c.SetAccess(edgeAccess); err != nil {
		t.Fatal(err)
	}
	limited := clusterResponse(t, c, &corev3.Node{Id: "e1", Cluster: "edge"})
	if len(limited.GetResources()) != 1 || limited.GetResources()[0] != free.GetResources()[0] {
		t.Error("the limited node's cluster a is not the shared marshalled object")
	}
	if clustersOf(edge) != clustersOf(&corev3.Node{Id: "e2", Cluster: "edge"}) {
		t.Error("two nodes of one rule got separate filtered lists")
	}
	if clustersOf(&corev3.Node{Cluster: "core"}) != c.state.types[resource.ClusterType] {
		t.Error("an unmatched node does not get the state itself")
	}
}

// TestSetAccessUpdatesOpenStreams checks that changing the rules sends a
// waiting client what it may now have, and removes what it may not.
func TestSetAccessUpdatesOpenStreams(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	node := &corev3.Node{Id: "e1", Cluster: "edge"}

	// SotW: the full list is sent again, without the hidden clusters.
	sotw := newSotwClient(t, c, node)
	one(t, sotw.request(resource.ClusterType))
	none(t, sotw.request(resource.ClusterType))

	// Delta: the hidden clusters are named as removed.
	delta := newDeltaClient(t, c, node)
	_, out := delta.send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType,
		InitialResourceVersions: c.Versions(resource.ClusterType)})
	if r := one(t, out); len(r.GetResources()) != 0 || len(r.GetRemovedResources()) != 0 {
		t.Fatalf("up-to-date wildcard delta client was sent %v", r)
	}
	none(t, delta.request(resource.ClusterType, nil, nil))

	if err := c.SetAccess(edgeAccess); err != nil {
		t.Fatal(err)
	}
	if n := responseNames(t, one(t, sotw.update())); !slices.Equal(n, []string{"a"}) {
		t.Errorf("SotW after SetAccess: %v, want [a]", n)
	}
	d := one(t, delta.update())
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
	out, err := c.Fetch(&discovery.DiscoveryRequest{
		Node: &corev3.Node{Cluster: "edge"}, TypeUrl: resource.ClusterType,
		ResourceNames: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
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
	if n := responseNames(t, clusterResponse(t, c, &corev3.Node{Id: "trusted"})); len(n) != 3 {
		t.Errorf("matched node got %v, want every cluster", n)
	}
	if n := responseNames(t, clusterResponse(t, c, &corev3.Node{Id: "x"}, "a")); n != nil {
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
			r := clusterResponse(t, c, &corev3.Node{Cluster: "edge"})
			if n := responseNames(t, r); !slices.Equal(n, []string{"a"}) {
				t.Errorf("after a rejected SetAccess the edge node got %v, want [a]", n)
			}
		})
	}
}
