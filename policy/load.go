package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path and returns it decoded, defaulted and
// validated. A file that cannot be read gives a wrapped os error; problems
// in its content give Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data as the config file named path, applies the defaults
// and validates the result. Relative paths inside the config resolve
// against the directory of path. On any problem it returns nil and Errors
// holding every problem found, sorted by line.
func Parse(path string, data []byte) (*Config, error) {
	root, errs := parseYAML(path, data)
	if errs != nil {
		return nil, errs.err()
	}

	cfg := &Config{}
	d := newDecoder(path)
	if root != nil {
		d.index[rootPath] = root.Line
		d.decode(root, reflect.ValueOf(cfg).Elem(), rootPath)
	}
	if d.visits > maxVisits {
		// Decoding stopped half way, leaving holes that later steps
		// cannot walk; the one problem is the size.
		return nil, d.errs.err()
	}
	cfg.Path = path
	setNames(cfg)

	applyDefaults(cfg, d.index)
	all := append(d.errs, validate(cfg, d.index, d.failed)...)
	if err := all.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseYAML parses data into a node tree and returns its root, or nil for
// an empty file. Only one YAML document is allowed, so that a stray "---"
// cannot hide half of a config.
func parseYAML(file string, data []byte) (root *yaml.Node, errs Errors) {
	defer func() {
		// The parser is a port of libyaml; should any input still make it
		// panic, that input is a bad file, not a crash.
		if r := recover(); r != nil {
			root, errs = nil, Errors{{File: file, Line: 1, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxErrors(file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxErrors(file, err)
	default:
		return nil, Errors{{File: file, Line: next.Line,
			Msg: "a second YAML document; the config must be one document"}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxErrors turns a yaml.v3 parse error into Errors with its line.
func syntaxErrors(file string, err error) Errors {
	e := &FieldError{File: file, Line: 1}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	e.Msg = "invalid YAML: " + msg
	return Errors{e}
}

// setNames gives each pool the name of its key.
func setNames(c *Config) {
	for name, p := range c.Pools {
		p.Name = name
	}
}
