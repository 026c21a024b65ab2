package cache

import (
	"sync"
	"sync/atomic"
	"unsafe"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Most streams of a fleet subscribe to every cluster and listener by
// wildcard and to every load assignment by name, so the first response of
// each type after they connect is the same list of resources for all of
// them: a thousand clusters make a response of several hundred kilobytes.
// Encoded per stream, a thousand Envoys reconnecting at once would take as
// many copies, hundreds of megabytes, and the CPU to write them. Instead,
// a response whose resources are a type's whole wildcard list points at
// one shared slice of that list, and the server's codec sends the list's
// encoding, made once per state, by reference (SharedEncoding).

// wholeList is the wildcard list of a type state, shared by the responses
// that carry all of it, with its encodings, each made on first use and
// published atomically so that SharedEncoding reads them without waiting.
type wholeList struct {
	sotwOnce  sync.Once
	sotw      atomic.Pointer[encodedList[*anypb.Any]]
	deltaOnce sync.Once
	delta     atomic.Pointer[encodedList[*discovery.Resource]]
}

// encodedList is a list of resources and its encoding as a repeated field.
type encodedList[T any] struct {
	list []T
	wire []byte
}

// Field numbers of the resources of a DiscoveryResponse and of a
// DeltaDiscoveryResponse.
const (
	sotwResourcesField  = 2
	deltaResourcesField = 2
)

// sotwAnys is the wildcard list as SotW resources, one slice for every
// response that carries all of it.
func (ts *typeState) sotwAnys() []*anypb.Any {
	ts.whole.sotwOnce.Do(func() {
		ts.whole.sotw.Store(encode(anys(ts.wildcard), sotwResourcesField))
	})
	return ts.whole.sotw.Load().list
}

// deltaResources is the wildcard list as delta resources, one slice for
// every response that carries all of it.
func (ts *typeState) deltaResources() []*discovery.Resource {
	ts.whole.deltaOnce.Do(func() {
		ts.whole.delta.Store(encode(deltaResources(ts.wildcard), deltaResourcesField))
	})
	return ts.whole.delta.Load().list
}

// encode encodes list as repeated field num.
func encode[T proto.Message](list []T, num protowire.Number) *encodedList[T] {
	var b []byte
	for _, m := range list {
		b = appendMessage(b, num, m)
	}
	return &encodedList[T]{list: list, wire: b}
}

// appendMessage appends m as field num of its parent message.
func appendMessage(b []byte, num protowire.Number, m proto.Message) []byte {
	opts := proto.MarshalOptions{Deterministic: true}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(opts.Size(m)))
	b, _ = opts.MarshalAppend(b, m) // marshalled before, so it cannot fail
	return b
}

// isWhole reports whether send, sorted by name, is the whole wildcard
// list of ts.
func (ts *typeState) isWhole(send []*entry) bool {
	if len(send) == 0 || len(send) != len(ts.wildcard) {
		return false
	}
	for i, e := range send {
		if e != ts.wildcard[i] {
			return false
		}
	}
	return true
}

// SharedEncoding returns the encoding of the resources of a response, a
// SotW *discovery.DiscoveryResponse or a *discovery.DeltaDiscoveryResponse,
// when they are a whole list the cache encoded once and shares, as
// repeated field 2 of the response; nil otherwise. The rest of the
// response is the caller's to encode: protobuf reads fields in any order.
func (c *Cache) SharedEncoding(resp proto.Message) []byte {
	switch r := resp.(type) {
	case *discovery.DiscoveryResponse:
		if ts := c.currentType(r.GetTypeUrl()); ts != nil {
			return sharedWire(ts.whole.sotw.Load(), r.Resources)
		}
	case *discovery.DeltaDiscoveryResponse:
		if ts := c.currentType(r.GetTypeUrl()); ts != nil {
			return sharedWire(ts.whole.delta.Load(), r.Resources)
		}
	}
	return nil
}

// sharedWire is the encoding of e when list is e's own list.
func sharedWire[T any](e *encodedList[T], list []T) []byte {
	if e == nil || len(list) == 0 || len(e.list) != len(list) ||
		unsafe.SliceData(e.list) != unsafe.SliceData(list) {
		return nil
	}
	return e.wire
}

// currentType is the type state of typeURL in the current state. A
// response built from an earlier state is encoded as usual.
func (c *Cache) currentType(typeURL string) *typeState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.types[typeURL]
}
