package consul

import (
	"maps"
	"slices"

	"github.com/spillway/spillway/discovery"
)

// result is one answer, or one failure, of a service's watch.
type result struct {
	service   string
	instances []discovery.Instance
	err       error
}

// state merges the answers of every watched service into whole catalogs.
// It publishes nothing until each service has answered once, since a
// partial first view would drop whole pools, and a failure keeps the
// service's last good list.
type state struct {
	services []string
	lists    map[string][]discovery.Instance // last good answer per service
	failing  map[string]bool
	sent     map[string][]discovery.Instance // lists of the last catalog sent
	anySent  bool
}

func newState(services []string) *state {
	return &state{
		services: services,
		lists:    make(map[string][]discovery.Instance, len(services)),
		failing:  make(map[string]bool),
	}
}

// apply records one result.
func (st *state) apply(r result) {
	if r.err != nil {
		st.failing[r.service] = true
		return
	}
	delete(st.failing, r.service)
	st.lists[r.service] = r.instances
}

// complete reports whether every service has answered at least once.
func (st *state) complete() bool {
	return len(st.lists) == len(st.services)
}

// up reports whether every service has answered and none is failing now.
func (st *state) up() bool {
	return st.complete() && len(st.failing) == 0
}

// pending returns the catalog to send, or nil when the view is incomplete
// or its content equals what was sent last.
func (st *state) pending() *discovery.Catalog {
	if !st.complete() {
		return nil
	}
	if st.anySent && maps.EqualFunc(st.lists, st.sent, equalInstances) {
		return nil
	}
	var all []discovery.Instance
	for _, s := range st.services {
		all = append(all, st.lists[s]...)
	}
	return discovery.NewCatalog(all)
}

// markSent records that the catalog of the current lists was delivered.
// Lists are replaced, never changed in place, so a shallow copy is enough.
func (st *state) markSent() {
	st.sent = maps.Clone(st.lists)
	st.anySent = true
}

// failingServices returns the services whose last attempt failed, sorted.
func (st *state) failingServices() []string {
	return slices.Sorted(maps.Keys(st.failing))
}
