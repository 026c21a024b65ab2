package loadserver

import (
	"context"
	"fmt"
	"maps"
	"net"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/internal/bench/fleet"
)

// stock serves through go-control-plane's snapshot cache the way its users
// serve a fleet: every node gets the same snapshot, set for the node when
// its first request arrives and again for every node on each change.
//
// To be fair to it, each resource type keeps its own version, so a change
// of endpoints re-sends endpoints only, as a careful user would arrange.
type stock struct {
	cache  cachev3.SnapshotCache
	grpc   *grpc.Server
	cancel context.CancelFunc

	seen sync.Map // node ID → struct{}, read on every request

	mu    sync.Mutex
	snap  *cachev3.Snapshot
	nodes []string
	gen   int
}

func newStock() *stock {
	s := &stock{cache: cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	srv := serverv3.NewServer(ctx, s.cache, serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discovery.DiscoveryRequest) error {
			return s.register(req.GetNode().GetId())
		},
		StreamDeltaRequestFunc: func(_ int64, req *discovery.DeltaDiscoveryRequest) error {
			return s.register(req.GetNode().GetId())
		},
	})
	s.grpc = grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(s.grpc, srv)
	return s
}

// register gives a node seen for the first time the current snapshot.
func (s *stock) register(node string) error {
	if _, ok := s.seen.Load(node); ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen.Load(node); ok {
		return nil
	}
	if err := s.cache.SetSnapshot(context.Background(), node, s.snap); err != nil {
		return fmt.Errorf("setting snapshot of node %q: %w", node, err)
	}
	s.nodes = append(s.nodes, node)
	s.seen.Store(node, struct{}{})
	return nil
}

func (s *stock) setAll(r *fleet.Resources) error {
	snap := &cachev3.Snapshot{}
	snap.Resources[types.Cluster] = cachev3.NewResources("1", messages(r.Clusters))
	snap.Resources[types.Endpoint] = cachev3.NewResources("1", messages(r.Endpoints))
	snap.Resources[types.Listener] = cachev3.NewResources("1", messages(r.Listeners))
	snap.Resources[types.Route] = cachev3.NewResources("1", messages(r.Routes))
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("checking snapshot: %w", err)
	}
	s.mu.Lock()
	s.snap, s.gen = snap, 1
	s.mu.Unlock()
	return nil
}

// setEndpoints builds the next snapshot, sharing every unchanged type with
// the last one, and sets it for every node seen.
func (s *stock) setEndpoints(changed map[int]proto.Message) error {
	s.mu.Lock()
	s.gen++
	eds := s.snap.Resources[types.Endpoint]
	items := maps.Clone(eds.Items)
	for _, cla := range changed {
		items[cachev3.GetResourceName(cla)] = types.ResourceWithTTL{Resource: cla}
	}
	next := &cachev3.Snapshot{Resources: s.snap.Resources}
	next.Resources[types.Endpoint] = cachev3.Resources{
		Version: fmt.Sprintf("%d", s.gen), Items: items,
	}
	s.snap = next
	nodes := s.nodes
	s.mu.Unlock()

	for _, node := range nodes {
		if err := s.cache.SetSnapshot(context.Background(), node, next); err != nil {
			return fmt.Errorf("setting snapshot of node %q: %w", node, err)
		}
	}
	return nil
}

func (s *stock) serve(lis net.Listener) error { return s.grpc.Serve(lis) }

// stop ends the streams, then the server, at once when ctx ends first.
func (s *stock) stop(ctx context.Context) {
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}

func messages[M types.Resource](ms []M) []types.Resource {
	out := make([]types.Resource, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}
