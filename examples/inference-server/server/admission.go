package server

import (
	"context"
	"errors"
	"sync"
)

// Errors that refuse a request before it is served. Each maps to HTTP 503
// and gRPC Unavailable, so that a balancer retries elsewhere.
var (
	ErrWarmingUp = errors.New("model is still loading")
	ErrDraining  = errors.New("instance is draining")
	ErrQueueFull = errors.New("queue is full")
)

// slots admits at most size requests at once and queues the rest in
// arrival order, up to queueCap of them. A slot that is freed passes
// straight to the head of the queue, so a newcomer never overtakes a
// request that waits.
type slots struct {
	size     int
	queueCap int
	changed  func() // called, without the lock, when the queue length changes

	mu      sync.Mutex
	running int
	queue   []chan struct{} // closed when its request gets a slot
}

// acquire waits for a slot. On success the caller must call release once.
// It fails with ErrQueueFull when the queue is at its cap, or with the
// context's error when the caller gives up while waiting.
func (s *slots) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.running < s.size && len(s.queue) == 0 {
		s.running++
		s.mu.Unlock()
		return nil
	}
	if len(s.queue) >= s.queueCap {
		s.mu.Unlock()
		return ErrQueueFull
	}
	granted := make(chan struct{})
	s.queue = append(s.queue, granted)
	s.mu.Unlock()
	s.changed()

	select {
	case <-granted:
		s.changed()
		return nil
	case <-ctx.Done():
		s.abandon(granted)
		return ctx.Err()
	}
}

// abandon takes a waiter that gave up out of the queue. If a slot was
// handed to it in the meantime, the slot is passed on.
func (s *slots) abandon(granted chan struct{}) {
	s.mu.Lock()
	for i, ch := range s.queue {
		if ch == granted {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			s.mu.Unlock()
			s.changed()
			return
		}
	}
	s.mu.Unlock()
	s.release()
}

// release frees a slot, handing it to the longest waiter if there is one.
func (s *slots) release() {
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.running--
		s.mu.Unlock()
		s.changed()
		return
	}
	next := s.queue[0]
	s.queue = s.queue[1:]
	close(next)
	s.mu.Unlock()
}

// counts returns how many requests wait and how many are served.
func (s *slots) counts() (waiting, running int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue), s.running
}

// inflight counts the requests between admission and their last byte, so
// that a drain knows when the last one is done. Once draining, it admits
// no more.
type inflight struct {
	mu       sync.Mutex
	active   int
	draining bool
	idle     chan struct{} // closed once draining and nothing is active
}

func newInflight() *inflight { return &inflight{idle: make(chan struct{})} }

// enter admits a request, or reports ErrDraining.
func (f *inflight) enter() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return ErrDraining
	}
	f.active++
	return nil
}

// leave ends a request admitted by enter.
func (f *inflight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active--
	if f.draining && f.active == 0 {
		close(f.idle)
	}
}

// drain stops admitting requests and returns a channel that is closed once
// the admitted ones are done. It reports whether this call started the
// drain.
func (f *inflight) drain() (idle <-chan struct{}, started bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.draining {
		f.draining = true
		started = true
		if f.active == 0 {
			close(f.idle)
		}
	}
	return f.idle, started
}

func (f *inflight) isDraining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining
}
