package loadserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/internal/bench/fleet"
)

// state is the fleet being served and the backend serving it. Changes
// reach it one at a time (change) or queued (enqueue): queued changes are
// published by one goroutine, all those waiting in one publish, as a
// serving pipeline coalesces changes that arrive while it is busy.
type state struct {
	spec    fleet.Spec
	backend backend
	log     *slog.Logger

	mu    sync.Mutex // serialises publishes
	res   *fleet.Resources
	index map[string]int // load assignment by cluster name
	stats Publishes

	qmu     sync.Mutex
	pending []int64
	wake    chan struct{}
}

// Publishes counts what the server has published.
type Publishes struct {
	// Publishes is how many times the backend published, and Changes
	// how many changes those carried.
	Publishes int64 `json:"publishes"`
	Changes   int64 `json:"changes"`
	// Err is the first error of a queued change, which has no one to
	// answer.
	Err string `json:"err,omitempty"`
}

func newState(opts Options) (*state, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := newBackend(opts.Impl, log)
	if err != nil {
		return nil, err
	}
	res, err := fleet.Build(opts.Fleet)
	if err != nil {
		return nil, err
	}
	if err := b.setAll(res); err != nil {
		return nil, fmt.Errorf("publishing fleet: %w", err)
	}
	index := make(map[string]int, len(res.Endpoints))
	for i, e := range res.Endpoints {
		index[e.GetClusterName()] = i
	}
	return &state{spec: opts.Fleet, backend: b, log: log, res: res, index: index,
		wake: make(chan struct{}, 1)}, nil
}

// Applied reports one change the server has taken.
type Applied struct {
	Seq     int64  `json:"seq"`
	Cluster string `json:"cluster"`
	// StartNano is when the server began to apply the change (for a
	// queued change, when it queued it) and EndNano when the backend
	// returned (when it was queued), both wall-clock nanoseconds.
	StartNano int64 `json:"start_ns"`
	EndNano   int64 `json:"end_ns"`
}

// change applies and publishes change seq before it returns.
func (s *state) change(seq int64) (Applied, error) {
	cluster, err := s.cluster(seq)
	if err != nil {
		return Applied{}, err
	}
	start := time.Now()
	if err := s.publish([]int64{seq}); err != nil {
		return Applied{}, err
	}
	return Applied{Seq: seq, Cluster: cluster, StartNano: start.UnixNano(),
		EndNano: time.Now().UnixNano()}, nil
}

// enqueue queues changes seq to seq+count-1 for the publishing goroutine,
// and reports the first.
func (s *state) enqueue(seq, count int64) (Applied, error) {
	cluster, err := s.cluster(seq)
	if err != nil {
		return Applied{}, err
	}
	if _, err := s.cluster(seq + count - 1); err != nil {
		return Applied{}, err
	}
	now := time.Now().UnixNano()
	s.qmu.Lock()
	for i := range count {
		s.pending = append(s.pending, seq+i)
	}
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return Applied{Seq: seq, Cluster: cluster, StartNano: now, EndNano: now}, nil
}

// cluster is the cluster change seq touches, checked to exist.
func (s *state) cluster(seq int64) (string, error) {
	name := s.spec.ChangeOf(seq).Cluster()
	if _, ok := s.index[name]; !ok {
		return "", fmt.Errorf("change %d: no cluster %q", seq, name)
	}
	if _, err := fleet.MarkerAddress(seq); err != nil {
		return "", err
	}
	return name, nil
}

// publishQueued publishes queued changes until ctx ends, all those waiting
// at once.
func (s *state) publishQueued(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.qmu.Lock()
		seqs := s.pending
		s.pending = nil
		s.qmu.Unlock()
		if len(seqs) == 0 {
			continue
		}
		if err := s.publish(seqs); err != nil {
			s.log.Error("publishing queued changes", "err", err)
			s.mu.Lock()
			if s.stats.Err == "" {
				s.stats.Err = err.Error()
			}
			s.mu.Unlock()
		}
	}
}

// publish applies changes in order, a later change of a cluster on top of
// an earlier one, and publishes them at once.
func (s *state) publish(seqs []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := make(map[int]proto.Message, len(seqs))
	for _, seq := range seqs {
		ch := s.spec.ChangeOf(seq)
		i := s.index[ch.Cluster()]
		cla, err := fleet.Apply(s.res.Endpoints[i], ch)
		if err != nil {
			return err
		}
		s.res.Endpoints[i], changed[i] = cla, cla
	}
	if err := s.backend.setEndpoints(changed); err != nil {
		return fmt.Errorf("publishing changes %v: %w", seqs, err)
	}
	s.stats.Publishes++
	s.stats.Changes += int64(len(seqs))
	return nil
}

// publishes reports what has been published.
func (s *state) publishes() Publishes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
