package sim

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

// Run replays a trace through the model under one controller.
func Run(ctl Controller, tr Trace, m Model) (*Report, error) {
	m = m.withDefaults()
	if err := m.validate(); err != nil {
		return nil, err
	}
	reqs, err := requests(tr, m)
	if err != nil {
		return nil, err
	}
	return newEngine(ctl, reqs, tr.End(), m).run(), nil
}

// requests expands the trace, with the model's service time when it sets
// one.
func requests(tr Trace, m Model) ([]Request, error) {
	if m.Service != nil {
		if len(tr.Rates) == 0 {
			return nil, fmt.Errorf("trace %s: a service time applies to rate traces only", tr.Name)
		}
		tr.Service = *m.Service
	}
	if len(tr.Rates) > 0 && tr.Service.Max <= 0 {
		return nil, fmt.Errorf("trace %s: rate trace without a service time: "+
			"add a line \"# service: uniform 10s 30s\" or give one", tr.Name)
	}
	reqs := tr.Expand(m.Seed)
	if len(reqs) == 0 {
		return nil, fmt.Errorf("trace %s: no requests", tr.Name)
	}
	return reqs, nil
}

// Comparison is Spillway's scaler, the HPA baseline and static provisioning
// at the pool's max run on the same trace and model.
type Comparison struct {
	Trace    string
	Requests int
	Duration time.Duration
	Model    Model
	Policy   scaler.Policy
	// Reports are Spillway's, the HPA's and static's, in that order.
	Reports []*Report
}

// Compare runs the pool's scaler policy, the HPA and static provisioning at
// cfg.Max through the model, concurrently, on the same requests. The
// scaler's panic settings come from cfg.Panic.
func Compare(cfg *policy.ScalerPool, trace Trace, model Model) (Comparison, error) {
	if cfg == nil {
		return Comparison{}, errors.New("compare: no pool policy")
	}
	return CompareWith(scaler.NewPolicy(cfg), trace, model)
}

// CompareWith is Compare with the scaler's full policy.
func CompareWith(p scaler.Policy, trace Trace, model Model) (Comparison, error) {
	cfg := &p.ScalerPool
	if cfg.Max <= 0 {
		return Comparison{}, errors.New("compare: the pool needs a max above 0 to provision statically")
	}
	m := model.withDefaults()
	if err := m.validate(); err != nil {
		return Comparison{}, err
	}
	reqs, err := requests(trace, m)
	if err != nil {
		return Comparison{}, err
	}
	start := m.Initial
	if start <= 0 {
		start = openingReplicas(reqs, m.Slots)
	}
	start = min(max(start, cfg.Min, 1), cfg.Max)
	ctls := []Controller{
		NewSpillway(p, m.StatsInterval, start),
		NewHPA(m.HPA, cfg.Min, cfg.Max, start),
		Static{N: cfg.Max},
	}
	c := Comparison{Trace: trace.Name, Requests: len(reqs), Duration: trace.End(),
		Model: m, Policy: p, Reports: make([]*Report, len(ctls))}
	var wg sync.WaitGroup
	for i, ctl := range ctls {
		wg.Go(func() { c.Reports[i] = newEngine(ctl, reqs, trace.End(), m).run() })
	}
	wg.Wait()
	return c, nil
}

// openingReplicas is enough instances for the first minute's requests at
// full use of their slots.
func openingReplicas(reqs []Request, slots int) int {
	var work time.Duration
	for _, r := range reqs {
		if r.Arrival >= time.Minute {
			break
		}
		work += r.Service
	}
	return int(math.Ceil(work.Seconds() / 60 / float64(slots)))
}
