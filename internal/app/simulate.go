package app

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
	"github.com/spillway/spillway/scaler/sim"
)

// SimulateOptions configure Simulate. Zero model fields keep the values of
// sim.DefaultModel.
type SimulateOptions struct {
	ConfigPath string
	// Pool names the pool in the config's scaler section whose policy runs.
	Pool string
	// Trace is the trace file (see scaler/sim), relative to the working
	// directory.
	Trace string
	// Timeline, when set, is the CSV file the runs' timelines go to.
	Timeline string
	// Seed draws the requests of a rate trace.
	Seed uint64
	// WarmPool is the number of pre-initialised instances; 0 means none.
	WarmPool int
	// ColdStart is the time from asking for an instance to its readiness.
	ColdStart time.Duration
	// Slots is the requests one instance serves at once.
	Slots int
}

// Simulate replays a trace through scaler/sim under the pool's scaler
// policy from the config, the HPA baseline and static provisioning at the
// pool's max, and writes the comparison table to stdout. The scaler decides
// every scaler.stats.interval, as `spillway scale` would.
func Simulate(opts SimulateOptions, stdout io.Writer) error {
	if err := opts.check(); err != nil {
		return err
	}
	cfg, err := policy.Load(opts.ConfigPath)
	if err != nil {
		return err
	}
	pool, err := scalerPool(cfg, opts.Pool)
	if err != nil {
		return err
	}
	tr, err := sim.ReadTrace(opts.Trace)
	if err != nil {
		return err
	}
	c, err := sim.CompareWith(scaler.NewPolicy(pool), tr, simModel(cfg, opts))
	if err != nil {
		return fmt.Errorf("simulating pool %s: %w", opts.Pool, err)
	}
	if err := c.WriteTable(stdout); err != nil {
		return err
	}
	if opts.Timeline == "" {
		return nil
	}
	return writeTimeline(c, opts.Timeline)
}

// check refuses negative model values, which the model would otherwise
// quietly replace by its defaults.
func (o SimulateOptions) check() error {
	switch {
	case o.WarmPool < 0:
		return fmt.Errorf("simulate: --warm-pool must not be negative, got %d", o.WarmPool)
	case o.ColdStart < 0:
		return fmt.Errorf("simulate: --cold-start must not be negative, got %s", o.ColdStart)
	case o.Slots < 0:
		return fmt.Errorf("simulate: --slots must not be negative, got %d", o.Slots)
	}
	return nil
}

// scalerPool returns the scaler policy of the pool called name.
func scalerPool(cfg *policy.Config, name string) (*policy.ScalerPool, error) {
	if cfg.Scaler == nil {
		return nil, fmt.Errorf("%s: no scaler section to simulate", cfg.Path)
	}
	p := cfg.Scaler.Pools[name]
	if p == nil {
		names := slices.Sorted(maps.Keys(cfg.Scaler.Pools))
		return nil, fmt.Errorf("%s: pool %q has no scaler policy; scaler pools: %s",
			cfg.Path, name, strings.Join(names, ", "))
	}
	return p, nil
}

// simModel is the default model with the command line's overrides and the
// config's stats interval.
func simModel(cfg *policy.Config, opts SimulateOptions) sim.Model {
	m := sim.DefaultModel()
	m.StatsInterval = cfg.Scaler.Stats.Interval
	m.WarmPool = opts.WarmPool
	if opts.Seed != 0 {
		m.Seed = opts.Seed
	}
	if opts.ColdStart > 0 {
		m.ColdStart = opts.ColdStart
	}
	if opts.Slots > 0 {
		m.Slots = opts.Slots
	}
	return m
}

func writeTimeline(c sim.Comparison, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing timeline: %w", err)
	}
	if err := c.WriteTimeline(f); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing timeline: %w", err)
	}
	return nil
}
