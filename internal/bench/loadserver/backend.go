package loadserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/internal/bench/fleet"
	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/server"
)

// The ADS implementations a server can run.
const (
	// ImplSpillway is Spillway's cache and server.
	ImplSpillway = "spillway"
	// ImplStock is go-control-plane's snapshot cache, one snapshot per
	// node, and its stock server.
	ImplStock = "stock"
)

// backend is one ADS implementation serving the fleet.
type backend interface {
	// setAll publishes the whole fleet; it is called once, before serve.
	setAll(r *fleet.Resources) error
	// setEndpoints publishes new versions of the load assignments it
	// maps by index, all else unchanged.
	setEndpoints(changed map[int]proto.Message) error
	serve(lis net.Listener) error
	stop(ctx context.Context)
}

func newBackend(impl string, log *slog.Logger) (backend, error) {
	switch impl {
	case ImplSpillway:
		return newSpillway(log), nil
	case ImplStock:
		return newStock(), nil
	default:
		return nil, fmt.Errorf("impl: %q is neither %q nor %q", impl, ImplSpillway, ImplStock)
	}
}

// spillway serves through Spillway's versioned cache, as `spillway serve`
// does, with its metrics on a registry of its own.
type spillway struct {
	cache *cache.Cache
	srv   *server.Server
	res   map[string][]cache.Resource
}

func newSpillway(log *slog.Logger) *spillway {
	reg := prometheus.NewRegistry()
	c := cache.New(log, reg)
	return &spillway{cache: c, srv: server.New(c, server.Options{}, log, reg)}
}

func (s *spillway) setAll(r *fleet.Resources) error {
	s.res = map[string][]cache.Resource{}
	add := func(typeURL string, name string, m proto.Message) {
		s.res[typeURL] = append(s.res[typeURL], cache.Resource{Name: name, Message: m})
	}
	for _, c := range r.Clusters {
		add(resource.ClusterType, c.GetName(), c)
	}
	for _, e := range r.Endpoints {
		add(resource.EndpointType, e.GetClusterName(), e)
	}
	for _, l := range r.Listeners {
		add(resource.ListenerType, l.GetName(), l)
	}
	for _, rc := range r.Routes {
		add(resource.RouteType, rc.GetName(), rc)
	}
	_, err := s.cache.Set(s.res)
	return err
}

// setEndpoints hands the cache the whole state again, as the serving
// pipeline does; every message but the new one is the same as before.
func (s *spillway) setEndpoints(changed map[int]proto.Message) error {
	for i, cla := range changed {
		s.res[resource.EndpointType][i].Message = cla
	}
	_, err := s.cache.Set(s.res)
	return err
}

func (s *spillway) serve(lis net.Listener) error { return s.srv.Serve(lis) }

func (s *spillway) stop(ctx context.Context) { s.srv.GracefulStop(ctx) }
