package cache

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func newTestCache(t *testing.T) (*Cache, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return New(slog.New(slog.NewTextHandler(io.Discard, nil)), reg), reg
}

func cluster(name string, seconds int64) *clusterv3.Cluster {
	timeout := durationpb.New(time.Duration(seconds) * time.Second)
	return &clusterv3.Cluster{Name: name, ConnectTimeout: timeout}
}

func cla(name string) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: name}
}

func res(msgs ...proto.Message) []Resource {
	out := make([]Resource, len(msgs))
	for i, m := range msgs {
		out[i] = Resource{Name: cachev3.GetResourceName(m), Message: m}
	}
	return out
}

func mustSet(t *testing.T, c *Cache, rs map[string][]Resource) string {
	t.Helper()
	v, err := c.Set(rs)
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	return v
}

// sotwWatch opens a SotW watch the way go-control-plane's server does.
func sotwWatch(
	t *testing.T, c *Cache, req *discovery.DiscoveryRequest, sub stream.Subscription,
) chan cachev3.Response {
	t.Helper()
	ch := make(chan cachev3.Response, 1)
	cancel, err := c.CreateWatch(req, sub, ch)
	if err != nil {
		t.Fatalf("CreateWatch: %v", err)
	}
	t.Cleanup(cancel)
	return ch
}

func got(t *testing.T, ch chan cachev3.Response) *discovery.DiscoveryResponse {
	t.Helper()
	select {
	case r := <-ch:
		out, err := r.GetDiscoveryResponse()
		if err != nil {
			t.Fatal(err)
		}
		return out
	default:
		t.Fatal("no response")
		return nil
	}
}

func nothing(t *testing.T, ch chan cachev3.Response) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected response version %s", r.GetResponseVersion())
	default:
	}
}

func TestSetRejectsBadResources(t *testing.T) {
	tests := []struct {
		name string
		rs   map[string][]Resource
		want string
	}{
		{name: "unsupported type", want: `unsupported type URL "` + resource.SecretType,
			rs: map[string][]Resource{resource.SecretType: nil}},
		{name: "nil message", want: `cluster resource 0 ("a"): message is nil`,
			rs: map[string][]Resource{resource.ClusterType: {{Name: "a"}}}},
		{name: "wrong message type", want: "message is envoy.config.endpoint.v3.ClusterLoadAssignment",
			rs: map[string][]Resource{resource.ClusterType: {{Name: "a", Message: cla("a")}}}},
		{name: "empty name", want: "name is empty",
			rs: map[string][]Resource{resource.ClusterType: {{Message: cluster("", 1)}}}},
		{name: "name mismatch", want: `name differs from the message's name "b"`,
			rs: map[string][]Resource{resource.ClusterType: {{Name: "a", Message: cluster("b", 1)}}}},
		{name: "wildcard name", want: `name is "*"`,
			rs: map[string][]Resource{resource.ClusterType: res(cluster("*", 1))}},
		{name: "duplicate", want: `duplicate name "a"`,
			rs: map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("a", 2))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t)
			good := mustSet(t, c, map[string][]Resource{resource.ClusterType: res(cluster("x", 1))})
			_, err := c.Set(tt.rs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Set error = %v, want it to contain %q", err, tt.want)
			}
			if c.Version() != good {
				t.Errorf("a failed Set changed the version from %s to %s", good, c.Version())
			}
		})
	}
}

func TestReadyAndEmptyState(t *testing.T) {
	c, _ := newTestCache(t)
	if c.Ready() || c.Version() != "" {
		t.Fatalf("new cache: Ready %v Version %q", c.Ready(), c.Version())
	}
	ch := sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType},
		stream.NewSotwSubscription(nil, true))
	nothing(t, ch) // no answer before the first state

	v := mustSet(t, c, nil)
	if !c.Ready() || v == "" || c.Version() != v {
		t.Fatalf("after empty Set: Ready %v Version %q returned %q", c.Ready(), c.Version(), v)
	}
	if r := got(t, ch); len(r.GetResources()) != 0 || r.GetVersionInfo() == "" {
		t.Errorf("empty state response: %v", r)
	}
}

func TestUnchangedContentSharesMarshalledResource(t *testing.T) {
	c, reg := newTestCache(t)
	clusters := func(b int64) map[string][]Resource {
		return map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("b", b))}
	}
	v1 := mustSet(t, c, clusters(1))
	first := got(t, sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType},
		stream.NewSotwSubscription(nil, true)))

	// New messages, b changed: a keeps its Any, b gets a new one.
	v2 := mustSet(t, c, clusters(2))
	second := got(t, sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType},
		stream.NewSotwSubscription(nil, true)))
	if v1 == v2 {
		t.Error("state version did not change with b")
	}
	if first.Resources[0] != second.Resources[0] {
		t.Error("unchanged cluster a was given a new marshalled object")
	}
	if first.Resources[1] == second.Resources[1] {
		t.Error("changed cluster b kept its marshalled object")
	}
	// Four messages were marshalled: a and b twice, once per Set.
	if m := marshalMetric(t, reg); c.Marshals() != 4 || m != 4 {
		t.Errorf("marshals = %d (metric %v), want 4", c.Marshals(), m)
	}
	if v3 := mustSet(t, c, clusters(2)); v3 != v2 {
		t.Errorf("equal content gave version %s, want %s", v3, v2)
	}
}

func TestSotwWatchAnswersWhatTheClientLacks(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, map[string][]Resource{
		resource.ClusterType:  res(cluster("a", 1)),
		resource.EndpointType: res(cla("a"), cla("b")),
	})
	current := got(t, sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType},
		stream.NewSotwSubscription(nil, true))).GetVersionInfo()

	tests := []struct {
		name    string
		version string
		want    bool
	}{
		{name: "new client", version: "", want: true},
		{name: "stale version", version: "0123456789abcdef", want: true},
		{name: "reconnect with the current version", version: current, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := sotwWatch(t, c, &discovery.DiscoveryRequest{
				TypeUrl: resource.ClusterType, VersionInfo: tt.version,
			}, stream.NewSotwSubscription(nil, true))
			if tt.want {
				got(t, ch)
			} else {
				nothing(t, ch)
			}
		})
	}

	t.Run("after a NACK only a new version is sent", func(t *testing.T) {
		sub := stream.NewSotwSubscription(nil, true)
		r := <-sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}, sub)
		sub.SetReturnedResources(r.GetReturnedResources())
		nack := &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: "1",
			ErrorDetail: &status.Status{Message: "rejected"}}
		ch := sotwWatch(t, c, nack, sub)
		nothing(t, ch)
		mustSet(t, c, map[string][]Resource{
			resource.ClusterType:  res(cluster("a", 2)),
			resource.EndpointType: res(cla("a"), cla("b")),
		})
		got(t, ch)
	})
}

func TestSetWakesOnlyConcernedWatches(t *testing.T) {
	c, _ := newTestCache(t)
	a, b := cla("a"), cla("b")
	mustSet(t, c, map[string][]Resource{resource.EndpointType: res(a, b)})

	watchFor := func(name string) chan cachev3.Response {
		sub := stream.NewSotwSubscription([]string{name}, true)
		r := <-sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
			ResourceNames: []string{name}}, sub)
		sub.SetReturnedResources(r.GetReturnedResources())
		return sotwWatch(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType,
			ResourceNames: []string{name}, ResponseNonce: "1"}, sub)
	}
	onA, onB := watchFor("a"), watchFor("b")
	if n := c.watches[resource.EndpointType].size(); n != 2 {
		t.Fatalf("index holds %d endpoint watches, want 2", n)
	}

	changed := cla("a")
	changed.Endpoints = []*endpointv3.LocalityLbEndpoints{{}}
	mustSet(t, c, map[string][]Resource{resource.EndpointType: res(changed, b)})
	if r := got(t, onA); len(r.GetResources()) != 1 {
		t.Errorf("watch of a got %d resources", len(r.GetResources()))
	}
	nothing(t, onB)
	if n := c.watches[resource.EndpointType].size(); n != 1 {
		t.Errorf("index holds %d endpoint watches after a was answered, want 1", n)
	}
}

func TestByNameOnlyKeptFromWildcard(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, map[string][]Resource{resource.ListenerType: {
		{Name: "public", Message: &listenerv3.Listener{Name: "public"}},
		{Name: "grpc", Message: &listenerv3.Listener{Name: "grpc"}, ByNameOnly: true},
	}})
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{name: "wildcard", want: []string{"public"}},
		{name: "named", names: []string{"grpc"}, want: []string{"grpc"}},
		{name: "wildcard and named", names: []string{"*", "grpc"}, want: []string{"grpc", "public"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := got(t, sotwWatch(t, c, &discovery.DiscoveryRequest{
				TypeUrl: resource.ListenerType, ResourceNames: tt.names,
			}, stream.NewSotwSubscription(tt.names, true)))
			if n := responseNames(t, r); !slices.Equal(n, tt.want) {
				t.Errorf("got %v, want %v", n, tt.want)
			}
		})
	}
}

func TestDeltaWatch(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("b", 1))})
	v := c.Versions(resource.ClusterType)

	tests := []struct {
		name    string
		initial map[string]string
		nonce   string
		names   []string
		want    []string
		removed []string
	}{
		{name: "new wildcard client", want: []string{"a", "b"}},
		{name: "knows a", initial: map[string]string{"a": v["a"]}, want: []string{"b"}},
		{name: "knows a gone one", initial: map[string]string{"a": v["a"], "b": v["b"], "z": "1"},
			removed: []string{"z"}},
		{name: "named", names: []string{"b"}, want: []string{"b"}},
		{name: "up to date, not first", initial: map[string]string{"a": v["a"], "b": v["b"]},
			nonce: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan cachev3.DeltaResponse, 8)
			req := &discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType,
				ResourceNamesSubscribe: tt.names, ResponseNonce: tt.nonce}
			cancel, err := c.CreateDeltaWatch(req,
				stream.NewDeltaSubscription(tt.names, nil, tt.initial, true), ch)
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			if tt.want == nil && tt.removed == nil {
				if len(ch) != 0 {
					t.Fatal("unexpected delta response")
				}
				return
			}
			r, _ := (<-ch).GetDeltaDiscoveryResponse()
			var names []string
			for _, res := range r.GetResources() {
				names = append(names, res.GetName())
				if res.GetVersion() != v[res.GetName()] {
					t.Errorf("%s version %s, want %s", res.GetName(), res.GetVersion(), v[res.GetName()])
				}
			}
			if !slices.Equal(names, tt.want) || !slices.Equal(r.GetRemovedResources(), tt.removed) {
				t.Errorf("got %v removed %v, want %v removed %v",
					names, r.GetRemovedResources(), tt.want, tt.removed)
			}
		})
	}
}

func TestFetch(t *testing.T) {
	c, _ := newTestCache(t)
	all := &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}
	if _, err := c.Fetch(context.Background(), all); err == nil {
		t.Error("Fetch before the first Set succeeded")
	}
	mustSet(t, c, map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("b", 1))})
	r, err := c.Fetch(context.Background(), &discovery.DiscoveryRequest{
		TypeUrl: resource.ClusterType, ResourceNames: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := r.GetDiscoveryResponse()
	if n := responseNames(t, out); !slices.Equal(n, []string{"b"}) {
		t.Errorf("got %v, want [b]", n)
	}
	_, err = c.Fetch(context.Background(), &discovery.DiscoveryRequest{
		TypeUrl: resource.ClusterType, ResourceNames: []string{"b"}, VersionInfo: out.GetVersionInfo()})
	var skip *types.SkipFetchError
	if !errors.As(err, &skip) {
		t.Errorf("Fetch of the current version: %v, want SkipFetchError", err)
	}
}

func responseNames(t *testing.T, r *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cachev3.GetResourceName(m))
	}
	return out
}

func marshalMetric(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "spillway_xds_resource_marshals_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("spillway_xds_resource_marshals_total is not registered")
	return 0
}
