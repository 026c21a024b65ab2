package loadclient

import (
	"context"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// sotwStream is one state-of-the-world ADS stream that subscribes and
// ACKs like Envoy: clusters and listeners by wildcard, then load
// assignments and route configurations by the names those carry, each
// ACK repeating the type's full list of names.
type sotwStream struct {
	*subscription
	node   *corev3.Node
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	// last holds the version and nonce of the last response of each type,
	// which a new subscription request of that type must carry.
	last map[string]*discovery.DiscoveryResponse
}

func runSotw(ctx context.Context, c discovery.AggregatedDiscoveryServiceClient,
	node *corev3.Node, sub *subscription) error {
	st, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening stream: %w", err)
	}
	s := &sotwStream{subscription: sub, node: node, stream: st,
		last: map[string]*discovery.DiscoveryResponse{}}
	if err := s.request(resource.ClusterType, nil); err != nil {
		return err
	}
	if err := s.request(resource.ListenerType, nil); err != nil {
		return err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		if err := s.handle(resp); err != nil {
			return fmt.Errorf("handling %s response: %w", resp.GetTypeUrl(), err)
		}
	}
}

// request sends a request of typeURL with names that answers the type's
// last response, which makes it an ACK when one was received.
func (s *sotwStream) request(typeURL string, names []string) error {
	last := s.last[typeURL]
	err := s.stream.Send(&discovery.DiscoveryRequest{
		Node: s.node, TypeUrl: typeURL, ResourceNames: names,
		VersionInfo: last.GetVersionInfo(), ResponseNonce: last.GetNonce(),
	})
	if err != nil {
		return fmt.Errorf("sending %s request: %w", typeURL, err)
	}
	return nil
}

func (s *sotwStream) handle(resp *discovery.DiscoveryResponse) error {
	s.last[resp.GetTypeUrl()] = resp
	var err error
	switch resp.GetTypeUrl() {
	case resource.ClusterType:
		err = s.handleClusters(resp)
	case resource.ListenerType:
		err = s.handleListeners(resp)
	case resource.EndpointType:
		err = s.handleEndpoints(resp)
	case resource.RouteType:
		err = s.handleRoutes(resp)
	default:
		err = fmt.Errorf("unexpected type")
	}
	if err != nil {
		return err
	}
	s.checkSynced()
	return nil
}

// handleClusters replaces the clusters, asks for the load assignments they
// name if those changed, and ACKs.
func (s *sotwStream) handleClusters(resp *discovery.DiscoveryResponse) error {
	clusters := make(map[string]string, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		name, eds, err := clusterNames(r.GetValue())
		if err != nil {
			return err
		}
		clusters[s.names.bytes(name)] = s.names.bytes(eds)
	}
	s.clusters = clusters
	if added, removed := s.updateEDS(); len(added)+len(removed) > 0 {
		if err := s.request(resource.EndpointType, s.eds); err != nil {
			return err
		}
	}
	s.gotCDS = true
	return s.request(resource.ClusterType, nil)
}

// handleListeners replaces the listeners, asks for the route
// configurations they name if those changed, and ACKs.
func (s *sotwStream) handleListeners(resp *discovery.DiscoveryResponse) error {
	listeners := make(map[string][]string, len(resp.GetResources()))
	for _, r := range resp.GetResources() {
		name, routes, err := listenerRoutes(r.GetValue())
		if err != nil {
			return err
		}
		for i := range routes {
			routes[i] = s.names.string(routes[i])
		}
		listeners[name] = routes
	}
	s.listeners = listeners
	if added, removed := s.updateRDS(); len(added)+len(removed) > 0 {
		if err := s.request(resource.RouteType, s.rds); err != nil {
			return err
		}
	}
	s.gotLDS = true
	return s.request(resource.ListenerType, nil)
}

// handleEndpoints ACKs load assignments and then reports the watched
// changes among them.
func (s *sotwStream) handleEndpoints(resp *discovery.DiscoveryResponse) error {
	var markers map[string]int64
	for _, r := range resp.GetResources() {
		raw, err := resourceName(r.GetValue())
		if err != nil {
			return err
		}
		if !s.synced {
			s.gotEDS[s.names.bytes(raw)] = struct{}{}
		}
		// Most load assignments of a state-of-the-world response are
		// unchanged; only those of watched clusters are decoded.
		if !s.tracker.watchingBytes(raw) {
			continue
		}
		if markers, err = addMarker(markers, s.names.bytes(raw), r.GetValue()); err != nil {
			return err
		}
	}
	if err := s.request(resource.EndpointType, s.eds); err != nil {
		return err
	}
	s.ackedEndpoints(markers)
	return nil
}

// handleRoutes ACKs route configurations.
func (s *sotwStream) handleRoutes(resp *discovery.DiscoveryResponse) error {
	for _, r := range resp.GetResources() {
		raw, err := resourceName(r.GetValue())
		if err != nil {
			return err
		}
		s.routes(s.names.bytes(raw))
	}
	return s.request(resource.RouteType, s.rds)
}
