package policy

import (
	"strconv"
	"strings"
)

// fieldIndex maps the path of every field, map entry and list item written
// in a config file to its line. It serves two ends: errors found after
// decoding still name a line, and defaults apply only to fields that were
// not written, so that an explicit zero such as "stabilization: 0s" stays.
type fieldIndex map[string]int

// rootPath is the path of the whole document.
const rootPath = ""

// has reports whether the field at path was written with a non-null value.
func (ix fieldIndex) has(path string) bool {
	_, ok := ix[path]
	return ok
}

// line returns the line of path, or of its nearest written ancestor when
// the field itself is missing. It is at least 1 so that every error points
// somewhere in the file.
func (ix fieldIndex) line(path string) int {
	for {
		if l, ok := ix[path]; ok && l > 0 {
			return l
		}
		if path == rootPath {
			return 1
		}
		path = parentPath(path)
	}
}

// parentPath strips the last ".key" or "[i]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return rootPath
	}
	return path[:i]
}

// keyPath is the path of the field or map entry key inside path.
func keyPath(path, key string) string {
	if path == rootPath {
		return key
	}
	return path + "." + key
}

// itemPath is the path of list item i inside path.
func itemPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
