package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

// epoch anchors simulated time for the scaler, which works in wall time.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// View is what a controller sees at one round.
type View struct {
	Now time.Duration
	// State counts instances as the platform reports them: Ready are past
	// slow start, Starting are not yet ready or still in slow start.
	State scaler.State
	// Signal is what the Envoys' stats would say over the last interval.
	Signal scaler.Signal
	// Samples is the pool once a second so far, oldest first.
	Samples []Sample
}

// Controller decides the replica count of the modelled pool.
type Controller interface {
	// Name labels the controller's column in reports.
	Name() string
	// Interval is how often Decide runs.
	Interval() time.Duration
	// Initial is the replicas ready at the start of the run.
	Initial() int
	// Decide returns the desired replicas and why.
	Decide(v View) (int, string)
}

// Spillway runs the scaler's own Decide every stats interval.
type Spillway struct {
	Policy   scaler.Policy
	Every    time.Duration
	Start    int
	history  *scaler.History
	decision scaler.Decision
}

// NewSpillway returns the Spillway controller for a pool policy, starting
// with start replicas and deciding every interval.
func NewSpillway(p scaler.Policy, interval time.Duration, start int) *Spillway {
	return &Spillway{Policy: p, Every: interval, Start: start, history: scaler.NewHistory(epoch)}
}

// Name implements Controller.
func (c *Spillway) Name() string { return "spillway" }

// Interval implements Controller.
func (c *Spillway) Interval() time.Duration { return c.Every }

// Initial implements Controller.
func (c *Spillway) Initial() int { return c.Start }

// Decide implements Controller.
func (c *Spillway) Decide(v View) (int, string) {
	now := epoch.Add(v.Now)
	d := scaler.Decide(c.Policy, v.State, v.Signal, c.history, now)
	c.history.Record(now, v.Signal, d)
	c.decision = d
	return d.Desired, d.Reason
}

// HPA is Kubernetes' horizontal pod autoscaler on slot utilization: the
// replica formula of its replica calculator, including how it treats pods
// without metrics, and its default scaling behavior, seeing metrics
// MetricsLag late.
type HPA struct {
	Config  HPAConfig
	Policy  scaler.Policy
	Start   int
	history *scaler.History
}

// NewHPA returns the HPA baseline between min and max replicas, with
// Kubernetes' default behavior: up by 100% or 4 pods per 15 s, whichever
// is more, without stabilization; down after 300 s of stabilization by
// up to 100% per 15 s.
func NewHPA(cfg HPAConfig, minReplicas, maxReplicas, start int) *HPA {
	p := scaler.Policy{ScalerPool: policy.ScalerPool{
		Min:     max(minReplicas, 1),
		Max:     maxReplicas,
		ScaleUp: policy.ScaleRule{MaxStep: 4, MaxPercent: 100, Period: 15 * time.Second},
		ScaleDown: policy.ScaleRule{
			Stabilization: 300 * time.Second, MaxPercent: 100, Period: 15 * time.Second},
	}}
	return &HPA{Config: cfg, Policy: p, Start: start, history: scaler.NewHistory(epoch)}
}

// Name implements Controller.
func (c *HPA) Name() string { return fmt.Sprintf("hpa %.0f%%", c.Config.Target*100) }

// Interval implements Controller.
func (c *HPA) Interval() time.Duration { return c.Config.Sync }

// Initial implements Controller.
func (c *HPA) Initial() int { return c.Start }

// Decide implements Controller.
func (c *HPA) Decide(v View) (int, string) {
	now := epoch.Add(v.Now)
	s, ok := sampleAt(v.Samples, v.Now-c.Config.MetricsLag)
	raw, reason := v.State.Current, "no metrics yet"
	if ok && s.Ready > 0 {
		raw, reason = c.recommend(s, v.State.Current)
	}
	rec := scaler.Decision{Recommendation: raw, Kind: scaler.KindOnTarget, Reason: reason}
	if raw != v.State.Current {
		rec.Kind = scaler.KindUtilization
	}
	d := scaler.Shape(c.Policy, v.State, rec, c.history, now)
	c.history.Record(now, scaler.Signal{Active: 1}, d)
	return d.Desired, d.Reason
}

// recommend is the HPA replica calculator for a utilization target. Pods
// that had no metrics in the sample count as idle when scaling up and as
// fully used when scaling down, and a change they reverse or bring within
// tolerance is dropped.
func (c *HPA) recommend(s Sample, current int) (int, string) {
	util := float64(s.BusyReady) / float64(s.Slots())
	target, tol := c.Config.Target, c.Config.Tolerance
	ratio := util / (target * float64(s.Ready))
	reason := fmt.Sprintf("utilization %.0f%% of %d ready, target %.0f%%",
		100*util/float64(s.Ready), s.Ready, 100*target)
	if math.Abs(ratio-1) <= tol {
		return current, reason
	}
	missing := max(current-s.Ready, 0)
	pods := float64(s.Ready + missing)
	if missing > 0 {
		adjusted := util
		if ratio < 1 {
			adjusted += float64(missing)
		}
		newRatio := adjusted / (target * pods)
		if math.Abs(newRatio-1) <= tol || (newRatio > 1) != (ratio > 1) {
			return current, reason
		}
		ratio = newRatio
	}
	return int(math.Ceil(ratio*pods - 1e-9)), reason
}

// Slots is the full slots of the ready instances, never zero.
func (s Sample) Slots() float64 {
	if s.Ready == 0 {
		return 1
	}
	return float64(s.ReadySlots) / float64(s.Ready)
}

// sampleAt returns the newest sample taken at or before t.
func sampleAt(samples []Sample, t time.Duration) (Sample, bool) {
	for i := len(samples) - 1; i >= 0; i-- {
		if samples[i].At <= t {
			return samples[i], true
		}
	}
	return Sample{}, false
}

// Static holds a fixed number of replicas: provisioning for the peak.
type Static struct{ N int }

// Name implements Controller.
func (c Static) Name() string { return fmt.Sprintf("static %d", c.N) }

// Interval implements Controller.
func (c Static) Interval() time.Duration { return time.Hour }

// Initial implements Controller.
func (c Static) Initial() int { return c.N }

// Decide implements Controller.
func (c Static) Decide(v View) (int, string) { return c.N, "static" }
