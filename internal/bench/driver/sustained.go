package driver

import (
	"errors"
	"math"
	"time"
)

// sustainedStartDelay lets the driver get ahead of the first scheduled
// change, and lookahead is how far ahead of the schedule the clients are
// asked to watch changes.
const (
	sustainedStartDelay = 100 * time.Millisecond
	lookahead           = 50 * time.Millisecond
)

// issued is one change of the sustained phase.
type issued struct {
	seq   int64
	sched int64 // when it was due, wall-clock nanoseconds
}

// sustainedPhase queues changes at a steady rate for the duration, waits
// for the ACKs still due, and judges whether the backlog grew. The server
// publishes queued changes as fast as it can, all those waiting at once,
// as a serving pipeline coalesces changes that arrive while it is busy.
func (r *runner) sustainedPhase() error {
	if r.cfg.Duration == 0 {
		return nil
	}
	if err := r.profile("sustained"); err != nil {
		return err
	}
	before, err := r.work()
	if err != nil {
		return err
	}
	start := time.Now().Add(sustainedStartDelay)
	changes, err := r.issue(start)
	if err != nil {
		return err
	}
	issuing, err := r.work()
	if err != nil {
		return err
	}
	if err := r.drain(changes); err != nil {
		return err
	}
	after, err := r.work()
	if err != nil {
		return err
	}

	s := r.judge(start, changes)
	s.ServerCores = (issuing.server - before.server).Seconds() / r.cfg.Duration.Seconds()
	s.ClientCores = (issuing.clients - before.clients).Seconds() / r.cfg.Duration.Seconds()
	s.Publishes = int(after.publishes - before.publishes)
	r.res.Sustained = s
	r.progress("sustained %g/s: %d of %d issued, %d ACKed in %d publishes, p99 %v, lag %v → %v",
		s.Rate, s.Issued, s.Scheduled, s.Acked, s.Publishes, showLatency(s.Latency.P99),
		showLatency(s.FirstLag), showLatency(s.LastLag))
	return nil
}

// work is what the server and clients have done so far.
type work struct {
	server, clients time.Duration // CPU time
	publishes       int64
}

func (r *runner) work() (work, error) {
	srv, cl, err := r.cpu()
	if err != nil {
		return work{}, err
	}
	p, err := r.srv.publishes()
	return work{server: srv, clients: cl, publishes: p.Publishes}, err
}

// issue queues changes on schedule from start until the duration ends:
// every change due goes at once, in one request with any others due, so
// a round trip to the clients or the server never delays the ones behind
// it by more than itself. The clients watch lookahead ahead of the
// schedule, for the same reason. Nothing goes after the end.
func (r *runner) issue(start time.Time) ([]issued, error) {
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	end := start.Add(r.cfg.Duration)
	total := int64(r.cfg.Duration / interval)
	ahead := max(1, int64(r.cfg.Rate*lookahead.Seconds()))
	var out []issued
	for sent := int64(0); sent < total; {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		due := min(total, int64(now.Sub(start)/interval)+1)
		if due <= sent {
			time.Sleep(start.Add(time.Duration(sent) * interval).Sub(now))
			continue
		}
		first, count := r.seq+1, due-sent
		if err := r.watchThrough(first+count-1, first+count-1+ahead); err != nil {
			return out, err
		}
		if err := r.srv.enqueue(first, count); err != nil {
			return out, err
		}
		for i := range count {
			sched := start.Add(time.Duration(sent+i) * interval)
			out = append(out, issued{seq: first + i, sched: sched.UnixNano()})
		}
		r.seq, sent = first+count-1, due
	}
	return out, nil
}

// drain waits for the ACKs still due, up to the drain timeout; changes it
// does not see ACKed count as missing rather than failing the run.
func (r *runner) drain(changes []issued) error {
	seqs := make([]int64, len(changes))
	for i, c := range changes {
		seqs[i] = c.seq
	}
	err := r.cl.ackedAll(seqs, r.cfg.DrainTimeout)
	if errors.Is(err, errTimeout) {
		return nil
	}
	return err
}

// judge measures the latencies of the sustained changes and whether the
// backlog grew.
func (r *runner) judge(start time.Time, changes []issued) *SustainedResult {
	s := &SustainedResult{
		Rate: r.cfg.Rate, Duration: r.cfg.Duration, Issued: len(changes),
		Scheduled: int(math.Round(r.cfg.Rate * r.cfg.Duration.Seconds())),
		Window:    min(10*time.Second, r.cfg.Duration/3),
	}
	firstEnd := start.Add(s.Window).UnixNano()
	lastStart := start.Add(r.cfg.Duration - s.Window).UnixNano()
	var all, first, last []time.Duration
	for _, c := range changes {
		lat := Missing
		if ev, ok := r.cl.ack(c.seq); ok {
			lat = time.Duration(ev.UnixNano - c.sched)
			s.Acked++
		}
		all = append(all, lat)
		if c.sched < firstEnd {
			first = append(first, lat)
		}
		if c.sched >= lastStart {
			last = append(last, lat)
		}
	}
	s.Latency = summarize(all)
	s.FirstLag, s.LastLag = summarize(first).P50, summarize(last).P50
	s.FirstN, s.LastN = len(first), len(last)
	s.Growing = s.Issued*100 < s.Scheduled*95 || s.Acked < s.Issued || len(last) == 0 ||
		lagGrew(s.FirstLag, s.LastLag)
	return s
}

// lagGrew reports whether the lag at the end is more than twice that at
// the start plus 100 ms, which noise on a busy machine does not reach.
func lagGrew(first, last time.Duration) bool {
	if first == Missing || last == Missing {
		return true
	}
	return last > 2*first+100*time.Millisecond
}
