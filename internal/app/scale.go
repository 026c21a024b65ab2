package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/admin"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
	"github.com/spillway/spillway/scaler/kube"
)

// ScaleOptions configure Scale.
type ScaleOptions struct {
	ConfigPath string
	Log        *slog.Logger
	// Registry collects every metric; nil makes a new one.
	Registry *prometheus.Registry
	// Started, when set, is called with the admin server's bound address;
	// tests use it to find a port chosen by the kernel.
	Started func(admin net.Addr)
	// ShutdownTimeout bounds the admin server's graceful stop; 0 means 10 s.
	ShutdownTimeout time.Duration
}

// Scale runs the scaler of the config at opts.ConfigPath until ctx ends:
// the scale loop (as the leader, when scaler.lock_key is set) and an admin
// server with /healthz, /readyz and /metrics. The pools' members, their
// drains and the leader lock all go through the Consul of
// discovery.consul, so the config must use Consul discovery.
func Scale(ctx context.Context, opts ScaleOptions) error {
	cfg, err := policy.Load(opts.ConfigPath)
	if err != nil {
		return err
	}
	log, reg := opts.Log, opts.Registry
	if reg == nil {
		reg = newRegistry()
	}
	s, err := newScaleRun(cfg, log, reg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Scaler.Admin.Listen)
	if err != nil {
		return fmt.Errorf("listening for the scaler admin server: %w", err)
	}
	adm := admin.New(admin.Options{Gatherer: reg, Ready: s.readiness(),
		Pprof: cfg.Scaler.Admin.Pprof}, log)
	if opts.Started != nil {
		opts.Started(lis.Addr())
	}
	log.Info("scaling", "admin", lis.Addr().String(), "config", cfg.Path,
		"pools", strings.Join(s.poolNames(), ","), "lock_key", cfg.Scaler.LockKey)

	return s.serve(ctx, adm, lis, opts.ShutdownTimeout)
}

// serve runs the admin server and the scale loop until ctx ends or either
// fails. Whatever ends first, the loop is stopped and waited for, since it
// lifts the maintenance of the drains it abandons.
func (s *scaleRun) serve(ctx context.Context, adm *admin.Server, lis net.Listener,
	timeout time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	admc, runc := make(chan error, 1), make(chan error, 1)
	go func() { admc <- wrap("admin server", adm.Serve(lis)) }()
	go func() { runc <- wrap("scale loop", s.run(ctx)) }()

	var runErr, admErr error
	ranOut, admOut := false, false
	select {
	case <-ctx.Done():
	case runErr = <-runc:
		ranOut = true
	case admErr = <-admc:
		admOut = true
	}
	cancel()
	if !ranOut {
		runErr = <-runc
	}
	shutdownAdmin(adm, timeout, s.log)
	if !admOut {
		admErr = <-admc
	}
	return errors.Join(runErr, admErr)
}

// scaleRun is one `spillway scale`: its parts, and the loop of the current
// leadership term for readiness.
type scaleRun struct {
	cfg      *policy.Config
	log      *slog.Logger
	registry *scaler.Consul
	loopCfg  scaler.LoopConfig
	metrics  *scaler.Metrics

	mu      sync.Mutex
	leading bool
	loop    *scaler.Loop
}

func newScaleRun(cfg *policy.Config, log *slog.Logger,
	reg prometheus.Registerer) (*scaleRun, error) {
	if err := scaleNeeds(cfg); err != nil {
		return nil, err
	}
	registry, err := scaler.NewConsul(consulAPIConfig(cfg))
	if err != nil {
		return nil, err
	}
	pools, err := poolSpecs(cfg, log)
	if err != nil {
		return nil, err
	}
	m := scaler.NewMetrics(reg)
	st := cfg.Scaler.Stats
	scraper := scaler.NewScraper(scaler.ScraperConfig{
		Admins: st.EnvoyAdmin, StaleAfter: st.StaleAfter, Logger: log})
	s := &scaleRun{cfg: cfg, log: log, registry: registry, metrics: m,
		loopCfg: scaler.LoopConfig{Pools: pools, Interval: st.Interval, Scraper: scraper,
			Registry: registry, Metrics: m, Logger: log}}
	// Each term builds its loop afresh; check the config now, not at the
	// first election.
	if _, err := scaler.NewLoop(s.loopCfg); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return s, nil
}

// scaleNeeds refuses a config that `spillway scale` cannot run, naming
// what is missing.
func scaleNeeds(cfg *policy.Config) error {
	switch {
	case cfg.Scaler == nil:
		return fmt.Errorf("%s: no scaler section: nothing to scale", cfg.Path)
	case cfg.Discovery.Consul == nil:
		return fmt.Errorf("%s: scale needs discovery.consul: it reads each pool's instances "+
			"from Consul, drains them through maintenance mode and elects its leader there", cfg.Path)
	case len(cfg.Scaler.Stats.EnvoyAdmin) == 0:
		return fmt.Errorf("%s: scaler.stats.prometheus is not supported yet: "+
			"list the Envoys in scaler.stats.envoy_admin", cfg.Path)
	}
	return nil
}

// consulAPIConfig is the consul/api config for discovery.consul: the same
// agent, datacenter, token and TLS as the discovery source. Unset fields
// fall back to the CONSUL_HTTP_* environment, as for the source.
func consulAPIConfig(cfg *policy.Config) api.Config {
	c := api.DefaultConfig()
	d := cfg.Discovery.Consul
	if d.Address != "" {
		c.Address = d.Address
	}
	if d.Datacenter != "" {
		c.Datacenter = d.Datacenter
	}
	if d.TokenFile != "" {
		c.TokenFile = cfg.Resolve(d.TokenFile)
	}
	if t := d.TLS; t != nil {
		c.Scheme = "https"
		c.TLSConfig = api.TLSConfig{Address: t.ServerName, CAFile: cfg.Resolve(t.CAFile),
			CertFile: cfg.Resolve(t.CertFile), KeyFile: cfg.Resolve(t.KeyFile),
			InsecureSkipVerify: t.InsecureSkipVerify}
	}
	return *c
}

// poolSpecs builds the loop's pools in name order, each with its actuator.
func poolSpecs(cfg *policy.Config, log *slog.Logger) ([]scaler.PoolSpec, error) {
	var specs []scaler.PoolSpec
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Scaler.Pools)) {
		sp, pool := cfg.Scaler.Pools[name], cfg.Pools[name]
		act, err := newActuator(cfg, name, sp.Actuator, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		spec := scaler.PoolSpec{Name: name, Policy: scaler.NewPolicy(sp), Actuator: act,
			Selector: discovery.Selector{Service: pool.Service, Tags: pool.Tags}}
		if pool.SlowStart != nil {
			spec.SlowStart = pool.SlowStart.Window
		}
		specs = append(specs, spec)
	}
	return specs, errors.Join(errs...)
}

// newActuator builds a pool's actuator. An exec program given as a
// relative path with a slash is taken relative to the config file, and it
// must exist: a missing one would fail only at the first scaling, when it
// is needed most. The Kubernetes actuator lives in scaler/kube, which
// builds on package scaler and so is chosen here rather than there.
func newActuator(cfg *policy.Config, pool string, a policy.Actuator,
	log *slog.Logger) (scaler.Actuator, error) {
	if k := a.Kubernetes; k != nil && a.Exec == nil && a.Webhook == nil {
		kc := *k
		kc.Kubeconfig = cfg.Resolve(k.Kubeconfig)
		act, err := kube.New(kc, log)
		if err != nil {
			return nil, fmt.Errorf("%s: scaler.pools.%s.actuator: %w", cfg.Path, pool, err)
		}
		return act, nil
	}
	if e := a.Exec; e != nil && len(e.Command) > 0 && strings.Contains(e.Command[0], "/") {
		exec := *e
		exec.Command = append([]string{cfg.Resolve(e.Command[0])}, e.Command[1:]...)
		if _, err := os.Stat(exec.Command[0]); err != nil {
			return nil, fmt.Errorf("%s: scaler.pools.%s.actuator.exec.command[0]: %w",
				cfg.Path, pool, err)
		}
		a.Exec = &exec
	}
	act, err := scaler.NewActuator(a, log)
	if err != nil {
		return nil, fmt.Errorf("%s: scaler.pools.%s.%w", cfg.Path, pool, err)
	}
	return act, nil
}

func (s *scaleRun) poolNames() []string {
	names := make([]string, len(s.loopCfg.Pools))
	for i, p := range s.loopCfg.Pools {
		names[i] = p.Name
	}
	return names
}

// run leads at once without a lock key, or campaigns for the lock.
func (s *scaleRun) run(ctx context.Context) error {
	key := s.cfg.Scaler.LockKey
	if key == "" {
		s.setLeading(true)
		defer s.setLeading(false)
		return s.lead(ctx)
	}
	return scaler.Elect(ctx, s.registry.Client(), scaler.LeaderConfig{
		Key: key, Logger: s.log, Leading: s.setLeading,
	}, func(ctx context.Context) {
		if err := s.lead(ctx); err != nil {
			s.log.Error("scale loop", "err", err)
		}
	})
}

// lead runs a fresh loop for one leadership term.
func (s *scaleRun) lead(ctx context.Context) error {
	loop, err := scaler.NewLoop(s.loopCfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.loop = loop
	s.mu.Unlock()
	return loop.Run(ctx)
}

func (s *scaleRun) setLeading(on bool) {
	s.mu.Lock()
	s.leading = on
	s.mu.Unlock()
	if on {
		s.metrics.Leader.Set(1)
	} else {
		s.metrics.Leader.Set(0)
	}
}

// readiness: a leader is ready once its loop has run a round; a follower
// is ready while it stands by. The last round's problems (failed scrapes,
// Consul reads) are reported without making the scaler unready, since it
// holds the pools where they are while they last.
func (s *scaleRun) readiness() []admin.Check {
	return []admin.Check{
		{Name: "scaler", Func: func() error {
			leading, loop := s.current()
			if rounds, _ := loopStatus(loop); leading && rounds == 0 {
				return errors.New("leading, but no round has run yet")
			}
			return nil
		}},
		{Name: "last_round", Advisory: true, Func: func() error {
			_, err := loopStatus(s.loopOf())
			return err
		}},
	}
}

func (s *scaleRun) current() (bool, *scaler.Loop) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading, s.loop
}

func (s *scaleRun) loopOf() *scaler.Loop {
	_, loop := s.current()
	return loop
}

func loopStatus(l *scaler.Loop) (int, error) {
	if l == nil {
		return 0, nil
	}
	return l.Status()
}

// shutdownAdmin lets admin requests in flight finish, within timeout.
func shutdownAdmin(adm *admin.Server, timeout time.Duration, log *slog.Logger) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := adm.Shutdown(ctx); err != nil {
		log.Warn("admin server shutdown", "err", err)
	}
}
