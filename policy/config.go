package policy

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/spillway/spillway/discovery"
)

// Resolve returns p as a path usable from the working directory: absolute
// paths stay as they are, and relative ones are taken relative to the
// directory of the config file, so that a config can name files next to
// it wherever spillway is started. An empty p stays empty.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// PoolNames returns the names of the pools, sorted.
func (c *Config) PoolNames() []string {
	return sortedKeys(c.Pools)
}

// listener returns the listener called name, or nil.
func (c *Config) listener(name string) *Listener {
	for _, l := range c.Listeners {
		if l != nil && l.Name == name {
			return l
		}
	}
	return nil
}

// Selectors returns what each pool takes from discovery, one selector per
// pool in the order of PoolNames. Two pools may share a selector.
func (c *Config) Selectors() []discovery.Selector {
	out := make([]discovery.Selector, 0, len(c.Pools))
	for _, name := range c.PoolNames() {
		p := c.Pools[name]
		out = append(out, discovery.Selector{Service: p.Service, Tags: slices.Clone(p.Tags)})
	}
	return out
}

// Summary describes the config in one line for logs, such as
// "3 pools, 1 listener, 4 routes, discovery file examples/catalog.yaml".
func (c *Config) Summary() string {
	routes := 0
	for _, l := range c.Listeners {
		routes += len(l.Routes)
	}
	s := fmt.Sprintf("%s, %s, %s, discovery %s",
		plural(len(c.Pools), "pool"), plural(len(c.Listeners), "listener"),
		plural(routes, "route"), c.Discovery.describe())
	if c.Scaler != nil {
		s += ", scaler for " + plural(len(c.Scaler.Pools), "pool")
	}
	return s
}

// describe names the discovery source and where it reads from.
func (d Discovery) describe() string {
	switch {
	case d.File != nil:
		return "file " + d.File.Path
	case d.Consul != nil && d.Consul.Address != "":
		return "consul " + d.Consul.Address
	case d.Consul != nil:
		return "consul (address from the environment)"
	}
	return "none"
}

// hasGRPCPool reports whether a pool serves proxyless gRPC clients, which
// need no Envoy listener of the config's own.
func (c *Config) hasGRPCPool() bool {
	for _, p := range c.Pools {
		if p.Protocol == ProtocolGRPC {
			return true
		}
	}
	return false
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
