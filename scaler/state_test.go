package scaler

import (
	"testing"
	"time"

	"github.com/spillway/spillway/discovery"
)

func mem(id string, h discovery.Health) Member {
	return Member{ID: "n/" + id, ServiceID: id, Address: id + ":80", Health: h}
}

// TestTrackerState walks a pool through rounds and checks how its members
// count: ready, starting (slow start, not yet passing, asked for), broken
// and leaving.
func TestTrackerState(t *testing.T) {
	const (
		slow    = 30 * time.Second
		timeout = 5 * time.Minute
	)
	pass, crit := discovery.HealthPassing, discovery.HealthCritical
	warn, maint := discovery.HealthWarning, discovery.HealthMaintenance
	rounds := []struct {
		name    string
		at      time.Duration
		members []Member
		desired int           // the accepted count, when asked at askedAt
		askedAt time.Duration // since t0
		want    State
	}{
		{"first round: passing members are ready, a critical one is starting",
			0, []Member{mem("a", pass), mem("b", warn), mem("c", crit)},
			0, 0, State{Current: 3, Ready: 2, Starting: 1}},
		{"a new passing member is in slow start; maintenance counts for nothing",
			10 * time.Second, []Member{mem("a", pass), mem("b", maint), mem("c", crit), mem("d", pass)},
			0, 0, State{Current: 3, Ready: 1, Starting: 2}},
		{"d past slow start; b back from maintenance and c passing at last in slow start",
			40 * time.Second, []Member{mem("a", pass), mem("b", pass), mem("c", pass), mem("d", pass)},
			0, 0, State{Current: 4, Ready: 2, Starting: 2}},
		{"c fails after passing: broken, counted but no capacity",
			80 * time.Second, []Member{mem("a", pass), mem("b", pass), mem("c", crit), mem("d", pass)},
			0, 0, State{Current: 4, Ready: 3, Starting: 0}},
		{"six asked for, one registered critical: two pending count as starting",
			90 * time.Second, []Member{mem("a", pass), mem("b", pass), mem("c", crit), mem("d", pass),
				mem("e", crit)},
			7, 85 * time.Second,
			State{Current: 7, Ready: 3, Starting: 3}},
		{"start timeout passed: e and the pending ones no longer count as starting",
			90*time.Second + timeout, []Member{mem("a", pass), mem("b", pass), mem("c", crit),
				mem("d", pass), mem("e", crit)},
			7, 85 * time.Second,
			State{Current: 5, Ready: 3, Starting: 0}},
	}
	tr := newTracker()
	for _, r := range rounds {
		now := t0.Add(r.at)
		tr.observe(r.members, now)
		exp := expectation{}
		if r.desired > 0 {
			exp = expectation{desired: r.desired, at: t0.Add(r.askedAt)}
		}
		got := tr.state(r.members, exp, slow, timeout, now)
		if got != r.want {
			t.Errorf("%s: state = %+v, want %+v", r.name, got, r.want)
		}
	}
	if _, ok := tr.seen["n/zzz"]; ok || len(tr.seen) != 5 {
		t.Errorf("tracker holds %d members, want the 5 present", len(tr.seen))
	}
	tr.observe([]Member{mem("a", pass)}, t0.Add(time.Hour))
	if len(tr.seen) != 1 {
		t.Errorf("tracker holds %d members after four left, want 1", len(tr.seen))
	}
}

// TestBackoffDelay checks the doubling waits and their cap.
func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, Attempts: 9}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second,
		5 * time.Second}
	for i, w := range want {
		if got := b.delay(i + 1); got != w {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if d := (Backoff{}).withDefaults(); d != DefaultBackoff {
		t.Errorf("zero backoff with defaults = %+v, want %+v", d, DefaultBackoff)
	}
}
