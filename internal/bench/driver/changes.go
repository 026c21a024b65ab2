package driver

import (
	"fmt"
	"time"
)

// changesPhase applies changes one at a time, each once every stream has
// ACKed the one before.
func (r *runner) changesPhase() error {
	if r.cfg.Changes == 0 {
		return nil
	}
	if err := r.profile("changes"); err != nil {
		return err
	}
	srv0, cl0, err := r.cpu()
	if err != nil {
		return err
	}
	var latency, first, apply []time.Duration
	for range r.cfg.Changes {
		seq, a, err := r.change()
		if err != nil {
			return err
		}
		ev, err := r.cl.acked(seq, r.cfg.ChangeTimeout)
		if err != nil {
			return err
		}
		latency = append(latency, time.Duration(ev.UnixNano-a.StartNano))
		first = append(first, time.Duration(ev.FirstNano-a.StartNano))
		apply = append(apply, time.Duration(a.EndNano-a.StartNano))
	}
	srv1, cl1, err := r.cpu()
	if err != nil {
		return err
	}
	n := time.Duration(r.cfg.Changes)
	c := &ChangesResult{
		Latency: summarize(latency), FirstAck: summarize(first), Apply: summarize(apply),
		ServerCPU: (srv1 - srv0) / n, ClientCPU: (cl1 - cl0) / n,
	}
	r.res.Changes = c
	r.progress("%d changes: last ACK p50 %v p99 %v, server CPU %v per change",
		r.cfg.Changes, c.Latency.P50.Round(time.Millisecond),
		c.Latency.P99.Round(time.Millisecond), c.ServerCPU.Round(time.Millisecond))
	return nil
}

// cpu reads the CPU time of the server and of the clients.
func (r *runner) cpu() (srv, cl time.Duration, err error) {
	u, err := r.srv.usage(false)
	if err != nil {
		return 0, 0, err
	}
	cl, err = r.cl.usage()
	if err != nil {
		return 0, 0, fmt.Errorf("reading clients' CPU time: %w", err)
	}
	return u.CPU, cl, nil
}
