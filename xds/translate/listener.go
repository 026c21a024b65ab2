package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway/spillway/policy"
)

// defaultListenAddress is used when a listener names no address.
const defaultListenAddress = "0.0.0.0"

// buildListener returns an Envoy listener whose one filter chain runs the
// HTTP connection manager, with routes from RDS under the listener's name.
func buildListener(cfg *policy.Config, l *policy.Listener) (*listenerv3.Listener, error) {
	hcm, err := httpConnectionManager(l.Name, l.Name)
	if err != nil {
		return nil, err
	}
	hcm.StreamIdleTimeout = optionalDuration(l.StreamIdleTimeout)
	// Envoy is the edge here: it sets X-Forwarded-For from the peer and
	// gives each request an ID that upstream logs can share.
	hcm.UseRemoteAddress = wrapperspb.Bool(true)
	hcm.GenerateRequestId = wrapperspb.Bool(true)
	hcmAny, err := pack(hcm)
	if err != nil {
		return nil, err
	}

	chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name:       wellknown.HTTPConnectionManager,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcmAny},
	}}}
	if l.TLS != nil {
		if chain.TransportSocket, err = downstreamTLS(cfg, l.TLS); err != nil {
			return nil, err
		}
	}

	address := l.Address
	if address == "" {
		address = defaultListenAddress
	}
	return &listenerv3.Listener{
		Name:         l.Name,
		Address:      socketAddress(address, l.Port),
		FilterChains: []*listenerv3.FilterChain{chain},
	}, nil
}

// httpConnectionManager returns the part of the HTTP connection manager
// that Envoy listeners and gRPC API listeners share: routes over ADS and
// the router as the only, terminal, filter.
func httpConnectionManager(statPrefix, routeConfig string) (*hcmv3.HttpConnectionManager, error) {
	router, err := pack(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: routeConfig,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	}, nil
}
