package server

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
	"unsafe"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spillway/spillway/xds/cache"
)

func clusters(n int, timeout int64) []cache.Resource {
	out := make([]cache.Resource, n)
	for i := range out {
		name := fmt.Sprintf("pool-%03d", i)
		out[i] = cache.Resource{Name: name, Message: &clusterv3.Cluster{
			Name:           name,
			ConnectTimeout: durationpb.New(time.Duration(timeout) * time.Second),
			LbPolicy:       clusterv3.Cluster_LEAST_REQUEST,
		}}
	}
	return out
}

// marshalled encodes v through the codec and checks that the bytes read
// back as v.
func marshalled(t *testing.T, c codec, v proto.Message) mem.BufferSlice {
	t.Helper()
	out, err := c.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	back := v.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(out.Materialize(), back); err != nil {
		t.Fatalf("codec output does not decode: %v", err)
	}
	if !proto.Equal(back, v) {
		t.Fatalf("codec output decodes to another message:\n got %v\nwant %v", back, v)
	}
	return out
}

// TestWholeListsAreSentFromOneEncoding checks that streams sent a type's
// whole list, over SotW and delta, are encoded with one shared copy of it,
// that the bytes read back as the response, and that a response built
// from a state since replaced is encoded on its own.
func TestWholeListsAreSentFromOneEncoding(t *testing.T) {
	c := cache.New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if _, err := c.Set(map[string][]cache.Resource{resource.ClusterType: clusters(50, 1)}); err != nil {
		t.Fatal(err)
	}
	cd := newCodec(c)

	first := func(delta bool) proto.Message {
		s := c.NewStream("", delta)
		t.Cleanup(s.Close)
		if delta {
			_, out, err := s.DeltaRequest(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType})
			if err != nil || len(out) != 1 {
				t.Fatalf("delta request: %v, %d responses", err, len(out))
			}
			return out[0]
		}
		_, out, err := s.SotwRequest(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType})
		if err != nil || len(out) != 1 {
			t.Fatalf("sotw request: %v, %d responses", err, len(out))
		}
		return out[0]
	}
	for _, delta := range []bool{false, true} {
		a := marshalled(t, cd, first(delta))
		b := marshalled(t, cd, first(delta))
		if len(a) != 2 || len(b) != 2 {
			t.Fatalf("delta %v: responses encoded in %d and %d buffers, want the shared list apart",
				delta, len(a), len(b))
		}
		if unsafe.SliceData(a[1].ReadOnlyData()) != unsafe.SliceData(b[1].ReadOnlyData()) {
			t.Errorf("delta %v: two streams got separate copies of the list", delta)
		}
	}

	// A response of the previous state is encoded whole.
	old := first(false)
	if _, err := c.Set(map[string][]cache.Resource{resource.ClusterType: clusters(50, 2)}); err != nil {
		t.Fatal(err)
	}
	if got := marshalled(t, cd, old); len(got) == 2 {
		t.Error("a response of a replaced state was sent from a shared encoding")
	}

	// A list that is not the whole of the type is encoded whole, too.
	s := c.NewStream("", false)
	defer s.Close()
	_, out, err := s.SotwRequest(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType,
		ResourceNames: []string{"pool-001", "pool-002"}})
	if err != nil || len(out) != 1 {
		t.Fatalf("named request: %v, %d responses", err, len(out))
	}
	if got := marshalled(t, cd, out[0]); len(got) == 2 {
		t.Error("a response of two named clusters was sent from a shared encoding")
	}
}
