package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// schema is what the generator knows of the policy package's source: its
// type declarations with their doc comments, and its string constants,
// which descriptions quote by value.
type schema struct {
	fset   *token.FileSet
	types  map[string]*typeDecl
	consts map[string]string
}

// typeDecl is one declared type of the package.
type typeDecl struct {
	name string
	doc  string
	expr ast.Expr
}

// loadSchema parses the non-test Go files of the package in dir.
func loadSchema(dir string) (*schema, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(names)
	s := &schema{fset: token.NewFileSet(), types: map[string]*typeDecl{}, consts: map[string]string{}}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(s.fset, name, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing policy source: %w", err)
		}
		s.collect(f)
	}
	if len(s.types) == 0 {
		return nil, fmt.Errorf("no Go types found in %s", dir)
	}
	return s, nil
}

// collect records the types and string constants declared in f.
func (s *schema) collect(f *ast.File) {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range g.Specs {
			switch sp := spec.(type) {
			case *ast.TypeSpec:
				doc := sp.Doc
				if doc == nil && len(g.Specs) == 1 {
					// A lone "type X struct" carries its doc on the decl.
					doc = g.Doc
				}
				s.types[sp.Name.Name] = &typeDecl{name: sp.Name.Name, doc: doc.Text(), expr: sp.Type}
			case *ast.ValueSpec:
				if g.Tok == token.CONST {
					s.stringConsts(sp)
				}
			}
		}
	}
}

// stringConsts records the constants of sp that are string literals.
func (s *schema) stringConsts(sp *ast.ValueSpec) {
	for i, n := range sp.Names {
		if i >= len(sp.Values) {
			return
		}
		lit, ok := sp.Values[i].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			continue
		}
		if v, err := strconv.Unquote(lit.Value); err == nil {
			s.consts[n.Name] = v
		}
	}
}

// structType returns the struct declared as name, or nil.
func (s *schema) structType(name string) *ast.StructType {
	td, ok := s.types[name]
	if !ok {
		return nil
	}
	st, _ := td.expr.(*ast.StructType)
	return st
}

// yamlFields maps the Go names of the YAML fields of struct name to their
// YAML names, by the rules of the policy decoder: the yaml tag's name, else
// the lower-cased Go name; unexported fields and "-" are not in the YAML.
func (s *schema) yamlFields(name string) map[string]string {
	st := s.structType(name)
	if st == nil {
		return nil
	}
	out := map[string]string{}
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if y, ok := yamlName(f, n); ok {
				out[n.Name] = y
			}
		}
	}
	return out
}

// yamlName returns the YAML name of the field n of f, and false when the
// field is not part of the YAML.
func yamlName(f *ast.Field, n *ast.Ident) (string, bool) {
	if !n.IsExported() {
		return "", false
	}
	var tag string
	if f.Tag != nil {
		raw, err := strconv.Unquote(f.Tag.Value)
		if err == nil {
			tag = reflect.StructTag(raw).Get("yaml")
		}
	}
	name, _, _ := strings.Cut(tag, ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(n.Name), true
	}
	return name, true
}
