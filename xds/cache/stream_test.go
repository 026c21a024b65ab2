package cache

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unsafe"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// TestOneResponseInFlightPerType checks that changes made while a
// response waits for its ACK are not sent meanwhile, and go out together
// in one response once it comes.
func TestOneResponseInFlightPerType(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	sc := newSotwClient(t, c, nil)
	first := one(t, sc.request(resource.EndpointType, "a", "b"))

	mustSet(t, c, endpoints(2, 1, 1))
	none(t, sc.update())
	mustSet(t, c, endpoints(2, 2, 1))
	none(t, sc.update())

	ans, out := sc.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: []string{"a", "b"}, ResponseNonce: first.GetNonce()})
	if ans == nil || ans.Error != nil || ans.Nonce != first.GetNonce() {
		t.Errorf("answer %+v, want the ACK of nonce %s", ans, first.GetNonce())
	}
	if n := responseNames(t, one(t, out)); !slices.Equal(n, []string{"a", "b"}) {
		t.Errorf("after the ACK got %v, want [a b]", n)
	}
}

// TestSotwStaleNonce checks that a request carrying the nonce of an older
// response than the latest answers nothing and changes nothing, while one
// with the latest nonce that names more is answered after its ACK was
// taken.
func TestSotwStaleNonce(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	sc, first := ackedEndpointStream(t, c, "a")
	mustSet(t, c, endpoints(2, 1, 1))
	latest := one(t, sc.update())
	sub := sc.s.subs[resource.EndpointType]

	ans, out := sc.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: []string{"a", "b"}, ResponseNonce: first.GetNonce()})
	if ans != nil {
		t.Errorf("a stale request answered %+v", ans)
	}
	none(t, out)
	if names := sub.names.list; !slices.Equal(names, []string{"a"}) {
		t.Errorf("after a stale request the subscription names %v, want [a]", names)
	}

	ans, out = sc.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: []string{"a"}, ResponseNonce: latest.GetNonce()})
	if ans == nil || ans.Nonce != latest.GetNonce() {
		t.Errorf("answer %+v, want the ACK of nonce %s", ans, latest.GetNonce())
	}
	none(t, out)

	ans, out = sc.send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
		ResourceNames: []string{"a", "b"}, ResponseNonce: latest.GetNonce()})
	if ans != nil {
		t.Errorf("a second request with nonce %s answered %+v", latest.GetNonce(), ans)
	}
	if n := responseNames(t, one(t, out)); !slices.Equal(n, []string{"b"}) {
		t.Errorf("naming b got %v, want [b]", n)
	}
}

// TestRepeatedNackAnsweredOnce checks that a client repeating a NACK gets
// its answer counted once and is sent nothing again.
func TestRepeatedNackAnsweredOnce(t *testing.T) {
	for _, typeURL := range []string{resource.ClusterType, resource.EndpointType} {
		t.Run(ShortType(typeURL), func(t *testing.T) {
			c, _ := newTestCache(t)
			mustSet(t, c, map[string][]Resource{
				resource.ClusterType:  res(cluster("a", 1)),
				resource.EndpointType: res(cla("a")),
			})
			sc := newSotwClient(t, c, nil)
			r := one(t, sc.request(typeURL, "a"))
			nack := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: []string{"a"},
				ResponseNonce: r.GetNonce(), ErrorDetail: &status.Status{Message: "rejected"}}

			ans, out := sc.send(nack)
			if ans == nil || ans.Error.GetMessage() != "rejected" {
				t.Errorf("first NACK answered %+v, want the rejection", ans)
			}
			none(t, out)
			ans, out = sc.send(nack)
			if ans != nil {
				t.Errorf("repeated NACK answered %+v", ans)
			}
			none(t, out)
			none(t, sc.update())
		})
	}
}

// TestStreamFallenBehindHistory checks that a stream that did not look at
// the state while more changes than the log keeps happened is still sent
// exactly the changed resources it names.
func TestStreamFallenBehindHistory(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 0))
	sc, _ := ackedEndpointStream(t, c, "a", "b")

	mustSet(t, c, endpoints(2, 1, 0))
	for i := range historySize {
		mustSet(t, c, endpoints(2, 1, 1+i%2))
	}
	sub := sc.s.subs[resource.EndpointType]
	if _, all := c.changes(resource.EndpointType, sub.seq, c.seq); !all {
		t.Fatal("the change log still reaches back to the stream's last look")
	}
	if n := responseNames(t, one(t, sc.update())); !slices.Equal(n, []string{"a"}) {
		t.Errorf("got %v, want [a]", n)
	}
}

func TestDeltaSubscriptionChanges(t *testing.T) {
	t.Run("unsubscribing a name the wildcard covers sends it again", func(t *testing.T) {
		c, _ := newTestCache(t)
		mustSet(t, c, abcClusters())
		dc := newDeltaClient(t, c, nil)
		r := one(t, dc.request(resource.ClusterType, []string{"*", "a"}, nil))
		if n := deltaNames(r); !slices.Equal(n, []string{"a", "b", "c"}) {
			t.Fatalf("first response %v, want [a b c]", n)
		}
		none(t, dc.request(resource.ClusterType, nil, nil))

		r = one(t, dc.request(resource.ClusterType, nil, []string{"a"}))
		if n := deltaNames(r); !slices.Equal(n, []string{"a"}) || len(r.GetRemovedResources()) != 0 {
			t.Errorf("got %v removed %v, want [a] removed []", n, r.GetRemovedResources())
		}
	})

	t.Run("leaving the wildcard removes what only it covered", func(t *testing.T) {
		c, _ := newTestCache(t)
		mustSet(t, c, abcClusters())
		dc := newDeltaClient(t, c, nil)
		one(t, dc.request(resource.ClusterType, []string{"*", "a"}, nil))
		none(t, dc.request(resource.ClusterType, nil, nil))

		r := one(t, dc.request(resource.ClusterType, nil, []string{"*"}))
		if n := deltaNames(r); n != nil || !slices.Equal(r.GetRemovedResources(), []string{"b", "c"}) {
			t.Errorf("got %v removed %v, want [] removed [b c]", n, r.GetRemovedResources())
		}
	})

	t.Run("a first wildcard request of an empty state is answered", func(t *testing.T) {
		c, _ := newTestCache(t)
		mustSet(t, c, nil)
		dc := newDeltaClient(t, c, nil)
		r := one(t, dc.request(resource.ClusterType, nil, nil))
		if len(r.GetResources())+len(r.GetRemovedResources()) != 0 || r.GetSystemVersionInfo() == "" {
			t.Errorf("got %v, want an empty response with the state's version", r)
		}
	})

	t.Run("a stale request still subscribes", func(t *testing.T) {
		c, _ := newTestCache(t)
		mustSet(t, c, endpoints(1, 1, 1))
		dc := newDeltaClient(t, c, nil)
		first := one(t, dc.request(resource.EndpointType, []string{"a"}, nil))
		none(t, dc.request(resource.EndpointType, nil, nil))
		mustSet(t, c, endpoints(2, 1, 1))
		latest := one(t, dc.update())

		ans, out := dc.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType,
			ResourceNamesSubscribe: []string{"b"}, ResponseNonce: first.GetNonce()})
		if ans != nil {
			t.Errorf("a stale request answered %+v", ans)
		}
		none(t, out) // the latest response waits for its ACK

		ans, out = dc.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType,
			ResponseNonce: latest.GetNonce()})
		if ans == nil || ans.Nonce != latest.GetNonce() {
			t.Errorf("answer %+v, want the ACK of nonce %s", ans, latest.GetNonce())
		}
		if n := deltaNames(one(t, out)); !slices.Equal(n, []string{"b"}) {
			t.Errorf("after the ACK got %v, want [b]", n)
		}
	})
}

// TestRequestTypeURL checks that an aggregated stream needs each request's
// type, and that a per-type stream takes its own or none and rejects
// another.
func TestRequestTypeURL(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, abcClusters())
	tests := []struct {
		name    string
		stream  string
		request string
		wantErr bool
	}{
		{name: "aggregated without a type", stream: "", request: "", wantErr: true},
		{name: "aggregated with a type", stream: "", request: resource.ClusterType},
		{name: "per-type without a type", stream: resource.ClusterType, request: ""},
		{name: "per-type with its type", stream: resource.ClusterType, request: resource.ClusterType},
		{name: "per-type with another type", stream: resource.ClusterType,
			request: resource.EndpointType, wantErr: true},
	}
	for _, tt := range tests {
		for _, delta := range []bool{false, true} {
			name := tt.name + map[bool]string{false: " (sotw)", true: " (delta)"}[delta]
			t.Run(name, func(t *testing.T) {
				s := c.NewStream(tt.stream, delta)
				defer s.Close()
				var typeURLs []string
				var err error
				if delta {
					var out []*discovery.DeltaDiscoveryResponse
					_, out, err = s.DeltaRequest(&discovery.DeltaDiscoveryRequest{TypeUrl: tt.request})
					for _, r := range out {
						typeURLs = append(typeURLs, r.GetTypeUrl())
					}
				} else {
					var out []*discovery.DiscoveryResponse
					_, out, err = s.SotwRequest(&discovery.DiscoveryRequest{TypeUrl: tt.request})
					for _, r := range out {
						typeURLs = append(typeURLs, r.GetTypeUrl())
					}
				}
				if tt.wantErr {
					if !errors.Is(err, ErrTypeURL) || typeURLs != nil {
						t.Errorf("got %v and responses of %v, want ErrTypeURL", err, typeURLs)
					}
					return
				}
				if err != nil || !slices.Equal(typeURLs, []string{resource.ClusterType}) {
					t.Errorf("got %v and responses of %v, want one cluster response", err, typeURLs)
				}
			})
		}
	}
}

// TestStreamKeepsStateNames checks that the names a stream keeps are the
// state's own strings rather than each request's copies.
func TestStreamKeepsStateNames(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, endpoints(1, 1, 1))
	entries := c.state.types[resource.EndpointType].entries
	fresh := func() []string { return []string{strings.Clone("a"), strings.Clone("b")} }

	check := func(t *testing.T, s *Stream, asked []string) {
		t.Helper()
		sub := s.subs[resource.EndpointType]
		if sub.names.len() != len(asked) {
			t.Fatalf("subscription names %v, want %v", sub.names.list, asked)
		}
		for _, name := range sub.names.list {
			if unsafe.StringData(name) != unsafe.StringData(entries[name].name) {
				t.Errorf("name %q is not the state's string", name)
			}
		}
		for _, name := range asked {
			if unsafe.StringData(name) == unsafe.StringData(entries[name].name) {
				t.Fatalf("the request's %q is already the state's string", name)
			}
		}
	}

	t.Run("sotw", func(t *testing.T) {
		sc := newSotwClient(t, c, nil)
		names := fresh()
		one(t, sc.request(resource.EndpointType, names...))
		check(t, sc.s, names)
	})
	t.Run("delta", func(t *testing.T) {
		dc := newDeltaClient(t, c, nil)
		names := fresh()
		one(t, dc.request(resource.EndpointType, names, nil))
		check(t, dc.s, names)
	})
}
