package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/spillway/spillway/xds/cache"
)

const endpointsType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

// poolNames is n names as an Envoy lists its endpoints: pool-0001, ...
func poolNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("pool-%04d", i+1)
	}
	return names
}

// sotwCase is a request as it comes off the wire, and what it holds.
type sotwCase struct {
	name string
	wire []byte
	want *discovery.DiscoveryRequest
}

// sotwCases are the requests the codec is tested and fuzzed with.
func sotwCases(tb testing.TB) []sotwCase {
	tb.Helper()
	marshalled := []struct {
		name string
		req  *discovery.DiscoveryRequest
	}{
		{"empty", &discovery.DiscoveryRequest{}},
		{"no names", &discovery.DiscoveryRequest{TypeUrl: endpointsType, VersionInfo: "3"}},
		{"one name", &discovery.DiscoveryRequest{ResourceNames: []string{"gpu"}}},
		{"empty name", &discovery.DiscoveryRequest{ResourceNames: []string{"", "gpu", ""}}},
		{"thousand names", &discovery.DiscoveryRequest{
			TypeUrl: endpointsType, VersionInfo: "41", ResponseNonce: "42", ResourceNames: poolNames(1000),
		}},
		{"wildcard", &discovery.DiscoveryRequest{ResourceNames: []string{"*"}}},
		{"wildcard and names", &discovery.DiscoveryRequest{ResourceNames: []string{"gpu", "*", "cpu"}}},
		{"unicode names", &discovery.DiscoveryRequest{ResourceNames: []string{"püöl", "池", "🚀"}}},
		{"every field", &discovery.DiscoveryRequest{
			VersionInfo: "7",
			Node: &corev3.Node{
				Id:      "envoy-1",
				Cluster: "edge",
				Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
					"zone": structpb.NewStringValue("a"),
				}},
			},
			ResourceNames: []string{"gpu", "cpu"},
			ResourceLocators: []*discovery.ResourceLocator{{
				Name:              "gpu",
				DynamicParameters: map[string]string{"k": "v"},
			}},
			TypeUrl:       endpointsType,
			ResponseNonce: "8",
			ErrorDetail:   &status.Status{Code: 3, Message: "endpoint gpu: no address"},
		}},
	}
	var cases []sotwCase
	for _, m := range marshalled {
		wire, err := proto.Marshal(m.req)
		if err != nil {
			tb.Fatalf("%s: %v", m.name, err)
		}
		cases = append(cases, sotwCase{m.name, wire, m.req})
	}

	// Nothing makes names come in one run: here they come before, between
	// and after the other fields, and a repeated type_url takes its last.
	var wire []byte
	wire = protowire.AppendTag(wire, 1, protowire.BytesType)
	wire = protowire.AppendString(wire, "9")
	wire = protowire.AppendTag(wire, 3, protowire.BytesType)
	wire = protowire.AppendString(wire, "before")
	wire = protowire.AppendTag(wire, 4, protowire.BytesType)
	wire = protowire.AppendString(wire, "type.googleapis.com/old")
	wire = protowire.AppendTag(wire, 3, protowire.BytesType)
	wire = protowire.AppendString(wire, "between")
	wire = protowire.AppendTag(wire, 4, protowire.BytesType)
	wire = protowire.AppendString(wire, endpointsType)
	wire = protowire.AppendTag(wire, 5, protowire.BytesType)
	wire = protowire.AppendString(wire, "10")
	wire = protowire.AppendTag(wire, 3, protowire.BytesType)
	wire = protowire.AppendString(wire, "after")
	cases = append(cases, sotwCase{"interleaved", wire, &discovery.DiscoveryRequest{
		VersionInfo:   "9",
		ResourceNames: []string{"before", "between", "after"},
		TypeUrl:       endpointsType,
		ResponseNonce: "10",
	}})
	return cases
}

// unmarshalSotw reads wire as gRPC hands it to the codec.
func unmarshalSotw(wire []byte) (*sotwRequest, error) {
	r := &sotwRequest{}
	err := newCodec(nil).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, r)
	return r, err
}

// sumOf is the cache.NameSum of names, as a server with decoded names
// would compute it.
func sumOf(names []string) uint64 {
	s := cache.NewNameSum()
	for _, name := range names {
		s.WriteString(name)
	}
	return s.Sum64()
}

func TestSotwRequestUnmarshal(t *testing.T) {
	for _, tc := range sotwCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			// The case itself must be what proto reads from its wire.
			var std discovery.DiscoveryRequest
			if err := proto.Unmarshal(tc.wire, &std); err != nil {
				t.Fatalf("proto.Unmarshal: %v", err)
			}
			if !proto.Equal(&std, tc.want) {
				t.Fatalf("proto reads %v, case says %v", &std, tc.want)
			}

			r, err := unmarshalSotw(tc.wire)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			wantReq := proto.Clone(tc.want).(*discovery.DiscoveryRequest)
			wantReq.ResourceNames = nil
			if !proto.Equal(&r.req, wantReq) {
				t.Errorf("req = %v, want %v", &r.req, wantReq)
			}
			wantNames := tc.want.GetResourceNames()
			if r.Len() != len(wantNames) {
				t.Errorf("Len() = %d, want %d", r.Len(), len(wantNames))
			}
			if r.Sum() != sumOf(wantNames) {
				t.Errorf("Sum() = %#x, want NameSum of the names %#x", r.Sum(), sumOf(wantNames))
			}
			for range 2 { // Decode reads the kept bytes again each time
				names, err := r.Decode()
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !slices.Equal(names, wantNames) {
					t.Fatalf("Decode() = %q, want %q", names, wantNames)
				}
			}
		})
	}
}

// TestSotwRequestKeepsItsOwnBytes checks that the names survive gRPC
// reusing the buffer it read the message into.
func TestSotwRequestKeepsItsOwnBytes(t *testing.T) {
	wire, err := proto.Marshal(&discovery.DiscoveryRequest{ResourceNames: []string{"gpu", "cpu"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := unmarshalSotw(wire)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wire {
		wire[i] = 'x'
	}
	names, err := r.Decode()
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if want := []string{"gpu", "cpu"}; !slices.Equal(names, want) {
		t.Errorf("Decode() after the buffer changed = %q, want %q", names, want)
	}
}

func TestSotwRequestSum(t *testing.T) {
	lists := [][]string{
		nil,
		{""},
		{"", ""},
		{"ab", "c"},
		{"a", "bc"},
		{"abc"},
		{"c", "ab"},
		{"a", "b"},
		{"b", "a"},
		{"*"},
		{"*", "a"},
		{"a", "*"},
		poolNames(1000),
		slices.Concat(poolNames(1000)[1:], poolNames(1)),
	}
	seen := map[uint64][]string{}
	for _, names := range lists {
		wire, err := proto.Marshal(&discovery.DiscoveryRequest{ResourceNames: names})
		if err != nil {
			t.Fatal(err)
		}
		r, err := unmarshalSotw(wire)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := seen[r.Sum()]; ok {
			t.Errorf("%q and %q have the same sum", abbrev(prev), abbrev(names))
		}
		seen[r.Sum()] = names
	}

	// The sum is of the names alone: an ACK of the same list at another
	// version, with the node, sums the same.
	a, err := proto.Marshal(&discovery.DiscoveryRequest{ResourceNames: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&discovery.DiscoveryRequest{
		VersionInfo:   "2",
		ResponseNonce: "3",
		Node:          &corev3.Node{Id: "envoy"},
		ResourceNames: []string{"a", "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ra, errA := unmarshalSotw(a)
	rb, errB := unmarshalSotw(b)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if ra.Sum() != rb.Sum() {
		t.Errorf("the same names sum to %#x in one request and %#x in another", ra.Sum(), rb.Sum())
	}
}

// abbrev shortens a long list for a failure message.
func abbrev(names []string) []string {
	if len(names) > 4 {
		return append(slices.Clip(names[:3]), fmt.Sprintf("... %d more", len(names)-3))
	}
	return names
}

func TestSotwRequestTruncated(t *testing.T) {
	full, err := proto.Marshal(&discovery.DiscoveryRequest{
		VersionInfo:   "7",
		Node:          &corev3.Node{Id: "envoy-1"},
		ResourceNames: []string{"gpu", strings.Repeat("n", 200)}, // a two-byte length
		TypeUrl:       endpointsType,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cut off anywhere, the message either ends between two fields, and
	// both read it, or inside one, and both refuse it.
	refused := 0
	for n := range len(full) {
		var std discovery.DiscoveryRequest
		stdErr := proto.Unmarshal(full[:n], &std)
		_, err := unmarshalSotw(full[:n])
		if (err == nil) != (stdErr == nil) {
			t.Errorf("first %d bytes: codec says %v, proto says %v", n, err, stdErr)
		}
		if err != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no prefix was refused")
	}

	// Inside a name, the error says so.
	var wire []byte
	wire = protowire.AppendTag(wire, 3, protowire.BytesType)
	wire = protowire.AppendVarint(wire, 10)
	wire = append(wire, "gpu"...)
	_, err = unmarshalSotw(wire)
	if err == nil || !strings.Contains(err.Error(), "resource_names") {
		t.Errorf("name cut short: err = %v, want one naming resource_names", err)
	}
}

func TestSotwRequestNotUTF8(t *testing.T) {
	var wire []byte
	for _, name := range []string{"gpu", "cpu", "p\xffol", "\xc3"} {
		wire = protowire.AppendTag(wire, 3, protowire.BytesType)
		wire = protowire.AppendString(wire, name)
	}
	wire = protowire.AppendTag(wire, 4, protowire.BytesType)
	wire = protowire.AppendString(wire, endpointsType)

	if err := proto.Unmarshal(wire, &discovery.DiscoveryRequest{}); err == nil {
		t.Fatal("proto.Unmarshal accepted a name that is not UTF-8")
	}
	// The codec does not look at the names until they are decoded.
	r, err := unmarshalSotw(wire)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if r.Len() != 4 || r.req.GetTypeUrl() != endpointsType {
		t.Errorf("Len() = %d, type_url %q; want 4, %q", r.Len(), r.req.GetTypeUrl(), endpointsType)
	}
	names, err := r.Decode()
	if err == nil || !strings.Contains(err.Error(), "resource_names[2]") {
		t.Errorf("Decode() = %q, %v; want an error naming resource_names[2]", names, err)
	}
}

// TestSotwRequestNamesOfWrongType checks that resource_names sent as a
// varint is read as proto reads it: as an unknown field, not as a name.
func TestSotwRequestNamesOfWrongType(t *testing.T) {
	var wire []byte
	wire = protowire.AppendTag(wire, 3, protowire.VarintType)
	wire = protowire.AppendVarint(wire, 300)
	wire = protowire.AppendTag(wire, 3, protowire.BytesType)
	wire = protowire.AppendString(wire, "gpu")
	wire = protowire.AppendTag(wire, 4, protowire.BytesType)
	wire = protowire.AppendString(wire, endpointsType)

	var std discovery.DiscoveryRequest
	if err := proto.Unmarshal(wire, &std); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	r, err := unmarshalSotw(wire)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	names, err := r.Decode()
	if err != nil || !slices.Equal(names, []string{"gpu"}) || r.Len() != 1 {
		t.Errorf("Decode() = %q, %v, Len() = %d; want [gpu], 1", names, err, r.Len())
	}
	if !slices.Equal(names, std.GetResourceNames()) {
		t.Errorf("codec reads names %q, proto %q", names, std.GetResourceNames())
	}
	std.ResourceNames = nil
	if !proto.Equal(&r.req, &std) {
		t.Errorf("req = %v, want %v", &r.req, &std)
	}
	if len(r.req.ProtoReflect().GetUnknown()) == 0 {
		t.Error("the varint field 3 was dropped, not kept as unknown")
	}
}

// TestCodecPassesThrough checks that every message but a state-of-the-
// world request goes through gRPC's own protobuf codec.
func TestCodecPassesThrough(t *testing.T) {
	c := newCodec(nil)
	if c.Name() != grpcproto.Name {
		t.Errorf("Name() = %q, want %q", c.Name(), grpcproto.Name)
	}

	delta := &discovery.DeltaDiscoveryRequest{
		Node:                     &corev3.Node{Id: "envoy-1"},
		TypeUrl:                  endpointsType,
		ResourceNamesSubscribe:   []string{"gpu", "cpu"},
		ResourceNamesUnsubscribe: []string{"old"},
		InitialResourceVersions:  map[string]string{"gpu": "3"},
		ResponseNonce:            "4",
	}
	wire, err := proto.Marshal(delta)
	if err != nil {
		t.Fatal(err)
	}
	var gotDelta discovery.DeltaDiscoveryRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &gotDelta); err != nil {
		t.Fatalf("Unmarshal DeltaDiscoveryRequest: %v", err)
	}
	if !proto.Equal(&gotDelta, delta) {
		t.Errorf("DeltaDiscoveryRequest = %v, want %v", &gotDelta, delta)
	}

	// A plain DiscoveryRequest, as a client reads none but a test might
	// send, keeps its names.
	sotw := &discovery.DiscoveryRequest{TypeUrl: endpointsType, ResourceNames: []string{"gpu"}}
	if wire, err = proto.Marshal(sotw); err != nil {
		t.Fatal(err)
	}
	var gotSotw discovery.DiscoveryRequest
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &gotSotw); err != nil {
		t.Fatalf("Unmarshal DiscoveryRequest: %v", err)
	}
	if !proto.Equal(&gotSotw, sotw) {
		t.Errorf("DiscoveryRequest = %v, want %v", &gotSotw, sotw)
	}

	res, err := anypb.New(&corev3.Node{Id: "resource"})
	if err != nil {
		t.Fatal(err)
	}
	resp := &discovery.DiscoveryResponse{
		VersionInfo:  "5",
		Resources:    []*anypb.Any{res},
		TypeUrl:      endpointsType,
		Nonce:        "6",
		ControlPlane: &corev3.ControlPlane{Identifier: "spillway"},
	}
	out, err := c.Marshal(resp)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	defer out.Free()
	want, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Materialize(); string(got) != string(want) {
		t.Errorf("Marshal = %x, want proto's %x", got, want)
	}
}

// namesOnly is a message of resource_names alone, declared as bytes. Proto
// reads into it the names as the codec does, without checking them for
// UTF-8, and keeps every other field, in order, as unknown bytes: what is
// left of the request without its names.
func namesOnly(tb testing.TB) protoreflect.MessageDescriptor {
	tb.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("spillway/xds/server/names_only.proto"),
		Syntax:  proto.String("proto3"),
		Package: proto.String("spillway.test"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("NamesOnly"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name:     proto.String("resource_names"),
				JsonName: proto.String("resourceNames"),
				Number:   proto.Int32(resourceNamesField),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(),
				Type:     descriptorpb.FieldDescriptorProto_TYPE_BYTES.Enum(),
			}},
		}},
	}
	file, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return file.Messages().Get(0)
}

// FuzzSotwRequest checks the codec against proto reading the same bytes:
// it refuses exactly what proto refuses, but for names that are not
// UTF-8, which it refuses only when they are decoded; and what it accepts
// it reads as proto does, names and sum included. It must never panic.
func FuzzSotwRequest(f *testing.F) {
	for _, tc := range sotwCases(f) {
		f.Add(tc.wire)
		f.Add(tc.wire[:len(tc.wire)/2])
	}
	f.Add([]byte("\x1a\x03p\xffl\x22\x01t"))            // a name not UTF-8
	f.Add([]byte("\x18\xac\x02\x1a\x03gpu"))            // field 3 as a varint
	f.Add([]byte("\x1b\x0a\x01x\x1c\x1a\x01a"))         // field 3 as a group
	f.Add([]byte("\x12\x04\x0a\x02\xff\xfe\x1a\x01a"))  // node.id not UTF-8
	f.Add([]byte("\x82\x80\x80\x80\x10\x00"))           // a field number past the last valid one
	f.Add([]byte("\x1a\x80\x80\x80\x80\x10"))           // a length that overflows
	f.Add([]byte("\x12\x0f\x1a\r\n\v\n\x040000\r0000")) // a metadata key sent twice, once as fixed32

	desc := namesOnly(f)
	namesField := desc.Fields().ByNumber(resourceNamesField)

	f.Fuzz(func(t *testing.T, wire []byte) {
		// What proto makes of the names, and of the rest without them.
		ref := dynamicpb.NewMessage(desc)
		var wantReq discovery.DiscoveryRequest
		refErr := proto.Unmarshal(wire, ref)
		if refErr == nil {
			refErr = proto.Unmarshal(ref.GetUnknown(), &wantReq)
		}

		r, err := unmarshalSotw(wire)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("codec says %v, proto with names as bytes says %v", err, refErr)
		}
		if err != nil {
			if proto.Unmarshal(wire, &discovery.DiscoveryRequest{}) == nil {
				t.Fatalf("codec refused what proto accepts: %v", err)
			}
			return
		}
		if !proto.Equal(&r.req, &wantReq) {
			t.Fatalf("req = %v, want %v", &r.req, &wantReq)
		}

		list := ref.Get(namesField).List()
		raw := make([]string, list.Len())
		firstBad := -1
		for i := range raw {
			raw[i] = string(list.Get(i).Bytes())
			if firstBad < 0 && !utf8.ValidString(raw[i]) {
				firstBad = i
			}
		}
		if r.Len() != len(raw) || r.Sum() != sumOf(raw) {
			t.Fatalf("Len() = %d, Sum() = %#x; want %d, %#x", r.Len(), r.Sum(), len(raw), sumOf(raw))
		}

		names, decErr := r.Decode()
		var std discovery.DiscoveryRequest
		stdErr := proto.Unmarshal(wire, &std)
		if firstBad >= 0 {
			want := fmt.Sprintf("resource_names[%d]", firstBad)
			if decErr == nil || !strings.Contains(decErr.Error(), want) {
				t.Fatalf("Decode() = %q, %v; want an error naming %s", names, decErr, want)
			}
			if stdErr == nil {
				t.Fatalf("proto accepted resource_names[%d] = %q", firstBad, raw[firstBad])
			}
			return
		}
		if decErr != nil {
			t.Fatalf("Decode: %v", decErr)
		}
		if stdErr != nil {
			t.Fatalf("proto refused what the codec reads in full: %v", stdErr)
		}
		if !slices.Equal(names, std.GetResourceNames()) {
			t.Fatalf("Decode() = %q, want %q", names, std.GetResourceNames())
		}
		std.ResourceNames = nil
		if !proto.Equal(&r.req, &std) {
			t.Fatalf("req = %v, want %v", &r.req, &std)
		}
	})
}

// BenchmarkSotwRequestDecode reads an Envoy's ACK of a thousand
// endpoints, as the codec does and as proto would.
func BenchmarkSotwRequestDecode(b *testing.B) {
	wire, err := proto.Marshal(&discovery.DiscoveryRequest{
		VersionInfo:   "41",
		ResourceNames: poolNames(1000),
		TypeUrl:       endpointsType,
		ResponseNonce: "42",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		c := newCodec(nil)
		for b.Loop() {
			var r sotwRequest
			if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req discovery.DiscoveryRequest
			if err := proto.Unmarshal(wire, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
