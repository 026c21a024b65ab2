package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"slices"
	"strings"
)

// stepKind is how one step of a field path goes down from its parent.
type stepKind int

const (
	// stepField goes into a struct field by its YAML name.
	stepField stepKind = iota
	// stepKey goes into every entry of a map of sections.
	stepKey
	// stepItem goes into every item of a list of sections.
	stepItem
)

// step is one step of a field path.
type step struct {
	kind stepKind
	name string // the YAML name, for stepField
}

// field is one row of the reference: a YAML field reachable from Config.
type field struct {
	steps []step
	// typ is the type as a YAML author sees it, such as "duration".
	typ string
	// doc is the description, one line of Markdown.
	doc string
	// section is set when the field holds more fields below it.
	section bool
}

// path renders the steps as in pools.<name>.health_check.interval or
// listeners[].routes[].pool.
func (f field) path() string {
	var b strings.Builder
	for i, s := range f.steps {
		switch s.kind {
		case stepField:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		case stepKey:
			b.WriteString(".<name>")
		case stepItem:
			b.WriteString("[]")
		}
	}
	return b.String()
}

// top is the top-level key the field belongs to.
func (f field) top() string { return f.steps[0].name }

// shape is what a field's Go type means in YAML.
type shape struct {
	// container is stepKey for a map and stepItem for a list of sections,
	// stepField for neither.
	container stepKind
	// section is the struct type name when the value, or each element, is
	// a section of fields.
	section string
	// optional is set for a pointer to a section, which is off unless
	// written.
	optional bool
	// leaf names a type without fields below it.
	leaf string
}

// walker collects the fields below a struct type, depth first in source
// order.
type walker struct {
	s      *schema
	out    []field
	errs   []error
	active []string // the struct types being walked, against cycles
}

// fields returns every YAML field reachable from the struct type root.
func (s *schema) fields(root string) ([]field, error) {
	if s.structType(root) == nil {
		return nil, fmt.Errorf("type %s: no struct of that name in the policy package", root)
	}
	w := &walker{s: s}
	w.structFields(root, nil)
	return w.out, errors.Join(w.errs...)
}

func (w *walker) errorf(pos token.Pos, format string, args ...any) {
	where := w.s.fset.Position(pos)
	w.errs = append(w.errs, fmt.Errorf("%s:%d: %s", where.Filename, where.Line,
		fmt.Sprintf(format, args...)))
}

func (w *walker) structFields(name string, prefix []step) {
	if slices.Contains(w.active, name) {
		w.errs = append(w.errs, fmt.Errorf("type %s contains itself (%s); "+
			"the reference cannot list an endless path", name, strings.Join(w.active, " → ")))
		return
	}
	w.active = append(w.active, name)
	defer func() { w.active = w.active[:len(w.active)-1] }()

	for _, f := range w.s.structType(name).Fields.List {
		if len(f.Names) == 0 {
			w.errorf(f.Pos(), "embedded field in %s: the reference does not support it", name)
			continue
		}
		for _, n := range f.Names {
			if y, ok := yamlName(f, n); ok {
				w.field(name, f, n, append(slices.Clone(prefix), step{kind: stepField, name: y}))
			}
		}
	}
}

// field emits the row of one struct field and walks into its section.
func (w *walker) field(owner string, f *ast.Field, n *ast.Ident, steps []step) {
	if f.Doc == nil {
		w.errorf(n.Pos(), "field %s.%s has no doc comment; the reference needs one", owner, n.Name)
		return
	}
	sh, err := w.s.shapeOf(f.Type)
	if err != nil {
		w.errorf(f.Type.Pos(), "field %s.%s: %v", owner, n.Name, err)
		return
	}
	row := field{steps: steps, typ: sh.display(), section: sh.section != ""}
	owners := slices.Clone(w.active)
	slices.Reverse(owners)
	row.doc = w.s.describe(f.Doc.Text(), owners, n.Name)
	if sh.section != "" {
		row.doc = joinDoc(row.doc, w.s.sectionDoc(sh, f.Doc.Text(), owners))
	}
	w.out = append(w.out, row)

	if sh.section == "" {
		return
	}
	if sh.container != stepField {
		steps = append(steps, step{kind: sh.container})
	}
	w.structFields(sh.section, steps)
}

// sectionDoc describes a section by its type's doc comment, unless that
// says no more than the field's own. owners are the types around it.
func (s *schema) sectionDoc(sh shape, fieldDoc string, owners []string) string {
	td := s.types[sh.section]
	if td.doc == "" || oneLine(td.doc) == oneLine(fieldDoc) {
		return ""
	}
	subject := "This section"
	if sh.container != stepField {
		subject = "Each entry"
	}
	text := td.doc
	if rest, ok := strings.CutPrefix(text, td.name+" "); ok {
		// "CircuitBreakers are the thresholds" reads "This section holds
		// the thresholds".
		if r, plural := strings.CutPrefix(rest, "are "); plural {
			rest = "holds " + r
		}
		text = subject + " " + rest
	}
	return s.describe(text, append([]string{sh.section}, owners...), "")
}

func joinDoc(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}

// shapeOf tells what the type expression e is in YAML.
func (s *schema) shapeOf(e ast.Expr) (shape, error) {
	switch t := e.(type) {
	case *ast.StarExpr:
		sh, err := s.shapeOf(t.X)
		if sh.section != "" && sh.container == stepField {
			sh.optional = true
		}
		return sh, err
	case *ast.ArrayType:
		if t.Len != nil {
			return shape{}, errors.New("arrays are not supported; use a slice")
		}
		return s.containerOf(t.Elt, stepItem, "list of ")
	case *ast.MapType:
		if k, ok := t.Key.(*ast.Ident); !ok || k.Name != "string" {
			return shape{}, errors.New("maps need string keys in YAML")
		}
		return s.containerOf(t.Value, stepKey, "map of ")
	case *ast.SelectorExpr:
		if x, ok := t.X.(*ast.Ident); ok && x.Name == "time" && t.Sel.Name == "Duration" {
			return shape{leaf: "duration"}, nil
		}
	case *ast.Ident:
		return s.namedShape(t.Name)
	}
	return shape{}, fmt.Errorf("type %s is not supported by the reference", exprString(e))
}

// containerOf is the shape of a list or map whose elements are elem.
func (s *schema) containerOf(elem ast.Expr, kind stepKind, prefix string) (shape, error) {
	sh, err := s.shapeOf(elem)
	switch {
	case err != nil:
		return shape{}, err
	case sh.container != stepField || strings.HasPrefix(sh.leaf, "list of ") ||
		strings.HasPrefix(sh.leaf, "map of "):
		return shape{}, errors.New("lists and maps inside lists or maps are not supported")
	case sh.section != "":
		return shape{container: kind, section: sh.section}, nil
	}
	return shape{leaf: prefix + sh.leaf + "s"}, nil
}

// namedShape is the shape of a predeclared or package-level type name.
func (s *schema) namedShape(name string) (shape, error) {
	switch name {
	case "string", "bool":
		return shape{leaf: name}, nil
	case "int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64":
		return shape{leaf: "integer"}, nil
	case "float32", "float64":
		return shape{leaf: "number"}, nil
	}
	td, ok := s.types[name]
	if !ok {
		return shape{}, fmt.Errorf("type %s is not supported by the reference", name)
	}
	if _, ok := td.expr.(*ast.StructType); ok {
		return shape{section: name}, nil
	}
	// A named scalar, such as "type Mode string", reads as its base type.
	return s.shapeOf(td.expr)
}

// display names the shape for the type column.
func (sh shape) display() string {
	switch {
	case sh.section == "":
		return sh.leaf
	case sh.container == stepKey:
		return "map of sections"
	case sh.container == stepItem:
		return "list of sections"
	case sh.optional:
		return "optional section"
	}
	return "section"
}

func exprString(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.SelectorExpr:
		return exprString(t.X) + "." + t.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(t.X)
	}
	return fmt.Sprintf("%T", e)
}
