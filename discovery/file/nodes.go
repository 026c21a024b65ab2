package file

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/spillway/spillway/internal/typo"
)

// decoder turns the YAML node tree of one catalog file into values,
// recording every problem on the way instead of stopping at the first.
// It walks the tree along the fixed shape of the format and never recurses
// on the data itself, so a self-referencing anchor cannot make it loop.
type decoder struct {
	problems
}

// entry is one key and value of a YAML mapping, aliases resolved.
type entry struct {
	name       string
	key, value *yaml.Node
}

// resolve follows an alias to the node it names. YAML cannot anchor an
// alias, so one step is enough; the bound only guards against a tree built
// by hand.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 4 && n != nil && n.Kind == yaml.AliasNode; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an empty value or an explicit null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// entries returns the keys and values of the mapping n in file order,
// reporting a node that is not a mapping, keys that are not plain strings
// and keys given twice.
func (d *decoder) entries(n *yaml.Node, path string) ([]entry, bool) {
	if n.Kind != yaml.MappingNode {
		d.bad(n, path, "must be a mapping")
		return nil, false
	}
	var out []entry
	first := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		switch {
		case k.ShortTag() == "!!merge":
			d.add(k.Line, path, "merge keys (<<) are not supported; write the fields out")
		case k.Kind != yaml.ScalarNode || isNull(k):
			d.add(k.Line, path, "keys must be plain strings")
		case first[k.Value] != 0:
			msg := fmt.Sprintf("repeated key, first set at line %d", first[k.Value])
			d.add(k.Line, join(path, k.Value), msg)
		default:
			first[k.Value] = k.Line
			out = append(out, entry{name: k.Value, key: k, value: v})
		}
	}
	return out, true
}

// fields returns the values of the mapping n by field name, reporting
// unknown fields. Null values are left out: an empty field counts as not
// set. ok is false when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, path string, known ...string) (map[string]*yaml.Node, bool) {
	list, ok := d.entries(n, path)
	out := make(map[string]*yaml.Node, len(list))
	for _, e := range list {
		switch {
		case !slices.Contains(known, e.name):
			d.add(e.key.Line, join(path, e.name), unknownField(e.name, known))
		case !isNull(e.value):
			out[e.name] = e.value
		}
	}
	return out, ok
}

// require reports each of names that the mapping n at path does not set.
func (d *decoder) require(n *yaml.Node, path string, f map[string]*yaml.Node, names ...string) {
	for _, name := range names {
		if f[name] == nil {
			d.add(n.Line, join(path, name), "required field is missing")
		}
	}
}

// text returns the scalar n as a string; nil gives "".
func (d *decoder) text(n *yaml.Node, path string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.bad(n, path, "must be a string")
		return ""
	}
	return n.Value
}

// integer returns n as an int within [lo, hi]; nil or a bad value give 0.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) int {
	if n == nil {
		return 0
	}
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil ||
		v < lo || v > hi {
		d.bad(n, path, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return 0
	}
	return int(v)
}

// boolean returns n as a bool; nil or a bad value give false.
func (d *decoder) boolean(n *yaml.Node, path string) bool {
	if n == nil {
		return false
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.bad(n, path, "must be true or false")
		return false
	}
	return v
}

// join appends a key to a field path, quoting keys that would make the path
// ambiguous, such as service names with dots.
func join(path, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || '0' <= r && r <= '9' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownField explains an unknown field, suggesting the known one it is
// most likely a typo of.
func unknownField(name string, known []string) string {
	best, ok := typo.Closest(name, known)
	if !ok {
		return fmt.Sprintf("unknown field (known fields: %s)", strings.Join(known, ", "))
	}
	return fmt.Sprintf("unknown field (did you mean %q?)", best)
}
