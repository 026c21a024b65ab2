package cache

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestSetsMatchMaps runs random operations on a nameSet and a heldSet and
// on maps side by side, and checks after each that they hold the same.
func TestSetsMatchMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	name := func() string { return "n" + strconv.Itoa(rng.IntN(60)) }
	var names nameSet
	var held heldSet
	wantNames := map[string]bool{}
	wantHeld := map[string]string{}
	for step := range 2000 {
		switch rng.IntN(5) {
		case 0:
			batch := []string{name(), name(), name()}
			added := names.add(slices.Clone(batch))
			for _, n := range added {
				if wantNames[n] {
					t.Fatalf("step %d: add reported %q as new", step, n)
				}
			}
			for _, n := range batch {
				wantNames[n] = true
			}
		case 1:
			n := name()
			names.remove(n)
			delete(wantNames, n)
		case 2:
			var es []*entry
			for range rng.IntN(5) {
				es = append(es, &entry{name: name(), version: strconv.Itoa(step)})
			}
			sortEntries(es)
			es = slices.CompactFunc(es, func(a, b *entry) bool { return a.name == b.name })
			held.set(es)
			for _, e := range es {
				wantHeld[e.name] = e.version
			}
		case 3:
			n, v := name(), "p"+strconv.Itoa(step)
			held.put(n, v)
			wantHeld[n] = v
		case 4:
			a, b := name(), name()
			held.remove(a, b)
			delete(wantHeld, a)
			delete(wantHeld, b)
		}
		if !slices.IsSorted(names.list) || names.len() != len(wantNames) {
			t.Fatalf("step %d: names %v, want %v", step, names.list, wantNames)
		}
		for n := range wantNames {
			if !names.has(n) {
				t.Fatalf("step %d: names lack %q", step, n)
			}
		}
		if !slices.IsSorted(held.names) || held.len() != len(wantHeld) {
			t.Fatalf("step %d: held %v, want %v", step, held.names, wantHeld)
		}
		for n, v := range wantHeld {
			if got, ok := held.get(n); !ok || got != v {
				t.Fatalf("step %d: held %q = %q %v, want %q", step, n, got, ok, v)
			}
		}
	}
	held.keep(func(n string) bool { return n < "n3" })
	for _, n := range held.names {
		if n >= "n3" {
			t.Fatalf("keep left %q", n)
		}
	}
}
