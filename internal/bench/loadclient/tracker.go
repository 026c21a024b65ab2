package loadclient

import (
	"sync"
	"sync/atomic"
)

// tracker gathers what the streams see into the few events the driver
// needs: when all of them are synced, and when all of them have ACKed a
// watched change. Reporting per change rather than per stream keeps the
// side channel at a few lines a second however many streams there are.
type tracker struct {
	n   int
	out *eventWriter

	// watched is the set of clusters with a pending change. Streams read
	// it for every load assignment they receive, so it is an immutable map
	// replaced on each change rather than one behind the mutex.
	watched atomic.Pointer[map[string]struct{}]
	open    atomic.Int64

	mu       sync.Mutex
	pending  map[string][]*record // by cluster, oldest first
	synced   int
	syncedAt int64
}

// record is one watched change and the streams that have ACKed it.
type record struct {
	seq         int64
	acked       []uint64 // bit per stream
	count       int
	first, last int64
}

func newTracker(n int, out *eventWriter) *tracker {
	t := &tracker{n: n, out: out, pending: map[string][]*record{}}
	t.watched.Store(&map[string]struct{}{})
	return t
}

// watching reports whether cluster has a pending change.
func (t *tracker) watching(cluster string) bool {
	_, ok := (*t.watched.Load())[cluster]
	return ok
}

// watchingBytes is watching for a name read from a response, without
// copying it.
func (t *tracker) watchingBytes(cluster []byte) bool {
	_, ok := (*t.watched.Load())[string(cluster)]
	return ok
}

// watch starts looking for change seq of cluster and tells the driver.
func (t *tracker) watch(seq int64, cluster string) {
	t.mu.Lock()
	t.pending[cluster] = append(t.pending[cluster],
		&record{seq: seq, acked: make([]uint64, (t.n+63)/64)})
	t.publish()
	t.mu.Unlock()
	t.out.write(Event{Event: EventWatching, Seq: seq})
}

// publish replaces the watched set; it must hold t.mu.
func (t *tracker) publish() {
	m := make(map[string]struct{}, len(t.pending))
	for cluster := range t.pending {
		m[cluster] = struct{}{}
	}
	t.watched.Store(&m)
}

// acked records that stream ACKed, at time at, a load assignment of
// cluster carrying change marker, which covers every watched change of the
// cluster up to marker. A change is reported once all streams have it.
func (t *tracker) acked(stream int, cluster string, marker, at int64) {
	if marker == 0 {
		return
	}
	var done []Event
	t.mu.Lock()
	recs := t.pending[cluster]
	kept := recs[:0]
	for _, r := range recs {
		if r.seq <= marker && r.mark(stream, at) && r.count == t.n {
			done = append(done, Event{Event: EventAcked, Seq: r.seq,
				FirstNano: r.first, UnixNano: r.last})
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		delete(t.pending, cluster)
	} else {
		t.pending[cluster] = kept
	}
	if len(done) > 0 {
		t.publish()
	}
	t.mu.Unlock()

	for _, ev := range done {
		t.out.write(ev)
	}
}

// mark counts stream's ACK once and reports whether it was new.
func (r *record) mark(stream int, at int64) bool {
	word, bit := stream/64, uint64(1)<<(stream%64)
	if r.acked[word]&bit != 0 {
		return false
	}
	r.acked[word] |= bit
	r.count++
	if r.first == 0 || at < r.first {
		r.first = at
	}
	if at > r.last {
		r.last = at
	}
	return true
}

// streamSynced counts a stream that has ACKed its whole subscription, and
// reports the time of the last one.
func (t *tracker) streamSynced(at int64) {
	t.mu.Lock()
	t.synced++
	t.syncedAt = max(t.syncedAt, at)
	all, last := t.synced == t.n, t.syncedAt
	t.mu.Unlock()
	if all {
		t.out.write(Event{Event: EventSynced, UnixNano: last, Streams: t.n, Synced: t.n})
	}
}

// status reports the open and the synced streams.
func (t *tracker) status() Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Event{Event: EventStatus, Streams: int(t.open.Load()), Synced: t.synced}
}
