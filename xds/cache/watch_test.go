package cache

import (
	"slices"
	"sync"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// claN is a load assignment whose content varies with n.
func claN(name string, n int) *endpointv3.ClusterLoadAssignment {
	m := cla(name)
	for range n {
		m.Endpoints = append(m.Endpoints, &endpointv3.LocalityLbEndpoints{})
	}
	return m
}

func endpoints(a, b, c int) map[string][]Resource {
	return map[string][]Resource{
		resource.EndpointType: res(claN("a", a), claN("b", b), claN("c", c)),
	}
}

// ackedEndpointStream opens a stream whose EDS subscription names names,
// and acknowledges its first response, which it returns.
func ackedEndpointStream(
	t *testing.T, c *Cache, names ...string,
) (*sotwClient, *discovery.DiscoveryResponse) {
	t.Helper()
	sc := newSotwClient(t, c, nil)
	first := one(t, sc.request(resource.EndpointType, names...))
	none(t, sc.request(resource.EndpointType, names...))
	return sc, first
}

// TestEndpointStreamSendsOnlyChanges checks that an EDS subscription gets
// only the changed resources it names, with the type's content version,
// and that a client reconnecting gets everything it names whatever its
// version: the type's version does not tell which names the client was
// sent.
func TestEndpointStreamSendsOnlyChanges(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	sc, first := ackedEndpointStream(t, c, "a", "b")
	if n := responseNames(t, first); !slices.Equal(n, []string{"a", "b"}) {
		t.Fatalf("first response %v, want [a b]", n)
	}

	mustSet(t, c, endpoints(1, 1, 2))
	none(t, sc.update()) // c is not named

	mustSet(t, c, endpoints(1, 2, 2))
	r := one(t, sc.update())
	if n := responseNames(t, r); !slices.Equal(n, []string{"b"}) {
		t.Errorf("after b changed got %v, want [b]", n)
	}
	if r.GetVersionInfo() == first.GetVersionInfo() {
		t.Error("version_info did not change with b")
	}

	tests := []struct {
		name    string
		version string
	}{
		{name: "reconnect with the current version", version: r.GetVersionInfo()},
		{name: "reconnect with an old version", version: first.GetVersionInfo()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := []string{"a", "b"}
			out := open(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
				ResourceNames: names, VersionInfo: tt.version})
			if n := responseNames(t, one(t, out)); !slices.Equal(n, names) {
				t.Errorf("got %v, want %v", n, names)
			}
		})
	}
}

// TestReconnectedStreamStillSeesChanges checks that a reconnected stream,
// once answered and acknowledged, is sent the next change of what it
// names.
func TestReconnectedStreamStillSeesChanges(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	_, first := ackedEndpointStream(t, c, "a", "b")

	sc := newSotwClient(t, c, nil)
	names := []string{"a", "b"}
	_, out := sc.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: names, VersionInfo: first.GetVersionInfo()})
	one(t, out)
	none(t, sc.request(resource.EndpointType, names...))

	mustSet(t, c, endpoints(2, 1, 1))
	if n := responseNames(t, one(t, sc.update())); !slices.Equal(n, []string{"a"}) {
		t.Errorf("got %v, want [a]", n)
	}
}

// TestDeltaStreamSendsChangesAndRemovals checks a named delta subscription
// after a Set: only the changed resource is sent, and a removed one is
// named.
func TestDeltaStreamSendsChangesAndRemovals(t *testing.T) {
	c, _ := newTestCache(t)
	tests := []struct {
		name    string
		next    map[string][]Resource
		want    []string
		removed []string
	}{
		{name: "b changed", next: endpoints(1, 2, 1), want: []string{"b"}},
		{name: "a removed", next: map[string][]Resource{
			resource.EndpointType: res(claN("b", 1), claN("c", 1))}, removed: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustSet(t, c, endpoints(1, 1, 1))
			known := c.Versions(resource.EndpointType)
			delete(known, "c")
			dc := newDeltaClient(t, c, nil)
			_, out := dc.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType,
				ResourceNamesSubscribe: []string{"a", "b"}, InitialResourceVersions: known})
			none(t, out) // the client holds what it names

			mustSet(t, c, tt.next)
			r := one(t, dc.update())
			n := deltaNames(r)
			if !slices.Equal(n, tt.want) || !slices.Equal(r.GetRemovedResources(), tt.removed) {
				t.Errorf("got %v removed %v, want %v removed %v",
					n, r.GetRemovedResources(), tt.want, tt.removed)
			}
		})
	}
}

// TestStreamsWhileSetRuns opens, drives and closes streams on many
// goroutines while Set runs (meant for -race): no stream sends a second
// response before the first is acknowledged, every acknowledged stream
// whose names a Set changes is woken and sent one response, and a closed
// stream is forgotten.
func TestStreamsWhileSetRuns(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(0, 0, 0))
	stop := make(chan struct{})
	var churn sync.WaitGroup
	for g := range 4 {
		churn.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				names := []string{"a", "b", "c"}[:1+(g+i)%3]
				s := c.NewStream(resource.EndpointType, false)
				_, out, err := s.SotwRequest(&discovery.DiscoveryRequest{ResourceNames: names})
				if err != nil || len(out) != 1 {
					t.Errorf("first request: %d responses, err %v; want 1", len(out), err)
				}
				if more := s.SotwUpdate(); len(more) != 0 {
					t.Errorf("an unacknowledged stream sent %d more responses", len(more))
				}
				s.Close()
			}
		})
	}
	for round := 1; round <= 20; round++ {
		var streams []*sotwClient
		for range 10 {
			sc, _ := ackedEndpointStream(t, c, "a")
			streams = append(streams, sc)
		}
		mustSet(t, c, endpoints(round, 0, round%2))
		for i, sc := range streams {
			if out := sc.update(); len(out) != 1 {
				t.Fatalf("round %d stream %d: %d responses, want 1", round, i, len(out))
			}
			sc.s.Close()
		}
	}
	close(stop)
	churn.Wait()
	c.mu.RLock()
	n := len(c.streams)
	c.mu.RUnlock()
	if n != 0 {
		t.Errorf("%d streams left in the cache", n)
	}
}

// TestWildcardFullStateFollowsItsVersion checks that a wildcard cluster
// subscription, which keeps only the version of the list its client
// holds, waits after an ACK, gets the full list on a change, and gets the
// named list when it stops being wildcard.
func TestWildcardFullStateFollowsItsVersion(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	sc := newSotwClient(t, c, nil)
	first := one(t, sc.request(resource.ClusterType))
	sub := sc.s.subs[resource.ClusterType]
	if sub.held.len() != 0 || sub.heldView != first.GetVersionInfo() {
		t.Errorf("wildcard subscription holds %d names and view %q, want none and %q",
			sub.held.len(), sub.heldView, first.GetVersionInfo())
	}
	none(t, sc.request(resource.ClusterType))

	mustSet(t, c, map[string][]Resource{resource.ClusterType: res(
		cluster("a", 1), cluster("b", 2))})
	r := one(t, sc.update())
	if n := responseNames(t, r); !slices.Equal(n, []string{"a", "b"}) {
		t.Errorf("after a change got %v, want [a b]", n)
	}

	named := one(t, sc.request(resource.ClusterType, "b"))
	if n := responseNames(t, named); !slices.Equal(n, []string{"b"}) {
		t.Errorf("after naming b got %v, want [b]", n)
	}
}

// TestAckWithNewNameIsAnswered checks that a client acknowledging the
// current version while asking for one more name gets that name, and that
// dropping it again sends nothing.
func TestAckWithNewNameIsAnswered(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	sc, _ := ackedEndpointStream(t, c, "a", "b")

	r := one(t, sc.request(resource.EndpointType, "a", "b", "c"))
	if n := responseNames(t, r); !slices.Equal(n, []string{"c"}) {
		t.Errorf("got %v, want [c]", n)
	}
	none(t, sc.request(resource.EndpointType, "a", "b"))
}
