package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/spillway/spillway/internal/bench/loadclient"
)

// commandTimeout bounds the answer to a command other than waiting for
// sync or ACKs.
const commandTimeout = 30 * time.Second

// clientsProc is a running clients role: commands go to its stdin, and
// its events are gathered from its stdout as they come.
type clientsProc struct {
	*child
	enc *json.Encoder

	mu      sync.Mutex
	changed chan struct{}                 // closed and replaced on each event
	queue   map[string][]loadclient.Event // unread events by kind, but ACKs
	acks    map[int64]loadclient.Event    // by change
	watched int64                         // highest change the clients watch
	failed  error                         // a stream failed or the process ended
}

// startClients starts n streams of mode against addr, all at once.
func startClients(ctx context.Context, cfg *Config, addr, mode string) (*clientsProc, error) {
	args := []string{"--addr", addr, "--n", strconv.Itoa(cfg.Streams), "--mode", mode,
		"--per-conn", strconv.Itoa(cfg.StreamsPerConn)}
	c, err := startChild("clients", cfg.Launch(ctx, RoleClients, args...), cfg.Stderr)
	if err != nil {
		return nil, err
	}
	p := &clientsProc{child: c, enc: json.NewEncoder(c.stdin), changed: make(chan struct{}),
		queue: map[string][]loadclient.Event{}, acks: map[int64]loadclient.Event{}}
	go p.read()
	return p, nil
}

// read gathers events until the process's stdout ends.
func (p *clientsProc) read() {
	dec := json.NewDecoder(p.stdout)
	for {
		var ev loadclient.Event
		err := dec.Decode(&ev)
		p.mu.Lock()
		switch {
		case err != nil:
			if p.failed == nil {
				p.failed = fmt.Errorf("clients stopped reporting: %w", err)
			}
		case ev.Event == loadclient.EventAcked:
			p.acks[ev.Seq] = ev
		case ev.Event == loadclient.EventWatching:
			p.watched = max(p.watched, ev.Seq)
		case ev.Event == loadclient.EventError:
			p.failed = fmt.Errorf("clients: %s", ev.Err)
		default:
			p.queue[ev.Event] = append(p.queue[ev.Event], ev)
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// errTimeout marks a wait that ran out of time.
var errTimeout = errors.New("timed out")

// wait returns once cond, called with p.mu held, is true; or with an error
// when the clients failed or timeout passed.
func (p *clientsProc) wait(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok, failed, changed := cond(), p.failed, p.changed
		p.mu.Unlock()
		switch {
		case ok:
			return nil
		case failed != nil:
			return fmt.Errorf("waiting for %s: %w", what, failed)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("waiting for %s: %w after %v", what, errTimeout, timeout)
		}
	}
}

// next returns the next unread event of kind.
func (p *clientsProc) next(kind string, timeout time.Duration) (loadclient.Event, error) {
	var ev loadclient.Event
	err := p.wait(timeout, kind+" event", func() bool {
		q := p.queue[kind]
		if len(q) == 0 {
			return false
		}
		ev, p.queue[kind] = q[0], q[1:]
		return true
	})
	return ev, err
}

func (p *clientsProc) send(cmd loadclient.Command) error {
	if err := p.enc.Encode(cmd); err != nil {
		return fmt.Errorf("sending %s to clients: %w", cmd.Cmd, err)
	}
	return nil
}

// watch asks the clients to report change seq of cluster, without waiting
// for them to start looking.
func (p *clientsProc) watch(seq int64, cluster string) error {
	return p.send(loadclient.Command{Cmd: loadclient.CmdWatch, Seq: seq, Cluster: cluster})
}

// watching waits until the clients look for every change up to seq; they
// answer watches in the order they were sent.
func (p *clientsProc) watching(seq int64) error {
	return p.wait(commandTimeout, fmt.Sprintf("watch of change %d", seq), func() bool {
		return p.watched >= seq
	})
}

// acked waits until every stream has ACKed change seq.
func (p *clientsProc) acked(seq int64, timeout time.Duration) (loadclient.Event, error) {
	var ev loadclient.Event
	err := p.wait(timeout, fmt.Sprintf("ACKs of change %d", seq), func() bool {
		var ok bool
		ev, ok = p.acks[seq]
		return ok
	})
	return ev, err
}

// ackedAll waits until every stream has ACKed every change in seqs.
func (p *clientsProc) ackedAll(seqs []int64, timeout time.Duration) error {
	i := 0 // seqs[:i] are known to be ACKed
	return p.wait(timeout, fmt.Sprintf("ACKs of %d changes", len(seqs)), func() bool {
		for ; i < len(seqs); i++ {
			if _, ok := p.acks[seqs[i]]; !ok {
				return false
			}
		}
		return true
	})
}

// ack returns the ACK event of change seq, if every stream ACKed it.
func (p *clientsProc) ack(seq int64) (loadclient.Event, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev, ok := p.acks[seq]
	return ev, ok
}

// usage reads the clients' CPU time.
func (p *clientsProc) usage() (time.Duration, error) {
	if err := p.send(loadclient.Command{Cmd: loadclient.CmdUsage}); err != nil {
		return 0, err
	}
	ev, err := p.next(loadclient.EventUsage, commandTimeout)
	if err == nil && ev.Err != "" {
		err = errors.New(ev.Err)
	}
	return time.Duration(ev.CPUNanos), err
}

// status reads how many streams are open and synced.
func (p *clientsProc) status() (loadclient.Event, error) {
	if err := p.send(loadclient.Command{Cmd: loadclient.CmdStatus}); err != nil {
		return loadclient.Event{}, err
	}
	return p.next(loadclient.EventStatus, commandTimeout)
}
