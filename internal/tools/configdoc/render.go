package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
)

// regenerate is the command that rewrites docs/config.md.
const regenerate = "go run ./internal/tools/configdoc -o docs/config.md"

// intro opens the reference; it is Markdown kept beside the code.
//
//go:embed intro.md
var intro string

// render writes the reference: the intro, a list of the sections, then
// one section per top-level key in the order of Config's fields.
func render(fields []field, defaults, examples map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString(intro)
	tops := topKeys(fields)
	links := make([]string, len(tops))
	for i, top := range tops {
		links[i] = fmt.Sprintf("[`%s`](#%s)", top, top)
	}
	fmt.Fprintf(&b, "\nSections: %s.\n", strings.Join(links, ", "))

	for _, top := range tops {
		fmt.Fprintf(&b, "\n## %s\n\n", top)
		b.WriteString("| field path | type | default | description |\n")
		b.WriteString("| --- | --- | --- | --- |\n")
		for _, f := range fields {
			if f.top() == top {
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n",
					f.path(), f.typ, defaultCell(defaults[f.path()]), f.doc)
			}
		}
		if ex, ok := examples[top]; ok {
			fmt.Fprintf(&b, "\nFrom `%s`:\n\n```yaml\n%s\n```\n", quickstart, ex)
		}
	}
	return b.Bytes()
}

// topKeys returns the top-level keys in the order of their fields.
func topKeys(fields []field) []string {
	var out []string
	for _, f := range fields {
		if len(f.steps) == 1 {
			out = append(out, f.top())
		}
	}
	return out
}

// defaultCell formats a default for its table cell.
func defaultCell(v string) string {
	if v == "" {
		return "—"
	}
	return "`" + strings.ReplaceAll(v, "|", `\|`) + "`"
}
