package cache

import (
	"errors"
	"fmt"
	"path"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// AccessRule grants the nodes it matches a part of the resources.
type AccessRule struct {
	// NodeID is a path.Match pattern for the node's ID; empty matches any.
	NodeID string
	// NodeCluster is a path.Match pattern for the node's cluster; empty
	// matches any.
	NodeCluster string
	// Names maps a type URL to the names of the resources of that type the
	// nodes may receive. A type missing from the map is not limited; a
	// type mapped to no names gets nothing.
	Names map[string][]string
}

// Access limits which resources each node receives. The zero value limits
// nothing.
type Access struct {
	// Rules are tried in order; the first that matches a node decides what
	// it receives.
	Rules []AccessRule
	// DenyUnmatched makes a node that matches no rule receive nothing;
	// otherwise it receives everything.
	DenyUnmatched bool
}

// SetAccess replaces the access rules and wakes every stream: a node that
// now receives something else is sent a resource that became visible and
// told of one that became hidden (a full-state type sends its new list, a
// delta stream the name in removed_resources). A bad rule is an error and
// leaves the previous rules in force.
//
// A node is matched from the Node of its stream's first request that
// carries one.
func (c *Cache) SetAccess(a Access) error {
	p, err := compileAccess(a)
	if err != nil {
		return err
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()

	c.mu.Lock()
	c.access = p
	c.record(nil, true)
	c.mu.Unlock()
	return nil
}

// accessPolicy is Access made ready for matching. A nil policy limits
// nothing, so that a cache without rules does no work per node.
type accessPolicy struct {
	rules []accessMatch
	// unmatched is the grant of nodes that match no rule; nil lets them
	// receive everything.
	unmatched *grant
}

type accessMatch struct {
	nodeID, nodeCluster string
	grant               *grant // nil: everything
}

// compileAccess checks a and builds its policy, nil when it limits nothing.
func compileAccess(a Access) (*accessPolicy, error) {
	p := &accessPolicy{}
	var errs []error
	for i, r := range a.Rules {
		for _, pattern := range []string{r.NodeID, r.NodeCluster} {
			if _, err := path.Match(pattern, ""); err != nil {
				errs = append(errs, fmt.Errorf("access rule %d: pattern %q: %w", i, pattern, err))
			}
		}
		g, err := newGrant(r.Names)
		if err != nil {
			errs = append(errs, fmt.Errorf("access rule %d: %w", i, err))
		}
		p.rules = append(p.rules,
			accessMatch{nodeID: r.NodeID, nodeCluster: r.NodeCluster, grant: g})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("setting xds access: %w", err)
	}
	if a.DenyUnmatched {
		p.unmatched, _ = newGrant(denyAll())
	}
	if p.unmatched == nil && !p.limits() {
		return nil, nil
	}
	return p, nil
}

// limits reports whether any rule limits what its nodes receive.
func (p *accessPolicy) limits() bool {
	for _, r := range p.rules {
		if r.grant != nil {
			return true
		}
	}
	return false
}

// denyAll maps every supported type to no names.
func denyAll() map[string][]string {
	out := make(map[string][]string, len(supportedTypes))
	for typeURL := range supportedTypes {
		out[typeURL] = nil
	}
	return out
}

// grantFor returns the grant of node, or nil when it may receive
// everything.
func (p *accessPolicy) grantFor(node *corev3.Node) *grant {
	if p == nil {
		return nil
	}
	for _, r := range p.rules {
		if matches(r.nodeID, node.GetId()) && matches(r.nodeCluster, node.GetCluster()) {
			return r.grant
		}
	}
	return p.unmatched
}

// matches reports whether value fits pattern; an empty pattern fits all.
// Patterns were checked when the rules were set.
func matches(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, value)
	return ok
}

// grant is what the nodes of one rule may receive. It keeps, per type, the
// limited view of the latest state, so that every node of the rule shares
// one filtered list and its version instead of filtering per response. The
// entries, and so the marshalled resources, stay those of the state.
type grant struct {
	allowed map[string]map[string]struct{} // by type URL; missing: all

	mu    sync.Mutex // guards views, which streams read concurrently
	views map[string]grantView
}

type grantView struct {
	from, view *typeState
}

// newGrant builds the grant of names; nil when names limit nothing.
func newGrant(names map[string][]string) (*grant, error) {
	if names == nil {
		return nil, nil
	}
	g := &grant{allowed: map[string]map[string]struct{}{}, views: map[string]grantView{}}
	for typeURL, list := range names {
		if _, ok := supportedTypes[typeURL]; !ok {
			return nil, fmt.Errorf("unsupported type URL %q", typeURL)
		}
		set := make(map[string]struct{}, len(list))
		for _, name := range list {
			set[name] = struct{}{}
		}
		g.allowed[typeURL] = set
	}
	return g, nil
}

// typeState returns what the grant lets through of ts, a state's
// resources of typeURL.
func (g *grant) typeState(typeURL string, ts *typeState) *typeState {
	if g == nil {
		return ts
	}
	allowed, limited := g.allowed[typeURL]
	if !limited {
		return ts
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if v, ok := g.views[typeURL]; ok && v.from == ts {
		return v.view
	}
	entries := make(map[string]*entry, len(allowed))
	for name := range allowed {
		if e, ok := ts.entries[name]; ok {
			entries[name] = e
		}
	}
	view := newTypeState(entries)
	g.views[typeURL] = grantView{from: ts, view: view}
	return view
}
