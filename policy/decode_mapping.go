package policy

import (
	"maps"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/spillway/spillway/internal/typo"
)

// pair is one key and its value in a YAML mapping.
type pair struct{ key, value *yaml.Node }

// pairs returns the entries of mapping n with merge keys ("<<") expanded.
// Merged entries come first and n's own keys replace them, as YAML merge
// keys specify; a key written twice in n itself is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = overlay(merged, d.merge(v, path))
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "", "want a single value as key, got %s", kindName(k.Kind))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, keyPath(path, k.Value), k.Value,
				"duplicate key %q, first written on line %d", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k, v})
	}
	return overlay(merged, own)
}

// merge returns the entries that a merge key's value brings: one mapping,
// or a list of mappings in which earlier ones win.
func (d *decoder) merge(v *yaml.Node, path string) []pair {
	v = deref(v)
	if v.Kind == yaml.MappingNode {
		return d.mergeOne(v, path)
	}
	if v.Kind != yaml.SequenceNode {
		d.fail(v, path, v.Value, "want a mapping or a list of mappings after <<, got %s",
			kindName(v.Kind))
		return nil
	}
	var out []pair
	for _, item := range v.Content {
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			d.fail(item, path, item.Value, "want a mapping in the list after <<, got %s",
				kindName(item.Kind))
			continue
		}
		out = overlay(d.mergeOne(item, path), out)
	}
	return out
}

// mergeOne returns the entries of one merged mapping, refusing a mapping
// that merges itself, which would never end.
func (d *decoder) mergeOne(m *yaml.Node, path string) []pair {
	if d.merging[m] {
		d.fail(m, path, "", "<< merges a mapping into itself")
		return nil
	}
	d.merging[m] = true
	defer delete(d.merging, m)
	return d.pairs(m, path)
}

// overlay returns the entries of base whose keys top does not have,
// followed by top.
func overlay(base, top []pair) []pair {
	if len(base) == 0 {
		return top
	}
	replaced := make(map[string]bool, len(top))
	for _, p := range top {
		replaced[p.key.Value] = true
	}
	out := make([]pair, 0, len(base)+len(top))
	for _, p := range base {
		if !replaced[p.key.Value] {
			out = append(out, p)
		}
	}
	return append(out, top...)
}

// suggest returns a hint naming the known field closest to an unknown
// one, or "" when none is close enough to be a likely typo.
func suggest(name string, fields map[string]int) string {
	best, ok := typo.Closest(name, slices.Sorted(maps.Keys(fields)))
	if !ok {
		return ""
	}
	return `; did you mean "` + best + `"?`
}
