package envoyconfigs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protopath"
	"google.golang.org/protobuf/reflect/protorange"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// Every extension config the bootstrap files pack into an Any. Without
	// its package linked in, protojson could not resolve the @type, and
	// the file would be rejected; that is the point of importing them
	// here rather than relying on whatever else happens to be linked.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/fixed_heap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// Stages at which a bootstrap can be rejected, in the order they run.
const (
	stageYAML     = "yaml"     // not YAML, or not a tree JSON can express
	stageDecode   = "decode"   // unknown field, bad enum, unresolvable @type
	stageValidate = "validate" // Envoy's rules on the Bootstrap itself
	stageDeep     = "deep"     // Envoy's rules on a config packed in an Any
	stageObsolete = "obsolete" // a field or value Envoy marks deprecated
	stageNone     = ""         // accepted
)

// readTree parses a YAML file into the generic tree that JSON can encode.
func readTree(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	tree, err = jsonTree(tree)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return tree, nil
}

// jsonTree converts the maps the YAML decoder may produce into
// map[string]any, recursively. The decoder uses map[any]any when some key
// is not a string (`1: x`, `true: x`); Envoy's YAML loader would not take
// those either, so they are an error rather than being stringified.
func jsonTree(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			conv, err := jsonTree(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			v[k] = conv
		}
		return v, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			s, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("key %v (%T) is not a string", k, k)
			}
			conv, err := jsonTree(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s, err)
			}
			out[s] = conv
		}
		return out, nil
	case []any:
		for i, e := range v {
			conv, err := jsonTree(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			v[i] = conv
		}
		return v, nil
	}
	return v, nil
}

// decodeBootstrap turns a tree into a Bootstrap the way Envoy reads its
// config: an unknown field anywhere, an Any included, is an error.
func decodeBootstrap(tree any) (*bootstrapv3.Bootstrap, error) {
	data, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("encoding as JSON: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false}
	if err := opts.Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("decoding Bootstrap: %w", err)
	}
	return b, nil
}

// check runs every stage on a tree and returns the stage that rejected it
// with its error, or stageNone.
func check(tree any) (string, error) {
	b, err := decodeBootstrap(tree)
	if err != nil {
		return stageDecode, err
	}
	if err := b.ValidateAll(); err != nil {
		return stageValidate, err
	}
	if err := validateDeep(b); err != nil {
		return stageDeep, err
	}
	if err := rejectDeprecated(b); err != nil {
		return stageObsolete, err
	}
	return stageNone, nil
}

// checkFile is check for a file on disk.
func checkFile(path string) (string, error) {
	tree, err := readTree(path)
	if err != nil {
		return stageYAML, err
	}
	return check(tree)
}

// allValidator is implemented by every generated Envoy message.
type allValidator interface{ ValidateAll() error }

// validateDeep runs the generated ValidateAll on msg and on every message
// packed in an Any inside it, however deep: ValidateAll stops at an Any, so
// a bad extension config would otherwise pass. An Any whose type is not
// registered is an error, since it cannot be checked. Errors carry the
// path from msg to the failing message.
func validateDeep(msg proto.Message) error {
	var errs []error
	push := func(p protopath.Values) error {
		last := p.Index(-1)
		m, ok := last.Value.Interface().(protoreflect.Message)
		if !ok {
			return nil
		}
		switch last.Step.Kind() {
		case protopath.RootStep, protopath.AnyExpandStep:
			if v, ok := m.Interface().(allValidator); ok {
				if err := v.ValidateAll(); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", p.Path, err))
				}
			}
		}
		if err := resolvable(m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Path, err))
		}
		return nil
	}
	if err := (protorange.Options{Stable: true}).Range(msg.ProtoReflect(), push, nil); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// resolvable reports an error when m is an Any whose type this binary does
// not know; protorange leaves such an Any unexpanded without a word.
func resolvable(m protoreflect.Message) error {
	if m.Descriptor().FullName() != "google.protobuf.Any" {
		return nil
	}
	url := m.Get(m.Descriptor().Fields().ByName("type_url")).String()
	if _, err := protoregistry.GlobalTypes.FindMessageByURL(url); err != nil {
		return fmt.Errorf("packed type %q cannot be checked: %w", url, err)
	}
	return nil
}

// rejectDeprecated fails on every field or enum value, packed configs
// included, that Envoy's protos mark deprecated: Envoy warns about them
// at start, refuses them once their grace period ends, and a shipped
// bootstrap should not wait for that.
func rejectDeprecated(msg proto.Message) error {
	var errs []error
	push := func(p protopath.Values) error {
		last := p.Index(-1)
		if last.Step.Kind() != protopath.FieldAccessStep {
			return nil
		}
		fd := last.Step.FieldDescriptor()
		if isDeprecated(fd.Options()) {
			errs = append(errs, fmt.Errorf("%s: field is deprecated", p.Path))
		}
		if fd.Enum() != nil && !fd.IsList() && !fd.IsMap() {
			ev := fd.Enum().Values().ByNumber(last.Value.Enum())
			if ev != nil && isDeprecated(ev.Options()) {
				errs = append(errs, fmt.Errorf("%s: value %s is deprecated", p.Path, ev.Name()))
			}
		}
		return nil
	}
	if err := (protorange.Options{Stable: true}).Range(msg.ProtoReflect(), push, nil); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// isDeprecated reads the standard deprecated option of a field or enum
// value.
func isDeprecated(opts proto.Message) bool {
	switch o := opts.(type) {
	case *descriptorpb.FieldOptions:
		return o.GetDeprecated()
	case *descriptorpb.EnumValueOptions:
		return o.GetDeprecated()
	}
	return false
}
