package app

import (
	"fmt"
	"log/slog"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/discovery/consul"
	"github.com/spillway/spillway/discovery/file"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/translate"
)

// cacheResources hands translated resources to the cache by type URL. API
// listeners go to proxyless gRPC clients only, which ask for them by name;
// Envoys subscribe to listeners by wildcard and must not receive them.
func cacheResources(r *translate.Resources) map[string][]cache.Resource {
	out := map[string][]cache.Resource{
		resourcev3.ClusterType:  make([]cache.Resource, 0, len(r.Clusters)),
		resourcev3.EndpointType: make([]cache.Resource, 0, len(r.Endpoints)),
		resourcev3.ListenerType: make([]cache.Resource, 0, len(r.Listeners)+len(r.APIListeners)),
		resourcev3.RouteType:    make([]cache.Resource, 0, len(r.Routes)),
	}
	for _, c := range r.Clusters {
		out[resourcev3.ClusterType] = append(out[resourcev3.ClusterType],
			cache.Resource{Name: c.GetName(), Message: c})
	}
	for _, e := range r.Endpoints {
		out[resourcev3.EndpointType] = append(out[resourcev3.EndpointType],
			cache.Resource{Name: e.GetClusterName(), Message: e})
	}
	for _, l := range r.Listeners {
		out[resourcev3.ListenerType] = append(out[resourcev3.ListenerType],
			cache.Resource{Name: l.GetName(), Message: l})
	}
	for _, l := range r.APIListeners {
		out[resourcev3.ListenerType] = append(out[resourcev3.ListenerType],
			cache.Resource{Name: l.GetName(), Message: l, ByNameOnly: true})
	}
	for _, rc := range r.Routes {
		out[resourcev3.RouteType] = append(out[resourcev3.RouteType],
			cache.Resource{Name: rc.GetName(), Message: rc})
	}
	return out
}

// newSource builds the discovery source that cfg selects.
func newSource(cfg *policy.Config, log *slog.Logger, dm *discovery.Metrics) (discovery.Source, error) {
	switch d := cfg.Discovery; {
	case d.File != nil:
		return file.New(cfg.Resolve(d.File.Path), log, dm), nil
	case d.Consul != nil:
		return consul.New(consulConfig(cfg), log, dm)
	default:
		return nil, fmt.Errorf("no discovery source configured")
	}
}

// consulConfig is the Consul source's config for cfg, with the files it
// names resolved against the config file's directory.
func consulConfig(cfg *policy.Config) consul.Config {
	c := consul.FromPolicy(cfg.Discovery.Consul, cfg.Selectors())
	for _, p := range []*string{&c.TokenFile, &c.TLS.CAFile, &c.TLS.CertFile, &c.TLS.KeyFile} {
		if *p != "" {
			*p = cfg.Resolve(*p)
		}
	}
	return c
}

// newRegistry returns a registry with the Go runtime and process
// collectors, as every long-running command exposes them.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
