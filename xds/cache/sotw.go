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
	w := newWatch(req.GetTypeUrl(), sub, req.GetNode())
	w.sotwReq, w.sotwCh = req, ch
	w.first = req.GetResponseNonce() == "" && len(sub.ReturnedResources()) == 0
	w.unsent = w.first
	return c.watchFor(w), nil
}

// respondSotw sends w a SotW response from st if its client lacks
// something, and reports whether it did.
func (c *Cache) respondSotw(w *watch, st *state, scope []string) bool {
	ts := w.resourcesOf(st)
	if supportedTypes[w.typeURL] {
		return c.respondSotwFull(w, ts)
	}
	return c.respondSotwChanges(w, ts, scope)
}

// respondSotwFull answers a full-state type: the whole view whenever
// anything differs, removals included, versioned by a hash of the view
// since the client holds exactly that list.
func (c *Cache) respondSotwFull(w *watch, ts *typeState) bool {
	view, version := ts.view(w.wildcard, w.names())
	if w.takeFirst(version) {
		w.had = w.fullReturned(view, version)
		return false
	}
	if !w.unsent && holds(w.known(), view, version) {
		return false
	}
	c.deliverSotw(w, version, view, func() map[string]string {
		return w.fullReturned(view, version)
	})
	return true
}

// wildcardKey names, in what a wildcard subscription of a full-state type
// has, the whole list it holds. Such a client holds exactly the view of
// the version it was sent, so one entry of that version says as much as
// an entry per resource, and a stream keeps one entry instead of one per
// cluster. No resource may have this name: xDS reserves it for the
// wildcard, and a subscription that stops being wildcard has it removed
// by the server, which then gets the named list.
const wildcardKey = "*"

// fullReturned is what the client of a full-state type has after it is
// sent view: the view's version alone for a wildcard subscription, else
// the version of each resource, so that the server can drop the names
// the subscription no longer asks for.
func (w *watch) fullReturned(view []*entry, version string) map[string]string {
	if w.wildcard {
		return map[string]string{wildcardKey: version}
	}
	return versionMap(view)
}

// holds reports whether a client that has known holds exactly view, of
// version version.
func holds(known map[string]string, view []*entry, version string) bool {
	if v, ok := known[wildcardKey]; ok && len(known) == 1 {
		return v == version
	}
	return sameVersions(known, view)
}

// respondSotwChanges answers a type whose clients do not read a missing
// resource as deleted: it sends only the new or changed resources,
// versioned by the type's content version, found by looking up the
// subscription's names (or only scope) rather than building its view.
func (c *Cache) respondSotwChanges(w *watch, ts *typeState, scope []string) bool {
	// The type's version covers every resource of the type, not the
	// client's names: a client that reconnects with the current version
	// may have subscribed a name it was never sent. So the first request
	// of a stream is answered with everything it names, whatever its
	// version_info says; Envoy takes an unchanged resource as a no-op.
	first := w.first
	w.first = false
	known := w.known()
	if !first && w.acknowledgedAll(ts, known, scope) {
		return false
	}
	send, _ := ts.outdated(w.wildcard, w.names(), known, scope)
	if len(send) == 0 {
		return false
	}
	sortEntries(send)
	c.deliverSotw(w, ts.version, send, func() map[string]string {
		return withVersions(known, send)
	})
	return true
}

// acknowledgedAll reports, without looking at each name, whether the
// client of a named subscription already holds everything it asks for: it
// acknowledged the type's current version, and what it holds covers as
// many names as it asks for. What it holds is always a subset of what it
// asks for (the server drops the names it no longer asks for), so equal
// sizes mean the same names. This spares the scan of every name on each
// ACK, which a fleet sends for every change. A wake by Set (scope set)
// always looks, since the state has just changed.
func (w *watch) acknowledgedAll(ts *typeState, known map[string]string, scope []string) bool {
	return scope == nil && !w.wildcard && w.sotwReq.GetErrorDetail() == nil &&
		w.sotwReq.GetVersionInfo() == ts.version && len(known) == len(w.names())
}

// takeFirst consumes the first-request mark and reports whether the
// request's version_info shows the client already has version: it then
// needs nothing, as when it reconnects to another replica.
func (w *watch) takeFirst(version string) bool {
	if !w.first {
		return false
	}
	w.first = false
	if w.sotwReq.GetVersionInfo() != version {
		return false
	}
	w.unsent = false
	return true
}

// withVersions is known with the versions of send on top, in a new map:
// the server owns known and changes the result as the subscription
// changes. Sized up front, it does not grow while filled.
func withVersions(known map[string]string, send []*entry) map[string]string {
	added := 0
	for _, e := range send {
		if _, ok := known[e.name]; !ok {
			added++
		}
	}
	var out map[string]string
	if added == 0 && known != nil {
		out = maps.Clone(known)
	} else {
		out = make(map[string]string, len(known)+added)
		for name, v := range known {
			out[name] = v
		}
	}
	for _, e := range send {
		out[e.name] = e.version
	}
	return out
}

// deliverSotw hands a response to the stream. The server gives every watch
// a channel with room for one, or with ordered ADS one channel per stream
// with room for one per type; a watch answers once, and the server drains
// a type's responses before it opens the type's next watch, so this never
// waits. The check only guards that promise.
func (c *Cache) deliverSotw(
	w *watch, version string, send []*entry, returned func() map[string]string,
) {
	resp := &sotwResponse{
		PassthroughResponse: &cachev3.PassthroughResponse{
			Request: w.sotwReq,
			DiscoveryResponse: &discovery.DiscoveryResponse{
				VersionInfo: version,
				Resources:   anys(send),
				TypeUrl:     w.typeURL,
			},
		},
		returned: versionsOnce{build: returned},
	}
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
