package consul

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/spillway/spillway/discovery"
)

// TestState drives the merge state through a sequence of watch results and
// checks, after each, whether a catalog is due and what it holds.
func TestState(t *testing.T) {
	gpu := discovery.Instance{ID: "n/gpu-1", Service: "inference", Address: "10.0.0.1", Port: 8000}
	gpuWarn := gpu
	gpuWarn.Health = discovery.HealthWarning
	api1 := discovery.Instance{ID: "n/api-1", Service: "api", Address: "10.0.0.2", Port: 9000,
		Tags: []string{"http"}}
	api1Copy := api1
	api1Copy.Tags = []string{"http"} // equal content in a new slice
	down := errors.New("connection refused")

	type step struct {
		name   string
		result result
		// want is the catalog due after the step, as service -> instances;
		// nil means none is due.
		want   map[string][]discovery.Instance
		wantUp bool
	}
	steps := []step{
		{name: "first service answers: partial view is held back",
			result: result{service: "inference", instances: []discovery.Instance{gpu}}},
		{name: "second service fails: still nothing",
			result: result{service: "api", err: down}},
		{name: "second service answers: first whole view",
			result: result{service: "api", instances: []discovery.Instance{api1}},
			want: map[string][]discovery.Instance{
				"inference": {gpu}, "api": {api1}}, wantUp: true},
		{name: "same content again: nothing",
			result: result{service: "api", instances: []discovery.Instance{api1Copy}},
			wantUp: true},
		{name: "a failure keeps the last good list and sends nothing",
			result: result{service: "inference", err: down}},
		{name: "health change after recovery",
			result: result{service: "inference", instances: []discovery.Instance{gpuWarn}},
			want: map[string][]discovery.Instance{
				"inference": {gpuWarn}, "api": {api1}}, wantUp: true},
		{name: "zero instances is a real change",
			result: result{service: "api", instances: nil},
			want:   map[string][]discovery.Instance{"inference": {gpuWarn}}, wantUp: true},
	}

	st := newState([]string{"api", "inference"})
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			st.apply(s.result)
			if st.up() != s.wantUp {
				t.Errorf("up() = %v, want %v", st.up(), s.wantUp)
			}
			got := st.pending()
			if s.want == nil {
				if got != nil {
					t.Fatalf("catalog due: %v", content(got))
				}
				return
			}
			if got == nil {
				t.Fatal("no catalog due")
			}
			if diff := cmp.Diff(s.want, content(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("catalog (-want +got):\n%s", diff)
			}
			st.markSent()
		})
	}
}

func TestStateWithoutServices(t *testing.T) {
	st := newState(nil)
	got := st.pending()
	if got == nil || got.Len() != 0 {
		t.Fatalf("pending() = %v, want one empty catalog", got)
	}
	st.markSent()
	if got := st.pending(); got != nil {
		t.Fatalf("pending() after send = %v, want nil", content(got))
	}
}

// content returns a catalog's instances by service, for comparisons.
func content(c *discovery.Catalog) map[string][]discovery.Instance {
	out := map[string][]discovery.Instance{}
	for _, s := range c.Services() {
		out[s] = c.Instances(s)
	}
	return out
}
