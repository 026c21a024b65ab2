package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// quickstart is the example config whose sections the reference quotes.
const quickstart = "examples/quickstart.yaml"

var topKey = regexp.MustCompile(`^([A-Za-z0-9_]+):`)

// readExamples returns the text of each top-level section of the YAML
// file at path, by key, with the comments inside the section. Comment
// lines at the left margin before the next key introduce that key, or
// the file, so they are left out.
func readExamples(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading examples: %w", err)
	}
	out := map[string]string{}
	var key string
	var block []string
	flush := func() {
		for len(block) > 0 && isMarginLine(block[len(block)-1]) {
			block = block[:len(block)-1]
		}
		if key != "" {
			out[key] = strings.Join(block, "\n")
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		if m := topKey.FindStringSubmatch(line); m != nil {
			flush()
			key, block = m[1], nil
		}
		block = append(block, line)
	}
	flush()
	return out, nil
}

// isMarginLine reports whether line is blank or a comment at the left
// margin, which belongs to what follows rather than what precedes it.
func isMarginLine(line string) bool {
	return strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#")
}
