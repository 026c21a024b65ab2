package scaler

import (
	"fmt"
	"time"
)

// view is what the last round of one pool saw and decided, kept for
// readers outside the loop's goroutine, such as the KEDA server.
type view struct {
	sig  Signal
	d    Decision
	seen bool // false until the pool's first round
}

// Latest returns the signal and decision of the pool's last round; ok is
// false when the loop does not scale the pool. It is safe to call from
// any goroutine.
//
// The signal is marked stale before the pool's first round, and once its
// stats are older than the scraper's stale_after: a loop that stopped
// running rounds, or is stuck in one, must not pass old numbers off as
// current. The decision is the one the rules made, Desired included, even
// where an action in progress keeps the loop from carrying it out.
func (l *Loop) Latest(pool string) (sig Signal, d Decision, ok bool) {
	l.mu.Lock()
	v, ok := l.views[pool]
	l.mu.Unlock()
	if !ok {
		return Signal{}, Decision{}, false
	}
	if !v.seen {
		v.sig.markStale("no round has run yet")
		return v.sig, v.d, true
	}
	if age := l.cfg.Now().Sub(v.sig.At); !v.sig.Stale && age > l.cfg.Scraper.cfg.StaleAfter {
		v.sig.markStale(fmt.Sprintf("the last round's stats are %s old", age.Round(time.Second)))
	}
	return v.sig, v.d, true
}

// keep stores a pool's round for Latest.
func (l *Loop) keep(p *pool, sig Signal, d Decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.views[p.spec.Name] = view{sig: sig, d: d, seen: true}
}
