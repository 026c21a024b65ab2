package cache

import (
	"fmt"
	"maps"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// CreateWatch opens a state-of-the-world watch. It answers at once when
// the client lacks something of its subscription, and otherwise waits for a
// Set that changes a resource the subscription covers.
//
// What the client has is the subscription's ReturnedResources: the versions
// this cache last sent on the stream, accepted or not. A NACK therefore
// leaves nothing to send, and the watch waits for a new version instead of
// re-sending the rejected one. On the first request of a stream, which has
// no nonce, the request's version_info stands in: a client that reconnects
// with the current version gets nothing new.
//
// A type other than listeners, routes, clusters and endpoints never answers.
func (c *Cache) CreateWatch(
	req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response,
) (func(), error) {
	if _, ok := supportedTypes[req.GetTypeUrl()]; !ok {
		c.log.Debug("xds watch of an unsupported type never answers",
			"type_url", req.GetTypeUrl(), "node_id", req.GetNode().GetId())
		return func() {}, nil
	}
	w := newWatch(req.GetTypeUrl(), sub)
	w.node = req.GetNode()
	w.sotwReq, w.sotwCh = req, ch
	w.first = req.GetResponseNonce() == "" && len(w.known) == 0
	w.unsent = w.first

	c.mu.Lock()
	defer c.mu.Unlock()
	return c.watchFor(w), nil
}

// respondSotw sends w a SotW response if its client lacks something; it
// must hold c.mu.
func (c *Cache) respondSotw(w *watch) bool {
	view, version := c.resourcesOf(w).view(w.wildcard, w.names)
	if w.first {
		w.first = false
		if w.sotwReq.GetVersionInfo() == version {
			w.known, w.unsent = versionMap(view), false
			return false
		}
	}
	fullState := supportedTypes[w.typeURL]
	send, ok := w.sotwChanges(view, fullState)
	if !ok {
		return false
	}
	c.deliverSotw(w, &cachev3.PassthroughResponse{
		Request: w.sotwReq,
		DiscoveryResponse: &discovery.DiscoveryResponse{
			VersionInfo: version,
			Resources:   anys(send),
			TypeUrl:     w.typeURL,
		},
		ReturnedResources: w.sotwReturned(view, fullState),
	})
	return true
}

// sotwChanges returns the entries to send and whether a response is due.
// A full-state type sends its whole view whenever anything differs,
// removals included; the others send only new or changed resources, since
// their clients do not read a missing resource as deleted.
func (w *watch) sotwChanges(view []*entry, fullState bool) ([]*entry, bool) {
	if fullState {
		return view, w.unsent || !sameVersions(w.known, view)
	}
	var send []*entry
	for _, e := range view {
		if v, ok := w.known[e.name]; !ok || v != e.version {
			send = append(send, e)
		}
	}
	return send, len(send) > 0
}

// sotwReturned is what the client has after the response: the view for a
// full-state type, else what it had with the view's versions on top. The
// map is new, since the server changes it as the subscription changes.
func (w *watch) sotwReturned(view []*entry, fullState bool) map[string]string {
	if fullState {
		return versionMap(view)
	}
	out := maps.Clone(w.known)
	if out == nil {
		out = make(map[string]string, len(view))
	}
	for _, e := range view {
		out[e.name] = e.version
	}
	return out
}

// deliverSotw hands a response to the stream. The server gives every watch
// a channel with room for one, or with ordered ADS one channel per stream
// with room for one per type; a watch answers once, and the server drains
// a type's responses before it opens the type's next watch, so this never
// waits. The check only guards that promise.
func (c *Cache) deliverSotw(w *watch, resp cachev3.Response) {
	select {
	case w.sotwCh <- resp:
	default:
		c.log.Error("xds response dropped: stream channel full",
			"type_url", w.typeURL, "node_id", w.sotwReq.GetNode().GetId())
	}
}

// fetch answers a REST request; it must hold c.mu for reading.
func (c *Cache) fetch(req *cachev3.Request) (cachev3.Response, error) {
	if !c.ready {
		return nil, fmt.Errorf("fetching %s: no resources set yet", req.GetTypeUrl())
	}
	ts := c.state.types[req.GetTypeUrl()]
	if ts == nil {
		return nil, fmt.Errorf("fetching: unsupported type URL %q", req.GetTypeUrl())
	}
	ts = c.access.grantFor(req.GetNode()).typeState(req.GetTypeUrl(), ts)
	names := make(map[string]struct{}, len(req.GetResourceNames()))
	wildcard := len(req.GetResourceNames()) == 0
	for _, name := range req.GetResourceNames() {
		if name == "*" {
			wildcard = true
			continue
		}
		names[name] = struct{}{}
	}
	view, version := ts.view(wildcard, names)
	if req.GetVersionInfo() == version {
		return nil, &types.SkipFetchError{}
	}
	return &cachev3.PassthroughResponse{
		Request: req,
		DiscoveryResponse: &discovery.DiscoveryResponse{
			VersionInfo: version, Resources: anys(view), TypeUrl: req.GetTypeUrl(),
		},
		ReturnedResources: versionMap(view),
	}, nil
}

// anys lists the shared marshalled forms of entries.
func anys(es []*entry) []*anypb.Any {
	out := make([]*anypb.Any, len(es))
	for i, e := range es {
		out[i] = e.any
	}
	return out
}

// sameVersions reports whether known holds exactly the view's versions.
func sameVersions(known map[string]string, view []*entry) bool {
	if len(known) != len(view) {
		return false
	}
	for _, e := range view {
		if v, ok := known[e.name]; !ok || v != e.version {
			return false
		}
	}
	return true
}
