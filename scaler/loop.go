package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spillway/spillway/discovery"
)

// DefaultPoll is how often a drain looks at the Envoys and the registry.
const DefaultPoll = time.Second

// PoolSpec is one pool the loop scales.
type PoolSpec struct {
	// Name is the pool's, which is also its Envoy cluster's.
	Name string
	// Selector picks the pool's members from the registry.
	Selector discovery.Selector
	Policy   Policy
	// SlowStart is the pool's slow-start window: members passing for less
	// count as starting.
	SlowStart time.Duration
	// Actuator carries out the pool's decisions; nil exactly when
	// SignalOnly is set.
	Actuator Actuator
	// SignalOnly marks a pool whose replicas another controller owns, such
	// as KEDA: the loop decides every round and publishes the decision, in
	// its metrics and through Latest, but never drains or actuates. Since
	// the loop cannot know when that controller applies an answer, each
	// decision is taken against the members registered now and no change
	// is recorded against the step limits' periods.
	SignalOnly bool
}

// LoopConfig configures a Loop.
type LoopConfig struct {
	Pools []PoolSpec
	// Interval is the time between rounds: the stats interval.
	Interval time.Duration
	Scraper  *Scraper
	Registry Registry
	// Metrics may be nil for unregistered instruments; Logger nil for none.
	Metrics *Metrics
	Logger  *slog.Logger
	// Backoff bounds actuator retries; zero fields take DefaultBackoff's.
	Backoff Backoff
	// Poll is how often a drain checks; zero means DefaultPoll.
	Poll time.Duration
	// Now is the clock, replaceable in tests.
	Now func() time.Time
}

// Loop scales pools: every interval it scrapes the Envoys once, counts each
// pool's members in the registry, decides, and starts the action that
// carries the decision out. Each pool has at most one action at a time, so
// that no decision is carried out twice; actions run beside the rounds, so
// that a drain of minutes does not keep a pool from answering a spike.
type Loop struct {
	cfg   LoopConfig
	log   *slog.Logger
	pools []*pool
	// actions tracks every action goroutine, including the part of a
	// scale-in that waits for its victims to leave after the outcome.
	actions sync.WaitGroup

	mu      sync.Mutex
	rounds  int
	lastErr error
	// views holds each pool's last round, by name, for Latest.
	views map[string]view
}

// pool is the loop's memory of one pool. Everything in it belongs to the
// loop's goroutine; an action reports back through its own fields, read
// only once its done channel is closed.
type pool struct {
	spec        PoolSpec
	history     *History
	tracker     *tracker
	expect      expectation
	last        State
	lastDesired int
	action      *action
}

// NewLoop checks cfg and returns a loop that has not run yet. A loop holds
// the memory of one leadership term; a new leader starts a new one.
func NewLoop(cfg LoopConfig) (*Loop, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	l := &Loop{cfg: cfg, log: cfg.Logger, views: make(map[string]view, len(cfg.Pools))}
	now := cfg.Now()
	for _, spec := range cfg.Pools {
		l.pools = append(l.pools, &pool{spec: spec, history: NewHistory(now),
			tracker: newTracker(), lastDesired: -1})
		l.views[spec.Name] = view{}
	}
	return l, nil
}

func (cfg LoopConfig) check() error {
	var errs []error
	if cfg.Interval <= 0 {
		errs = append(errs, fmt.Errorf("scale loop: interval must be more than 0s, got %s", cfg.Interval))
	}
	if cfg.Scraper == nil || cfg.Registry == nil {
		errs = append(errs, errors.New("scale loop: needs a scraper and a registry"))
	}
	for _, p := range cfg.Pools {
		switch {
		case p.Actuator == nil && !p.SignalOnly:
			errs = append(errs, fmt.Errorf("scale loop: pool %s has no actuator", p.Name))
		case p.Actuator != nil && p.SignalOnly:
			errs = append(errs, fmt.Errorf("scale loop: pool %s is signal-only but has an actuator",
				p.Name))
		}
		if p.Policy.StartTimeout <= 0 {
			errs = append(errs, fmt.Errorf("scale loop: pool %s: start_timeout must be more than 0s",
				p.Name))
		}
	}
	return errors.Join(errs...)
}

// Run lifts the drains a previous scaler left behind, then runs a round at
// once and every interval until ctx ends. It then stops the actions: a
// drain not yet carried out is abandoned and its victims are taken out of
// maintenance, and an actuator call in progress is cancelled. It returns
// once every action has ended.
func (l *Loop) Run(ctx context.Context) error {
	defer l.actions.Wait()
	l.liftStaleDrains(ctx)
	tick := time.NewTicker(l.cfg.Interval)
	defer tick.Stop()
	for {
		l.Round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Round scrapes the Envoys once, then decides and acts for every pool.
func (l *Loop) Round(ctx context.Context) {
	scrapeErr := l.cfg.Scraper.Scrape(ctx)
	if ctx.Err() != nil {
		return
	}
	now := l.cfg.Now()
	errs := []error{scrapeErr}
	for _, p := range l.pools {
		errs = append(errs, l.decide(ctx, p, now))
	}
	l.mu.Lock()
	l.rounds++
	l.lastErr = errors.Join(errs...)
	l.mu.Unlock()
}

// Status returns how many rounds have run and the problems of the last
// one: failed scrapes and registry reads. It is safe to call at any time.
func (l *Loop) Status() (rounds int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rounds, l.lastErr
}

// decide runs one round of one pool and returns the registry's error, if
// any. A pool whose members cannot be read is held where it is, as with
// stale stats. A signal-only pool's decision is published and nothing
// more. Its history records a hold: the loop cannot tell when the other
// controller makes the change, and a change counted before it is made
// would narrow the step limits of the answers that follow.
func (l *Loop) decide(ctx context.Context, p *pool, now time.Time) error {
	p.settle()
	sig := l.cfg.Scraper.Signal(p.spec.Name, now)
	st, members, err := l.observe(ctx, p, now)
	if err != nil {
		sig.markStale(err.Error())
	}
	d := Decide(p.spec.Policy, st, sig, p.history, now)

	act := d.Desired != d.Current && !p.spec.SignalOnly
	if act && p.action != nil {
		p.action.supersedeBy(d)
		act = false
	}
	applied := d
	if !act {
		applied.Desired = applied.Current
	}
	p.history.Record(now, sig, applied)
	l.cfg.Metrics.Observe(p.spec.Name, sig, d)
	l.keep(p, sig, d)
	l.logDecision(ctx, p, st, sig, d, act)
	if act {
		l.launch(ctx, p, d, members, now)
	}
	return err
}

// observe reads the pool's members and counts them. On failure it returns
// the last state, for the held decision to report.
func (l *Loop) observe(ctx context.Context, p *pool, now time.Time) (State, []Member, error) {
	members, err := l.cfg.Registry.Members(ctx, p.spec.Selector)
	if err != nil {
		return p.last, nil, fmt.Errorf("pool %s: %w", p.spec.Name, err)
	}
	p.tracker.observe(members, now)
	p.last = p.tracker.state(members, p.expect, p.spec.SlowStart, p.spec.Policy.StartTimeout, now)
	return p.last, members, nil
}

// logDecision logs at Info when the desired count differs from the last
// round's, and at Debug otherwise, so that a steady pool stays quiet.
func (l *Loop) logDecision(ctx context.Context, p *pool, st State, sig Signal, d Decision,
	act bool) {
	level := slog.LevelDebug
	if d.Desired != p.lastDesired {
		level = slog.LevelInfo
	}
	p.lastDesired = d.Desired
	attrs := []any{"pool", p.spec.Name, "current", d.Current, "desired", d.Desired,
		"ready", st.Ready, "starting", st.Starting, "queue", sig.Demand(),
		"kind", string(d.Kind), "reason", d.Reason}
	if d.Panic {
		attrs = append(attrs, "panic_until", d.PanicUntil)
	}
	switch {
	case p.spec.SignalOnly:
		attrs = append(attrs, "signal_only", true)
	case d.Desired != d.Current && !act:
		attrs = append(attrs, "held", "an earlier action is still in progress")
	}
	l.log.Log(ctx, level, "scaling decision", attrs...)
}

// liftStaleDrains takes out of maintenance every member of the pools that
// is in spillway's drain: nothing drains while no loop runs, so such a
// drain was left by a scaler that stopped or lost its lead mid-way, and
// the instance would otherwise stay out of service for good.
func (l *Loop) liftStaleDrains(ctx context.Context) {
	for _, p := range l.pools {
		members, err := l.cfg.Registry.Members(ctx, p.spec.Selector)
		if err != nil {
			l.log.Warn("cannot look for stale drains", "pool", p.spec.Name, "err", err)
			continue
		}
		for _, m := range members {
			if !m.Draining() {
				continue
			}
			if err := l.cfg.Registry.SetMaintenance(ctx, m, false); err != nil {
				l.log.Warn("cannot lift stale drain", "pool", p.spec.Name, "instance", m.ID, "err", err)
				continue
			}
			l.log.Info("lifted a drain left by an earlier scaler", "pool", p.spec.Name,
				"instance", m.ID, "address", m.Address)
		}
	}
}
