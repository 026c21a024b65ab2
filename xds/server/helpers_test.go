package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/server"
)

// wait bounds every wait for something that should happen; quiet is how
// long a test watches for something that must not happen.
const (
	wait  = 10 * time.Second
	quiet = 300 * time.Millisecond
)

// syncBuffer is a log sink that tests can read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged lines that contain every one of parts.
func (b *syncBuffer) lines(parts ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if containsAll(line, parts) {
			out = append(out, line)
		}
	}
	return out
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// env is a running ADS server on loopback with a client connection to it.
type env struct {
	cache *cache.Cache
	reg   *prometheus.Registry
	logs  *syncBuffer
	log   *slog.Logger
	addr  string
	conn  *grpc.ClientConn
}

// defaultOptions are the server options of start.
func defaultOptions() server.Options {
	return server.Options{
		Keepalive:            server.Keepalive{Time: time.Minute, Timeout: 10 * time.Second},
		MaxConcurrentStreams: 200,
		MaxMessageBytes:      4 << 20,
	}
}

// start serves a new cache on 127.0.0.1:0 with a plaintext client
// connection and stops the server when the test ends, checking that Serve
// returned cleanly.
func start(t *testing.T) *env {
	t.Helper()
	e := startWith(t, defaultOptions(), nil)
	e.conn = e.dial(t, insecure.NewCredentials())
	return e
}

// startWith serves a new cache with opts. When tlsFor is not nil it is
// called with the server's logger to make opts.TLS.
func startWith(
	t *testing.T, opts server.Options, tlsFor func(*slog.Logger) *tls.Config,
) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tlsFor != nil {
		opts.TLS = tlsFor(log)
	}
	e := serveCache(t, opts, log)
	e.logs = logs
	return e
}

// serveCache serves a new cache with opts, logging to log, on
// 127.0.0.1:0, and stops it when the test ends, checking that Serve
// returned cleanly.
func serveCache(t *testing.T, opts server.Options, log *slog.Logger) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := cache.New(log, reg)
	s := server.New(c, opts, log, reg)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		s.GracefulStop(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &env{cache: c, reg: reg, log: log, addr: lis.Addr().String()}
}

// dial opens a client connection to the server that closes with the test.
func (e *env) dial(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// set publishes resources and fails the test on error.
func (e *env) set(t *testing.T, rs map[string][]cache.Resource) string {
	t.Helper()
	v, err := e.cache.Set(rs)
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	return v
}

// metric returns the value of a counter or gauge with the given type_url
// label ("" for none), or 0 when it has not been reported.
func (e *env) metric(t *testing.T, name, typeLabel string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if typeLabel != "" && !hasLabel(m.GetLabel(), typeLabel) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasLabel(labels []*dto.LabelPair, value string) bool {
	for _, l := range labels {
		if l.GetName() == "type_url" && l.GetValue() == value {
			return true
		}
	}
	return false
}

// eventually polls the metric until it has the wanted value, since the
// server counts ACKs after the client has sent them.
func (e *env) eventually(t *testing.T, name, typeLabel string, want float64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := e.metric(t, name, typeLabel)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{type_url=%q} = %v, want %v", name, typeLabel, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adsStream is a raw SotW ADS stream whose responses a goroutine collects.
type adsStream struct {
	t      *testing.T
	node   *corev3.Node
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	resps  chan *discovery.DiscoveryResponse
	errc   chan error
	cancel context.CancelFunc
}

// openADS opens a SotW ADS stream that ends with the test.
func (e *env) openADS(t *testing.T, nodeID string) *adsStream {
	t.Helper()
	return openADSOn(t, e.conn, &corev3.Node{Id: nodeID})
}

// openADSOn opens a SotW ADS stream of node on conn that ends with the
// test, or when cancel is called. The error that ended it is in errc.
func openADSOn(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) *adsStream {
	t.Helper()
	a, err := tryADS(t, conn, node)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryADS is openADSOn that returns the error of a stream that does not
// open.
func tryADS(t *testing.T, conn *grpc.ClientConn, node *corev3.Node) (*adsStream, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).
		StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	a := &adsStream{t: t, node: node, stream: st, cancel: cancel,
		resps: make(chan *discovery.DiscoveryResponse, 64), errc: make(chan error, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				a.errc <- err
				return
			}
			a.resps <- r
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return a, nil
}

// failure waits for the error that ends the stream.
func (a *adsStream) failure() error {
	a.t.Helper()
	select {
	case r := <-a.resps:
		a.t.Fatalf("got a %s response, want the stream to fail", r.GetTypeUrl())
	case err := <-a.errc:
		return err
	case <-time.After(wait):
		a.t.Fatal("the stream did not end")
	}
	return nil
}

// request subscribes to names of typeURL (none: wildcard), answering the
// previous response of the type when prev is not nil.
func (a *adsStream) request(typeURL string, names []string, prev *discovery.DiscoveryResponse) {
	a.t.Helper()
	err := a.stream.Send(&discovery.DiscoveryRequest{
		Node: a.node, TypeUrl: typeURL, ResourceNames: names,
		VersionInfo: prev.GetVersionInfo(), ResponseNonce: prev.GetNonce(),
	})
	if err != nil {
		a.t.Fatalf("send: %v", err)
	}
}

// sendRaw sends req as it is, for requests the helpers do not make.
func (a *adsStream) sendRaw(req *discovery.DiscoveryRequest) error {
	return a.stream.Send(req)
}

// recv waits for the next response.
func (a *adsStream) recv() *discovery.DiscoveryResponse {
	a.t.Helper()
	select {
	case r := <-a.resps:
		return r
	case <-time.After(wait):
		a.t.Fatal("no response")
		return nil
	}
}

// recvTypes waits for one response of each type, in any order.
func (a *adsStream) recvTypes(typeURLs ...string) map[string]*discovery.DiscoveryResponse {
	a.t.Helper()
	out := map[string]*discovery.DiscoveryResponse{}
	for len(out) < len(typeURLs) {
		r := a.recv()
		if _, dup := out[r.GetTypeUrl()]; dup {
			a.t.Fatalf("second %s response before the others", r.GetTypeUrl())
		}
		out[r.GetTypeUrl()] = r
	}
	for _, typeURL := range typeURLs {
		if out[typeURL] == nil {
			a.t.Fatalf("no %s response among %v", typeURL, out)
		}
	}
	return out
}

// none checks that no response arrives for a while.
func (a *adsStream) none() {
	a.t.Helper()
	select {
	case r := <-a.resps:
		a.t.Fatalf("unexpected %s response, version %s", r.GetTypeUrl(), r.GetVersionInfo())
	case <-time.After(quiet):
	}
}

// Resources used by the tests; each call builds new messages.

func cluster(name string, timeout time.Duration) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ConnectTimeout:       durationpb.New(timeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig: &corev3.ConfigSource{
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		},
	}
}

func endpoints(name string, ports ...uint32) *endpointv3.ClusterLoadAssignment {
	var lbs []*endpointv3.LbEndpoint
	for _, p := range ports {
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{
						Address:       "127.0.0.1",
						PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p},
					},
				}},
			}},
		})
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
	}
}

func listener(name string, port uint32) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{
				Address:       "0.0.0.0",
				PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
			},
		}},
	}
}

func apiListener(name string) *listenerv3.Listener {
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{}}
}

func route(name, clusterName string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name: name, Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{
					PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
				},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: clusterName},
				}},
			}},
		}},
	}
}

// named wraps messages as resources named by their own names.
func named(msgs ...proto.Message) []cache.Resource {
	out := make([]cache.Resource, len(msgs))
	for i, m := range msgs {
		out[i] = cache.Resource{Name: cachev3.GetResourceName(m), Message: m}
	}
	return out
}

// names lists the names of the resources in a response, in order.
func names(t *testing.T, r *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("unmarshal %s: %v", a.GetTypeUrl(), err)
		}
		out = append(out, cachev3.GetResourceName(m))
	}
	return out
}

// unpack returns the messages of a response.
func unpack(t *testing.T, r *discovery.DiscoveryResponse) []proto.Message {
	t.Helper()
	var out []proto.Message
	for _, a := range r.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("unmarshal %s: %v", a.GetTypeUrl(), err)
		}
		out = append(out, m)
	}
	return out
}

func cloneOf[M proto.Message](m M) M {
	return proto.Clone(m).(M)
}

func statusMessage(msg string) *status.Status {
	return &status.Status{Code: int32(codes.InvalidArgument), Message: msg}
}

// deltaVersions maps the resources of a delta response to their versions.
func deltaVersions(r *discovery.DeltaDiscoveryResponse) map[string]string {
	out := map[string]string{}
	for _, res := range r.GetResources() {
		out[res.GetName()] = res.GetVersion()
	}
	return out
}

// deltaStream is a raw delta ADS stream whose responses a goroutine
// collects.
type deltaStream struct {
	t      *testing.T
	node   *corev3.Node
	stream discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	resps  chan *discovery.DeltaDiscoveryResponse
}

// openDelta opens a delta ADS stream that ends with the test.
func (e *env) openDelta(t *testing.T, nodeID string) *deltaStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discovery.NewAggregatedDiscoveryServiceClient(e.conn).
		DeltaAggregatedResources(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	d := &deltaStream{t: t, node: &corev3.Node{Id: nodeID}, stream: st,
		resps: make(chan *discovery.DeltaDiscoveryResponse, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				return
			}
			d.resps <- r
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// request sends req from the stream's node.
func (d *deltaStream) request(req *discovery.DeltaDiscoveryRequest) {
	d.t.Helper()
	req.Node = d.node
	if err := d.stream.Send(req); err != nil {
		d.t.Fatalf("send: %v", err)
	}
}

// recv waits for the next response.
func (d *deltaStream) recv() *discovery.DeltaDiscoveryResponse {
	d.t.Helper()
	select {
	case r := <-d.resps:
		return r
	case <-time.After(wait):
		d.t.Fatal("no delta response")
		return nil
	}
}

// none checks that no response arrives for a while.
func (d *deltaStream) none() {
	d.t.Helper()
	select {
	case r := <-d.resps:
		d.t.Fatalf("unexpected delta response: %v", r)
	case <-time.After(quiet):
	}
}

// ack accepts a response.
func (d *deltaStream) ack(r *discovery.DeltaDiscoveryResponse) {
	d.t.Helper()
	d.request(&discovery.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()})
}
