package fleet

import (
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name                 string
		spec                 Spec
		listeners, perClient int
	}{
		{"one listener by default", Spec{Pools: 50, Endpoints: 10}, 1, 102},
		{"one listener per hundred pools", Spec{Pools: 250, Endpoints: 3}, 3, 506},
		{"listeners set", Spec{Pools: 10, Endpoints: 2, Listeners: 5}, 5, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Clusters) != tt.spec.Pools || len(r.Endpoints) != tt.spec.Pools {
				t.Errorf("%d clusters and %d load assignments, want %d of each",
					len(r.Clusters), len(r.Endpoints), tt.spec.Pools)
			}
			if len(r.Listeners) != tt.listeners || len(r.Routes) != tt.listeners {
				t.Errorf("%d listeners and %d routes, want %d of each",
					len(r.Listeners), len(r.Routes), tt.listeners)
			}
			if got := r.PerClient(); got != tt.perClient {
				t.Errorf("PerClient() = %d, want %d", got, tt.perClient)
			}
			for _, cla := range r.Endpoints {
				if n := countEndpoints(cla); n != tt.spec.Endpoints {
					t.Fatalf("%s has %d endpoints, want %d", cla.GetClusterName(), n, tt.spec.Endpoints)
				}
			}
		})
	}
}

func TestBuildRejectsBadSpec(t *testing.T) {
	for _, spec := range []Spec{
		{Pools: 0, Endpoints: 1},
		{Pools: 1, Endpoints: 0},
		{Pools: 1, Endpoints: MaxEndpoints + 1},
		{Pools: 2, Endpoints: 1, Listeners: 3},
	} {
		if _, err := Build(spec); err == nil {
			t.Errorf("Build(%+v) succeeded, want an error", spec)
		}
	}
}

func TestChangeOfVisitsEveryPool(t *testing.T) {
	for _, spec := range []Spec{{Pools: 50, Endpoints: 10}, {Pools: 1000, Endpoints: 10},
		{Pools: poolStride, Endpoints: 1}} {
		seen := map[int]bool{}
		for seq := int64(1); seq <= int64(spec.Pools); seq++ {
			c := spec.ChangeOf(seq)
			if c.Pool < 0 || c.Pool >= spec.Pools || c.Endpoint < 0 || c.Endpoint >= spec.Endpoints {
				t.Fatalf("pools %d: change %d = %+v is out of range", spec.Pools, seq, c)
			}
			seen[c.Pool] = true
		}
		if len(seen) != spec.Pools {
			t.Errorf("pools %d: %d changes touched %d pools", spec.Pools, spec.Pools, len(seen))
		}
	}
}

func TestMarkerAddress(t *testing.T) {
	tests := []struct {
		seq  int64
		want string
	}{
		{1, "100.64.0.1"},
		{256, "100.64.1.0"},
		{70000, "100.65.17.112"},
		{MaxSeq, "100.127.255.255"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := MarkerAddress(tt.seq)
			if err != nil || got != tt.want {
				t.Fatalf("MarkerAddress(%d) = %q, %v; want %q", tt.seq, got, err, tt.want)
			}
			if seq, ok := ParseMarker(got); !ok || seq != tt.seq {
				t.Errorf("ParseMarker(%q) = %d, %v; want %d", got, seq, ok, tt.seq)
			}
		})
	}
	for _, seq := range []int64{0, -1, MaxSeq + 1} {
		if _, err := MarkerAddress(seq); err == nil {
			t.Errorf("MarkerAddress(%d) succeeded, want an error", seq)
		}
	}
	for _, addr := range []string{"10.0.0.1", "100.63.0.1", "100.128.0.1", "::1", "pool"} {
		if _, ok := ParseMarker(addr); ok {
			t.Errorf("ParseMarker(%q) took it for a marker", addr)
		}
	}
}

func TestApplyAndMarker(t *testing.T) {
	spec := Spec{Pools: 3, Endpoints: 10}
	r, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	orig := r.Endpoints[0]
	before := proto.Clone(orig)
	if got := Marker(orig); got != 0 {
		t.Fatalf("Marker of a built assignment = %d, want 0", got)
	}

	one, err := Apply(orig, Change{Seq: 7, Endpoint: 2})
	if err != nil {
		t.Fatal(err)
	}
	two, err := Apply(one, Change{Seq: 9, Endpoint: 5})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, orig, protocmp.Transform()); diff != "" {
		t.Errorf("Apply changed its input (-before +after):\n%s", diff)
	}
	for _, tt := range []struct {
		cla     *endpointv3.ClusterLoadAssignment
		marker  int64
		changed int
	}{{one, 7, 1}, {two, 9, 2}} {
		if got := Marker(tt.cla); got != tt.marker {
			t.Errorf("Marker = %d, want %d", got, tt.marker)
		}
		if n := differingEndpoints(orig, tt.cla); n != tt.changed {
			t.Errorf("change %d: %d endpoints differ from the original, want %d", tt.marker, n, tt.changed)
		}
	}
}

func countEndpoints(cla *endpointv3.ClusterLoadAssignment) int {
	n := 0
	for _, loc := range cla.GetEndpoints() {
		n += len(loc.GetLbEndpoints())
	}
	return n
}

func differingEndpoints(a, b *endpointv3.ClusterLoadAssignment) int {
	n := 0
	for i, loc := range a.GetEndpoints() {
		for j, ep := range loc.GetLbEndpoints() {
			other := b.GetEndpoints()[i].GetLbEndpoints()[j]
			if !proto.Equal(ep, other) {
				n++
			}
		}
	}
	return n
}
