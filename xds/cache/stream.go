package cache

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
)

// A Stream is what the cache keeps of one xDS stream: per type, what the
// client subscribes to, which version of each resource it holds, and the
// response that waits for its ACK. The server feeds it the client's
// requests and, whenever Wake fires, asks it for what the latest state
// calls for; it returns the responses to send.
//
// A Stream belongs to its stream's goroutine: only Wake may be used from
// elsewhere. It holds at most one unacknowledged response per type.
// Changes that arrive meanwhile wait for the ACK and then go out together,
// so a slow client gets fewer, larger responses instead of a queue, and
// the server never builds a response the client has no room to read.
//
// What a client holds is kept per stream and updated in place, the names
// shared with the state's resources. A state-of-the-world ACK that repeats
// the same names changes nothing and costs a comparison of their sums.
type Stream struct {
	c       *Cache
	delta   bool
	typeURL string // the one type of a per-type service; "" for ADS
	wake    chan struct{}

	node *corev3.Node
	// grant is what the node may receive under access, the rules it was
	// computed under; granted is false until it is computed for the node.
	access  *accessPolicy
	grant   *grant
	granted bool

	subs   map[string]*subscription
	nonces uint64
	// unsupported lists the unsupported types already logged.
	unsupported map[string]bool
}

// subscription is one type of a stream.
type subscription struct {
	typeURL string
	// legacy is the wildcard the xDS protocol gives a first request that
	// names nothing; it ends with the first request that names something.
	legacy   bool
	wildcard bool
	names    nameSet
	// listLen and listSum are the length and NameSum of the last SotW
	// list of names, once listed.
	listed  bool
	listLen int
	listSum uint64
	// held maps each resource the client holds to its version, as this
	// cache sent it, accepted or not: a NACK leaves nothing to re-send.
	// SotW full-state types keep heldView instead.
	held heldSet
	// heldView is the version of the list a SotW client of a full-state
	// type holds: the whole response, since a missing resource is deleted.
	heldView string
	// unsent marks a subscription that must be answered even when there is
	// nothing in it, so that its client learns the (empty) state.
	unsent bool

	// seq is the state the client's resources were last compared with.
	seq uint64
	// recheck lists names to look at besides the state's changes since
	// seq, and recheckAll asks for every name.
	recheck    []string
	recheckAll bool

	// nonce, version and sentAt are those of the response waiting for its
	// answer; inflight is whether one waits.
	nonce, version string
	sentAt         time.Time
	inflight       bool
}

// Answer is a client's ACK or NACK of the response waiting for it.
type Answer struct {
	TypeURL, Nonce, Version string
	// Error is the client's reason for rejecting the response; nil for an
	// ACK.
	Error *status.Status
	// Elapsed is the time from the response to its answer.
	Elapsed time.Duration
}

// wildcardKey is the name by which a request subscribes to every resource
// of its type; no resource may have it.
const wildcardKey = "*"

// ErrTypeURL is returned for a request whose type URL is missing or
// belongs to another service.
var ErrTypeURL = errors.New("xds request type URL")

// NewStream opens a stream. typeURL is the type of a per-type service and
// empty for ADS; delta chooses the incremental protocol. Close it when the
// stream ends.
func (c *Cache) NewStream(typeURL string, delta bool) *Stream {
	s := &Stream{
		c: c, delta: delta, typeURL: typeURL,
		wake: make(chan struct{}, 1),
		subs: make(map[string]*subscription, len(supportedTypes)),
	}
	c.mu.Lock()
	c.streams[s] = struct{}{}
	c.mu.Unlock()
	return s
}

// Close forgets the stream.
func (s *Stream) Close() {
	s.c.mu.Lock()
	delete(s.c.streams, s)
	s.c.mu.Unlock()
}

// Wake fires when the state or the access rules changed; the server then
// calls SotwUpdate or DeltaUpdate.
func (s *Stream) Wake() <-chan struct{} {
	return s.wake
}

// Node is the node of the stream's first request that named one.
func (s *Stream) Node() *corev3.Node {
	return s.node
}

// notify wakes the stream without waiting; one pending wake covers any
// number of changes.
func (s *Stream) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// resolveType is the type a request is for: its own, which a per-type
// service may leave empty and ADS may not.
func (s *Stream) resolveType(typeURL string) (string, error) {
	switch {
	case s.typeURL == "" && typeURL == "":
		return "", fmt.Errorf("%w: empty on an aggregated stream", ErrTypeURL)
	case s.typeURL == "":
		return typeURL, nil
	case typeURL == "" || typeURL == s.typeURL:
		return s.typeURL, nil
	default:
		return "", fmt.Errorf("%w: %q on a stream of %q", ErrTypeURL, typeURL, s.typeURL)
	}
}

// subscription returns the subscription of typeURL and whether the stream
// had none yet, or nil for a type the cache does not serve. Such a type is
// never answered; it is logged once per stream.
func (s *Stream) subscription(typeURL string) (*subscription, bool) {
	if _, ok := supportedTypes[typeURL]; !ok {
		if !s.unsupported[typeURL] {
			if s.unsupported == nil {
				s.unsupported = map[string]bool{}
			}
			s.unsupported[typeURL] = true
			s.c.log.Debug("xds subscription of an unsupported type never answers",
				"type_url", typeURL, "node_id", s.node.GetId())
		}
		return nil, false
	}
	if sub, ok := s.subs[typeURL]; ok {
		return sub, false
	}
	sub := &subscription{typeURL: typeURL, legacy: true, recheckAll: true}
	s.subs[typeURL] = sub
	return sub, true
}

// open is the start of every request: its type, checked; its node, kept if
// it is the first; and the type's subscription (nil for a type the cache
// does not serve) and whether the request opens it.
func (s *Stream) open(delta bool, typeURL string, node *corev3.Node) (*subscription, bool, error) {
	if delta != s.delta {
		return nil, false, errors.New("xds request of the other protocol variant (SotW or delta) on this stream")
	}
	typeURL, err := s.resolveType(typeURL)
	if err != nil {
		return nil, false, err
	}
	s.setNode(node)
	sub, first := s.subscription(typeURL)
	return sub, first, nil
}

// setNode keeps the first node a request names.
func (s *Stream) setNode(node *corev3.Node) {
	if s.node == nil && node != nil {
		s.node = node
		s.granted = false
		for _, sub := range s.subs {
			sub.recheckAll = true
		}
	}
}

// answer takes the answer nonce gives to the response waiting on sub, or
// returns nil when nonce names no waiting response: empty, stale, or
// answered already (a client may repeat an ACK or NACK).
func (sub *subscription) answer(nonce string, detail *status.Status) *Answer {
	if nonce == "" || !sub.inflight || nonce != sub.nonce {
		return nil
	}
	sub.inflight = false
	return &Answer{TypeURL: sub.typeURL, Nonce: nonce, Version: sub.version, Error: detail,
		Elapsed: time.Since(sub.sentAt)}
}

// sent records the response that now waits for its answer.
func (s *Stream) sent(sub *subscription, version string) string {
	s.nonces++
	sub.nonce = strconv.FormatUint(s.nonces, 10)
	sub.version = version
	sub.sentAt = time.Now()
	sub.inflight = true
	return sub.nonce
}

// view is what the stream sees of the cache: a state, its sequence
// number, and whether any state was set yet.
type view struct {
	st    *state
	seq   uint64
	ready bool
}

// current reads the state and refreshes the stream's grant when the
// access rules changed.
func (s *Stream) current() view {
	s.c.mu.RLock()
	v := view{st: s.c.state, seq: s.c.seq, ready: s.c.ready}
	access := s.c.access
	s.c.mu.RUnlock()
	if !s.granted || access != s.access {
		s.access, s.granted = access, true
		s.grant = access.grantFor(s.node)
	}
	return v
}

// changes returns the names of typeURL that changed after state seq from,
// and all=true when they are unknown: the log no longer reaches back that
// far, or the access rules changed meanwhile.
func (c *Cache) changes(typeURL string, from, to uint64) (names []string, all bool) {
	if from == to {
		return nil, false
	}
	if from == 0 || to-from > uint64(len(c.history)) {
		return nil, true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for seq := from + 1; seq <= to; seq++ {
		h := &c.history[seq%uint64(len(c.history))]
		if h.seq != seq || h.all {
			return nil, true
		}
		names = append(names, h.names[typeURL]...)
	}
	return names, false
}

// scope is what a subscription must look at against v: every name, or the
// names that changed since it last looked plus those it must recheck.
func (s *Stream) scope(sub *subscription, v view) (names []string, all bool) {
	names, all = s.c.changes(sub.typeURL, sub.seq, v.seq)
	if all || sub.recheckAll {
		return nil, true
	}
	if len(sub.recheck) > 0 || v.seq-sub.seq > 1 {
		// Several sources may name a resource twice.
		names = append(names, sub.recheck...)
		slices.Sort(names)
		names = slices.Compact(names)
	}
	return names, false
}

// looked records that sub's client was compared with the state of v.
func (sub *subscription) looked(v view) {
	sub.seq = v.seq
	sub.recheck = sub.recheck[:0]
	sub.recheckAll = false
}

// intern returns the state's copy of name when it has one, so that the
// names a stream keeps share their bytes with the resources instead of
// holding each request's copy.
func intern(ts *typeState, name string) string {
	if e, ok := ts.entries[name]; ok {
		return e.name
	}
	return name
}

// change is one entry of the cache's log of changes.
type change struct {
	seq uint64
	// names are the changed resources by type URL.
	names map[string][]string
	// all marks a change of the access rules, which may change anything.
	all bool
}

// historySize is how many changes the log keeps. A stream that falls
// further behind compares every name once.
const historySize = 256

// record logs a change and wakes every stream; it must hold c.mu.
func (c *Cache) record(names map[string][]string, all bool) {
	c.seq++
	c.history[c.seq%uint64(len(c.history))] = change{seq: c.seq, names: names, all: all}
	for s := range c.streams {
		s.notify()
	}
}
