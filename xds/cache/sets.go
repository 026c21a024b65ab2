package cache

import (
	"slices"
)

// A stream keeps, per type, the names its client asks for and the version
// of each resource it holds: for an Envoy, a thousand load assignments and
// a thousand clusters. Kept in sorted slices rather than maps they take a
// quarter to a half of the memory (a map of a thousand strings reserves
// room for two thousand), and a stream looks up only the few names a
// change touches.

// nameSet is a set of names, sorted.
type nameSet struct {
	list []string
}

// newNameSet builds a set of names, which it sorts in place.
func newNameSet(names []string) nameSet {
	slices.Sort(names)
	return nameSet{list: slices.Clip(slices.Compact(names))}
}

func (n nameSet) len() int { return len(n.list) }

func (n nameSet) has(name string) bool {
	_, ok := slices.BinarySearch(n.list, name)
	return ok
}

// add adds names, which it may reorder, and returns those that were new.
func (n *nameSet) add(names []string) []string {
	var added []string
	for _, name := range names {
		if !n.has(name) {
			added = append(added, name)
		}
	}
	if len(added) > 0 {
		n.list = newNameSet(append(slices.Clone(n.list), added...)).list
	}
	return added
}

// remove removes name.
func (n *nameSet) remove(name string) {
	if i, ok := slices.BinarySearch(n.list, name); ok {
		n.list = slices.Delete(n.list, i, i+1)
	}
}

// heldSet maps the names of the resources a client holds to their
// versions, sorted by name.
type heldSet struct {
	names    []string
	versions []string
}

func (h *heldSet) len() int { return len(h.names) }

func (h *heldSet) get(name string) (string, bool) {
	i, ok := slices.BinarySearch(h.names, name)
	if !ok {
		return "", false
	}
	return h.versions[i], true
}

// set records the versions of entries, sorted by name, which the client
// now holds.
func (h *heldSet) set(entries []*entry) {
	var added []*entry
	for _, e := range entries {
		if i, ok := slices.BinarySearch(h.names, e.name); ok {
			h.versions[i] = e.version
		} else {
			added = append(added, e)
		}
	}
	if len(added) == 0 {
		return
	}
	// Merge the two sorted lists.
	n := len(h.names) + len(added)
	names, versions := make([]string, 0, n), make([]string, 0, n)
	i := 0
	for _, e := range added {
		for i < len(h.names) && h.names[i] < e.name {
			names, versions = append(names, h.names[i]), append(versions, h.versions[i])
			i++
		}
		names, versions = append(names, e.name), append(versions, e.version)
	}
	h.names = append(names, h.names[i:]...)
	h.versions = append(versions, h.versions[i:]...)
}

// put records that the client holds version of name.
func (h *heldSet) put(name, version string) {
	i, ok := slices.BinarySearch(h.names, name)
	if ok {
		h.versions[i] = version
		return
	}
	h.names = slices.Insert(h.names, i, name)
	h.versions = slices.Insert(h.versions, i, version)
}

// keep removes every name for which keep is false.
func (h *heldSet) keep(keep func(name string) bool) {
	j := 0
	for i, name := range h.names {
		if keep(name) {
			h.names[j], h.versions[j] = name, h.versions[i]
			j++
		}
	}
	clear(h.names[j:])
	clear(h.versions[j:])
	h.names, h.versions = h.names[:j], h.versions[:j]
}

// remove removes names.
func (h *heldSet) remove(names ...string) {
	if len(names) == 0 {
		return
	}
	gone := newNameSet(slices.Clone(names))
	h.keep(func(name string) bool { return !gone.has(name) })
}

// heldFrom builds a heldSet from a map, as a delta client's initial versions.
func heldFrom(m map[string]string, intern func(string) string) heldSet {
	var h heldSet
	for name := range m {
		h.names = append(h.names, intern(name))
	}
	slices.Sort(h.names)
	h.versions = make([]string, len(h.names))
	for i, name := range h.names {
		h.versions[i] = m[name]
	}
	return h
}
