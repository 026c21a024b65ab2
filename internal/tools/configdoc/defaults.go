package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/spillway/spillway/policy"
)

// probeRun is a probe config after policy.Parse, with the concrete paths
// it wrote, such as pools.least.service or listeners[0].port.
type probeRun struct {
	name    string
	data    []byte
	cfg     reflect.Value
	written map[string]bool
}

// sample is the value one probe run holds at one concrete path.
type sample struct {
	path    string
	value   reflect.Value
	written bool
}

// readDefaults returns the default of every leaf field by its path, ""
// for none. The defaults are read back from configs that policy.Parse
// filled in, so they are the code's own and cannot drift from it.
func readDefaults(fields []field, configs []probeConfig) (map[string]string, error) {
	dir, err := os.MkdirTemp("", "configdoc-")
	if err != nil {
		return nil, fmt.Errorf("making the probe directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := writeCertFiles(dir); err != nil {
		return nil, err
	}

	var runs []*probeRun
	for _, pc := range configs {
		run, err := runProbe(dir, pc.name, []byte(pc.yaml))
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
	}
	out := map[string]string{}
	var errs []error
	for _, f := range fields {
		if f.section {
			continue
		}
		d, err := defaultOf(f, dir, &runs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[f.path()] = d
	}
	return out, errors.Join(errs...)
}

// runProbe parses one probe config as a file in dir.
func runProbe(dir, name string, data []byte) (*probeRun, error) {
	cfg, err := policy.Parse(filepath.Join(dir, name), data)
	if err != nil {
		return nil, fmt.Errorf("probe config %s fails policy.Parse:\n%w", name, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("probe config %s: %w", name, err)
	}
	run := &probeRun{name: name, data: data, cfg: reflect.ValueOf(cfg).Elem(),
		written: map[string]bool{}}
	if len(doc.Content) > 0 {
		writtenPaths(doc.Content[0], "", run.written)
	}
	return run, nil
}

// writtenPaths records the path of every key and list item below n.
func writtenPaths(n *yaml.Node, path string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := joinKey(path, n.Content[i].Value)
			out[p] = true
			writtenPaths(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			out[p] = true
			writtenPaths(item, p, out)
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// defaultOf finds the default of leaf f in the probe runs. When none
// reaches it, its section is new: a copy of the first probe with the
// section switched on joins the runs.
func defaultOf(f field, dir string, runs *[]*probeRun) (string, error) {
	samples, err := sampleRuns(*runs, f)
	if err != nil {
		return "", err
	}
	if len(samples) == 0 {
		run, err := enable((*runs)[0], f, dir)
		if err != nil {
			return "", err
		}
		*runs = append(*runs, run)
		if samples, err = sampleRuns([]*probeRun{run}, f); err != nil {
			return "", err
		}
		if len(samples) == 0 {
			return "", fmt.Errorf("%s: no probe config reaches it; add one to probes.go", f.path())
		}
	}
	return agree(f, samples)
}

// agree returns the one value that the unwritten samples of f hold, ""
// when all are empty. Samples that are empty where others are not belong
// to a case where the default does not apply, such as choice_count under
// policy ring_hash.
func agree(f field, samples []sample) (string, error) {
	var found []string
	for _, s := range samples {
		if v := formatValue(s.value); !s.written && v != "" && !slices.Contains(found, v) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s: the probe configs give it different defaults (%s); "+
		"make them agree in probes.go", f.path(), strings.Join(found, ", "))
}

// sampleRuns collects the values of f in every run.
func sampleRuns(runs []*probeRun, f field) ([]sample, error) {
	var out []sample
	for _, run := range runs {
		var got []sample
		if err := collect(run.cfg, f.steps, "", &got); err != nil {
			return nil, fmt.Errorf("%s: %w", f.path(), err)
		}
		for i := range got {
			got[i].written = run.written[got[i].path]
		}
		out = append(out, got...)
	}
	return out, nil
}

// collect walks v along steps and appends the value at the end of every
// way through: each map entry and list item. An unset section ends a way.
func collect(v reflect.Value, steps []step, path string, out *[]sample) error {
	if len(steps) == 0 {
		*out = append(*out, sample{path: path, value: v})
		return nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	s := steps[0]
	switch {
	case s.kind == stepField && v.Kind() == reflect.Struct:
		fv, ok := fieldByYAML(v, s.name)
		if !ok {
			return fmt.Errorf("the compiled %s has no field %q", v.Type(), s.name)
		}
		return collect(fv, steps[1:], joinKey(path, s.name), out)
	case s.kind == stepKey && v.Kind() == reflect.Map:
		for _, k := range sortedKeys(v) {
			if err := collect(v.MapIndex(k), steps[1:], joinKey(path, k.String()), out); err != nil {
				return err
			}
		}
		return nil
	case s.kind == stepItem && v.Kind() == reflect.Slice:
		for i := range v.Len() {
			p := path + "[" + strconv.Itoa(i) + "]"
			if err := collect(v.Index(i), steps[1:], p, out); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("the compiled type %s does not fit the source at %q", v.Type(), path)
}

// fieldByYAML returns the field of struct v with the YAML name name, by
// the rules of the policy decoder.
func fieldByYAML(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

var durationType = reflect.TypeFor[time.Duration]()

// formatValue prints a default as a YAML author would write it, "" for
// an empty, zero or unset value. Durations print as Go durations.
func formatValue(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.IsZero() {
		return ""
	}
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = flowValue(v.Index(i))
		}
		if len(items) == 0 {
			return ""
		}
		return "[" + strings.Join(items, ", ") + "]"
	case v.Kind() == reflect.Map:
		return formatMap(v)
	}
	return scalar(v)
}

// formatMap prints a map in YAML flow style with sorted keys.
func formatMap(v reflect.Value) string {
	keys := sortedKeys(v)
	if len(keys) == 0 {
		return ""
	}
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = k.String() + ": " + flowValue(v.MapIndex(k))
	}
	return "{" + strings.Join(items, ", ") + "}"
}

// sortedKeys returns the keys of the string-keyed map v in order.
func sortedKeys(v reflect.Value) []reflect.Value {
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		return strings.Compare(a.String(), b.String())
	})
	return keys
}

// flowValue prints an element of a list or map; strings are quoted so
// that "*" or "" read as what they are.
func flowValue(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.String:
		return strconv.Quote(v.String())
	}
	if s := formatValue(v); s != "" {
		return s
	}
	return scalar(v)
}

// scalar prints a string, bool or number, zero included.
func scalar(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}
