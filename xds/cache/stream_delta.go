package cache

import (
	"slices"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// DeltaRequest takes an incremental request and returns the answer it
// gives to the response waiting for one, if it does, and the responses to
// send now. Every request's subscription changes apply, whatever its
// nonce, since a delta client never repeats them.
//
// The first request of a type opens its subscription, with what the
// client holds from initial_resource_versions; one that subscribes nothing
// is a wildcard subscription and is answered even when there is nothing
// to send, since its client waits for that answer to finish initialising.
func (s *Stream) DeltaRequest(
	req *discovery.DeltaDiscoveryRequest,
) (*Answer, []*discovery.DeltaDiscoveryResponse, error) {
	sub, first, err := s.open(true, req.GetTypeUrl(), req.GetNode())
	if sub == nil || err != nil {
		return nil, nil, err
	}
	typeURL := sub.typeURL
	ans := sub.answer(req.GetResponseNonce(), req.GetErrorDetail())
	v := s.current()
	ts := s.typeState(typeURL, v)
	if first {
		sub.held = heldFrom(req.GetInitialResourceVersions(), func(name string) string {
			return intern(ts, name)
		})
		sub.unsent = len(req.GetResourceNamesSubscribe()) == 0
	}
	sub.updateNames(ts, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
	return ans, listOf(s.deltaResponse(sub, v)), nil
}

// DeltaUpdate returns the responses the latest state calls for, in the
// order of SotwUpdate; types waiting for an ACK are left until it comes.
func (s *Stream) DeltaUpdate() []*discovery.DeltaDiscoveryResponse {
	return update(s, s.deltaResponse)
}

// updateNames applies a delta request's subscription changes. A name the
// client leaves is forgotten, so that it is sent again if asked for again;
// but a name it named and leaves while a wildcard still covers the
// resource is sent again, since the client drops it. Leaving a name it
// never named changes nothing under a wildcard.
func (sub *subscription) updateNames(ts *typeState, subscribe, unsubscribe []string) {
	if sub.legacy {
		if len(subscribe) == 0 {
			if !sub.wildcard {
				sub.wildcard = true
				sub.recheckAll = true
			}
			return
		}
		sub.legacy = false
	}
	var named []string
	for _, name := range subscribe {
		if name == wildcardKey {
			if !sub.wildcard {
				sub.wildcard = true
				sub.recheckAll = true
			}
			continue
		}
		named = append(named, intern(ts, name))
	}
	sub.recheck = append(sub.recheck, sub.names.add(named)...)
	for _, name := range unsubscribe {
		if name == wildcardKey {
			if sub.wildcard {
				sub.wildcard = false
				sub.recheckAll = true
			}
			continue
		}
		wasNamed := sub.names.has(name)
		switch {
		case !wasNamed && sub.wildcard:
			// The wildcard still covers it and the client keeps it.
		case wasNamed && sub.wildcard && ts.visible(name, true, nameSet{}) != nil:
			sub.held.put(name, "")
			sub.recheck = append(sub.recheck, name)
		default:
			sub.held.remove(name)
		}
		sub.names.remove(name)
	}
}

// deltaResponse is the response sub's client needs from v: the resources
// whose version differs from what it holds, and the names it holds that
// are gone or no longer covered; nil when there are none or an earlier
// response waits for its answer.
func (s *Stream) deltaResponse(sub *subscription, v view) *discovery.DeltaDiscoveryResponse {
	if sub.inflight || !v.ready {
		return nil
	}
	ts := s.typeState(sub.typeURL, v)
	scope, all := s.scope(sub, v)
	sub.looked(v)
	if all {
		scope = nil
	} else if len(scope) == 0 && !sub.unsent {
		return nil
	}
	var send []*entry
	var removed []string
	if all || len(scope) > 0 {
		var had int
		send, had = ts.outdated(sub.wildcard, sub.names, &sub.held, scope)
		if !all || had != sub.held.len() {
			// Unless every name the client holds is still covered.
			removed = gone(ts, sub.wildcard, sub.names, &sub.held, scope)
		}
	}
	if len(send) == 0 && len(removed) == 0 && !sub.unsent {
		return nil
	}
	sub.unsent = false
	sortEntries(send)
	slices.Sort(removed)
	sub.held.set(send)
	sub.held.remove(removed...)
	var resources []*discovery.Resource
	if ts.isWhole(send) {
		resources = ts.deltaResources()
	} else {
		resources = deltaResources(send)
	}
	return &discovery.DeltaDiscoveryResponse{
		SystemVersionInfo: v.st.version,
		TypeUrl:           sub.typeURL,
		Resources:         resources,
		RemovedResources:  removed,
		Nonce:             s.sent(sub, v.st.version),
	}
}

// gone lists the resources the client has that the subscription no longer
// covers: looking at scope only, or else at everything the client has.
func gone(
	ts *typeState, wildcard bool, names nameSet, known *heldSet, scope []string,
) []string {
	var out []string
	check := func(name string) {
		if ts.visible(name, wildcard, names) == nil {
			out = append(out, name)
		}
	}
	if scope == nil {
		for _, name := range known.names {
			check(name)
		}
		return out
	}
	for _, name := range scope {
		if _, ok := known.get(name); ok {
			check(name)
		}
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
