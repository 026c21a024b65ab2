package cache

import (
	"maps"
	"slices"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// CreateDeltaWatch opens an incremental watch. A response carries only the
// resources whose version differs from what the client has, each with its
// own version, and the names of the resources it has that are gone (or,
// for a wildcard subscription, became ByNameOnly). What the client has
// starts from the request's initial_resource_versions and follows every
// response sent, so a NACK leaves nothing to re-send.
//
// The first request of a wildcard subscription is answered even when empty,
// since the client waits for it to finish initialising. A type other than
// listeners, routes, clusters and endpoints never answers.
func (c *Cache) CreateDeltaWatch(
	req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse,
) (func(), error) {
	if _, ok := supportedTypes[req.GetTypeUrl()]; !ok {
		c.log.Debug("xds delta watch of an unsupported type never answers",
			"type_url", req.GetTypeUrl(), "node_id", req.GetNode().GetId())
		return func() {}, nil
	}
	w := newWatch(req.GetTypeUrl(), sub)
	w.node = req.GetNode()
	w.deltaReq, w.deltaCh = req, ch
	w.unsent = w.wildcard && req.GetResponseNonce() == ""

	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watchFor(w), nil
}

// respondDelta sends w a delta response if its client lacks something or
// holds something gone; it must hold c.mu.
func (c *Cache) respondDelta(w *watch) bool {
	ts := c.resourcesOf(w)
	view, _ := ts.view(w.wildcard, w.names)

	var send []*entry
	for _, e := range view {
		if v, ok := w.known[e.name]; !ok || v != e.version {
			send = append(send, e)
		}
	}
	var removed []string
	for name := range w.known {
		if !ts.visible(name, w.wildcard, w.names) {
			removed = append(removed, name)
		}
	}
	if len(send) == 0 && len(removed) == 0 && !w.unsent {
		return false
	}
	slices.Sort(removed)
	c.deliverDelta(w, &cachev3.DeltaPassthroughResponse{
		DeltaRequest:   w.deltaReq,
		NextVersionMap: w.deltaReturned(send, removed),
		DeltaDiscoveryResponse: &discovery.DeltaDiscoveryResponse{
			SystemVersionInfo: c.state.version,
			TypeUrl:           w.typeURL,
			Resources:         deltaResources(send),
			RemovedResources:  removed,
		},
	})
	return true
}

// deltaReturned is what the client has after the response, in a new map
// since the server changes it as the subscription changes.
func (w *watch) deltaReturned(send []*entry, removed []string) map[string]string {
	out := maps.Clone(w.known)
	if out == nil {
		out = make(map[string]string, len(send))
	}
	for _, name := range removed {
		delete(out, name)
	}
	for _, e := range send {
		out[e.name] = e.version
	}
	return out
}

// deltaResources wraps the shared marshalled forms with names and versions.
func deltaResources(es []*entry) []*discovery.Resource {
	out := make([]*discovery.Resource, len(es))
	for i, e := range es {
		out[i] = &discovery.Resource{Name: e.name, Version: e.version, Resource: e.any}
	}
	return out
}

// deliverDelta hands a response to the stream. The server's channel holds
// two responses per type and each stream has at most one live watch per
// type, so this never waits; the check only guards that promise.
func (c *Cache) deliverDelta(w *watch, resp cachev3.DeltaResponse) {
	select {
	case w.deltaCh <- resp:
	default:
		c.log.Error("xds delta response dropped: stream channel full",
			"type_url", w.typeURL, "node_id", w.deltaReq.GetNode().GetId())
	}
}
