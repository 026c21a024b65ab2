package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spillway/spillway/policy"
)

var update = flag.Bool("update", false, "rewrite docs/config.md instead of comparing with it")

func testRoot(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestConfigDocIsCurrent fails when docs/config.md differs from what the
// generator writes now, which happens whenever a field, a doc comment, a
// default or the quickstart example changed without regenerating.
func TestConfigDocIsCurrent(t *testing.T) {
	root := testRoot(t)
	got, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "config.md")
	if *update {
		if err := writeFile(path, got); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v\nrun `%s` (or make docs)", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		line, gotLine, wantLine := firstDifference(got, want)
		t.Fatalf("docs/config.md is stale; run `%s` (or make docs).\n"+
			"first difference, line %d:\n  file:      %s\n  generated: %s",
			regenerate, line, wantLine, gotLine)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	root := testRoot(t)
	first, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		again, err := generate(root)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			line, a, b := firstDifference(first, again)
			t.Fatalf("two runs differ at line %d:\n  %s\n  %s", line, a, b)
		}
	}
}

// firstDifference returns the first line, 1-based, where a and b differ,
// and that line of each.
func firstDifference(a, b []byte) (int, string, string) {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}

// TestDocCoversCode checks both directions against the compiled policy
// types, walked here by reflection independently of the generator's walk
// of the source: every field reachable from policy.Config has a row in
// docs/config.md, and every row names a field that exists.
func TestDocCoversCode(t *testing.T) {
	code := map[string]bool{}
	codePaths(reflect.TypeFor[policy.Config](), "", code)
	if len(code) < 50 {
		t.Fatalf("found only %d field paths in policy.Config; the walk is broken", len(code))
	}
	data, err := os.ReadFile(filepath.Join(testRoot(t), "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := docPaths(string(data))

	t.Run("every field of the code is documented", func(t *testing.T) {
		for _, p := range sortedMissing(code, doc) {
			t.Errorf("%s is a field of policy.Config but has no row in docs/config.md", p)
		}
	})
	t.Run("every documented field exists", func(t *testing.T) {
		for _, p := range sortedMissing(doc, code) {
			t.Errorf("docs/config.md documents %s, which is no field of policy.Config", p)
		}
	})
}

// codePaths adds the path of every YAML field of struct t, by the rules of
// the policy decoder, below prefix.
func codePaths(t reflect.Type, prefix string, out map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		path := joinKey(prefix, name)
		out[path] = true

		ft, below := f.Type, path
		switch ft.Kind() {
		case reflect.Map:
			ft, below = ft.Elem(), path+".<name>"
		case reflect.Slice:
			ft, below = ft.Elem(), path+"[]"
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			codePaths(ft, below, out)
		}
	}
}

// docPaths returns the field paths in the first column of the tables.
func docPaths(doc string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		rest, ok := strings.CutPrefix(line, "| `")
		if !ok {
			continue
		}
		if path, _, ok := strings.Cut(rest, "`"); ok {
			out[path] = true
		}
	}
	return out
}

// sortedMissing returns the keys of a that b lacks, sorted.
func sortedMissing(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestDocPathsReadsRows(t *testing.T) {
	doc := "# x\n\n| field path | type |\n| --- | --- |\n| `a.b` | string |\n" +
		"| `a.<name>.c` | integer |\ntext with | `not.a.row` |\n"
	got := docPaths(doc)
	want := map[string]bool{"a.b": true, "a.<name>.c": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("docPaths = %v, want %v", got, want)
	}
}
