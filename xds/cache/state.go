package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// supportedTypes are the type URLs the cache serves, mapped to whether SotW
// responses of the type carry the full state (a resource missing from a
// response is deleted) or only the resources that changed.
var supportedTypes = map[string]bool{
	resource.ListenerType: true,
	resource.ClusterType:  true,
	resource.RouteType:    false,
	resource.EndpointType: false,
}

// typeOrder is the order in which a stream answers a change, so that an
// ADS client gets clusters before the endpoints, listeners and routes
// that use them.
var typeOrder = []string{
	resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType,
}

// entry is one resource of a state, marshalled once and shared by every
// response that carries this version of it.
type entry struct {
	name       string
	msg        proto.Message
	any        *anypb.Any
	version    string
	byNameOnly bool
}

// typeState holds the resources of one type URL.
type typeState struct {
	entries map[string]*entry
	// version is a hash of every entry's name, version and ByNameOnly flag.
	// SotW responses of the types that send only changes carry it: it
	// changes with the content and is equal on every replica, so a client
	// reconnecting with it elsewhere gets nothing new, and it costs nothing
	// per subscription.
	version string
	// wildcard lists the entries a wildcard subscription gets, sorted by
	// name, with the version of that list precomputed since most streams
	// subscribe that way.
	wildcard        []*entry
	wildcardVersion string
	// whole shares the wildcard list, and its encodings, among the
	// responses that carry all of it.
	whole wholeList
}

// state is one immutable set of resources of every supported type.
type state struct {
	types   map[string]*typeState
	version string
}

// emptyState is the state before the first Set.
func emptyState() *state {
	s := &state{types: make(map[string]*typeState, len(supportedTypes))}
	for typeURL := range supportedTypes {
		s.types[typeURL] = newTypeState(nil)
	}
	s.version = s.hash()
	return s
}

// size is the number of resources of every type.
func (s *state) size() int {
	n := 0
	for _, ts := range s.types {
		n += len(ts.entries)
	}
	return n
}

// hash is the version of the whole state: a hash of the version of each
// type, which covers every name, version and ByNameOnly flag.
func (s *state) hash() string {
	h := sha256.New()
	for _, typeURL := range sortedKeys(s.types) {
		writeFields(h, typeURL, s.types[typeURL].version)
	}
	return shortSum(h)
}

// newTypeState indexes entries and precomputes the wildcard view and the
// versions, once per state rather than once per response.
func newTypeState(entries map[string]*entry) *typeState {
	if entries == nil {
		entries = map[string]*entry{}
	}
	ts := &typeState{entries: entries}
	all := make([]*entry, 0, len(entries))
	for _, e := range entries {
		all = append(all, e)
	}
	sortEntries(all)

	h := sha256.New()
	for _, e := range all {
		flag := "0"
		if e.byNameOnly {
			flag = "1"
		} else {
			ts.wildcard = append(ts.wildcard, e)
		}
		writeFields(h, e.name, e.version, flag)
	}
	ts.version = shortSum(h)
	ts.wildcardVersion = viewVersion(ts.wildcard)
	return ts
}

// view returns the entries a subscription covers, sorted by name, and the
// version of that list. A wildcard subscription gets every entry that is not
// ByNameOnly plus the ByNameOnly ones it names.
func (ts *typeState) view(wildcard bool, names nameSet) ([]*entry, string) {
	var extra []*entry
	for _, name := range names.list {
		e, ok := ts.entries[name]
		if ok && (!wildcard || e.byNameOnly) {
			extra = append(extra, e)
		}
	}
	if wildcard && len(extra) == 0 {
		return ts.wildcard, ts.wildcardVersion
	}
	if wildcard {
		extra = append(extra, ts.wildcard...)
	}
	sortEntries(extra)
	return extra, viewVersion(extra)
}

// visible returns the entry of name if a subscription covers it.
func (ts *typeState) visible(name string, wildcard bool, names nameSet) *entry {
	e, ok := ts.entries[name]
	if !ok {
		return nil
	}
	if (wildcard && !e.byNameOnly) || names.has(name) {
		return e
	}
	return nil
}

// outdated returns the entries a subscription covers whose version differs
// from what the client has, unsorted, and how many covered entries the
// client has at all. With scope it looks only at those names, which
// suffices when the client had everything before they changed; without
// it, at every name the subscription covers. Either way it costs
// lookups, not a sorted view of the whole subscription.
func (ts *typeState) outdated(
	wildcard bool, names nameSet, known *heldSet, scope []string,
) (out []*entry, had int) {
	note := func(e *entry) {
		v, ok := known.get(e.name)
		if ok {
			had++
		}
		if !ok || v != e.version {
			out = append(out, e)
		}
	}
	switch {
	case scope != nil:
		for _, name := range scope {
			if e := ts.visible(name, wildcard, names); e != nil {
				note(e)
			}
		}
	case wildcard:
		for _, e := range ts.wildcard {
			note(e)
		}
		for _, name := range names.list {
			if e := ts.entries[name]; e != nil && e.byNameOnly {
				note(e)
			}
		}
	default:
		for _, name := range names.list {
			if e := ts.entries[name]; e != nil {
				note(e)
			}
		}
	}
	return out, had
}

// changedNames lists the resources that were added, removed, changed
// version or changed ByNameOnly between two states of a type.
func changedNames(prev, next *typeState) []string {
	var names []string
	for name, e := range next.entries {
		old := prev.entries[name]
		if old == nil || old.version != e.version || old.byNameOnly != e.byNameOnly {
			names = append(names, name)
		}
	}
	for name := range prev.entries {
		if _, ok := next.entries[name]; !ok {
			names = append(names, name)
		}
	}
	return names
}

// build validates and marshals resources into a new state, reusing the
// previous state's entries whose content did not change.
func (c *Cache) build(resources map[string][]Resource) (*state, error) {
	var errs []error
	for typeURL := range resources {
		if _, ok := supportedTypes[typeURL]; !ok {
			errs = append(errs, fmt.Errorf("unsupported type URL %q", typeURL))
		}
	}
	next := &state{types: make(map[string]*typeState, len(supportedTypes))}
	for typeURL := range supportedTypes {
		prev := c.state.types[typeURL]
		entries, err := c.buildType(typeURL, resources[typeURL], prev)
		errs = append(errs, err)
		if sameEntries(prev.entries, entries) {
			// Unchanged: keep the state of the type, its sorted lists and
			// the encodings that streams may share.
			next.types[typeURL] = prev
			continue
		}
		next.types[typeURL] = newTypeState(entries)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("setting xds resources: %w", err)
	}
	next.version = next.hash()
	return next, nil
}

// sameEntries reports whether two sets of entries hold the same entries.
func sameEntries(a, b map[string]*entry) bool {
	if len(a) != len(b) {
		return false
	}
	for name, e := range b {
		if a[name] != e {
			return false
		}
	}
	return true
}

// buildType builds the entries of one type, reporting every bad resource.
func (c *Cache) buildType(
	typeURL string, rs []Resource, prev *typeState,
) (map[string]*entry, error) {
	var errs []error
	entries := make(map[string]*entry, len(rs))
	for i, r := range rs {
		if err := checkResource(typeURL, r); err != nil {
			errs = append(errs, fmt.Errorf("%s resource %d (%q): %w", ShortType(typeURL), i, r.Name, err))
			continue
		}
		if _, dup := entries[r.Name]; dup {
			errs = append(errs, fmt.Errorf("%s resource %d: duplicate name %q",
				ShortType(typeURL), i, r.Name))
			continue
		}
		e, err := c.marshal(typeURL, r, prev.entries[r.Name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s resource %q: %w", ShortType(typeURL), r.Name, err))
			continue
		}
		entries[r.Name] = e
	}
	return entries, errors.Join(errs...)
}

// checkResource rejects a resource that Envoy would misread: no message, a
// message of another type, the wildcard name, or a name that differs from
// the message's own.
func checkResource(typeURL string, r Resource) error {
	if r.Message == nil {
		return errors.New("message is nil")
	}
	want := strings.TrimPrefix(typeURL, resource.APITypePrefix)
	if got := string(proto.MessageName(r.Message)); got != want {
		return fmt.Errorf("message is %s, want %s", got, want)
	}
	if r.Name == "" {
		return errors.New("name is empty")
	}
	if r.Name == wildcardKey {
		return errors.New(`name is "*", which xDS reserves for the wildcard`)
	}
	if inner := cachev3.GetResourceName(r.Message); inner != r.Name {
		return fmt.Errorf("name differs from the message's name %q", inner)
	}
	return nil
}

// marshal returns the entry of r. The same message as before is reused
// without marshalling; equal bytes keep the previous Any and version, so
// that responses already built keep sharing them.
func (c *Cache) marshal(typeURL string, r Resource, prev *entry) (*entry, error) {
	if prev != nil && prev.msg == r.Message {
		if prev.byNameOnly == r.ByNameOnly {
			return prev, nil
		}
		return &entry{name: r.Name, msg: r.Message, any: prev.any, version: prev.version,
			byNameOnly: r.ByNameOnly}, nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r.Message)
	if err != nil {
		return nil, fmt.Errorf("marshalling: %w", err)
	}
	c.marshals.Add(1)
	c.marshalTotal.Inc()

	e := &entry{name: r.Name, msg: r.Message, byNameOnly: r.ByNameOnly}
	if prev != nil && bytes.Equal(prev.any.Value, b) {
		e.any, e.version = prev.any, prev.version
		return e, nil
	}
	sum := sha256.Sum256(b)
	e.any = &anypb.Any{TypeUrl: typeURL, Value: b}
	e.version = hex.EncodeToString(sum[:8])
	return e, nil
}

// anys lists the shared marshalled forms of entries.
func anys(es []*entry) []*anypb.Any {
	out := make([]*anypb.Any, len(es))
	for i, e := range es {
		out[i] = e.any
	}
	return out
}

// viewVersion is the version of a sorted list of entries: a hash of their
// names and versions, so equal content gives equal versions on any server.
func viewVersion(view []*entry) string {
	h := sha256.New()
	for _, e := range view {
		writeFields(h, e.name, e.version)
	}
	return shortSum(h)
}

// writeFields hashes fields separated by NUL and ended by a newline; names
// and versions hold neither.
func writeFields(h hash.Hash, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			h.Write([]byte{0})
		}
		io.WriteString(h, f)
	}
	h.Write([]byte{'\n'})
}

func shortSum(h hash.Hash) string {
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ShortType names a type URL by its resource kind ("listener", "route",
// "cluster", "endpoint", else "other"), for errors, logs and bounded metric
// labels.
func ShortType(typeURL string) string {
	switch typeURL {
	case resource.ListenerType:
		return "listener"
	case resource.RouteType:
		return "route"
	case resource.ClusterType:
		return "cluster"
	case resource.EndpointType:
		return "endpoint"
	default:
		return "other"
	}
}
