package scaler

import (
	"time"

	"github.com/spillway/spillway/discovery"
)

// tracker turns the registry's members into a State. Consul knows each
// instance's health now but not since when, so the tracker remembers when
// it first saw each member and since when the member has been passing.
//
// The rules, in order:
//   - a member in maintenance, node or service, counts for nothing: it is
//     leaving, whether drained by spillway or by an operator;
//   - a passing or warning member is ready, unless it started passing
//     less than the pool's slow-start window ago: then it is starting, as
//     Envoy does not yet give it a full share. Members found passing on the
//     tracker's first round count as ready, since a fresh scaler cannot
//     know when they started;
//   - a critical member is starting while it has never been seen passing
//     and was first seen less than start_timeout ago; after that, or once
//     it has passed and failed, it is broken: it counts in Current but is
//     no capacity;
//   - replicas the actuator accepted that are not registered yet are
//     starting and count in Current, until start_timeout after the
//     request, so that they are not asked for twice.
type tracker struct {
	seen   map[string]*sighting
	primed bool
}

// sighting is what the tracker knows of one member.
type sighting struct {
	first        time.Time
	passingSince time.Time // zero while not passing
	passed       bool
	// veteran marks a member passing when the tracker first looked: it is
	// past slow start as far as anyone can tell.
	veteran bool
}

// expectation is the replica count the actuator last accepted, at when it
// was asked for; zero at when there is none.
type expectation struct {
	desired int
	at      time.Time
}

func newTracker() *tracker {
	return &tracker{seen: make(map[string]*sighting)}
}

// observe records this round's members and forgets those that are gone.
func (t *tracker) observe(members []Member, now time.Time) {
	present := make(map[string]bool, len(members))
	for _, m := range members {
		present[m.ID] = true
		s := t.seen[m.ID]
		if s == nil {
			s = &sighting{first: now}
			t.seen[m.ID] = s
		}
		switch {
		case !serving(m.Health):
			s.passingSince, s.veteran = time.Time{}, false
		case s.passingSince.IsZero():
			s.passingSince, s.passed, s.veteran = now, true, !t.primed
		}
	}
	for id := range t.seen {
		if !present[id] {
			delete(t.seen, id)
		}
	}
	t.primed = true
}

// state counts the pool by the rules above. Call observe first.
func (t *tracker) state(members []Member, exp expectation, slowStart, startTimeout time.Duration,
	now time.Time) State {
	var st State
	for _, m := range members {
		s := t.seen[m.ID]
		if m.Health == discovery.HealthMaintenance || s == nil {
			continue
		}
		st.Current++
		switch {
		case serving(m.Health) && (s.veteran || now.Sub(s.passingSince) >= slowStart):
			st.Ready++
		case serving(m.Health):
			st.Starting++
		case !s.passed && now.Sub(s.first) < startTimeout:
			st.Starting++
		}
	}
	if pending := exp.desired - st.Current; pending > 0 && now.Sub(exp.at) < startTimeout {
		st.Current += pending
		st.Starting += pending
	}
	return st
}

func serving(h discovery.Health) bool {
	return h == discovery.HealthPassing || h == discovery.HealthWarning
}
