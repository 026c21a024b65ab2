package loadclient

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/internal/bench/fleet"
)

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClusterNames(t *testing.T) {
	r, err := fleet.Build(fleet.Spec{Pools: 2, Endpoints: 1})
	if err != nil {
		t.Fatal(err)
	}
	withService := proto.Clone(r.Clusters[1]).(*clusterv3.Cluster)
	withService.EdsClusterConfig.ServiceName = "svc"
	tests := []struct {
		name      string
		cluster   *clusterv3.Cluster
		wantName  string
		wantAskAs string
	}{
		{"translated cluster", r.Clusters[0], fleet.PoolName(0), fleet.PoolName(0)},
		{"eds service name", withService, fleet.PoolName(1), "svc"},
		{"static cluster", &clusterv3.Cluster{Name: "static"}, "static", "static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, eds, err := clusterNames(marshal(t, tt.cluster))
			if err != nil {
				t.Fatal(err)
			}
			if string(name) != tt.wantName || string(eds) != tt.wantAskAs {
				t.Errorf("clusterNames = %q, %q; want %q, %q", name, eds, tt.wantName, tt.wantAskAs)
			}
		})
	}
}

func TestResourceNameErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"no name":   marshal(t, &clusterv3.Cluster{AltStatName: "x"}),
		"truncated": marshal(t, &clusterv3.Cluster{Name: "abc"})[:3],
	} {
		if _, err := resourceName(b); err == nil {
			t.Errorf("%s: resourceName succeeded, want an error", name)
		}
	}
}

func TestListenerRoutes(t *testing.T) {
	r, err := fleet.Build(fleet.Spec{Pools: 3, Endpoints: 1, Listeners: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range r.Listeners {
		name, routes, err := listenerRoutes(marshal(t, l))
		if err != nil {
			t.Fatal(err)
		}
		if name != l.GetName() {
			t.Errorf("listener name %q, want %q", name, l.GetName())
		}
		got = append(got, routes...)
	}
	var want []string
	for _, rc := range r.Routes {
		want = append(want, rc.GetName())
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("route names (-want +got):\n%s", diff)
	}
}

func TestSortedDiff(t *testing.T) {
	tests := []struct {
		name                string
		old, cur            []string
		wantAdded, wantGone []string
	}{
		{"from nothing", nil, []string{"a", "b"}, []string{"a", "b"}, nil},
		{"to nothing", []string{"a", "b"}, nil, nil, []string{"a", "b"}},
		{"same", []string{"a", "b"}, []string{"a", "b"}, nil, nil},
		{"mixed", []string{"a", "c", "e"}, []string{"b", "c", "d"}, []string{"b", "d"},
			[]string{"a", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, gone := sortedDiff(tt.old, tt.cur)
			if !slices.Equal(added, tt.wantAdded) || !slices.Equal(gone, tt.wantGone) {
				t.Errorf("sortedDiff = %v, %v; want %v, %v", added, gone, tt.wantAdded, tt.wantGone)
			}
		})
	}
}

func TestLoadAssignmentMarker(t *testing.T) {
	r, err := fleet.Build(fleet.Spec{Pools: 1, Endpoints: 10})
	if err != nil {
		t.Fatal(err)
	}
	cla := r.Endpoints[0]
	for _, c := range []fleet.Change{{Seq: 3, Endpoint: 1}, {Seq: 70000, Endpoint: 9},
		{Seq: 12, Endpoint: 4}} {
		got, err := loadAssignmentMarker(marshal(t, cla))
		if err != nil {
			t.Fatal(err)
		}
		if want := fleet.Marker(cla); got != want {
			t.Errorf("loadAssignmentMarker = %d, fleet.Marker = %d", got, want)
		}
		if cla, err = fleet.Apply(cla, c); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := loadAssignmentMarker(marshal(t, cla)); err != nil || got != 70000 {
		t.Errorf("loadAssignmentMarker after three changes = %d, %v; want 70000", got, err)
	}
	if _, err := loadAssignmentMarker(marshal(t, cla)[:20]); err == nil {
		t.Error("loadAssignmentMarker of a truncated assignment succeeded")
	}
}
