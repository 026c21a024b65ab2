package cache

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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

// sotwClient drives a SotW Stream the way the server does, one call at a
// time, and fails the test on an error. It keeps the latest nonce of each
// type, so that its requests acknowledge the latest response.
type sotwClient struct {
	t     *testing.T
	s     *Stream
	node  *corev3.Node
	nonce map[string]string
}

// newSotwClient opens an ADS stream of node, closed when the test ends.
func newSotwClient(t *testing.T, c *Cache, node *corev3.Node) *sotwClient {
	t.Helper()
	s := c.NewStream("", false)
	t.Cleanup(s.Close)
	return &sotwClient{t: t, s: s, node: node, nonce: map[string]string{}}
}

// send hands req to the stream as it is.
func (sc *sotwClient) send(req *discovery.DiscoveryRequest) (*Answer, []*discovery.DiscoveryResponse) {
	sc.t.Helper()
	ans, out, err := sc.s.SotwRequest(req)
	if err != nil {
		sc.t.Fatalf("SotwRequest: %v", err)
	}
	sc.keep(out)
	return ans, out
}

// request asks for names of typeURL (none: wildcard) with the latest nonce
// of the type, which acknowledges the latest response if it waits.
func (sc *sotwClient) request(typeURL string, names ...string) []*discovery.DiscoveryResponse {
	sc.t.Helper()
	_, out := sc.send(&discovery.DiscoveryRequest{Node: sc.node, TypeUrl: typeURL,
		ResourceNames: names, ResponseNonce: sc.nonce[typeURL]})
	return out
}

// update is what the stream sends when its Wake fires, and nothing when it
// did not fire, since the server would not ask.
func (sc *sotwClient) update() []*discovery.DiscoveryResponse {
	select {
	case <-sc.s.Wake():
		out := sc.s.SotwUpdate()
		sc.keep(out)
		return out
	default:
		return nil
	}
}

func (sc *sotwClient) keep(out []*discovery.DiscoveryResponse) {
	for _, r := range out {
		sc.nonce[r.GetTypeUrl()] = r.GetNonce()
	}
}

// open returns the responses to req as the first request of a new stream.
func open(t *testing.T, c *Cache, req *discovery.DiscoveryRequest) []*discovery.DiscoveryResponse {
	t.Helper()
	_, out := newSotwClient(t, c, nil).send(req)
	return out
}

// one returns the only response of out.
func one[R any](t *testing.T, out []R) R {
	t.Helper()
	if len(out) != 1 {
		t.Fatalf("%d responses, want 1: %v", len(out), out)
	}
	return out[0]
}

// none fails unless out is empty.
func none[R any](t *testing.T, out []R) {
	t.Helper()
	if len(out) != 0 {
		t.Fatalf("%d responses, want none: %v", len(out), out)
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
	sc := newSotwClient(t, c, nil)
	none(t, sc.request(resource.ClusterType)) // no answer before the first state

	v := mustSet(t, c, nil)
	if !c.Ready() || v == "" || c.Version() != v {
		t.Fatalf("after empty Set: Ready %v Version %q returned %q", c.Ready(), c.Version(), v)
	}
	if r := one(t, sc.update()); len(r.GetResources()) != 0 || r.GetVersionInfo() == "" {
		t.Errorf("empty state response: %v", r)
	}
}

func TestUnchangedContentSharesMarshalledResource(t *testing.T) {
	c, reg := newTestCache(t)
	clusters := func(b int64) map[string][]Resource {
		return map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("b", b))}
	}
	v1 := mustSet(t, c, clusters(1))
	first := one(t, open(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}))

	// New messages, b changed: a keeps its Any, b gets a new one.
	v2 := mustSet(t, c, clusters(2))
	second := one(t, open(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}))
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

func TestSotwRequestAnswersWhatTheClientLacks(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, map[string][]Resource{
		resource.ClusterType:  res(cluster("a", 1)),
		resource.EndpointType: res(cla("a"), cla("b")),
	})
	current := one(t, open(t, c, &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType})).
		GetVersionInfo()

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
			out := open(t, c, &discovery.DiscoveryRequest{
				TypeUrl: resource.ClusterType, VersionInfo: tt.version,
			})
			if tt.want {
				one(t, out)
			} else {
				none(t, out)
			}
		})
	}

	t.Run("after a NACK only a new version is sent", func(t *testing.T) {
		sc := newSotwClient(t, c, nil)
		r := one(t, sc.request(resource.ClusterType))
		ans, out := sc.send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType,
			ResponseNonce: r.GetNonce(), ErrorDetail: &status.Status{Message: "rejected"}})
		if ans == nil || ans.Error.GetMessage() != "rejected" || ans.Version != r.GetVersionInfo() {
			t.Errorf("NACK answer %+v, want the rejection of version %s", ans, r.GetVersionInfo())
		}
		none(t, out)
		mustSet(t, c, map[string][]Resource{
			resource.ClusterType:  res(cluster("a", 2)),
			resource.EndpointType: res(cla("a"), cla("b")),
		})
		one(t, sc.update())
	})
}

// TestSetSendsOnlyWhatAStreamNames checks that a change of a resource a
// stream does not name gives it no response, while a stream naming it gets
// exactly that resource.
func TestSetSendsOnlyWhatAStreamNames(t *testing.T) {
	c, _ := newTestCache(t)
	a, b := cla("a"), cla("b")
	mustSet(t, c, map[string][]Resource{resource.EndpointType: res(a, b)})

	streamOf := func(name string) *sotwClient {
		sc := newSotwClient(t, c, nil)
		one(t, sc.request(resource.EndpointType, name))
		none(t, sc.request(resource.EndpointType, name))
		return sc
	}
	onA, onB := streamOf("a"), streamOf("b")

	changed := cla("a")
	changed.Endpoints = []*endpointv3.LocalityLbEndpoints{{}}
	mustSet(t, c, map[string][]Resource{resource.EndpointType: res(changed, b)})
	if n := responseNames(t, one(t, onA.update())); !slices.Equal(n, []string{"a"}) {
		t.Errorf("stream of a got %v, want [a]", n)
	}
	none(t, onB.update())
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
			r := one(t, open(t, c, &discovery.DiscoveryRequest{
				TypeUrl: resource.ListenerType, ResourceNames: tt.names,
			}))
			if n := responseNames(t, r); !slices.Equal(n, tt.want) {
				t.Errorf("got %v, want %v", n, tt.want)
			}
		})
	}
}

// deltaClient drives a delta Stream the way the server does, one call at a
// time, and fails the test on an error. It keeps the latest nonce of each
// type, so that its requests acknowledge the latest response.
type deltaClient struct {
	t     *testing.T
	s     *Stream
	node  *corev3.Node
	nonce map[string]string
}

// newDeltaClient opens a delta ADS stream of node, closed when the test
// ends.
func newDeltaClient(t *testing.T, c *Cache, node *corev3.Node) *deltaClient {
	t.Helper()
	s := c.NewStream("", true)
	t.Cleanup(s.Close)
	return &deltaClient{t: t, s: s, node: node, nonce: map[string]string{}}
}

// send hands req to the stream as it is.
func (dc *deltaClient) send(
	req *discovery.DeltaDiscoveryRequest,
) (*Answer, []*discovery.DeltaDiscoveryResponse) {
	dc.t.Helper()
	ans, out, err := dc.s.DeltaRequest(req)
	if err != nil {
		dc.t.Fatalf("DeltaRequest: %v", err)
	}
	dc.keep(out)
	return ans, out
}

// request changes the subscription of typeURL with the latest nonce of the
// type, which acknowledges the latest response if it waits.
func (dc *deltaClient) request(
	typeURL string, subscribe, unsubscribe []string,
) []*discovery.DeltaDiscoveryResponse {
	dc.t.Helper()
	_, out := dc.send(&discovery.DeltaDiscoveryRequest{Node: dc.node, TypeUrl: typeURL,
		ResourceNamesSubscribe: subscribe, ResourceNamesUnsubscribe: unsubscribe,
		ResponseNonce: dc.nonce[typeURL]})
	return out
}

// update is what the stream sends when its Wake fires, and nothing when it
// did not fire, since the server would not ask.
func (dc *deltaClient) update() []*discovery.DeltaDiscoveryResponse {
	select {
	case <-dc.s.Wake():
		out := dc.s.DeltaUpdate()
		dc.keep(out)
		return out
	default:
		return nil
	}
}

func (dc *deltaClient) keep(out []*discovery.DeltaDiscoveryResponse) {
	for _, r := range out {
		dc.nonce[r.GetTypeUrl()] = r.GetNonce()
	}
}

// deltaNames lists the names of the resources of a delta response.
func deltaNames(r *discovery.DeltaDiscoveryResponse) []string {
	var out []string
	for _, res := range r.GetResources() {
		out = append(out, res.GetName())
	}
	return out
}

func TestDeltaRequest(t *testing.T) {
	c, _ := newTestCache(t)
	mustSet(t, c, map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("b", 1))})
	v := c.Versions(resource.ClusterType)

	tests := []struct {
		name    string
		initial map[string]string
		names   []string
		want    []string
		removed []string
	}{
		{name: "new wildcard client", want: []string{"a", "b"}},
		{name: "knows a", initial: map[string]string{"a": v["a"]}, want: []string{"b"}},
		{name: "knows a gone one", initial: map[string]string{"a": v["a"], "b": v["b"], "z": "1"},
			removed: []string{"z"}},
		{name: "named", names: []string{"b"}, want: []string{"b"}},
		// A wildcard client is answered even when it holds everything.
		{name: "up to date", initial: map[string]string{"a": v["a"], "b": v["b"]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := newDeltaClient(t, c, nil)
			_, out := dc.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType,
				ResourceNamesSubscribe: tt.names, InitialResourceVersions: tt.initial})
			r := one(t, out)
			for _, res := range r.GetResources() {
				if res.GetVersion() != v[res.GetName()] {
					t.Errorf("%s version %s, want %s", res.GetName(), res.GetVersion(), v[res.GetName()])
				}
			}
			n := deltaNames(r)
			if !slices.Equal(n, tt.want) || !slices.Equal(r.GetRemovedResources(), tt.removed) {
				t.Errorf("got %v removed %v, want %v removed %v",
					n, r.GetRemovedResources(), tt.want, tt.removed)
			}

			// Once acknowledged, the client holds everything.
			none(t, dc.request(resource.ClusterType, nil, nil))
		})
	}
}

func TestFetch(t *testing.T) {
	c, _ := newTestCache(t)
	all := &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType}
	if _, err := c.Fetch(all); err == nil {
		t.Error("Fetch before the first Set succeeded")
	}
	mustSet(t, c, map[string][]Resource{resource.ClusterType: res(cluster("a", 1), cluster("b", 1))})
	out, err := c.Fetch(&discovery.DiscoveryRequest{
		TypeUrl: resource.ClusterType, ResourceNames: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := responseNames(t, out); !slices.Equal(n, []string{"b"}) {
		t.Errorf("got %v, want [b]", n)
	}
	// A poll is answered whatever version it says it has; the version
	// tells the client whether anything changed.
	again, err := c.Fetch(&discovery.DiscoveryRequest{
		TypeUrl: resource.ClusterType, ResourceNames: []string{"b"}, VersionInfo: out.GetVersionInfo()})
	if err != nil || again.GetVersionInfo() != out.GetVersionInfo() || len(again.GetResources()) != 1 {
		t.Errorf("Fetch of the current version: %v, %v; want the same response", again, err)
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
