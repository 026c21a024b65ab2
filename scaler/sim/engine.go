package sim

import (
	"container/heap"
	"slices"
	"time"
)

// instance is one replica of the modelled pool.
type instance struct {
	id       int
	created  time.Duration
	readyAt  time.Duration
	removed  time.Duration // -1 while alive
	active   int
	draining bool
}

func (in *instance) ready(now time.Duration) bool { return now >= in.readyAt }

type eventKind int

const (
	evComplete eventKind = iota
	evReady
	evRefill
	evSecond
	evControl
)

type event struct {
	at   time.Duration
	kind eventKind
	seq  int
	inst *instance
	req  int
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// engine is one run of the discrete-event model: requests arrive in trace
// order, wait in one FIFO queue at the load balancer and go to the ready
// instance with the fewest requests in flight that has a free slot.
type engine struct {
	m    Model
	ctl  Controller
	reqs []Request
	end  time.Duration

	events eventQueue
	seq    int
	next   int   // next request to arrive
	queue  []int // waiting requests, FIFO
	qhead  int
	live   []*instance
	all    []*instance
	start  []time.Duration // when each request got a slot; -1 before

	warm, refilling int
	warmTime        time.Duration // warm-pool instance-time, integrated

	interval intervalStats
	samples  []Sample
	report   *Report
}

// intervalStats gathers the requests completed since the last decision.
type intervalStats struct {
	since     time.Duration
	latencies []time.Duration
}

func newEngine(ctl Controller, reqs []Request, end time.Duration, m Model) *engine {
	e := &engine{
		m: m, ctl: ctl, reqs: reqs, end: end,
		start:  make([]time.Duration, len(reqs)),
		warm:   m.WarmPool,
		report: &Report{Name: ctl.Name(), Requests: len(reqs), WaitTarget: m.WaitTarget},
	}
	for i := range e.start {
		e.start[i] = -1
	}
	for range ctl.Initial() {
		e.addInstance(0, 0)
	}
	for _, in := range e.live {
		// The opening replicas have served for a while: past slow start.
		in.readyAt = -m.SlowStart
	}
	e.schedule(event{at: time.Second, kind: evSecond})
	e.schedule(event{at: ctl.Interval(), kind: evControl})
	return e
}

func (e *engine) schedule(ev event) {
	e.seq++
	ev.seq = e.seq
	heap.Push(&e.events, ev)
}

// A controller that never provides capacity would keep the run going
// forever; it is stopped this long after the trace ends.
const maxOverrun = 6 * time.Hour

// run plays the trace until every request has been served.
func (e *engine) run() *Report {
	var now time.Duration
	for e.served() < len(e.reqs) && now <= e.end+maxOverrun {
		next := e.next < len(e.reqs)
		if next && (e.events.Len() == 0 || e.reqs[e.next].Arrival <= e.events[0].at) {
			e.arrive(e.reqs[e.next].Arrival)
			continue
		}
		ev := heap.Pop(&e.events).(event)
		e.handle(ev)
		now = ev.at
	}
	e.abandon(now)
	e.finish(now)
	return e.report
}

// abandon counts the requests still waiting when a run is cut short as
// having waited until then, so that they weigh in the report.
func (e *engine) abandon(now time.Duration) {
	for i := e.next; i < len(e.reqs); i++ {
		e.queue = append(e.queue, i)
	}
	for _, r := range e.queue[e.qhead:] {
		e.report.observeWait(now - e.reqs[r].Arrival)
		e.report.Unserved++
	}
}

func (e *engine) served() int { return e.report.served }

func (e *engine) arrive(now time.Duration) {
	e.queue = append(e.queue, e.next)
	e.next++
	e.dispatch(now)
}

func (e *engine) handle(ev event) {
	switch ev.kind {
	case evComplete:
		e.complete(ev)
	case evReady:
		e.dispatch(ev.at)
	case evRefill:
		e.refilling--
		e.warm++
	case evSecond:
		e.second(ev.at)
		e.schedule(event{at: ev.at + time.Second, kind: evSecond})
	case evControl:
		e.control(ev.at)
		e.schedule(event{at: ev.at + e.ctl.Interval(), kind: evControl})
	}
}

// dispatch gives queued requests to instances while any has a free slot.
func (e *engine) dispatch(now time.Duration) {
	for e.qhead < len(e.queue) {
		in := e.pick(now)
		if in == nil {
			break
		}
		r := e.queue[e.qhead]
		e.qhead++
		e.start[r] = now
		in.active++
		e.schedule(event{at: now + e.reqs[r].Service, kind: evComplete, inst: in, req: r})
	}
	if e.qhead > 4096 && e.qhead*2 > len(e.queue) {
		e.queue = slices.Clone(e.queue[e.qhead:])
		e.qhead = 0
	}
}

// pick is least-request balancing over ready, non-draining instances with
// a free slot; ties go to the older instance.
func (e *engine) pick(now time.Duration) *instance {
	var best *instance
	for _, in := range e.live {
		if in.draining || !in.ready(now) || in.active >= e.m.capacity(now-in.readyAt) {
			continue
		}
		if best == nil || in.active < best.active {
			best = in
		}
	}
	return best
}

func (e *engine) complete(ev event) {
	in := ev.inst
	in.active--
	wait := e.start[ev.req] - e.reqs[ev.req].Arrival
	e.report.observeWait(wait)
	e.interval.latencies = append(e.interval.latencies, wait+e.reqs[ev.req].Service)
	if in.draining && in.active == 0 {
		e.remove(in, ev.at)
	}
	e.dispatch(ev.at)
}

func (e *engine) queued() int { return len(e.queue) - e.qhead }

// second samples the pool once a second: the HPA's utilization history,
// the timeline, the warm pool's cost, and slow-start capacity that grew.
func (e *engine) second(now time.Duration) {
	s := e.sample(now)
	e.samples = append(e.samples, s)
	e.warmTime += time.Duration(e.warm) * time.Second
	if now%(5*time.Second) == 0 {
		e.report.Timeline = append(e.report.Timeline, Point{
			At: now, Ready: s.Ready, Starting: s.Starting, Draining: s.Draining,
			Queue: s.Queue, Active: s.Active, P95: e.report.lastP95,
		})
	}
	e.dispatch(now)
}

// Sample is the pool at one second, as a controller may observe it.
type Sample struct {
	At       time.Duration
	Ready    int // ready and not draining, slow start included
	Starting int // created, not yet ready
	Draining int
	Queue    int
	Active   int // requests in flight, draining instances included
	// BusyReady is the requests in flight on ready instances and
	// ReadySlots their full slots: the utilization an HPA would see.
	BusyReady  int
	ReadySlots int
	// Full is the ready instances past slow start.
	Full int
}

func (e *engine) sample(now time.Duration) Sample {
	s := Sample{At: now, Queue: e.queued()}
	for _, in := range e.live {
		s.Active += in.active
		switch {
		case in.draining:
			s.Draining++
		case !in.ready(now):
			s.Starting++
		default:
			s.Ready++
			s.BusyReady += in.active
			s.ReadySlots += e.m.Slots
			if e.m.capacity(now-in.readyAt) == e.m.Slots {
				s.Full++
			}
		}
	}
	return s
}

// finish settles the costs. Instance time counts until the trace ends or
// the last request is served, whichever is later, so that a controller
// still working off a backlog pays for it.
func (e *engine) finish(now time.Duration) {
	last := max(e.end, now)
	for _, in := range e.all {
		stop := in.removed
		if stop < 0 || stop > last {
			stop = last
		}
		if stop > in.created {
			e.report.replicaTime += stop - in.created
		}
	}
	e.report.warmTime = e.warmTime
	e.report.finish()
}
