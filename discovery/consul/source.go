// Package consul is the discovery source that watches Consul's health API.
//
// It runs one blocking query per selected service name, however many pools
// select that service and however many Envoys are connected, and merges the
// answers into whole catalogs. Each answer carries the instances of a
// service with their nodes and checks, from /v1/health/service/<name>.
//
// Streaming: the HTTP API has no per-request switch for Consul's streaming
// backend. An agent with use_streaming_backend (the default since Consul
// 1.10) answers blocking health-service queries from a view materialized
// from the servers' event stream instead of forwarding each one as a
// blocking RPC; the first, non-blocking query of each watch still goes over
// RPC. The X-Consul-Query-Backend header says which backend answered, and
// the source logs it at debug level with each answer.
package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/discovery"
)

// sourceName is the value of the metrics' source label.
const sourceName = "consul"

// Source watches Consul and delivers catalogs of the selected services.
type Source struct {
	cfg      Config
	services []string
	client   *api.Client
	tr       *http.Transport
	log      *slog.Logger
	m        *discovery.Metrics
	retry    retryPolicy

	up      atomic.Bool
	running atomic.Bool
}

var _ discovery.Source = (*Source)(nil)

// New returns a source for cfg. It resolves the address and token now, so
// that a missing token file is reported at startup. log may be nil to
// discard logs and m nil for unregistered metrics.
func New(cfg Config, log *slog.Logger, m *discovery.Metrics) (*Source, error) {
	services, err := cfg.services()
	if err != nil {
		return nil, fmt.Errorf("configuring consul source: %w", err)
	}
	client, tr, err := cfg.client()
	if err != nil {
		return nil, fmt.Errorf("configuring consul source: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = discovery.NewMetrics(nil)
	}
	return &Source{
		cfg:      cfg,
		services: services,
		client:   client,
		tr:       tr,
		log:      log.With("source", sourceName),
		m:        m,
		retry:    defaultRetry,
	}, nil
}

// Up reports whether every watched service has answered and the last
// attempt for each of them worked.
func (s *Source) Up() bool {
	return s.up.Load()
}

// Run watches the selected services until ctx ends, then returns nil. It
// sends a catalog on out once every service has answered, and again each
// time the content changes. While Consul fails it sends nothing: each
// service keeps its last good instances. Run must not be called while
// another Run of the same source is running.
func (s *Source) Run(ctx context.Context, out chan<- *discovery.Catalog) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("consul source is already running")
	}
	defer s.running.Store(false)
	defer s.tr.CloseIdleConnections()
	// A stopped source reaches nothing; leaving the gauge at 1 would claim
	// otherwise after a switch to another source.
	defer s.setUp(false)

	s.log.Info("watching consul", "config", s.cfg)
	s.setUp(false)
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan result)
	var wg sync.WaitGroup
	for _, svc := range s.services {
		wg.Go(func() { s.watch(ctx, svc, results) })
	}
	defer wg.Wait()
	defer cancel()

	s.merge(ctx, results, out)
	return nil
}

// merge folds watch results into the state and sends each new catalog.
// A catalog that is not taken before the next change is replaced by a
// newer one, so a slow reader never receives stale views.
func (s *Source) merge(ctx context.Context, results <-chan result, out chan<- *discovery.Catalog) {
	st := newState(s.services)
	var pending, last *discovery.Catalog
	for {
		var send chan<- *discovery.Catalog
		if pending != nil {
			send = out
		}
		select {
		case <-ctx.Done():
			return
		case r := <-results:
			st.apply(r)
			s.setUp(st.up())
			pending = st.pending()
		case send <- pending:
			st.markSent()
			s.m.Observe(sourceName, last, pending)
			s.log.Debug("catalog sent", "instances", pending.Len(),
				"failing", st.failingServices())
			last, pending = pending, nil
		}
	}
}

func (s *Source) setUp(up bool) {
	s.up.Store(up)
	v := 0.0
	if up {
		v = 1
	}
	s.m.Up.WithLabelValues(sourceName).Set(v)
}
