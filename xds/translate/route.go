package translate

import (
	"errors"
	"fmt"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spillway/spillway/policy"
)

// buildRouteConfig returns the route configuration of a listener, named
// after it: one virtual host whose routes keep the config's order, since
// Envoy takes the first route that matches.
func buildRouteConfig(cfg *policy.Config, l *policy.Listener) (*routev3.RouteConfiguration, error) {
	vh := &routev3.VirtualHost{Name: l.Name, Domains: domains(l.Domains)}
	for i, r := range l.Routes {
		route, err := buildRoute(cfg, r)
		if err != nil {
			return nil, fmt.Errorf("route %d: %w", i, err)
		}
		vh.Routes = append(vh.Routes, route)
	}
	return &routev3.RouteConfiguration{
		Name:         l.Name,
		VirtualHosts: []*routev3.VirtualHost{vh},
	}, nil
}

// domains defaults to every host name.
func domains(d []string) []string {
	if len(d) == 0 {
		return []string{"*"}
	}
	return slices.Clone(d)
}

func buildRoute(cfg *policy.Config, r *policy.Route) (*routev3.Route, error) {
	if r == nil {
		return nil, errors.New("route has no definition")
	}
	if _, ok := cfg.Pools[r.Pool]; !ok {
		return nil, fmt.Errorf("unknown pool %q", r.Pool)
	}
	match, err := routeMatch(r.Match)
	if err != nil {
		return nil, err
	}

	action := &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: r.Pool},
		RetryPolicy:      retryPolicy(r.Retries),
		HashPolicy:       hashPolicy(r.Affinity),
	}
	// A zero timeout is kept as 0s, which turns the timeout off for
	// streams; a missing one leaves Envoy's default.
	if r.Timeout != nil {
		action.Timeout = durationpb.New(*r.Timeout)
	}
	if r.IdleTimeout != nil {
		action.IdleTimeout = durationpb.New(*r.IdleTimeout)
	}
	return &routev3.Route{
		Match:  match,
		Action: &routev3.Route_Route{Route: action},
	}, nil
}

func routeMatch(m policy.Match) (*routev3.RouteMatch, error) {
	rm := &routev3.RouteMatch{}
	switch {
	case m.Prefix != "" && m.Path != "":
		return nil, fmt.Errorf("match has both prefix %q and path %q", m.Prefix, m.Path)
	case m.Prefix != "":
		rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: m.Prefix}
	case m.Path != "":
		rm.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Path}
	default:
		return nil, errors.New("match has neither prefix nor path")
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, headerMatcher(h))
	}
	return rm, nil
}

// headerMatcher matches an exact value, or presence when none is given.
// It uses string_match, which both Envoy and gRPC read, rather than the
// deprecated exact_match.
func headerMatcher(h policy.HeaderMatch) *routev3.HeaderMatcher {
	hm := &routev3.HeaderMatcher{Name: h.Name}
	if h.Exact == "" {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		return hm
	}
	hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h.Exact},
		},
	}
	return hm
}

func retryPolicy(r *policy.Retries) *routev3.RetryPolicy {
	if r == nil {
		return nil
	}
	return &routev3.RetryPolicy{
		RetryOn:       r.On,
		NumRetries:    optionalUInt32(r.Attempts),
		PerTryTimeout: optionalDuration(r.PerTryTimeout),
	}
}

// hashPolicy keeps a client on one instance of a ring_hash or maglev pool.
// A cookie without a TTL is only read; with one, Envoy sets it when the
// request has none.
func hashPolicy(a *policy.Affinity) []*routev3.RouteAction_HashPolicy {
	if a == nil {
		return nil
	}
	var out []*routev3.RouteAction_HashPolicy
	if c := a.Cookie; c != nil {
		out = append(out, &routev3.RouteAction_HashPolicy{
			PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
				Cookie: &routev3.RouteAction_HashPolicy_Cookie{
					Name: c.Name,
					Ttl:  optionalDuration(c.TTL),
					Path: c.Path,
				},
			},
		})
	}
	if a.Header != "" {
		out = append(out, &routev3.RouteAction_HashPolicy{
			PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
				Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: a.Header},
			},
		})
	}
	if a.SourceIP {
		out = append(out, &routev3.RouteAction_HashPolicy{
			PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
				ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{
					SourceIp: true,
				},
			},
		})
	}
	return out
}
