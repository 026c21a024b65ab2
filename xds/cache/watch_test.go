package cache

import (
	"slices"
	"sync"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
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

// ackedEndpointWatch opens a first EDS watch of names, answers it as the
// server would and opens the watch that follows the ACK.
func ackedEndpointWatch(
	t *testing.T, c *Cache, names ...string,
) (stream.Subscription, *discovery.DiscoveryResponse, chan cachev3.Response) {
	t.Helper()
	sub := stream.NewSotwSubscription(names, true)
	r := <-sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: names}, sub)
	sub.SetReturnedResources(r.GetReturnedResources())
	first, err := r.GetDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	next := sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: names, ResponseNonce: "1"}, sub)
	return sub, first, next
}

// TestEndpointWatchSendsOnlyChanges checks that an EDS watch gets only the
// changed resources it names, with the type's content version, and that a
// client reconnecting gets everything it names whatever its version: the
// type's version does not tell which names the client was sent.
func TestEndpointWatchSendsOnlyChanges(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	_, first, ch := ackedEndpointWatch(t, c, "a", "b")
	if n := responseNames(t, first); !slices.Equal(n, []string{"a", "b"}) {
		t.Fatalf("first response %v, want [a b]", n)
	}

	mustSet(t, c, endpoints(1, 1, 2))
	nothing(t, ch) // c is not named

	mustSet(t, c, endpoints(1, 2, 2))
	r := got(t, ch)
	if n := responseNames(t, r); !slices.Equal(n, []string{"b"}) {
		t.Errorf("after b changed got %v, want [b]", n)
	}
	if r.GetVersionInfo() == first.GetVersionInfo() {
		t.Error("version_info did not change with b")
	}

	tests := []struct {
		name    string
		version string
		want    bool
	}{
		{name: "reconnect with the current version", version: r.GetVersionInfo(), want: true},
		{name: "reconnect with an old version", version: first.GetVersionInfo(), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := []string{"a", "b"}
			ch := sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
				ResourceNames: names, VersionInfo: tt.version},
				stream.NewSotwSubscription(names, true))
			if !tt.want {
				nothing(t, ch)
				return
			}
			if n := responseNames(t, got(t, ch)); !slices.Equal(n, names) {
				t.Errorf("got %v, want %v", n, names)
			}
		})
	}
}

// TestReconnectedWatchStillSeesChanges checks that a reconnected watch,
// once answered, wakes on the next change of what it names.
func TestReconnectedWatchStillSeesChanges(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	_, first, _ := ackedEndpointWatch(t, c, "a", "b")
	names := []string{"a", "b"}
	sub := stream.NewSotwSubscription(names, true)
	req := &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: names, VersionInfo: first.GetVersionInfo()}
	again := <-sotwWatch(t, c, req, sub)
	sub.SetReturnedResources(again.GetReturnedResources())
	ch := sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: names, VersionInfo: first.GetVersionInfo(), ResponseNonce: "2"}, sub)
	nothing(t, ch)
	mustSet(t, c, endpoints(2, 1, 1))
	if n := responseNames(t, got(t, ch)); !slices.Equal(n, []string{"a"}) {
		t.Errorf("got %v, want [a]", n)
	}
}

// TestDeltaWatchSendsChangesAndRemovals checks a named delta watch woken by
// a Set: only the changed resource is sent, and a removed one is named.
func TestDeltaWatchSendsChangesAndRemovals(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
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
			names := []string{"a", "b"}
			sub := stream.NewDeltaSubscription(names, nil, nil, true)
			known := c.Versions(resource.EndpointType)
			delete(known, "c")
			sub.SetReturnedResources(known)
			ch := make(chan cachev3.DeltaResponse, 2)
			cancel, err := c.CreateDeltaWatch(&discovery.DeltaDiscoveryRequest{
				TypeUrl: resource.EndpointType, ResponseNonce: "1"}, sub, ch)
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			if len(ch) != 0 {
				t.Fatal("an up-to-date delta watch answered")
			}
			mustSet(t, c, tt.next)
			if len(ch) != 1 {
				t.Fatalf("%d responses, want 1", len(ch))
			}
			r, _ := (<-ch).GetDeltaDiscoveryResponse()
			var sent []string
			for _, res := range r.GetResources() {
				sent = append(sent, res.GetName())
			}
			if !slices.Equal(sent, tt.want) || !slices.Equal(r.GetRemovedResources(), tt.removed) {
				t.Errorf("got %v removed %v, want %v removed %v",
					sent, r.GetRemovedResources(), tt.want, tt.removed)
			}
		})
	}
}

// TestWatchesAnswerOnceWhileSetRuns opens and cancels watches on many
// goroutines while Set runs (meant for -race): no watch answers twice,
// and every watch open when a Set changes what it names is answered.
func TestWatchesAnswerOnceWhileSetRuns(t *testing.T) {
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
				ch := make(chan cachev3.Response, 2)
				cancel, _ := c.CreateWatch(&discovery.DiscoveryRequest{
					TypeUrl: resource.EndpointType, ResourceNames: names, ResponseNonce: "1",
				}, stream.NewSotwSubscription(names, true), ch)
				cancel()
				if len(ch) > 1 {
					t.Errorf("a watch answered %d times", len(ch))
				}
			}
		})
	}
	for round := 1; round <= 20; round++ {
		var open []chan cachev3.Response
		for range 10 {
			sub := stream.NewSotwSubscription([]string{"a"}, true)
			sub.SetReturnedResources(map[string]string{"a": c.Versions(resource.EndpointType)["a"]})
			open = append(open, sotwWatch(t, c, &discovery.DiscoveryRequest{
				TypeUrl: resource.EndpointType, ResourceNames: []string{"a"}, ResponseNonce: "1",
			}, sub))
		}
		mustSet(t, c, endpoints(round, 0, round%2))
		for i, ch := range open {
			if len(ch) != 1 {
				t.Fatalf("round %d watch %d: %d responses, want 1", round, i, len(ch))
			}
		}
	}
	close(stop)
	churn.Wait()
	if n := c.watches[resource.EndpointType].size(); n != 0 {
		t.Errorf("%d watches left in the index", n)
	}
}

// TestWildcardFullStateFollowsItsVersion checks that a wildcard cluster
// subscription, whose ReturnedResources is the list's version alone, waits
// after an ACK, gets the full list on a change, and gets the named list
// when it stops being wildcard.
func TestWildcardFullStateFollowsItsVersion(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	sub := stream.NewSotwSubscription(nil, true)
	first := <-sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}, sub)
	sub.SetReturnedResources(first.GetReturnedResources())
	if n := len(first.GetReturnedResources()); n != 1 {
		t.Errorf("wildcard ReturnedResources holds %d entries, want 1", n)
	}
	ack := sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType,
		ResponseNonce: "1"}, sub)
	nothing(t, ack)

	mustSet(t, c, map[string][]Resource{resource.ClusterType: res(
		cluster("a", 1), cluster("b", 2))})
	r := got(t, ack)
	if n := responseNames(t, r); !slices.Equal(n, []string{"a", "b"}) {
		t.Errorf("after a change got %v, want [a b]", n)
	}

	resp := <-sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}, sub)
	sub.SetReturnedResources(resp.GetReturnedResources())
	sub.SetResourceSubscription([]string{"b"})
	named := got(t, sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType,
		ResourceNames: []string{"b"}, ResponseNonce: "2"}, sub))
	if n := responseNames(t, named); !slices.Equal(n, []string{"b"}) {
		t.Errorf("after naming b got %v, want [b]", n)
	}
}

// TestAckWithNewNameIsAnswered checks that a client acknowledging the
// current version while asking for one more name gets that name: the
// shortcut for acknowledgements applies only when what the client holds
// covers every name it asks for.
func TestAckWithNewNameIsAnswered(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	sub, first, _ := ackedEndpointWatch(t, c, "a", "b")

	names := []string{"a", "b", "c"}
	sub.SetResourceSubscription(names)
	ch := sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: names, VersionInfo: first.GetVersionInfo(), ResponseNonce: "2"}, sub)
	if n := responseNames(t, got(t, ch)); !slices.Equal(n, []string{"c"}) {
		t.Errorf("got %v, want [c]", n)
	}

	sub.SetResourceSubscription([]string{"a", "b"})
	ch = sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: []string{"a", "b"}, VersionInfo: first.GetVersionInfo(),
		ResponseNonce: "3"}, sub)
	nothing(t, ch)
}
