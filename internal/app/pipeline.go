package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/translate"
)

// published is what the cache serves right now, kept for /debug/resources.
type published struct {
	version   string
	resources *translate.Resources
}

// sourceUpdate is a catalog tagged with the generation of the source that
// sent it, so that a catalog from a source that was just replaced is
// dropped.
type sourceUpdate struct {
	gen int
	cat *discovery.Catalog
}

// pipeline runs catalog → translate(policy) → cache. Every change goes
// through one goroutine (run), so its fields need no locks; only what the
// admin server reads is atomic.
type pipeline struct {
	log      *slog.Logger
	cache    *cache.Cache
	m        *serveMetrics
	dm       *discovery.Metrics
	newSrc   func(*policy.Config) (discovery.Source, error)
	updates  chan sourceUpdate
	configs  chan *policy.Config
	batch    *batcher
	cfg      *policy.Config
	cat      *discovery.Catalog
	lastFail string

	srcGen    int
	srcKey    string
	srcStop   context.CancelFunc
	srcWG     sync.WaitGroup
	srcStatus atomic.Pointer[discoveryStatus]
	current   atomic.Pointer[published]
}

type discoveryStatus struct{ src discovery.Source }

func newPipeline(cfg *policy.Config, c *cache.Cache, m *serveMetrics, dm *discovery.Metrics,
	log *slog.Logger) *pipeline {
	p := &pipeline{
		log:     log,
		cache:   c,
		m:       m,
		dm:      dm,
		updates: make(chan sourceUpdate, 1),
		configs: make(chan *policy.Config),
		batch:   newBatcher(cfg.XDS.Batch.Quiet, cfg.XDS.Batch.MaxDelay),
		cfg:     cfg,
	}
	p.newSrc = func(cfg *policy.Config) (discovery.Source, error) {
		return newSource(cfg, log, dm)
	}
	return p
}

// run owns the pipeline until ctx ends.
func (p *pipeline) run(ctx context.Context) error {
	defer p.batch.stop()
	defer p.stopSource()
	if err := p.startSource(ctx, p.cfg); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u := <-p.updates:
			if u.gen != p.srcGen {
				continue
			}
			p.m.catalogs.Inc()
			p.cat = u.cat
			p.batch.add(time.Now())
		case cfg := <-p.configs:
			p.apply(ctx, cfg)
		case <-p.batch.C():
			p.batch.done()
			p.build()
		}
	}
}

// reload hands a freshly loaded config to the pipeline goroutine.
func (p *pipeline) reload(ctx context.Context, cfg *policy.Config) {
	select {
	case p.configs <- cfg:
	case <-ctx.Done():
	}
}

// apply switches to cfg if it translates against the current catalog;
// otherwise the running config stays.
func (p *pipeline) apply(ctx context.Context, cfg *policy.Config) {
	if p.cat != nil {
		if _, err := translate.Translate(cfg, p.cat); err != nil {
			p.m.reloads.WithLabelValues("rejected").Inc()
			p.log.Error("config rejected: it does not translate; keeping the running config",
				"path", cfg.Path, "err", err)
			return
		}
	}
	if err := p.startSource(ctx, cfg); err != nil {
		p.m.reloads.WithLabelValues("rejected").Inc()
		p.log.Error("config rejected: discovery source", "path", cfg.Path, "err", err)
		return
	}
	// Access rules apply to open streams at once; the new snapshot that
	// follows is filtered by them too.
	if err := p.cache.SetAccess(cacheAccess(cfg)); err != nil {
		p.m.reloads.WithLabelValues("rejected").Inc()
		p.log.Error("config rejected: xds access rules", "path", cfg.Path, "err", err)
		return
	}
	p.cfg = cfg
	p.batch.quiet, p.batch.maxDelay = cfg.XDS.Batch.Quiet, cfg.XDS.Batch.MaxDelay
	p.m.reloads.WithLabelValues("applied").Inc()
	p.log.Info("config applied", "path", cfg.Path, "summary", cfg.Summary())
	p.batch.add(time.Now())
}

// build translates the current config and catalog and publishes the
// result. On failure the last good snapshot stays; each distinct failure
// is logged once.
func (p *pipeline) build() {
	if p.cat == nil {
		return
	}
	start := time.Now()
	res, err := translate.Translate(p.cfg, p.cat)
	var version string
	if err == nil {
		version, err = p.cache.Set(cacheResources(res))
	}
	p.m.buildDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		p.m.builds.WithLabelValues("invalid").Inc()
		if msg := err.Error(); msg != p.lastFail {
			p.lastFail = msg
			p.log.Error("snapshot not published; the last good one stays", "err", err)
		}
		return
	}
	p.lastFail = ""
	p.m.builds.WithLabelValues("published").Inc()
	p.m.observeResources(res)
	prev := p.current.Swap(&published{version: version, resources: res})
	if prev == nil || prev.version != version {
		p.log.Info("snapshot published", "version", version,
			"clusters", len(res.Clusters), "endpoints", countEndpoints(res),
			"listeners", len(res.Listeners)+len(res.APIListeners), "routes", len(res.Routes))
	}
}

// startSource (re)starts discovery when cfg selects a different source;
// the running one is kept otherwise. The last catalog stays in force until
// the new source delivers.
func (p *pipeline) startSource(ctx context.Context, cfg *policy.Config) error {
	key := sourceKey(cfg)
	if p.srcStop != nil && key == p.srcKey {
		return nil
	}
	src, err := p.newSrc(cfg)
	if err != nil {
		return err
	}
	p.stopSource()
	p.srcGen++
	p.srcKey = key
	sctx, cancel := context.WithCancel(ctx)
	p.srcStop = cancel
	p.srcStatus.Store(&discoveryStatus{src: src})
	out := make(chan *discovery.Catalog)
	gen := p.srcGen
	p.srcWG.Add(2)
	go func() {
		defer p.srcWG.Done()
		if err := src.Run(sctx, out); err != nil && !errors.Is(err, context.Canceled) {
			p.log.Error("discovery source stopped", "err", err)
		}
	}()
	go func() {
		defer p.srcWG.Done()
		for {
			select {
			case cat := <-out:
				select {
				case p.updates <- sourceUpdate{gen: gen, cat: cat}:
				case <-sctx.Done():
					return
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	return nil
}

func (p *pipeline) stopSource() {
	if p.srcStop != nil {
		p.srcStop()
		p.srcWG.Wait()
		p.srcStop = nil
	}
}

// sourceKey identifies what a source depends on in a config: its discovery
// section and, for Consul, the services that pools select.
func sourceKey(cfg *policy.Config) string {
	d := cfg.Discovery
	if d.File != nil {
		return "file:" + cfg.Resolve(d.File.Path)
	}
	return fmt.Sprintf("consul:%+v:%+v:%v", *d.Consul, d.Consul.TLS, cfg.Selectors())
}

// ready reports whether a snapshot has been published.
func (p *pipeline) ready() error {
	if p.current.Load() == nil {
		return errors.New("no snapshot published yet")
	}
	return nil
}

// discoveryUp reports whether the discovery source reaches its backend.
func (p *pipeline) discoveryUp() error {
	st := p.srcStatus.Load()
	if st == nil {
		return errors.New("not started")
	}
	if u, ok := st.src.(interface{ Up() bool }); ok && !u.Up() {
		return errors.New("down: serving the last good catalog")
	}
	return nil
}

// render returns the published resources in the JSON shape of
// `spillway render`.
func (p *pipeline) render() ([]byte, error) {
	cur := p.current.Load()
	if cur == nil {
		return nil, errors.New("no snapshot published yet")
	}
	return cur.resources.Render(cur.version)
}

func countEndpoints(r *translate.Resources) int {
	n := 0
	for _, cla := range r.Endpoints {
		for _, l := range cla.GetEndpoints() {
			n += len(l.GetLbEndpoints())
		}
	}
	return n
}
