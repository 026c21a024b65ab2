package file

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxProblems caps the report: beyond it, more lines help nobody and a
// hostile file (one bad anchor aliased everywhere) could make it huge.
const maxProblems = 100

// maxValueLen caps how much of a bad value an error quotes.
const maxValueLen = 64

// problem is one thing wrong with a catalog file.
type problem struct {
	line int // 0 when the YAML parser could not tell
	path string
	msg  string
}

// problems collects everything wrong with one file so that it can all be
// reported at once.
type problems struct {
	file string
	list []problem
}

// add records msg about the field at path, declared at line.
func (p *problems) add(line int, path, msg string) {
	p.list = append(p.list, problem{line: line, path: path, msg: msg})
}

// bad records msg about the value node n of the field at path, quoting the
// value when it is a scalar so that the operator sees what was read.
func (p *problems) bad(n *yaml.Node, path, msg string) {
	if n.Kind == yaml.ScalarNode {
		msg += fmt.Sprintf(" (value %s)", quote(n.Value))
	}
	p.add(n.Line, path, msg)
}

// err returns the problems as one error, a line each, sorted by line, or
// nil when there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b problem) int { return cmp.Compare(a.line, b.line) })
	errs := make([]error, 0, min(len(p.list), maxProblems)+1)
	for _, pr := range p.list[:min(len(p.list), maxProblems)] {
		errs = append(errs, errors.New(p.format(pr)))
	}
	if extra := len(p.list) - maxProblems; extra > 0 {
		errs = append(errs, fmt.Errorf("%s: %d more problems not shown", p.file, extra))
	}
	return errors.Join(errs...)
}

// format renders one problem as "FILE:LINE: path: message".
func (p *problems) format(pr problem) string {
	var b strings.Builder
	b.WriteString(p.file)
	if pr.line > 0 {
		b.WriteString(":" + strconv.Itoa(pr.line))
	}
	b.WriteString(": ")
	if pr.path != "" {
		b.WriteString(pr.path + ": ")
	}
	b.WriteString(pr.msg)
	return b.String()
}

// quote renders a value for an error message, shortened if it is long.
func quote(s string) string {
	if r := []rune(s); len(r) > maxValueLen {
		s = string(r[:maxValueLen]) + "..."
	}
	return strconv.Quote(s)
}
