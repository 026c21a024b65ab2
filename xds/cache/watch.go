package cache

import (
	"maps"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// watch is one open request of one stream for one type, waiting for a state
// that differs from what the client has.
type watch struct {
	typeURL  string
	wildcard bool
	names    map[string]struct{}
	// known maps each resource the client has to its version, as far as
	// this cache told it.
	known map[string]string
	// unsent marks a first request that must be answered even when there
	// is nothing in it, so that the client learns the (empty) state.
	unsent bool
	// first marks a SotW request that opens the subscription on this
	// stream; its version_info tells what the client already has.
	first bool

	sotwReq  *cachev3.Request
	sotwCh   chan cachev3.Response
	deltaReq *cachev3.DeltaRequest
	deltaCh  chan cachev3.DeltaResponse

	tracked bool

	// node is the client of the watch and grant what it may receive; a
	// nil grant is everything.
	node  *corev3.Node
	grant *grant
}

// newWatch copies what the watch needs from the subscription, since the
// server changes the subscription's maps after the watch ends.
func newWatch(typeURL string, sub cachev3.Subscription) *watch {
	return &watch{
		typeURL:  typeURL,
		wildcard: sub.IsWildcard(),
		names:    maps.Clone(sub.SubscribedResources()),
		known:    maps.Clone(sub.ReturnedResources()),
	}
}

// watchIndex finds the watches of one type that a change may concern: by
// resource name, plus every wildcard watch. all also holds watches that
// name nothing, which only the first Set answers.
type watchIndex struct {
	byName   map[string]map[*watch]struct{}
	wildcard map[*watch]struct{}
	all      map[*watch]struct{}
}

func newWatchIndex() *watchIndex {
	return &watchIndex{
		byName:   map[string]map[*watch]struct{}{},
		wildcard: map[*watch]struct{}{},
		all:      map[*watch]struct{}{},
	}
}

// track adds w to the index of its type; it must hold c.mu.
func (c *Cache) track(w *watch) {
	idx := c.watches[w.typeURL]
	w.tracked = true
	idx.all[w] = struct{}{}
	if w.wildcard {
		idx.wildcard[w] = struct{}{}
	}
	for name := range w.names {
		set := idx.byName[name]
		if set == nil {
			set = map[*watch]struct{}{}
			idx.byName[name] = set
		}
		set[w] = struct{}{}
	}
}

// untrack removes w from its index, once; it must hold c.mu.
func (c *Cache) untrack(w *watch) {
	if !w.tracked {
		return
	}
	w.tracked = false
	idx := c.watches[w.typeURL]
	delete(idx.all, w)
	delete(idx.wildcard, w)
	for name := range w.names {
		set := idx.byName[name]
		delete(set, w)
		if len(set) == 0 {
			delete(idx.byName, name)
		}
	}
}

// cancelFunc returns the cancel function the server calls when the watch
// is replaced or the stream ends.
func (c *Cache) cancelFunc(w *watch) func() {
	return func() {
		c.mu.Lock()
		c.untrack(w)
		c.mu.Unlock()
	}
}

// notify answers the watches that the change from prev to next concerns,
// type by type in typeOrder, and returns how many resources changed; it
// must hold c.mu. The first state answers every watch, since all of them
// were waiting for it.
func (c *Cache) notify(prev, next *state, first bool) int {
	changed := 0
	for _, typeURL := range typeOrder {
		idx := c.watches[typeURL]
		names, wildcard := changedNames(prev.types[typeURL], next.types[typeURL])
		changed += len(names)
		for w := range affected(idx, names, wildcard, first) {
			if c.respond(w) {
				c.untrack(w)
			}
		}
	}
	return changed
}

// affected collects the watches of one type that changed names concern.
func affected(idx *watchIndex, names []string, wildcard, all bool) map[*watch]struct{} {
	if all {
		return maps.Clone(idx.all)
	}
	out := map[*watch]struct{}{}
	for _, name := range names {
		for w := range idx.byName[name] {
			out[w] = struct{}{}
		}
	}
	if wildcard {
		for w := range idx.wildcard {
			out[w] = struct{}{}
		}
	}
	return out
}

// resourcesOf returns the resources of w's type that its node may receive;
// it must hold c.mu.
func (c *Cache) resourcesOf(w *watch) *typeState {
	return w.grant.typeState(w.typeURL, c.state.types[w.typeURL])
}

// respond sends w the response the current state calls for, if any, and
// reports whether it did; it must hold c.mu.
func (c *Cache) respond(w *watch) bool {
	if w.deltaCh != nil {
		return c.respondDelta(w)
	}
	return c.respondSotw(w)
}

// watchFor opens a watch on a supported type: it answers at once when the
// client lacks something, else tracks it until a Set concerns it. It must
// hold c.mu.
func (c *Cache) watchFor(w *watch) func() {
	w.grant = c.access.grantFor(w.node)
	if c.ready && c.respond(w) {
		return func() {}
	}
	c.track(w)
	return c.cancelFunc(w)
}
