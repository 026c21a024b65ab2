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
	"github.com/spillway/spillway/scaler/keda"
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
	// StartedKEDA, when set and the config has scaler.keda, is called with
	// the KEDA server's bound address, before Started.
	StartedKEDA func(keda net.Addr)
	// ShutdownTimeout bounds the admin server's graceful stop; 0 means 10 s.
	ShutdownTimeout time.Duration
}

// Scale runs the scaler of the config at opts.ConfigPath until ctx ends:
// the scale loop (as the leader, when scaler.lock_key is set), an admin
// server with /healthz, /readyz and /metrics, and, with scaler.keda, the
// KEDA external scaler. The pools' members, their drains and the leader
// lock all go through the Consul of discovery.consul, so the config must
// use Consul discovery.
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
	kd, err := s.listenKEDA(reg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Scaler.Admin.Listen)
	if err != nil {
		kd.close()
		return fmt.Errorf("listening for the scaler admin server: %w", err)
	}
	adm := admin.New(admin.Options{Gatherer: reg, Ready: s.readiness(),
		Pprof: cfg.Scaler.Admin.Pprof}, log)
	kd.announce(opts.StartedKEDA)
	if opts.Started != nil {
		opts.Started(lis.Addr())
	}
	log.Info("scaling", "admin", lis.Addr().String(), "keda", kd.address(), "config", cfg.Path,
		"pools", strings.Join(s.poolNames(), ","), "lock_key", cfg.Scaler.LockKey)

	return s.serve(ctx, adm, lis, kd, opts.ShutdownTimeout)
}

// serve runs the scale loop, the KEDA server if there is one, and the
// admin server until ctx ends or one of them fails. Whatever ends first,
// the others are stopped and waited for: the loop lifts the maintenance of
// the drains it abandons. The admin server stops last, so that /metrics
// and /readyz answer while the rest wind down.
func (s *scaleRun) serve(ctx context.Context, adm *admin.Server, lis net.Listener,
	kd *kedaServer, timeout time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	admc := make(chan error, 1)
	go func() {
		admc <- wrap("admin server", adm.Serve(lis))
		cancel()
	}()

	parts := map[string]func(context.Context) error{"scale loop": s.run}
	if kd != nil {
		parts["keda server"] = kd.serve
	}
	errs := runAll(ctx, cancel, parts)
	shutdownAdmin(adm, timeout, s.log)
	return errors.Join(append(errs, <-admc)...)
}

// runAll runs every part under ctx and returns once all have ended; the
// first to end, for whatever reason, cancels the others.
func runAll(ctx context.Context, cancel context.CancelFunc,
	parts map[string]func(context.Context) error) []error {
	errc := make(chan error, len(parts))
	for name, run := range parts {
		go func() {
			errc <- wrap(name, run(ctx))
			cancel()
		}()
	}
	errs := make([]error, 0, len(parts))
	for range parts {
		errs = append(errs, <-errc)
	}
	return errs
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
	scraper := scaler.NewScraper(scraperConfig(st, registry, log))
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
	}
	return nil
}

// scraperConfig reads the signal from Prometheus when the config names
// it, else from the Envoys; the Envoys, listed or registered in Consul,
// also show each host's requests to scale-in.
func scraperConfig(st policy.Stats, registry *scaler.Consul,
	log *slog.Logger) scaler.ScraperConfig {
	sc := scaler.ScraperConfig{Admins: st.EnvoyAdmin, Prometheus: st.Prometheus,
		Window: st.Interval, StaleAfter: st.StaleAfter, Logger: log}
	if st.EnvoyService != "" {
		sc.ListEnvoys = func(ctx context.Context) ([]string, error) {
			return registry.EnvoyAdmins(ctx, st.EnvoyService, st.EnvoyAdminPort)
		}
	}
	return sc
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

// poolSpecs builds the loop's pools in name order, each with its actuator
// or, for a pool whose replicas KEDA owns, signal-only.
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
		spec := scaler.PoolSpec{Name: name, Policy: scaler.NewPolicy(sp),
			Selector: discovery.Selector{Service: pool.Service, Tags: pool.Tags},
			Actuator: act, SignalOnly: act == nil}
		if pool.SlowStart != nil {
			spec.SlowStart = pool.SlowStart.Window
		}
		specs = append(specs, spec)
	}
	return specs, errors.Join(errs...)
}

// newActuator builds a pool's actuator; a pool whose replicas KEDA owns
// has none, and gets nil and no error. An exec program given as a
// relative path with a slash is taken relative to the config file, and it
// must exist: a missing one would fail only at the first scaling, when it
// is needed most. The Kubernetes actuator lives in scaler/kube, which
// builds on package scaler and so is chosen here rather than there.
func newActuator(cfg *policy.Config, pool string, a policy.Actuator,
	log *slog.Logger) (scaler.Actuator, error) {
	if a.KEDA != nil && a.Exec == nil && a.Webhook == nil && a.Kubernetes == nil {
		return nil, nil
	}
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

// kedaServer is KEDA's external scaler on its listener. A nil one is the
// absence of scaler.keda: its methods then do nothing.
type kedaServer struct {
	srv *keda.Server
	lis net.Listener
}

// listenKEDA opens scaler.keda's listener, if the config has one, with a
// server that answers from s.kedaSignal.
func (s *scaleRun) listenKEDA(reg prometheus.Registerer) (*kedaServer, error) {
	k := s.cfg.Scaler.KEDA
	if k == nil {
		return nil, nil
	}
	lis, err := net.Listen("tcp", k.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening for the keda external scaler: %w", err)
	}
	return &kedaServer{srv: keda.NewServer(keda.SignalFunc(s.kedaSignal), s.log, reg), lis: lis}, nil
}

func (k *kedaServer) serve(ctx context.Context) error { return k.srv.Serve(ctx, k.lis) }

func (k *kedaServer) close() {
	if k != nil {
		k.lis.Close()
	}
}

func (k *kedaServer) announce(started func(net.Addr)) {
	if k != nil && started != nil {
		started(k.lis.Addr())
	}
}

// address is the bound address, for the log; "" without a server.
func (k *kedaServer) address() string {
	if k == nil {
		return ""
	}
	return k.lis.Addr().String()
}

// kedaSignal is what KEDA is told about a pool. Only pools whose actuator
// is keda are served: KEDA scaling a pool that Spillway also actuates
// would have two owners fight over its replicas. Every scaler process
// serves, but only the leader runs the loop, so a follower, or a leader
// whose loop has not run a round yet, answers stale and KEDA keeps the
// replicas as they are. KEDA holds one connection, which a Service ties
// to one pod: behind a Service with followers it may hold until it
// reconnects. Forwarding to the leader, or listening only while leading,
// would fix that; until then docs/scaler.md says to run one replica.
func (s *scaleRun) kedaSignal(pool string) (keda.Signal, bool) {
	sp, ok := s.cfg.Scaler.Pools[pool]
	if !ok || sp.Actuator.KEDA == nil {
		return keda.Signal{}, false
	}
	leading, loop := s.current()
	if !leading || loop == nil {
		return keda.Signal{Stale: true}, true
	}
	sig, d, ok := loop.Latest(pool)
	if !ok {
		return keda.Signal{}, false
	}
	return kedaView(sp, sig, d), true
}

// kedaView turns the loop's latest round of a pool into KEDA's terms. The
// pool is active while its demand reaches the activation threshold of
// to_zero (1 when unset) or the loop wants a replica, so that KEDA scales
// from zero on the same threshold as the loop. A stale signal carries no
// numbers: KEDA is told only that there are none to act on.
func kedaView(sp *policy.ScalerPool, sig scaler.Signal, d scaler.Decision) keda.Signal {
	if sig.Stale {
		return keda.Signal{Stale: true}
	}
	activation := 1.0
	if z := sp.ToZero; z != nil && z.Activation > 0 {
		activation = z.Activation
	}
	return keda.Signal{
		Queue:       sig.Demand(),
		QueueTarget: sp.Target.QueuePerInstance,
		Desired:     d.Desired,
		Active:      sig.Demand() >= activation || d.Desired > 0,
	}
}
