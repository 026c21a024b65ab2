package scaler

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readClusters(t *testing.T, name string) map[string][]Instance {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := ParseClusters(f)
	if err != nil {
		t.Fatalf("ParseClusters(%s): %v", name, err)
	}
	return all
}

func TestParseClusters(t *testing.T) {
	all := readClusters(t, "clusters_a.json")
	want := []Instance{
		{Address: "10.0.1.11:8000", Active: 3, Healthy: true},
		{Address: "10.0.1.12:8000", Active: 0, Healthy: true},
		{Address: "10.0.1.13:8000", Active: 0, Healthy: false},
		{Address: "10.0.1.14:8000", Active: 1, Healthy: false, Draining: true},
		{Address: "10.0.1.15:8000", Active: 2, Healthy: true},
	}
	if diff := cmp.Diff(want, all["gpu"]); diff != "" {
		t.Errorf("gpu hosts (-want +got):\n%s", diff)
	}
	if len(all["xds_cluster"]) != 1 {
		t.Errorf("xds_cluster hosts = %v, want 1", all["xds_cluster"])
	}
}

func TestParseClustersBadJSON(t *testing.T) {
	_, err := ParseClusters(strings.NewReader(`{"cluster_statuses": [{"name": 3}]}`))
	if err == nil || !strings.Contains(err.Error(), "decoding clusters json") {
		t.Fatalf("err = %v, want a decoding error", err)
	}
}

func TestMergeAndPickVictims(t *testing.T) {
	merged := MergeInstances(readClusters(t, "clusters_a.json")["gpu"],
		readClusters(t, "clusters_b.json")["gpu"])
	actives := map[string]float64{}
	for _, in := range merged {
		actives[in.Address] = in.Active
	}
	wantActive := map[string]float64{
		"10.0.1.11:8000": 4, "10.0.1.12:8000": 0, "10.0.1.13:8000": 0,
		"10.0.1.14:8000": 1, "10.0.1.15:8000": 2,
	}
	if diff := cmp.Diff(wantActive, actives); diff != "" {
		t.Errorf("merged active (-want +got):\n%s", diff)
	}
	tests := []struct {
		n    int
		want []string
	}{
		{0, nil},
		{1, []string{"10.0.1.13:8000"}},
		{3, []string{"10.0.1.13:8000", "10.0.1.12:8000", "10.0.1.15:8000"}},
		{9, []string{"10.0.1.13:8000", "10.0.1.12:8000", "10.0.1.15:8000", "10.0.1.11:8000"}},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range PickVictims(merged, tt.n) {
			got = append(got, v.Address)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("PickVictims(%d) (-want +got):\n%s", tt.n, diff)
		}
	}
}
