// Package driver runs the xDS load benchmark: for each mode and server
// implementation it starts a server and a clients process, measures how
// long all streams take to sync when they connect at once, how long an
// endpoint change takes to reach and be ACKed by every stream, what the
// server spends in CPU and memory, and whether it keeps up with a steady
// rate of changes. It reports Spillway and go-control-plane's stock
// server side by side against Spillway's targets.
package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spillway/spillway/internal/bench/fleet"
	"github.com/spillway/spillway/internal/bench/loadclient"
	"github.com/spillway/spillway/internal/bench/loadserver"
)

// Config configures Run. Zero durations and counts take the defaults of
// WithDefaults.
type Config struct {
	// Impls are the servers to measure, loadserver.ImplSpillway and/or
	// loadserver.ImplStock.
	Impls []string
	// Modes are loadclient.ModeSotW and/or loadclient.ModeDelta.
	Modes []string
	// Streams is the number of ADS streams, each its own Envoy.
	Streams int
	// StreamsPerConn is how many streams share a gRPC connection.
	StreamsPerConn int
	Fleet          fleet.Spec
	// Changes is the number of changes applied one at a time, each once
	// the previous one is ACKed everywhere.
	Changes int
	// Rate and Duration shape the sustained phase; a zero Duration skips
	// it.
	Rate     float64
	Duration time.Duration
	// SyncTimeout bounds the connect storm, ChangeTimeout each change's
	// ACKs, and DrainTimeout the ACKs still due when the sustained phase
	// stops issuing changes.
	SyncTimeout   time.Duration
	ChangeTimeout time.Duration
	DrainTimeout  time.Duration
	// CPUProfileDir, when set, receives the servers' CPU profiles, one per
	// implementation, mode and phase.
	CPUProfileDir string

	// Launch starts the server and clients processes.
	Launch Launcher
	// Stderr receives the children's logs, and Progress one line per step;
	// nil discards them.
	Stderr   io.Writer
	Progress io.Writer
	// Command is the command line shown in the report.
	Command string
}

// WithDefaults returns c with its unset fields at their defaults.
func (c Config) WithDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.SyncTimeout, 2*time.Minute)
	def(&c.ChangeTimeout, time.Minute)
	def(&c.DrainTimeout, time.Minute)
	if c.StreamsPerConn == 0 {
		c.StreamsPerConn = 100
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Validate reports every setting Run cannot work with.
func (c Config) Validate() error {
	errs := []error{c.Fleet.Validate()}
	for _, impl := range c.Impls {
		if impl != loadserver.ImplSpillway && impl != loadserver.ImplStock {
			errs = append(errs, fmt.Errorf("impl: unknown %q", impl))
		}
	}
	for _, mode := range c.Modes {
		if mode != loadclient.ModeSotW && mode != loadclient.ModeDelta {
			errs = append(errs, fmt.Errorf("mode: unknown %q", mode))
		}
	}
	if len(c.Impls) == 0 || len(c.Modes) == 0 {
		errs = append(errs, errors.New("need at least one impl and one mode"))
	}
	if c.Streams < 1 || c.StreamsPerConn < 1 {
		errs = append(errs, fmt.Errorf("streams %d and streams per connection %d must be at least 1",
			c.Streams, c.StreamsPerConn))
	}
	if c.Changes < 0 || c.Rate < 0 || c.Duration < 0 || (c.Duration > 0 && c.Rate == 0) {
		errs = append(errs, fmt.Errorf("changes %d, rate %g and duration %v: none may be negative, "+
			"and a duration needs a rate", c.Changes, c.Rate, c.Duration))
	}
	if total := int64(c.Changes) + int64(c.Rate*c.Duration.Seconds()) + 1; total > fleet.MaxSeq {
		errs = append(errs, fmt.Errorf("%d changes in all exceed %d", total, fleet.MaxSeq))
	}
	if c.Launch == nil {
		errs = append(errs, errors.New("no launcher"))
	}
	return errors.Join(errs...)
}

// Run measures every mode and implementation of cfg, one pair of processes
// at a time. A run that fails is reported with its error and the figures
// it reached; Run itself fails only on a bad config or a cancelled ctx.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("benchmark config: %w", err)
	}
	rep := &Report{Config: cfg, Machine: readMachine(), Started: time.Now().UTC(),
		LoadBefore: loadAverage()}
	for _, mode := range cfg.Modes {
		for _, impl := range orderImpls(cfg.Impls) {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			res := runOne(ctx, &cfg, impl, mode)
			rep.Results = append(rep.Results, res)
			if res.Err != "" {
				progress(&cfg, "%s %s: stopped: %s", mode, impl, res.Err)
			}
		}
	}
	rep.Finished, rep.LoadAfter = time.Now().UTC(), loadAverage()
	return rep, nil
}

// orderImpls runs Spillway first, so its figures come first.
func orderImpls(impls []string) []string {
	out := slices.Clone(impls)
	slices.SortStableFunc(out, func(a, b string) int {
		return boolRank(b == loadserver.ImplSpillway) - boolRank(a == loadserver.ImplSpillway)
	})
	return slices.Compact(out)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func progress(cfg *Config, format string, args ...any) {
	fmt.Fprintf(cfg.Progress, "%s "+format+"\n",
		append([]any{time.Now().Format("15:04:05")}, args...)...)
}
