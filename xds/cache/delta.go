package cache

import (
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
	w := newWatch(req.GetTypeUrl(), sub, req.GetNode())
	w.deltaReq, w.deltaCh = req, ch
	w.unsent = w.wildcard && req.GetResponseNonce() == ""
	return c.watchFor(w), nil
}

// respondDelta sends w a delta response from st if its client lacks
// something or holds something gone, and reports whether it did. With
// scope it looks only at those names.
func (c *Cache) respondDelta(w *watch, st *state, scope []string) bool {
	ts := w.resourcesOf(st)
	names, known := w.names(), w.known()
	send, had := ts.outdated(w.wildcard, names, known, scope)
	var removed []string
	if scope != nil || had != len(known) {
		// Unless every name the client has is still covered.
		removed = gone(ts, w.wildcard, names, known, scope)
	}
	if len(send) == 0 && len(removed) == 0 && !w.unsent {
		return false
	}
	sortEntries(send)
	slices.Sort(removed)
	c.deliverDelta(w, &deltaResponse{
		DeltaPassthroughResponse: &cachev3.DeltaPassthroughResponse{
			DeltaRequest: w.deltaReq,
			DeltaDiscoveryResponse: &discovery.DeltaDiscoveryResponse{
				SystemVersionInfo: st.version,
				TypeUrl:           w.typeURL,
				Resources:         deltaResources(send),
				RemovedResources:  removed,
			},
		},
		next: versionsOnce{build: func() map[string]string {
			return deltaReturned(known, send, removed)
		}},
	})
	return true
}

// gone lists the resources the client has that the subscription no longer
// covers: looking at scope only, or else at everything the client has.
func gone(
	ts *typeState, wildcard bool, names map[string]struct{}, known map[string]string,
	scope []string,
) []string {
	var out []string
	check := func(name string) {
		if ts.visible(name, wildcard, names) == nil {
			out = append(out, name)
		}
	}
	if scope == nil {
		for name := range known {
			check(name)
		}
		return out
	}
	for _, name := range scope {
		if _, ok := known[name]; ok {
			check(name)
		}
	}
	return out
}

// deltaReturned is what the client has after the response, in a new map
// since the server owns known and changes the result as the subscription
// changes.
func deltaReturned(known map[string]string, send []*entry, removed []string) map[string]string {
	out := withVersions(known, send)
	for _, name := range removed {
		delete(out, name)
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
