package server

import (
	"fmt"
	"unicode/utf8"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protobuf "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/spillway/spillway/xds/cache"
)

// codec is gRPC's protobuf codec, except that it reads a state-of-the-
// world request into a sotwRequest: every field but resource_names is
// decoded as usual, and the names are only summed and kept as bytes. An
// Envoy repeats its thousand endpoint names in every ACK; decoding them
// into strings and comparing those with the stream's list was most of the
// server's work per change, and the list rarely changes.
//
// It also writes a response whose resources are a list the cache encoded
// once for every stream (cache.SharedEncoding) as that shared encoding
// plus the response's other fields, so that a thousand streams sent the
// same thousand clusters hold one copy of them rather than one each.
type codec struct {
	proto encoding.CodecV2
	cache *cache.Cache
}

func newCodec(c *cache.Cache) codec {
	return codec{proto: encoding.GetCodecV2(proto.Name), cache: c}
}

func (c codec) Name() string { return proto.Name }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if c.cache == nil {
		return c.proto.Marshal(v)
	}
	m, ok := v.(protobuf.Message)
	if !ok {
		return c.proto.Marshal(v)
	}
	shared := c.cache.SharedEncoding(m)
	if shared == nil {
		return c.proto.Marshal(v)
	}
	b, err := protobuf.Marshal(without(m, resourcesField))
	if err != nil {
		return nil, fmt.Errorf("marshalling %T: %w", v, err)
	}
	// The shared buffer is never freed to a pool: it belongs to the cache.
	return mem.BufferSlice{mem.SliceBuffer(b), mem.SliceBuffer(shared)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*sotwRequest)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	return r.unmarshal(data.Materialize())
}

// Field numbers: DiscoveryRequest.resource_names, and the resources of
// DiscoveryResponse and of DeltaDiscoveryResponse.
const (
	resourceNamesField = 3
	resourcesField     = 2
)

// without is a shallow copy of m without field num, for encoding only.
func without(m protobuf.Message, num protowire.Number) protobuf.Message {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != num {
			dst.Set(fd, v)
		}
		return true
	})
	return dst.Interface()
}

// sotwRequest is a DiscoveryRequest whose resource_names stay encoded: req
// holds every other field, and raw the whole message, from which Decode
// reads the names when the cache asks for them.
type sotwRequest struct {
	req   discovery.DiscoveryRequest
	raw   []byte
	count int
	sum   uint64
}

var _ cache.ResourceNames = (*sotwRequest)(nil)

// unmarshal reads b, which it keeps.
func (r *sotwRequest) unmarshal(b []byte) error {
	r.raw, r.count = b, 0
	sum := cache.NewNameSum()
	var rest []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("decoding DiscoveryRequest: %w", protowire.ParseError(n))
		}
		if num == resourceNamesField && typ == protowire.BytesType {
			name, m := protowire.ConsumeBytes(b[n:])
			if m < 0 {
				return fmt.Errorf("decoding DiscoveryRequest.resource_names: %w", protowire.ParseError(m))
			}
			sum.WriteName(name)
			r.count++
			b = b[n+m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return fmt.Errorf("decoding DiscoveryRequest field %d: %w", num, protowire.ParseError(m))
		}
		rest = append(rest, b[:n+m]...)
		b = b[n+m:]
	}
	r.sum = sum.Sum64()
	if err := protobuf.Unmarshal(rest, &r.req); err != nil {
		return fmt.Errorf("decoding DiscoveryRequest: %w", err)
	}
	return nil
}

// Len is the number of names.
func (r *sotwRequest) Len() int { return r.count }

// Sum is the cache.NameSum of the names.
func (r *sotwRequest) Sum() uint64 { return r.sum }

// Decode returns the names, checked to be UTF-8 as protobuf strings must be.
func (r *sotwRequest) Decode() ([]string, error) {
	out := make([]string, 0, r.count)
	b := r.raw
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if num == resourceNamesField && typ == protowire.BytesType {
			name, _ := protowire.ConsumeBytes(b[n:])
			if !utf8.Valid(name) {
				return nil, fmt.Errorf("resource_names[%d] is not UTF-8", len(out))
			}
			out = append(out, string(name))
		}
		b = b[n+m:]
	}
	return out, nil
}
