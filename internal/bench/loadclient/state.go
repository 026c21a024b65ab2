package loadclient

import (
	"fmt"
	"time"
)

// subscription is what one stream knows, as an Envoy would track it: the
// clusters and listeners it has, hence the load assignments and route
// configurations it asks for, and whether it has all of them yet.
type subscription struct {
	id      int
	names   *interner
	tracker *tracker

	clusters  map[string]string   // cluster name → name asked of EDS
	listeners map[string][]string // listener name → route configurations
	eds, rds  []string            // sorted names subscribed

	gotCDS, gotLDS bool
	gotEDS, gotRDS map[string]struct{} // received names, until synced
	synced         bool
}

func newSubscription(id int, names *interner, t *tracker) *subscription {
	return &subscription{
		id: id, names: names, tracker: t,
		clusters: map[string]string{}, listeners: map[string][]string{},
		gotEDS: map[string]struct{}{}, gotRDS: map[string]struct{}{},
	}
}

// updateEDS recomputes the load assignments to ask for from the clusters
// and returns the change.
func (s *subscription) updateEDS() (added, removed []string) {
	cur := sortedValues(s.clusters)
	added, removed = sortedDiff(s.eds, cur)
	s.eds = cur
	return added, removed
}

// updateRDS recomputes the route configurations to ask for from the
// listeners and returns the change.
func (s *subscription) updateRDS() (added, removed []string) {
	cur := sortedValues(s.listeners)
	added, removed = sortedDiff(s.rds, cur)
	s.rds = cur
	return added, removed
}

// addMarker reads the change a watched load assignment carries into
// markers, keeping the newest per cluster.
func addMarker(markers map[string]int64, cluster string, value []byte) (map[string]int64, error) {
	marker, err := loadAssignmentMarker(value)
	if err != nil {
		return markers, fmt.Errorf("load assignment %q: %w", cluster, err)
	}
	if markers == nil {
		markers = map[string]int64{}
	}
	markers[cluster] = max(markers[cluster], marker)
	return markers, nil
}

// routes counts a received route configuration towards sync.
func (s *subscription) routes(name string) {
	if !s.synced {
		s.gotRDS[name] = struct{}{}
	}
}

// checkSynced tells the tracker, once, that the stream has ACKed clusters,
// listeners and every load assignment and route configuration they name.
func (s *subscription) checkSynced() {
	if s.synced || !s.gotCDS || !s.gotLDS {
		return
	}
	for _, name := range s.eds {
		if _, ok := s.gotEDS[name]; !ok {
			return
		}
	}
	for _, name := range s.rds {
		if _, ok := s.gotRDS[name]; !ok {
			return
		}
	}
	s.synced, s.gotEDS, s.gotRDS = true, nil, nil
	s.tracker.streamSynced(time.Now().UnixNano())
}

// ackedEndpoints reports the changes of watched clusters that the stream
// has just ACKed.
func (s *subscription) ackedEndpoints(markers map[string]int64) {
	if len(markers) == 0 {
		return
	}
	at := time.Now().UnixNano()
	for cluster, marker := range markers {
		s.tracker.acked(s.id, cluster, marker, at)
	}
}
