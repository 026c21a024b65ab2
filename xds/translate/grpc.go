package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Proxyless gRPC clients dial xds:///<pool>. They ask for the listener
// named <pool> (the default client listener name template is the target's
// host as written, so a target with a port would ask for "<pool>:<port>",
// which is not published), then for the route configuration that listener
// names, then for the clusters and endpoints that the routes name. The
// cluster and endpoints are the same resources Envoy uses.
//
// What grpc-go (v1.85) accepts, and how the translator keeps to it:
//
//   - LDS: only an api_listener holding an HttpConnectionManager; rds must
//     use an ads or self config source and name a route configuration;
//     xff_num_trusted_hops must be zero; the filter list must not be empty
//     and must end with a terminal filter the client knows (the router).
//     Envoy cannot take an api_listener over LDS, hence APIListeners are
//     kept apart and sent only to clients that ask for them by name.
//   - RDS: routes need a prefix, path or safe_regex; header matchers of
//     the string_match kind are understood. The virtual host is chosen by
//     the channel's authority (the pool name), so the gRPC route
//     configuration uses the domain "*": it serves only this listener.
//     Hash policies other than header and filter_state are ignored.
//   - CDS: the legacy lb_policy must stay ROUND_ROBIN, RING_HASH or
//     LEAST_REQUEST (so it is left at its zero value); in
//     load_balancing_policy the first policy the client knows wins, and
//     none known is a NACK: least_request (choice_count >= 2), round_robin
//     and ring_hash are known (ring_hash only with XX_HASH and sizes up to
//     8M), maglev is not, hence the ring_hash fallback for gRPC pools. The
//     EDS config source must be ads or self. A transport socket must hold
//     an UpstreamTlsContext that uses certificate provider instances, so
//     certificate files are refused on gRPC pools. Health checks and
//     typed_extension_protocol_options are ignored.
//   - EDS: a locality without a weight is dropped; an endpoint weight of
//     zero, two endpoints with one address, or a gap in priorities is a
//     NACK. Only HEALTHY and UNKNOWN endpoints are used.

// grpcRouteConfigName names the route configuration of a gRPC pool's API
// listener. The prefix keeps it apart from listener route configurations.
func grpcRouteConfigName(pool string) string { return "grpc." + pool }

// buildAPIListener returns the listener a proxyless gRPC client asks for
// when it dials xds:///<pool>.
func buildAPIListener(pool string) (*listenerv3.Listener, error) {
	hcm, err := httpConnectionManager(grpcRouteConfigName(pool), grpcRouteConfigName(pool))
	if err != nil {
		return nil, err
	}
	a, err := pack(hcm)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:        pool,
		ApiListener: &listenerv3.ApiListener{ApiListener: a},
	}, nil
}

// buildGRPCRouteConfig sends every call on the pool's channel to the pool.
func buildGRPCRouteConfig(pool string) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: grpcRouteConfigName(pool),
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    pool,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{
					PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
				},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: pool},
				}},
			}},
		}},
	}
}
