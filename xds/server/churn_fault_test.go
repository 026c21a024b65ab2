package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The churn test's shape: each round dials churnConns fresh connections
// and opens churnStreams streams spread over them, all open at once.
const (
	churnRounds  = 4 // after one warm-up round
	churnConns   = 10
	churnStreams = 1000
	// heapSlack is how far heap in use may end above its baseline.
	heapSlack = 0.10
)

// TestChurnLeavesNoLeaks runs rounds of 1,000 ADS streams that subscribe
// like Envoy, receive one update, and disconnect: half by ending their
// stream, the rest by their connection closing under them. After the
// rounds, no goroutine started since the warm-up round may remain and heap
// in use must be back near its baseline, since every stream leaves state
// behind in the server, the callbacks and the cache until it is cleaned up.
func TestChurnLeavesNoLeaks(t *testing.T) {
	e := startDiscardingLogs(t)
	f := newFleet()
	e.set(t, f.resources())

	// The warm-up round starts what lives for the whole process (gRPC's
	// and the runtime's own goroutines, pools, caches of message types),
	// so the baseline holds it and the check below is only of streams.
	churnRound(t, e, f, 0)
	ignore := goleak.IgnoreCurrent()
	before := heapInUse()

	for round := 1; round <= churnRounds; round++ {
		churnRound(t, e, f, round)
	}

	goleak.VerifyNone(t, ignore)
	after := heapInUse()
	t.Logf("heap in use: %d bytes after warm-up, %d after %d rounds",
		before, after, churnRounds)
	if float64(after) > float64(before)*(1+heapSlack) {
		t.Errorf("heap in use grew from %d to %d bytes over %d rounds of %d streams",
			before, after, churnRounds, churnStreams)
	}
}

// startDiscardingLogs is startWith without keeping the log: the server
// still formats every Debug line, but thousands of streams would otherwise
// pile their open and close lines up in the test's log buffer, which would
// read as a leak.
func startDiscardingLogs(t *testing.T) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return serveCache(t, defaultOptions(), log)
}

// churnRound opens churnStreams streams over new connections, waits until
// every one has subscribed, changes one endpoint assignment that every one
// must receive, then disconnects them all and waits until the server has
// closed every stream.
func churnRound(t *testing.T, e *env, f *fleet, round int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	conns := dialMany(t, e.addr, churnConns)
	rs := newRoundSync(churnStreams)
	errs := make(chan error, churnStreams)
	var done sync.WaitGroup
	for i := range churnStreams {
		c := &churnClient{conn: conns[i%len(conns)],
			node: &corev3.Node{Id: fmt.Sprintf("envoy-%d-%d", round, i)},
			port: churnPort(round), cancelEarly: i%2 == 0}
		done.Go(func() { errs <- c.run(ctx, rs) })
	}

	rs.subscribed.Wait()
	f.endpoints[0] = endpoints("a", churnPort(round))
	e.set(t, f.resources())
	close(rs.changed)
	rs.updated.Wait()
	for _, c := range conns {
		_ = c.Close()
	}
	close(rs.closed)
	done.Wait()

	close(errs)
	if err := errors.Join(collect(errs)...); err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	e.eventually(t, "spillway_xds_streams", "", 0)
}

// roundSync holds the clients of a round in step: each marks subscribed
// and updated once, whether or not it succeeded.
type roundSync struct {
	subscribed, updated sync.WaitGroup
	// changed closes after the round's Set; closed after the round's
	// connections have closed.
	changed, closed chan struct{}
}

func newRoundSync(n int) *roundSync {
	rs := &roundSync{changed: make(chan struct{}), closed: make(chan struct{})}
	rs.subscribed.Add(n)
	rs.updated.Add(n)
	return rs
}

// churnPort is the port of endpoint assignment a in a round, so that each
// round's Set changes it.
func churnPort(round int) uint32 { return uint32(9000 + round) }

func dialMany(t *testing.T, addr string, n int) []*grpc.ClientConn {
	t.Helper()
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// heapInUse returns the bytes in in-use heap spans once garbage from
// earlier rounds has been collected; two collections also free what the
// first one only finalized.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// churnClient is one Envoy-like ADS client run from its own goroutine; it
// reports failures as errors, since only the test goroutine may stop the
// test.
type churnClient struct {
	conn *grpc.ClientConn
	node *corev3.Node
	// port is the port endpoint assignment a has after the round's Set.
	port uint32
	// cancelEarly ends the stream itself; otherwise the connection's
	// closing ends it.
	cancelEarly bool

	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

// run subscribes, waits for the round's Set, receives the changed
// endpoints, and disconnects: by ending its stream when cancelEarly is set,
// else by waiting until the round closes the connection under the stream.
func (c *churnClient) run(ctx context.Context, rs *roundSync) error {
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := c.subscribe(streamCtx)
	rs.subscribed.Done()
	if err != nil {
		rs.updated.Done()
		return fmt.Errorf("%s: %w", c.node.GetId(), err)
	}

	if err = await(ctx, rs.changed); err == nil {
		err = c.update()
	}
	rs.updated.Done()
	if err != nil {
		return fmt.Errorf("%s: %w", c.node.GetId(), err)
	}
	if c.cancelEarly {
		cancel()
	}
	return await(ctx, rs.closed)
}

// await waits for ch to close, or for a round that failed to end.
func await(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// subscribe opens the stream and subscribes like Envoy: clusters and
// listeners by wildcard, then endpoints and routes by name, ACKing each
// response.
func (c *churnClient) subscribe(ctx context.Context) error {
	st, err := discovery.NewAggregatedDiscoveryServiceClient(c.conn).
		StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening stream: %w", err)
	}
	c.stream = st
	if err := c.exchange(map[string][]string{
		resource.ClusterType: nil, resource.ListenerType: nil,
	}); err != nil {
		return err
	}
	return c.exchange(map[string][]string{
		resource.EndpointType: {"a", "b"}, resource.RouteType: {"public"},
	})
}

// exchange requests each type with its names, waits for one response of
// each, and ACKs them.
func (c *churnClient) exchange(subs map[string][]string) error {
	for typeURL, names := range subs {
		if err := c.send(typeURL, names, nil); err != nil {
			return err
		}
	}
	got := map[string]*discovery.DiscoveryResponse{}
	for len(got) < len(subs) {
		r, err := c.stream.Recv()
		if err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		if _, ok := subs[r.GetTypeUrl()]; !ok || got[r.GetTypeUrl()] != nil {
			return fmt.Errorf("unexpected %s response", r.GetTypeUrl())
		}
		got[r.GetTypeUrl()] = r
	}
	for typeURL, r := range got {
		if err := c.send(typeURL, subs[typeURL], r); err != nil {
			return err
		}
	}
	return nil
}

// update waits for the endpoint push of the round's Set, checks that it
// carries the new port of a, and ACKs it.
func (c *churnClient) update() error {
	r, err := c.stream.Recv()
	if err != nil {
		return fmt.Errorf("receiving the update: %w", err)
	}
	if r.GetTypeUrl() != resource.EndpointType || len(r.GetResources()) != 1 {
		return fmt.Errorf("update: got %s with %d resources, want endpoints a",
			r.GetTypeUrl(), len(r.GetResources()))
	}
	cla := &endpointv3.ClusterLoadAssignment{}
	if err := r.GetResources()[0].UnmarshalTo(cla); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if got := firstPort(cla); cla.GetClusterName() != "a" || got != c.port {
		return fmt.Errorf("update: got %s port %d, want a port %d",
			cla.GetClusterName(), got, c.port)
	}
	return c.send(resource.EndpointType, []string{"a", "b"}, r)
}

func (c *churnClient) send(
	typeURL string, names []string, prev *discovery.DiscoveryResponse,
) error {
	err := c.stream.Send(&discovery.DiscoveryRequest{
		Node: c.node, TypeUrl: typeURL, ResourceNames: names,
		VersionInfo: prev.GetVersionInfo(), ResponseNonce: prev.GetNonce(),
	})
	if err != nil {
		return fmt.Errorf("sending %s: %w", typeURL, err)
	}
	return nil
}

func firstPort(cla *endpointv3.ClusterLoadAssignment) uint32 {
	for _, loc := range cla.GetEndpoints() {
		for _, ep := range loc.GetLbEndpoints() {
			return ep.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
		}
	}
	return 0
}

// TestStuckClientDoesNotBlockOthers opens a stream that takes its first
// response and then neither reads nor sends again, as a hung Envoy would.
// Its endpoint response is larger than the fixed flow-control window of
// its connection, so the server cannot finish sending to it. Fifty
// well-behaved streams must still each receive a change to one endpoint
// assignment. The stuck stream shares the good streams' connection in one
// case and has its own in the other.
func TestStuckClientDoesNotBlockOthers(t *testing.T) {
	tests := []struct {
		name   string
		shared bool
	}{
		{name: "own connection", shared: false},
		{name: "shared connection", shared: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startWith(t, defaultOptions(), nil)
			f := newFleet()
			f.endpoints = []*endpointv3.ClusterLoadAssignment{
				endpoints("a", manyPorts(4000)...), endpoints("b", manyPorts(4000)...),
			}
			e.set(t, f.resources())

			goodConn := dialFixedWindow(t, e.addr)
			stuckConn := goodConn
			if !tt.shared {
				stuckConn = dialFixedWindow(t, e.addr)
			}
			openStuck(t, stuckConn)

			good := make([]*adsStream, 50)
			for i := range good {
				good[i] = openADSOn(t, goodConn, &corev3.Node{Id: fmt.Sprintf("good-%d", i)})
				subscribeLikeEnvoy(t, good[i])
			}

			f.endpoints[0] = endpoints("a", 9999)
			e.set(t, f.resources())
			for i, a := range good {
				r := a.recv()
				if r.GetTypeUrl() != resource.EndpointType {
					t.Fatalf("good-%d: got %s, want the endpoint update", i, r.GetTypeUrl())
				}
				if got := names(t, r); !slices.Equal(got, []string{"a"}) {
					t.Fatalf("good-%d: update holds %v, want [a]", i, got)
				}
			}
		})
	}
}

// dialFixedWindow opens a connection whose flow-control windows stay at
// 64 KiB: setting them turns off gRPC's window growth, which could
// otherwise make room for everything a stuck stream leaves unread.
func dialFixedWindow(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	const window = 64 << 10
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// manyPorts returns n distinct ports, for assignments of many endpoints.
func manyPorts(n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(10000 + i)
	}
	return out
}

// openStuck opens a stream that sends Envoy's first requests, reads the
// cluster response and then does nothing until the test ends. It has no
// reading goroutine, so the large endpoint response stays unread.
func openStuck(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "stuck"}
	for _, req := range []*discovery.DiscoveryRequest{
		{Node: node, TypeUrl: resource.ClusterType},
		{Node: node, TypeUrl: resource.ListenerType},
		{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{"a", "b"}},
		{Node: node, TypeUrl: resource.RouteType, ResourceNames: []string{"public"}},
	} {
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	// Reading the endpoints would let gRPC widen the window for them.
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r.GetTypeUrl() != resource.ClusterType {
		t.Fatalf("stuck client's first response is %s, want clusters", r.GetTypeUrl())
	}
}
