package translate

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// Registered so that Validate can unpack every extension the
	// translator packs, and Render can print them.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

const anyFullName protoreflect.FullName = "google.protobuf.Any"

// allValidator is implemented by every generated Envoy message.
type allValidator interface{ ValidateAll() error }

// Validate checks msg against its generated validation rules and, since
// those rules stop at an Any, unpacks every Any inside it, however deep,
// and validates the packed message the same way. An Any whose type is not
// registered in this binary is an error: what cannot be checked is not
// published.
func Validate(msg proto.Message) error {
	if msg == nil || !msg.ProtoReflect().IsValid() {
		return errors.New("no message")
	}
	if v, ok := msg.(allValidator); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	return validateAnys(msg.ProtoReflect())
}

// validateAnys walks the set fields of m and validates each Any it finds.
// Errors name the field path from m down to the failing Any.
func validateAnys(m protoreflect.Message) error {
	var errs []error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if err := visit(mv.Message()); err != nil {
					errs = append(errs, fmt.Errorf("%s[%q]: %w", fd.Name(), k.String(), err))
				}
				return true
			})
		case fd.Message() == nil:
		case fd.IsList():
			list := v.List()
			for i := range list.Len() {
				if err := visit(list.Get(i).Message()); err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", fd.Name(), i, err))
				}
			}
		default:
			if err := visit(v.Message()); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", fd.Name(), err))
			}
		}
		return true
	})
	return errors.Join(errs...)
}

func visit(m protoreflect.Message) error {
	switch md := m.Descriptor(); {
	case md.FullName() == anyFullName:
		return validateAny(m)
	case !mayHoldAny(md):
		// Most of a resource (addresses, durations, wrappers) cannot
		// hold an Any; skipping it keeps the walk cheap on large
		// endpoint lists.
		return nil
	}
	return validateAnys(m)
}

// anyHolders caches, by message type, whether a message of that type can
// contain an Any at any depth.
var anyHolders sync.Map // protoreflect.FullName -> bool

func mayHoldAny(md protoreflect.MessageDescriptor) bool {
	if v, ok := anyHolders.Load(md.FullName()); ok {
		return v.(bool)
	}
	// Only the answer for md itself is cached: inside a cycle of types, an
	// intermediate answer can be incomplete.
	holds := reachesAny(md, map[protoreflect.FullName]bool{})
	anyHolders.Store(md.FullName(), holds)
	return holds
}

func reachesAny(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if md.FullName() == anyFullName {
		return true
	}
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if sub := fd.Message(); sub != nil && reachesAny(sub, seen) {
			return true
		}
	}
	return false
}

// validateAny unpacks one Any through the global registry and validates
// what it holds. It reads the Any's fields by reflection so that it works
// for any implementation of the message.
func validateAny(m protoreflect.Message) error {
	fields := m.Descriptor().Fields()
	a := &anypb.Any{
		TypeUrl: m.Get(fields.ByName("type_url")).String(),
		Value:   m.Get(fields.ByName("value")).Bytes(),
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("unpacking %q: %w", a.GetTypeUrl(), err)
	}
	if err := Validate(inner); err != nil {
		return fmt.Errorf("%s: %w", inner.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}
