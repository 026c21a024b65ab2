package server

import (
	"context"
	"errors"
	"testing"
)

// newSlots returns slots that tell nobody of changes.
func newSlots(size, queueCap int) *slots {
	return &slots{size: size, queueCap: queueCap, changed: func() {}}
}

// acquireAsync starts acquire in a goroutine; its error arrives on the
// returned channel.
func acquireAsync(ctx context.Context, s *slots) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.acquire(ctx) }()
	return done
}

func waitSlots(t *testing.T, s *slots, wantWaiting, wantRunning int) {
	t.Helper()
	waitFor(t, func() bool {
		w, r := s.counts()
		return w == wantWaiting && r == wantRunning
	}, "waiting and running to be", wantWaiting, wantRunning)
}

// TestSlotsServeInArrivalOrder checks that a freed slot goes to the
// longest waiter, and that the queue refuses arrivals beyond its cap.
func TestSlotsServeInArrivalOrder(t *testing.T) {
	ctx := context.Background()
	s := newSlots(1, 2)
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	first := acquireAsync(ctx, s)
	waitSlots(t, s, 1, 1)
	second := acquireAsync(ctx, s)
	waitSlots(t, s, 2, 1)
	if err := s.acquire(ctx); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("acquire beyond the cap = %v, want ErrQueueFull", err)
	}

	s.release()
	if err := recv(t, first, "the first waiter"); err != nil {
		t.Fatalf("first waiter: %v", err)
	}
	select {
	case err := <-second:
		t.Fatalf("second waiter got a slot (%v) while the first holds the only one", err)
	default:
	}
	waitSlots(t, s, 1, 1)

	s.release()
	if err := recv(t, second, "the second waiter"); err != nil {
		t.Fatalf("second waiter: %v", err)
	}
	s.release()
	waitSlots(t, s, 0, 0)
}

// TestSlotsWaiterGivesUp checks that a waiter whose context ends leaves
// the queue and holds no slot.
func TestSlotsWaiterGivesUp(t *testing.T) {
	s := newSlots(1, 4)
	if err := s.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := acquireAsync(ctx, s)
	waitSlots(t, s, 1, 1)

	cancel()
	if err := recv(t, gaveUp, "the waiter that gave up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire after cancel = %v, want context.Canceled", err)
	}
	waitSlots(t, s, 0, 1)
	s.release()
	waitSlots(t, s, 0, 0)
}

// TestInflightDrain checks that a drain waits for admitted requests and
// admits no more.
func TestInflightDrain(t *testing.T) {
	f := newInflight()
	if err := f.enter(); err != nil {
		t.Fatal(err)
	}
	idle, started := f.drain()
	if !started {
		t.Fatal("first drain did not report starting")
	}
	if err := f.enter(); !errors.Is(err, ErrDraining) {
		t.Fatalf("enter while draining = %v, want ErrDraining", err)
	}
	select {
	case <-idle:
		t.Fatal("idle while a request is still in flight")
	default:
	}
	f.leave()
	select {
	case <-idle:
	default:
		t.Fatal("not idle after the last request left")
	}
	if _, again := f.drain(); again {
		t.Fatal("second drain reported starting")
	}
}
