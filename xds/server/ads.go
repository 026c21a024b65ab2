package server

import (
	"context"
	"errors"
	"io"
	"log/slog"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/xds/cache"
)

// services implements ADS and the per-type discovery services of
// listeners, routes, clusters and endpoints over the cache. Every stream
// runs the same loop: one goroutine reads requests, and the stream's own
// goroutine handles them and the cache's wakes in turn, so that what the
// cache keeps of the stream needs no lock.
type services struct {
	cache   *cache.Cache
	metrics *metrics
	log     *slog.Logger
	// stop ends every stream when the server stops.
	stop context.Context

	discovery.UnimplementedAggregatedDiscoveryServiceServer
	listenerservice.UnimplementedListenerDiscoveryServiceServer
	routeservice.UnimplementedRouteDiscoveryServiceServer
	clusterservice.UnimplementedClusterDiscoveryServiceServer
	endpointservice.UnimplementedEndpointDiscoveryServiceServer
}

type (
	sotwStream  = grpc.BidiStreamingServer[discovery.DiscoveryRequest, discovery.DiscoveryResponse]
	deltaStream = grpc.BidiStreamingServer[discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse]
)

func (s *services) StreamAggregatedResources(st sotwStream) error { return s.sotw(st, "") }
func (s *services) DeltaAggregatedResources(st deltaStream) error { return s.delta(st, "") }

func (s *services) StreamListeners(st sotwStream) error { return s.sotw(st, resource.ListenerType) }
func (s *services) DeltaListeners(st deltaStream) error { return s.delta(st, resource.ListenerType) }
func (s *services) StreamRoutes(st sotwStream) error    { return s.sotw(st, resource.RouteType) }
func (s *services) DeltaRoutes(st deltaStream) error    { return s.delta(st, resource.RouteType) }
func (s *services) StreamClusters(st sotwStream) error  { return s.sotw(st, resource.ClusterType) }
func (s *services) DeltaClusters(st deltaStream) error  { return s.delta(st, resource.ClusterType) }
func (s *services) StreamEndpoints(st sotwStream) error { return s.sotw(st, resource.EndpointType) }
func (s *services) DeltaEndpoints(st deltaStream) error { return s.delta(st, resource.EndpointType) }

type (
	fetchRequest  = *discovery.DiscoveryRequest
	fetchResponse = *discovery.DiscoveryResponse
)

func (s *services) FetchListeners(_ context.Context, req fetchRequest) (fetchResponse, error) {
	return s.fetch(req, resource.ListenerType)
}
func (s *services) FetchRoutes(_ context.Context, req fetchRequest) (fetchResponse, error) {
	return s.fetch(req, resource.RouteType)
}
func (s *services) FetchClusters(_ context.Context, req fetchRequest) (fetchResponse, error) {
	return s.fetch(req, resource.ClusterType)
}
func (s *services) FetchEndpoints(_ context.Context, req fetchRequest) (fetchResponse, error) {
	return s.fetch(req, resource.EndpointType)
}

// fetch answers a REST poll of typeURL (cache.Fetch).
func (s *services) fetch(req *discovery.DiscoveryRequest, typeURL string) (*discovery.DiscoveryResponse, error) {
	switch t := req.GetTypeUrl(); t {
	case typeURL:
	case "":
		req = proto.CloneOf(req)
		req.TypeUrl = typeURL
	default:
		return nil, grpcstatus.Errorf(codes.InvalidArgument,
			"type_url %q on the %s service", t, cache.ShortType(typeURL))
	}
	resp, err := s.cache.Fetch(req)
	if err != nil {
		return nil, grpcstatus.Error(codes.Unavailable, err.Error())
	}
	return resp, nil
}

// request is what the reading goroutine hands the stream's loop.
type request[Req any] struct {
	req *Req
	err error
}

// run is the loop of one stream: a goroutine reads requests with recv,
// handle takes each of them, and update answers each wake of the cache's
// stream; both send what they are given to send. The stream ends with its
// client, at the first error, or when the server stops.
func run[Req any](
	s *services, ctx context.Context, recv func() (*Req, error), cs *cache.Stream,
	handle func(*Req) error, update func() error,
) error {
	reqs := make(chan request[Req], 1)
	go func() {
		for {
			req, err := recv()
			select {
			case reqs <- request[Req]{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop.Done():
			return grpcstatus.Error(codes.Unavailable, "xds server stopping")
		case r := <-reqs:
			if errors.Is(r.err, io.EOF) {
				return nil
			}
			if r.err != nil {
				return r.err
			}
			if err := handle(r.req); err != nil {
				return err
			}
		case <-cs.Wake():
			if err := update(); err != nil {
				return err
			}
		}
	}
}

// sotw serves one state-of-the-world stream; typeURL is empty for ADS.
func (s *services) sotw(st sotwStream, typeURL string) error {
	cs := s.cache.NewStream(typeURL, false)
	defer cs.Close()
	ctx := st.Context()
	done := s.opened(ctx, cs, typeURL, false)
	defer done()

	send := func(resps []*discovery.DiscoveryResponse) error {
		for _, r := range resps {
			if err := st.Send(r); err != nil {
				return err
			}
			s.pushed(cs, r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce(), len(r.GetResources()), 0)
		}
		return nil
	}
	recv := func() (*sotwRequest, error) {
		r := &sotwRequest{}
		if err := st.RecvMsg(r); err != nil {
			return nil, err
		}
		return r, nil
	}
	return run(s, ctx, recv, cs,
		func(r *sotwRequest) error {
			ans, resps, err := cs.SotwRequestNames(&r.req, r)
			if err != nil {
				return grpcstatus.Error(codes.InvalidArgument, err.Error())
			}
			s.answered(cs, ans)
			return send(resps)
		},
		func() error { return send(cs.SotwUpdate()) })
}

// delta serves one incremental stream; typeURL is empty for ADS.
func (s *services) delta(st deltaStream, typeURL string) error {
	cs := s.cache.NewStream(typeURL, true)
	defer cs.Close()
	ctx := st.Context()
	done := s.opened(ctx, cs, typeURL, true)
	defer done()

	send := func(resps []*discovery.DeltaDiscoveryResponse) error {
		for _, r := range resps {
			if err := st.Send(r); err != nil {
				return err
			}
			s.pushed(cs, r.GetTypeUrl(), r.GetSystemVersionInfo(), r.GetNonce(),
				len(r.GetResources()), len(r.GetRemovedResources()))
		}
		return nil
	}
	return run(s, ctx, st.Recv, cs,
		func(req *discovery.DeltaDiscoveryRequest) error {
			ans, resps, err := cs.DeltaRequest(req)
			if err != nil {
				return grpcstatus.Error(codes.InvalidArgument, err.Error())
			}
			s.answered(cs, ans)
			return send(resps)
		},
		func() error { return send(cs.DeltaUpdate()) })
}

// opened counts and logs a new stream and returns what counts and logs its
// end.
func (s *services) opened(ctx context.Context, cs *cache.Stream, typeURL string, delta bool) func() {
	s.metrics.streams.Inc()
	if typeURL == "" {
		typeURL = "ads"
	}
	addr := ""
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr.String()
	}
	s.log.Debug("xds stream opened", "delta", delta, "type_url", typeURL, "peer", addr)
	return func() {
		s.metrics.streams.Dec()
		s.log.Debug("xds stream closed", "delta", delta, "type_url", typeURL,
			"node_id", cs.Node().GetId(), "peer", addr)
	}
}

// pushed counts and logs a response sent.
func (s *services) pushed(cs *cache.Stream, typeURL, version, nonce string, n, removed int) {
	short := cache.ShortType(typeURL)
	s.metrics.pushes.WithLabelValues(short).Inc()
	s.log.Debug("xds push", "node_id", cs.Node().GetId(), "type_url", short,
		"version", version, "nonce", nonce, "resources", n, "removed", removed)
}

// answered counts an ACK or NACK and logs a NACK with the client's reason.
// A response is answered once: a repeated nonce answers nothing.
func (s *services) answered(cs *cache.Stream, ans *cache.Answer) {
	if ans == nil {
		return
	}
	short := cache.ShortType(ans.TypeURL)
	s.metrics.answerTime.WithLabelValues(short).Observe(ans.Elapsed.Seconds())
	if ans.Error == nil {
		s.metrics.acks.WithLabelValues(short).Inc()
		return
	}
	s.metrics.nacks.WithLabelValues(short).Inc()
	s.log.Warn("xds client rejected a response", "node_id", cs.Node().GetId(),
		"type_url", ans.TypeURL, "version", ans.Version, "nonce", ans.Nonce,
		"err", ans.Error.GetMessage())
}
