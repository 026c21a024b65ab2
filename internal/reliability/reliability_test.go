// Package reliability checks docs/RELIABILITY.md against the code: every
// test that its tables name must exist, so that the document cannot promise
// what no test shows.
package reliability

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docPath is the document, relative to the repository root.
const docPath = "docs/RELIABILITY.md"

// todo marks a row whose test is still to be written.
const todo = "TODO"

// minRows guards against a parser that finds nothing and so checks
// nothing: the document has far more rows than this.
const minRows = 20

// TestDocumentNamesRealTests fails for every test reference in the
// document whose package directory has no such function, and logs the rows
// still marked TODO.
func TestDocumentNamesRealTests(t *testing.T) {
	root := repoRoot(t)
	text, err := os.ReadFile(filepath.Join(root, docPath))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseRows(string(text))
	if err != nil {
		t.Fatalf("%s: %v", docPath, err)
	}
	if len(rows) < minRows {
		t.Fatalf("%s: found %d table rows, want at least %d", docPath, len(rows), minRows)
	}

	missing, todos := check(root, rows)
	for _, r := range todos {
		t.Logf("%s:%d: test still TODO for %q", docPath, r.line, r.fault)
	}
	if len(missing) > 0 {
		t.Errorf("%s names tests that do not exist:\n%s", docPath, strings.Join(missing, "\n"))
	}
}

// TestCheckFindsMissingTests runs the check on a small document and
// package of its own, so that a check that passes everything is caught.
func TestCheckFindsMissingTests(t *testing.T) {
	root := t.TempDir()
	pkg := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package b\n\nimport \"testing\"\n\nfunc TestHere(t *testing.T) {}\n\n" +
		"func FuzzHere(f *testing.F) {}\n\nfunc (x T) TestMethod(t *testing.T) {}\n"
	if err := os.WriteFile(filepath.Join(pkg, "b_test.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "| fault or input | what Spillway does | test |\n| --- | --- | --- |\n" +
		"| one | kept | `a/b.TestHere/sub_test`, `a/b.FuzzHere` |\n" +
		"| two | kept | `a/b.TestGone`, `a/c.TestHere` |\n" +
		"| three | kept | `a/b.TestMethod` |\n" +
		"| four | kept | `TODO` |\n"
	rows, err := parseRows(doc)
	if err != nil {
		t.Fatal(err)
	}
	missing, todos := check(root, rows)
	want := []string{
		"line 4: a/b.TestGone: no func TestGone in a/b",
		"line 4: a/c.TestHere: cannot read package a/c",
		"line 5: a/b.TestMethod: no func TestMethod in a/b",
	}
	for i := range missing {
		// The reason a directory cannot be read is the system's.
		missing[i], _, _ = strings.Cut(missing[i], " (")
	}
	if !slices.Equal(missing, want) {
		t.Errorf("missing = %q, want %q", missing, want)
	}
	if len(todos) != 1 || todos[0].fault != "four" {
		t.Errorf("todos = %+v, want the row four", todos)
	}
}

func TestParseRowsRejectsBadReferences(t *testing.T) {
	tests := []struct {
		name, row, want string
	}{
		{"no reference", "| a | b | none |", "no test reference"},
		{"not a test", "| a | b | `policy.Parse` |", `"policy.Parse" is not`},
		{"no package", "| a | b | `TestX` |", `"TestX" is not`},
		{"two columns", "| a | b |", "2 columns, want 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRows("| fault or input | what | test |\n| --- | --- | --- |\n" + tt.row)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// row is one table row of the document.
type row struct {
	line  int
	fault string
	refs  []ref
	todo  bool
}

// ref names a test function: its package directory from the repository
// root, the function, and the subtest path if any, which is not checked.
type ref struct {
	text, dir, fn string
}

var (
	codeSpan = regexp.MustCompile("`([^`]*)`")
	// refPattern is dir.Func[/subtest]; the directory has no dots, so the
	// first dot ends it.
	refPattern = regexp.MustCompile(`^([a-z0-9_]+(?:/[a-z0-9_]+)*)\.` +
		`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)(?:/.+)?$`)
)

// parseRows returns the rows of every table whose header starts with
// "fault or input". A row must have three columns and name at least one
// test, or TODO, in backquotes in its last column.
func parseRows(text string) ([]row, error) {
	var rows []row
	var errs []string
	inTable := false
	for i, line := range strings.Split(text, "\n") {
		cells, ok := tableCells(line)
		switch {
		case !ok:
			inTable = false
			continue
		case strings.EqualFold(cells[0], "fault or input"):
			inTable = true
			continue
		case !inTable || strings.HasPrefix(cells[0], "---"):
			continue
		}
		r, err := parseRow(i+1, cells)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		rows = append(rows, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bad rows:\n%s", strings.Join(errs, "\n"))
	}
	return rows, nil
}

// tableCells splits a Markdown table line into its trimmed cells.
func tableCells(line string) ([]string, bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil, false
	}
	cells := strings.Split(line[1:len(line)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells, true
}

func parseRow(line int, cells []string) (row, error) {
	if len(cells) != 3 {
		return row{}, fmt.Errorf("line %d: %d columns, want 3", line, len(cells))
	}
	r := row{line: line, fault: cells[0]}
	spans := codeSpan.FindAllStringSubmatch(cells[2], -1)
	if len(spans) == 0 {
		return row{}, fmt.Errorf("line %d: no test reference in %q", line, cells[2])
	}
	for _, s := range spans {
		if s[1] == todo {
			r.todo = true
			continue
		}
		m := refPattern.FindStringSubmatch(s[1])
		if m == nil {
			return row{}, fmt.Errorf("line %d: %q is not package.TestName[/subtest]", line, s[1])
		}
		r.refs = append(r.refs, ref{text: s[1], dir: m[1], fn: m[2]})
	}
	return r, nil
}

// check returns a line for each reference whose function does not exist
// under root, in document order, and the rows marked TODO.
func check(root string, rows []row) (missing []string, todos []row) {
	funcs := map[string]map[string]bool{}
	failed := map[string]error{}
	for _, r := range rows {
		if r.todo {
			todos = append(todos, r)
		}
		for _, f := range r.refs {
			if _, seen := funcs[f.dir]; !seen && failed[f.dir] == nil {
				funcs[f.dir], failed[f.dir] = topLevelFuncs(filepath.Join(root, f.dir))
			}
			switch {
			case failed[f.dir] != nil:
				missing = append(missing, fmt.Sprintf("line %d: %s: cannot read package %s (%v)",
					r.line, f.text, f.dir, failed[f.dir]))
			case !funcs[f.dir][f.fn]:
				missing = append(missing, fmt.Sprintf("line %d: %s: no func %s in %s",
					r.line, f.text, f.fn, f.dir))
			}
		}
	}
	return missing, todos
}

// topLevelFuncs returns the names of the functions, not methods, declared
// in the Go files of dir, test files included.
func topLevelFuncs(dir string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				out[fn.Name.Name] = true
			}
		}
	}
	return out, nil
}

// repoRoot is the nearest directory above the test's that holds go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}
