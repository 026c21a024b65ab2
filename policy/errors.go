package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a config file: where it is and what is wrong.
type FieldError struct {
	// File is the config file as it was named to Load or Parse.
	File string
	// Line is the 1-based line of the field, or of its nearest written
	// parent when the field itself is missing.
	Line int
	// Path is the field path, such as pools.gpu.health_check.interval or
	// listeners[0].routes[2].pool; empty for problems of the YAML syntax.
	Path string
	// Value is the offending value as written, when there is one. Msg
	// already quotes it; Value is kept apart for programs.
	Value string
	// Msg says what is wrong, in lower case.
	Msg string
}

// Error formats the problem as FILE:LINE: field.path: message.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
}

// Errors is every problem found in one config file, sorted by line. Parse
// and Load return it whole so that a user can fix everything in one pass.
type Errors []*FieldError

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the single problems, so that errors.As finds a
// *FieldError inside.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sort orders the problems by line, then by path, keeping the order in
// which they were found among equals.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Path, b.Path))
	})
}

// err returns es as an error, or nil when there is no problem; a nil
// Errors must not become a non-nil error interface.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}
