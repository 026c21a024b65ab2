package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/filewatch"
)

// maxWeight bounds instance weights to a sane range: Envoy adds up the
// weights of a locality in 32 bits, and no fleet needs finer shares.
const maxWeight = 65535

// instanceFields are the fields an instance may set, in the documented order.
var instanceFields = []string{
	"id", "address", "port", "node", "datacenter", "zone",
	"tags", "meta", "weights", "health", "maintenance",
}

const missingServices = `required field is missing ` +
	`(write "services: {}" for a catalog with no instances)`

// yamlLine splits the parser's "yaml: line N: message" errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Load reads the catalog file at path and parses it.
func Load(path string) (*discovery.Catalog, error) {
	data, err := filewatch.ReadFile(path, 0)
	if err != nil {
		return nil, fmt.Errorf("reading catalog: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes the contents of a catalog file; path names the file in
// errors. It reports every problem at once, one line each, in the form
// "FILE:LINE: services.inference[0].port: message (value "x")".
func Parse(path string, data []byte) (*discovery.Catalog, error) {
	d := &decoder{problems: problems{file: path}}
	var instances []discovery.Instance
	if root := d.document(data); root != nil {
		instances = d.catalog(root)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return discovery.NewCatalog(instances), nil
}

// document parses data as exactly one YAML document and returns its root,
// or nil after recording why there is none.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(1, "services", missingServices)
		} else {
			d.syntax(err)
		}
		return nil
	}

	// A second document would be silently ignored by the decoder, and an
	// operator who wrote it surely meant it to count.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(extra.Line, "", "a catalog file holds one YAML document, found a second")
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
		return nil
	}

	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		d.add(max(doc.Line, 1), "services", missingServices)
		return nil
	}
	return resolve(doc.Content[0])
}

// syntax records a YAML syntax error, at its line when the parser knows it.
func (d *decoder) syntax(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.add(line, "", "invalid YAML: "+m[2])
		return
	}
	d.add(0, "", "invalid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))
}

// catalog decodes the root mapping and every instance under it.
func (d *decoder) catalog(root *yaml.Node) []discovery.Instance {
	if root.Kind != yaml.MappingNode {
		d.bad(root, "", "the file must be a mapping with the key services")
		return nil
	}
	f, _ := d.fields(root, "", "services")
	services := f["services"]
	if services == nil {
		d.add(root.Line, "services", missingServices)
		return nil
	}
	list, _ := d.entries(services, "services")
	var out []discovery.Instance
	for _, e := range list {
		out = append(out, d.service(e)...)
	}
	return out
}

// service decodes the list of instances of one service. A service left
// empty has no instances.
func (d *decoder) service(e entry) []discovery.Instance {
	path := join("services", e.name)
	if e.name == "" || strings.ContainsFunc(e.name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		d.bad(e.key, path, "service names must be non-empty, without spaces")
	}
	if isNull(e.value) {
		return nil
	}
	if e.value.Kind != yaml.SequenceNode {
		d.bad(e.value, path, "must be a list of instances")
		return nil
	}
	ids := make(map[string]int)
	out := make([]discovery.Instance, 0, len(e.value.Content))
	for i, n := range e.value.Content {
		in := d.instance(resolve(n), fmt.Sprintf("%s[%d]", path, i), ids)
		in.Service = e.name
		out = append(out, in)
	}
	return out
}

// instance decodes one instance, applying the defaults of omitted fields.
// ids maps the IDs seen so far in the service to their lines.
func (d *decoder) instance(n *yaml.Node, path string, ids map[string]int) discovery.Instance {
	f, ok := d.fields(n, path, instanceFields...)
	if !ok {
		return discovery.Instance{}
	}
	d.require(n, path, f, "id", "address", "port")
	in := discovery.Instance{
		ID:         d.id(f["id"], path+".id", ids),
		Address:    d.address(f["address"], path+".address"),
		Port:       d.integer(f["port"], path+".port", 1, 65535),
		Node:       d.text(f["node"], path+".node"),
		Datacenter: d.text(f["datacenter"], path+".datacenter"),
		Zone:       d.text(f["zone"], path+".zone"),
		Tags:       d.tags(f["tags"], path+".tags"),
		Meta:       d.meta(f["meta"], path+".meta"),
		Weights:    d.weights(f["weights"], path+".weights"),
		Health:     d.health(f["health"], path+".health"),
	}

	// maintenance is a switch on top of health, so that an operator can
	// drain an instance without forgetting its health.
	if d.boolean(f["maintenance"], path+".maintenance") {
		in.Health = discovery.HealthMaintenance
	}
	return in
}

// id decodes an instance ID and checks that it is new within its service.
func (d *decoder) id(n *yaml.Node, path string, ids map[string]int) string {
	id := d.text(n, path)
	switch {
	case n == nil || n.Kind != yaml.ScalarNode:
	case id == "":
		d.bad(n, path, "must not be empty")
	case ids[id] != 0:
		d.bad(n, path, fmt.Sprintf("duplicate id, first used at line %d", ids[id]))
	default:
		ids[id] = n.Line
	}
	return id
}

// address decodes an instance address: an IP address or a hostname.
func (d *decoder) address(n *yaml.Node, path string) string {
	a := d.text(n, path)
	if n != nil && n.Kind == yaml.ScalarNode {
		if msg := checkAddress(a); msg != "" {
			d.bad(n, path, msg)
		}
	}
	return a
}

// tags decodes a list of non-empty tags.
func (d *decoder) tags(n *yaml.Node, path string) []string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.bad(n, path, "must be a list of strings")
		return nil
	}
	var out []string
	for i, t := range n.Content {
		t, p := resolve(t), fmt.Sprintf("%s[%d]", path, i)
		if isNull(t) || t.Kind == yaml.ScalarNode && t.Value == "" {
			d.bad(t, p, "must not be empty")
			continue
		}
		out = append(out, d.text(t, p))
	}
	return out
}

// meta decodes a mapping of string keys to string values; a null value is
// the empty string.
func (d *decoder) meta(n *yaml.Node, path string) map[string]string {
	if n == nil {
		return nil
	}
	list, _ := d.entries(n, path)
	if len(list) == 0 {
		return nil
	}
	out := make(map[string]string, len(list))
	for _, e := range list {
		p := join(path, e.name)
		if e.name == "" {
			d.add(e.key.Line, p, "keys must not be empty")
		}
		if !isNull(e.value) {
			out[e.name] = d.text(e.value, p)
		} else {
			out[e.name] = ""
		}
	}
	return out
}

// weights decodes Consul-style weights; each omitted one defaults to 1, as
// in Consul.
func (d *decoder) weights(n *yaml.Node, path string) discovery.Weights {
	w := discovery.Weights{Passing: 1, Warning: 1}
	if n == nil {
		return w
	}
	f, _ := d.fields(n, path, "passing", "warning")
	if v := f["passing"]; v != nil {
		w.Passing = d.integer(v, path+".passing", 1, maxWeight)
	}
	if v := f["warning"]; v != nil {
		w.Warning = d.integer(v, path+".warning", 0, maxWeight)
	}
	return w
}

// health decodes a health name; omitted, it is passing.
func (d *decoder) health(n *yaml.Node, path string) discovery.Health {
	if n == nil {
		return discovery.HealthPassing
	}
	h, ok := discovery.ParseHealth(n.Value)
	if n.Kind != yaml.ScalarNode || !ok {
		d.bad(n, path, "must be one of passing, warning, critical, maintenance")
	}
	return h
}
