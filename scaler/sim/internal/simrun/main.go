// Command simrun replays a trace through scaler/sim and prints the
// comparison table, with the pool policy and model given by flags. Its
// defaults are the policy tuned for examples/traces/spike.csv. It stands in
// for `spillway simulate` until the CLI has that command.
//
//	go run ./scaler/sim/internal/simrun -warm 700 -timeline /tmp/t.csv
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
	"github.com/spillway/spillway/scaler/sim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "simrun:", err)
		os.Exit(1)
	}
}

type options struct {
	trace, timeline string
	pool            policy.ScalerPool
	lead            time.Duration
	model           sim.Model
}

func parseFlags(args []string) (*options, error) {
	o := &options{model: sim.DefaultModel()}
	fs := flag.NewFlagSet("simrun", flag.ContinueOnError)
	fs.StringVar(&o.trace, "trace", "examples/traces/spike.csv", "trace file")
	fs.StringVar(&o.timeline, "timeline", "", "write the timeline CSV to this file")
	p, m := &o.pool, &o.model
	fs.IntVar(&p.Min, "min", 2, "min replicas")
	fs.IntVar(&p.Max, "max", 700, "max replicas")
	fs.Float64Var(&p.Target.QueuePerInstance, "queue", 6, "target.queue_per_instance")
	fs.DurationVar(&p.Target.LatencyP95, "p95", 0, "target.latency_p95")
	fs.Float64Var(&p.Tolerance, "tolerance", 0.1, "tolerance")
	fs.IntVar(&p.ScaleUp.MaxStep, "up-step", 0, "scale_up.max_step")
	fs.Float64Var(&p.ScaleUp.MaxPercent, "up-pct", 0, "scale_up.max_percent")
	fs.DurationVar(&p.ScaleUp.Period, "up-period", 15*time.Second, "scale_up.period")
	fs.DurationVar(&p.ScaleUp.Stabilization, "up-stab", 0, "scale_up.stabilization")
	fs.IntVar(&p.ScaleDown.MaxStep, "down-step", 0, "scale_down.max_step")
	fs.Float64Var(&p.ScaleDown.MaxPercent, "down-pct", 50, "scale_down.max_percent")
	fs.DurationVar(&p.ScaleDown.Period, "down-period", time.Minute, "scale_down.period")
	fs.DurationVar(&p.ScaleDown.Stabilization, "down-stab", 3*time.Minute,
		"scale_down.stabilization")
	fs.DurationVar(&o.lead, "lead", 30*time.Second, "panic-mode forecast lead")
	fs.IntVar(&m.Slots, "slots", m.Slots, "requests per instance")
	fs.DurationVar(&m.ColdStart, "cold", m.ColdStart, "cold start")
	fs.DurationVar(&m.SlowStart, "slow", m.SlowStart, "slow start window")
	fs.Float64Var(&m.SlowStartMin, "slow-min", m.SlowStartMin, "slow start initial share")
	fs.IntVar(&m.WarmPool, "warm", 0, "warm pool size")
	fs.DurationVar(&m.WarmStart, "warm-start", m.WarmStart, "warm start")
	fs.DurationVar(&m.WaitTarget, "wait", m.WaitTarget, "queue-wait target")
	fs.DurationVar(&m.HPA.MetricsLag, "hpa-lag", m.HPA.MetricsLag, "HPA metrics lag")
	fs.Uint64Var(&m.Seed, "seed", m.Seed, "seed of the rate trace's requests")
	return o, fs.Parse(args)
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	tr, err := sim.ReadTrace(o.trace)
	if err != nil {
		return err
	}
	p := scaler.NewPolicy(&o.pool)
	p.Lead = o.lead
	c, err := sim.CompareWith(p, tr, o.model)
	if err != nil {
		return err
	}
	if err := c.WriteTable(os.Stdout); err != nil {
		return err
	}
	if o.timeline == "" {
		return nil
	}
	f, err := os.Create(o.timeline)
	if err != nil {
		return fmt.Errorf("writing timeline: %w", err)
	}
	if err := c.WriteTimeline(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
