package loadclient

import (
	"context"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// deltaStream is one incremental ADS stream that subscribes and ACKs like
// Envoy: clusters and listeners by wildcard, then load assignments and
// route configurations by name as clusters and listeners come and go.
type deltaStream struct {
	*subscription
	node   *corev3.Node
	stream discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
}

func runDelta(ctx context.Context, c discovery.AggregatedDiscoveryServiceClient,
	node *corev3.Node, sub *subscription) error {
	st, err := c.DeltaAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening delta stream: %w", err)
	}
	s := &deltaStream{subscription: sub, node: node, stream: st}
	// A first request that names nothing subscribes by wildcard.
	if err := s.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType}); err != nil {
		return err
	}
	if err := s.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType}); err != nil {
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

func (s *deltaStream) send(req *discovery.DeltaDiscoveryRequest) error {
	req.Node = s.node
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("sending %s request: %w", req.GetTypeUrl(), err)
	}
	return nil
}

// ack accepts resp.
func (s *deltaStream) ack(resp *discovery.DeltaDiscoveryResponse) error {
	return s.send(&discovery.DeltaDiscoveryRequest{
		TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(),
	})
}

// subscribe changes the names asked for of typeURL, if any changed.
func (s *deltaStream) subscribe(typeURL string, added, removed []string) error {
	if len(added)+len(removed) == 0 {
		return nil
	}
	return s.send(&discovery.DeltaDiscoveryRequest{
		TypeUrl: typeURL, ResourceNamesSubscribe: added, ResourceNamesUnsubscribe: removed,
	})
}

func (s *deltaStream) handle(resp *discovery.DeltaDiscoveryResponse) error {
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

// handleClusters applies added, changed and removed clusters, changes the
// load assignments asked for, and ACKs.
func (s *deltaStream) handleClusters(resp *discovery.DeltaDiscoveryResponse) error {
	for _, r := range resp.GetResources() {
		name, eds, err := clusterNames(r.GetResource().GetValue())
		if err != nil {
			return err
		}
		s.clusters[s.names.bytes(name)] = s.names.bytes(eds)
	}
	for _, name := range resp.GetRemovedResources() {
		delete(s.clusters, name)
	}
	added, removed := s.updateEDS()
	if err := s.subscribe(resource.EndpointType, added, removed); err != nil {
		return err
	}
	s.gotCDS = true
	return s.ack(resp)
}

// handleListeners applies added, changed and removed listeners, changes
// the route configurations asked for, and ACKs.
func (s *deltaStream) handleListeners(resp *discovery.DeltaDiscoveryResponse) error {
	for _, r := range resp.GetResources() {
		name, routes, err := listenerRoutes(r.GetResource().GetValue())
		if err != nil {
			return err
		}
		for i := range routes {
			routes[i] = s.names.string(routes[i])
		}
		s.listeners[s.names.string(name)] = routes
	}
	for _, name := range resp.GetRemovedResources() {
		delete(s.listeners, name)
	}
	added, removed := s.updateRDS()
	if err := s.subscribe(resource.RouteType, added, removed); err != nil {
		return err
	}
	s.gotLDS = true
	return s.ack(resp)
}

// handleEndpoints ACKs load assignments and then reports the watched
// changes among them.
func (s *deltaStream) handleEndpoints(resp *discovery.DeltaDiscoveryResponse) error {
	var markers map[string]int64
	var err error
	for _, r := range resp.GetResources() {
		name := r.GetName()
		if !s.synced {
			s.gotEDS[s.names.string(name)] = struct{}{}
		}
		if !s.tracker.watching(name) {
			continue
		}
		value := r.GetResource().GetValue()
		if markers, err = addMarker(markers, s.names.string(name), value); err != nil {
			return err
		}
	}
	if err := s.ack(resp); err != nil {
		return err
	}
	s.ackedEndpoints(markers)
	return nil
}

// handleRoutes ACKs route configurations.
func (s *deltaStream) handleRoutes(resp *discovery.DeltaDiscoveryResponse) error {
	for _, r := range resp.GetResources() {
		s.routes(s.names.string(r.GetName()))
	}
	return s.ack(resp)
}
