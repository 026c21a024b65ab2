package cache

import (
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// SotwRequest takes a state-of-the-world request and returns the answer it
// gives to the response waiting for one, if it does, and the responses to
// send now. A request carrying the nonce of an older response than the
// latest is stale: it answers nothing and changes nothing, since the
// client will repeat its subscription with the newer nonce.
//
// The first request of a type opens its subscription. Its version_info
// tells what a client reconnecting from another replica holds: for
// listeners and clusters, whose responses carry the whole list, the list
// of that version; for routes and endpoints, whose version covers the
// whole type rather than the names the client asks for, nothing, so it
// gets everything it names (Envoy takes an unchanged resource as a
// no-op).
func (s *Stream) SotwRequest(req *discovery.DiscoveryRequest) (*Answer, []*discovery.DiscoveryResponse, error) {
	return s.SotwRequestNames(req, decodedNames(req.GetResourceNames()))
}

// SotwRequestNames is SotwRequest with the request's resource_names in
// names instead of in req, decoded only when they differ from the list
// the stream has.
func (s *Stream) SotwRequestNames(
	req *discovery.DiscoveryRequest, names ResourceNames,
) (*Answer, []*discovery.DiscoveryResponse, error) {
	sub, first, err := s.open(false, req.GetTypeUrl(), req.GetNode())
	if sub == nil || err != nil {
		return nil, nil, err
	}
	typeURL := sub.typeURL
	nonce := req.GetResponseNonce()
	if !first && nonce != "" && nonce != sub.nonce {
		return nil, nil, nil
	}
	ans := sub.answer(nonce, req.GetErrorDetail())
	v := s.current()
	ts := s.typeState(typeURL, v)
	if err := sub.setNames(ts, names); err != nil {
		return ans, nil, err
	}
	if first && supportedTypes[typeURL] {
		// The client learns its list even when it is empty, unless it
		// says it holds a list already.
		sub.heldView = req.GetVersionInfo()
		sub.unsent = sub.heldView == ""
	}
	return ans, listOf(s.sotwResponse(sub, v)), nil
}

// listOf lists r unless it is nil.
func listOf[R any](r *R) []*R {
	if r == nil {
		return nil
	}
	return []*R{r}
}

// SotwUpdate returns the responses the latest state calls for, type by
// type in the order clusters, endpoints, listeners, routes: a route never
// reaches the client before the cluster it names. Types waiting for an ACK
// are left until it comes.
func (s *Stream) SotwUpdate() []*discovery.DiscoveryResponse {
	return update(s, s.sotwResponse)
}

// update collects, type by type in typeOrder, the responses respond makes
// from the current state.
func update[R any](s *Stream, respond func(*subscription, view) *R) []*R {
	v := s.current()
	var out []*R
	for _, typeURL := range typeOrder {
		if sub := s.subs[typeURL]; sub != nil {
			if r := respond(sub, v); r != nil {
				out = append(out, r)
			}
		}
	}
	return out
}

// typeState is what the stream's node may receive of typeURL in v.
func (s *Stream) typeState(typeURL string, v view) *typeState {
	return s.grant.typeState(typeURL, v.st.types[typeURL])
}

// setNames takes the names of a SotW request: the whole subscription.
// A list equal to the last one changes nothing and costs its sum; names
// the client no longer asks for are forgotten, so that asking again gets
// them again.
func (sub *subscription) setNames(ts *typeState, list ResourceNames) error {
	if sub.legacy {
		if list.Len() == 0 {
			sub.wildcard = true
			return nil
		}
		sub.legacy = false
	}
	sum := list.Sum()
	if sub.listed && list.Len() == sub.listLen && sum == sub.listSum {
		return nil
	}
	names, err := list.Decode()
	if err != nil {
		return err
	}
	sub.listed, sub.listLen, sub.listSum = true, list.Len(), sum

	wildcard := false
	kept := make([]string, 0, len(names))
	for _, name := range names {
		if name == wildcardKey {
			wildcard = true
			continue
		}
		name = intern(ts, name)
		kept = append(kept, name)
		if !sub.names.has(name) {
			sub.recheck = append(sub.recheck, name)
		}
	}
	if wildcard != sub.wildcard {
		sub.recheckAll = true
	}
	sub.names, sub.wildcard = newNameSet(kept), wildcard
	sub.held.keep(func(name string) bool {
		return ts.visible(name, wildcard, sub.names) != nil
	})
	// A full-state list changes with the names even when no resource does.
	if supportedTypes[sub.typeURL] {
		sub.recheckAll = true
	}
	return nil
}

// sotwResponse is the response sub's client needs from v, or nil when it
// holds everything or waits to answer an earlier response.
func (s *Stream) sotwResponse(sub *subscription, v view) *discovery.DiscoveryResponse {
	if sub.inflight || !v.ready {
		return nil
	}
	ts := s.typeState(sub.typeURL, v)
	if supportedTypes[sub.typeURL] {
		return s.sotwFull(sub, ts, v)
	}
	return s.sotwChanges(sub, ts, v)
}

// sotwFull answers a full-state type: the whole list whenever it differs
// from the one the client holds, removals included, versioned by a hash
// of the list.
func (s *Stream) sotwFull(sub *subscription, ts *typeState, v view) *discovery.DiscoveryResponse {
	scope, all := s.scope(sub, v)
	sub.looked(v)
	if !all && len(scope) == 0 && !sub.unsent {
		return nil
	}
	list, version := ts.view(sub.wildcard, sub.names)
	if version == sub.heldView && !sub.unsent {
		return nil
	}
	sub.heldView, sub.unsent = version, false
	var resources []*anypb.Any
	if ts.isWhole(list) {
		resources = ts.sotwAnys()
	} else {
		resources = anys(list)
	}
	return &discovery.DiscoveryResponse{
		VersionInfo: version,
		Resources:   resources,
		TypeUrl:     sub.typeURL,
		Nonce:       s.sent(sub, version),
	}
}

// sotwChanges answers a type whose clients do not read a missing resource
// as deleted: only the new or changed resources, versioned by the type's
// content version, found by looking at the names that changed since the
// client was last compared rather than at all it asks for.
func (s *Stream) sotwChanges(sub *subscription, ts *typeState, v view) *discovery.DiscoveryResponse {
	scope, all := s.scope(sub, v)
	sub.looked(v)
	if all {
		scope = nil
	} else if len(scope) == 0 {
		return nil
	}
	send, _ := ts.outdated(sub.wildcard, sub.names, &sub.held, scope)
	if len(send) == 0 {
		return nil
	}
	sortEntries(send)
	sub.held.set(send)
	var resources []*anypb.Any
	if ts.isWhole(send) {
		resources = ts.sotwAnys()
	} else {
		resources = anys(send)
	}
	return &discovery.DiscoveryResponse{
		VersionInfo: ts.version,
		Resources:   resources,
		TypeUrl:     sub.typeURL,
		Nonce:       s.sent(sub, ts.version),
	}
}
