package main

import (
	"errors"
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// enable returns a run of a copy of base in which the sections on the way
// to the leaf f are switched on: a missing section is written as {}, an
// empty map of sections gets one entry and an empty list one item. This is
// how a section added to policy gets its defaults read without a new
// probe, as long as it needs nothing written to pass validation.
func enable(base *probeRun, f field, dir string) (*probeRun, error) {
	section := field{steps: f.steps[:len(f.steps)-1]}
	var doc yaml.Node
	if err := yaml.Unmarshal(base.data, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("re-reading probe %s: %v", base.name, err)
	}
	created, err := ensure(doc.Content[0], section.steps)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: switching on %s in probe %s: %w",
			f.path(), section.path(), base.name, err)
	case !created:
		return nil, fmt.Errorf("%s: no probe config reaches it; add one to probes.go", f.path())
	}
	data, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("writing a probe for %s: %w", section.path(), err)
	}
	name := "auto-" + unsafeName.ReplaceAllString(section.path(), "_") + ".yaml"
	run, err := runProbe(dir, name, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s switched on with nothing written does not validate, "+
			"so its defaults cannot be read; switch it on in probes.go: %w",
			f.path(), section.path(), err)
	}
	return run, nil
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// ensure walks n along steps, making each missing node on the way, and
// reports whether it made any.
func ensure(n *yaml.Node, steps []step) (created bool, err error) {
	for i, s := range steps {
		next := stepField
		if i+1 < len(steps) {
			next = steps[i+1].kind
		}
		var made bool
		switch s.kind {
		case stepField:
			n, made, err = child(n, s.name, next)
		case stepKey:
			n, made, err = firstEntry(n)
		case stepItem:
			n, made, err = firstItem(n)
		}
		if err != nil {
			return false, err
		}
		created = created || made
	}
	return created, nil
}

// child returns the value of key in mapping n, adding an empty one of the
// kind that the next step needs when the key is missing or null.
func child(n *yaml.Node, key string, next stepKind) (*yaml.Node, bool, error) {
	if n.Kind != yaml.MappingNode {
		return nil, false, fmt.Errorf("want a mapping to hold %q", key)
	}
	fresh := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if next == stepItem {
		fresh = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != key {
			continue
		}
		if v := n.Content[i+1]; v.Kind != yaml.ScalarNode || v.Tag != "!!null" {
			return v, false, nil
		}
		n.Content[i+1] = fresh
		return fresh, true, nil
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, fresh)
	return fresh, true, nil
}

// firstEntry returns the value of the first entry of mapping n, adding an
// entry "probe" when there is none.
func firstEntry(n *yaml.Node) (*yaml.Node, bool, error) {
	if n.Kind != yaml.MappingNode {
		return nil, false, errors.New("want a mapping of sections")
	}
	if len(n.Content) >= 2 {
		return n.Content[1], false, nil
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "probe"}, v)
	return v, true, nil
}

// firstItem returns the first item of sequence n, adding one when there is
// none.
func firstItem(n *yaml.Node) (*yaml.Node, bool, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, false, errors.New("want a list of sections")
	}
	if len(n.Content) == 0 {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
		return n.Content[0], true, nil
	}
	return n.Content[0], false, nil
}
