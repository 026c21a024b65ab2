package cache

import (
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// watch is one open request of one stream for one type, waiting for a state
// that differs from what the client has.
//
// It reads the subscription's maps in place instead of copying them: the
// server changes them only after it has cancelled the watch (SotW builds a
// new names map per request; delta edits it in place), and cancel waits
// for mu, so the watch never reads them once cancel has returned.
type watch struct {
	typeURL  string
	wildcard bool
	sub      cachev3.Subscription

	sotwReq  *cachev3.Request
	sotwCh   chan cachev3.Response
	deltaReq *cachev3.DeltaRequest
	deltaCh  chan cachev3.DeltaResponse
	node     *corev3.Node

	// tracked is whether the watch is in its index; c.mu guards it.
	tracked bool

	// mu guards what follows and makes answering and cancelling exclusive,
	// so that Set can answer outside c.mu and a watch answers once.
	mu sync.Mutex
	// done is set once the watch answered or was cancelled.
	done bool
	// grant is what the node may receive; nil is everything.
	grant *grant
	// unsent marks a first request that must be answered even when there
	// is nothing in it, so that the client learns the (empty) state.
	unsent bool
	// first marks a SotW request that opens the subscription on this
	// stream; its version_info tells what the client already has.
	first bool
	// had replaces the subscription's ReturnedResources once the first
	// request's version_info showed what the client has.
	had map[string]string
}

func newWatch(typeURL string, sub cachev3.Subscription, node *corev3.Node) *watch {
	return &watch{typeURL: typeURL, wildcard: sub.IsWildcard(), sub: sub, node: node}
}

// names are the resources the subscription asks for by name.
func (w *watch) names() map[string]struct{} {
	return w.sub.SubscribedResources()
}

// known maps each resource the client has to its version, as far as this
// cache told it. The map belongs to the server: it is only read.
func (w *watch) known() map[string]string {
	if w.had != nil {
		return w.had
	}
	return w.sub.ReturnedResources()
}

// concerns reports whether any changed name is one w asks for by name,
// looking up the shorter list in the other.
func (w *watch) concerns(changed []string, changedSet map[string]struct{}) bool {
	names := w.names()
	if len(changed) <= len(names) {
		for _, name := range changed {
			if _, ok := names[name]; ok {
				return true
			}
		}
		return false
	}
	for name := range names {
		if _, ok := changedSet[name]; ok {
			return true
		}
	}
	return false
}

// watchIndex holds the open watches of one type. It does not index watches
// by name: a stream's EDS watch names a thousand resources and is replaced
// on every ACK, while a Set changes a handful, so testing each watch against
// the changed names costs far less than keeping a per-name index.
type watchIndex struct {
	wildcard map[*watch]struct{}
	named    map[*watch]struct{}
}

func newWatchIndex() *watchIndex {
	return &watchIndex{wildcard: map[*watch]struct{}{}, named: map[*watch]struct{}{}}
}

// size is the number of open watches.
func (idx *watchIndex) size() int {
	return len(idx.wildcard) + len(idx.named)
}

// list returns every watch of the index.
func (idx *watchIndex) list() []*watch {
	out := make([]*watch, 0, idx.size())
	for w := range idx.wildcard {
		out = append(out, w)
	}
	for w := range idx.named {
		out = append(out, w)
	}
	return out
}

// affected lists the watches that changed names may concern; all lists
// every watch, for the first state.
func (idx *watchIndex) affected(changed []string, wildcardChanged, all bool) []*watch {
	if all {
		return idx.list()
	}
	if len(changed) == 0 {
		return nil
	}
	changedSet := make(map[string]struct{}, len(changed))
	for _, name := range changed {
		changedSet[name] = struct{}{}
	}
	var out []*watch
	for w := range idx.wildcard {
		if wildcardChanged || w.concerns(changed, changedSet) {
			out = append(out, w)
		}
	}
	for w := range idx.named {
		if w.concerns(changed, changedSet) {
			out = append(out, w)
		}
	}
	return out
}

// track adds w to the index of its type; it must hold c.mu.
func (c *Cache) track(w *watch) {
	idx := c.watches[w.typeURL]
	w.tracked = true
	if w.wildcard {
		idx.wildcard[w] = struct{}{}
	} else {
		idx.named[w] = struct{}{}
	}
}

// untrack removes w from its index, once; it must hold c.mu.
func (c *Cache) untrack(w *watch) {
	if !w.tracked {
		return
	}
	w.tracked = false
	idx := c.watches[w.typeURL]
	delete(idx.wildcard, w)
	delete(idx.named, w)
}

// untrackAll removes the watches that are done from their indexes.
func (c *Cache) untrackAll(ws []*watch) {
	if len(ws) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range ws {
		c.untrack(w)
	}
}

// cancelFunc returns the cancel function the server calls when the watch
// is replaced or the stream ends. Taking w.mu waits for an answer in
// progress, after which the server may change the subscription.
func (c *Cache) cancelFunc(w *watch) func() {
	return func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()

		c.mu.Lock()
		c.untrack(w)
		c.mu.Unlock()
	}
}

// wakeup is the watches of one type that a Set may concern, and the names
// that changed; nil names mean that the watches must look at everything.
type wakeup struct {
	watches []*watch
	changed []string
}

// collect finds, type by type in typeOrder, the watches that the change
// from prev to next concerns, and counts the changed resources; it must
// hold c.mu. The first state concerns every watch, since all of them were
// waiting for it.
func (c *Cache) collect(prev, next *state, first bool) ([]wakeup, int) {
	out := make([]wakeup, 0, len(typeOrder))
	changed := 0
	for _, typeURL := range typeOrder {
		names, wildcard := changedNames(prev.types[typeURL], next.types[typeURL])
		changed += len(names)
		ws := c.watches[typeURL].affected(names, wildcard, first)
		if first {
			names = nil
		}
		out = append(out, wakeup{watches: ws, changed: names})
	}
	return out, changed
}

// answerAll answers the collected watches from st, in order, and returns
// those that are done. A watch was up to date when it was tracked and has
// been woken by every change since, so only the changed names can differ.
func (c *Cache) answerAll(st *state, wakeups []wakeup) []*watch {
	var done []*watch
	for _, wu := range wakeups {
		for _, w := range wu.watches {
			if c.answer(w, st, wu.changed) {
				done = append(done, w)
			}
		}
	}
	return done
}

// answer sends w the response st calls for, unless it answered or was
// cancelled already, and reports whether w is now done.
func (c *Cache) answer(w *watch, st *state, scope []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && c.respond(w, st, scope) {
		w.done = true
	}
	return w.done
}

// resourcesOf returns the resources of w's type in st that its node may
// receive.
func (w *watch) resourcesOf(st *state) *typeState {
	return w.grant.typeState(w.typeURL, st.types[w.typeURL])
}

// respond sends w the response st calls for, if any, and reports whether
// it did. With scope it looks only at those names. It must hold w.mu, or
// own w before anyone else can see it.
func (c *Cache) respond(w *watch, st *state, scope []string) bool {
	if w.deltaCh != nil {
		return c.respondDelta(w, st, scope)
	}
	return c.respondSotw(w, st, scope)
}

// watchFor opens a watch on a supported type: it answers at once when the
// client lacks something, else tracks it until a Set concerns it. The check
// runs under no lock; if a Set or SetAccess slipped in meanwhile, it runs
// again against the new state, so the watch misses no change.
func (c *Cache) watchFor(w *watch) func() {
	for {
		c.mu.RLock()
		st, ready, access := c.state, c.ready, c.access
		c.mu.RUnlock()

		w.grant = access.grantFor(w.node)
		if ready && c.respond(w, st, nil) {
			return func() {}
		}

		c.mu.Lock()
		if c.state == st && c.access == access {
			c.track(w)
			c.mu.Unlock()
			return c.cancelFunc(w)
		}
		c.mu.Unlock()
	}
}
