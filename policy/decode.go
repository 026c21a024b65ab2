package policy

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// decoder fills Go values from a YAML node tree, walking both together by
// reflection. Doing the walk here rather than in yaml.v3 gives strictness
// with a field path and a line for every problem, reports all of them
// instead of the first, and records which fields were written.
type decoder struct {
	file  string
	index fieldIndex
	errs  Errors
	// failed holds the paths that could not be decoded, so that validation
	// does not report the same field a second time.
	failed map[string]bool
	// merging holds the mappings whose merge keys are being expanded, to
	// stop a mapping that merges itself.
	merging map[*yaml.Node]bool
	// visits counts the nodes decoded, aliases expanded, against maxVisits.
	visits int
}

// maxVisits bounds the values one config may expand to. Aliases let a
// small file expand to a huge one (a list of aliases to a list of aliases);
// real configs stay far below this.
const maxVisits = 250_000

func newDecoder(file string) *decoder {
	return &decoder{
		file:    file,
		index:   fieldIndex{},
		failed:  map[string]bool{},
		merging: map[*yaml.Node]bool{},
	}
}

// fail records a problem with the node at path.
func (d *decoder) fail(n *yaml.Node, path, value, format string, args ...any) {
	d.failed[path] = true
	d.errs = append(d.errs, &FieldError{
		File: d.file, Line: n.Line, Path: path, Value: value,
		Msg: fmt.Sprintf(format, args...),
	})
}

// decode stores node n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.visits++; d.visits > maxVisits {
		if d.visits == maxVisits+1 {
			d.fail(n, path, "", "the document expands to more than %d values; "+
				"is an alias used too often?", maxVisits)
		}
		return
	}
	n = deref(n)
	if isNull(n) {
		setNull(v)
		return
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path)
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case v.Kind() == reflect.Struct:
		d.structure(n, v, path)
	case v.Kind() == reflect.Map:
		d.dictionary(n, v, path)
	case v.Kind() == reflect.Slice:
		d.list(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// setNull gives v the meaning of a written null: an optional section
// (pointer to struct) is switched on with its defaults, since writing its
// key shows it is wanted; anything else keeps its zero value.
func setNull(v reflect.Value) {
	if v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct {
		v.Set(reflect.New(v.Type().Elem()))
		return
	}
	v.SetZero()
}

// structure decodes a mapping into a struct by the fields' yaml tags; a key
// that names no field is an error.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if !d.wantKind(n, yaml.MappingNode, path, "a mapping of fields") {
		return
	}
	fields := yamlFields(v.Type())
	for _, p := range d.pairs(n, path) {
		sub := keyPath(path, p.key.Value)
		i, ok := fields[p.key.Value]
		if !ok {
			d.fail(p.key, sub, p.key.Value, "unknown field %q%s",
				p.key.Value, suggest(p.key.Value, fields))
			continue
		}
		f := v.Field(i)
		if isNull(deref(p.value)) && !isSection(f.Type()) {
			// A null leaf is the same as leaving the field out, so that
			// it gets its default.
			f.SetZero()
			continue
		}
		d.index[sub] = p.key.Line
		d.decode(p.value, f, sub)
	}
}

// isSection reports whether t is an optional section: a pointer to struct.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
}

// dictionary decodes a mapping into a Go map with string keys.
func (d *decoder) dictionary(n *yaml.Node, v reflect.Value, path string) {
	if !d.wantKind(n, yaml.MappingNode, path, "a mapping") {
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for _, p := range d.pairs(n, path) {
		sub := keyPath(path, p.key.Value)
		d.index[sub] = p.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.value, elem, sub)
		m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// list decodes a sequence into a slice.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if !d.wantKind(n, yaml.SequenceNode, path, "a list") {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		sub := itemPath(path, i)
		d.index[sub] = item.Line
		d.decode(item, s.Index(i), sub)
	}
	v.Set(s)
}

// wantKind reports whether n is of kind k, recording an error if not.
func (d *decoder) wantKind(n *yaml.Node, k yaml.Kind, path, want string) bool {
	if n.Kind == k {
		return true
	}
	if n.Kind == yaml.ScalarNode {
		d.fail(n, path, n.Value, "want %s, got %q", want, n.Value)
	} else {
		d.fail(n, path, "", "want %s, got %s", want, kindName(n.Kind))
	}
	return false
}

// kindName names a node kind for error messages.
func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "nothing"
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or empty null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

var fieldCache sync.Map // reflect.Type → map[string]int

// yamlFields maps the yaml names of t's fields to their indexes. Fields
// tagged "-" are not part of the YAML.
func yamlFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}
