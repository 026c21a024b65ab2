package app

import "time"

// batcher coalesces bursts of changes: it fires once the changes have been
// quiet for the quiet period, or when the oldest pending change has waited
// maxDelay, whichever comes first. It is driven from one goroutine.
type batcher struct {
	quiet, maxDelay time.Duration
	first, last     time.Time
	pending         bool
	timer           *time.Timer
}

func newBatcher(quiet, maxDelay time.Duration) *batcher {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &batcher{quiet: quiet, maxDelay: maxDelay, timer: t}
}

// add records a change at now and re-arms the timer.
func (b *batcher) add(now time.Time) {
	if !b.pending {
		b.first = now
		b.pending = true
	}
	b.last = now
	b.timer.Reset(b.due().Sub(now))
}

// due is when the pending changes must be flushed.
func (b *batcher) due() time.Time {
	quietEnd := b.last.Add(b.quiet)
	deadline := b.first.Add(b.maxDelay)
	if deadline.Before(quietEnd) {
		return deadline
	}
	return quietEnd
}

// C fires when a flush is due.
func (b *batcher) C() <-chan time.Time { return b.timer.C }

// done clears the pending state after a flush.
func (b *batcher) done() {
	b.pending = false
	b.timer.Stop()
}

// stop releases the timer.
func (b *batcher) stop() { b.timer.Stop() }
