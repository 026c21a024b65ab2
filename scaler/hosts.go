package scaler

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// Instance is one member of a pool as the Envoys see it: the scale-in
// candidate that an actuator removes.
type Instance struct {
	// Address is host:port, as Envoy's /clusters reports it.
	Address string `json:"address"`
	// ID is the platform's name for the instance (a Consul service ID or a
	// pod name) when the caller knows it; empty otherwise.
	ID string `json:"id,omitempty"`
	// Active is the requests in flight to the instance, summed over Envoys.
	Active float64 `json:"active"`
	// Healthy is true when every Envoy that knows the host routes to it.
	Healthy bool `json:"healthy"`
	// Draining is true when some Envoy has it as DRAINING: it is already on
	// its way out and must not be picked again.
	Draining bool `json:"draining,omitempty"`
}

// ParseClusters reads an Envoy /clusters?format=json body (the admin
// Clusters message) and returns the hosts of every cluster with their
// rq_active gauge and health.
func ParseClusters(r io.Reader) (map[string][]Instance, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading clusters body: %w", err)
	}
	var msg adminv3.Clusters
	opts := protojson.UnmarshalOptions{DiscardUnknown: true}
	if err := opts.Unmarshal(body, &msg); err != nil {
		return nil, fmt.Errorf("decoding clusters json: %w", err)
	}
	out := make(map[string][]Instance, len(msg.GetClusterStatuses()))
	for _, cs := range msg.GetClusterStatuses() {
		hosts := make([]Instance, 0, len(cs.GetHostStatuses()))
		for _, hs := range cs.GetHostStatuses() {
			hosts = append(hosts, instanceFrom(hs))
		}
		out[cs.GetName()] = hosts
	}
	return out, nil
}

func instanceFrom(hs *adminv3.HostStatus) Instance {
	in := Instance{Address: hostAddress(hs.GetAddress())}
	for _, m := range hs.GetStats() {
		if m.GetName() == "rq_active" {
			in.Active = float64(m.GetValue())
		}
	}
	st := hs.GetHealthStatus()
	eds := st.GetEdsHealthStatus()
	in.Draining = eds == corev3.HealthStatus_DRAINING
	in.Healthy = (eds == corev3.HealthStatus_HEALTHY || eds == corev3.HealthStatus_UNKNOWN) &&
		!st.GetFailedActiveHealthCheck() && !st.GetFailedOutlierCheck() &&
		!st.GetPendingActiveHc() && !st.GetPendingDynamicRemoval()
	return in
}

func hostAddress(a *corev3.Address) string {
	if sa := a.GetSocketAddress(); sa != nil {
		return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
	}
	if p := a.GetPipe(); p != nil {
		return p.GetPath()
	}
	return ""
}

// MergeInstances combines the views of several Envoys of one cluster: the
// active requests add up, a host is healthy only if every Envoy that lists
// it says so, and draining if any does. The result is sorted by address.
func MergeInstances(views ...[]Instance) []Instance {
	byAddr := make(map[string]*Instance)
	for _, view := range views {
		for _, in := range view {
			cur := byAddr[in.Address]
			if cur == nil {
				c := in
				byAddr[in.Address] = &c
				continue
			}
			cur.Active += in.Active
			cur.Healthy = cur.Healthy && in.Healthy
			cur.Draining = cur.Draining || in.Draining
		}
	}
	out := make([]Instance, 0, len(byAddr))
	for _, in := range byAddr {
		out = append(out, *in)
	}
	slices.SortFunc(out, func(a, b Instance) int { return cmp.Compare(a.Address, b.Address) })
	return out
}

// PickVictims chooses n instances to remove: never one already draining;
// first those no Envoy routes to (they carry no work), then the least busy,
// ties broken by address so that the choice is repeatable.
func PickVictims(hosts []Instance, n int) []Instance {
	var cands []Instance
	for _, h := range hosts {
		if !h.Draining {
			cands = append(cands, h)
		}
	}
	slices.SortFunc(cands, func(a, b Instance) int {
		if a.Healthy != b.Healthy {
			if !a.Healthy {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Active, b.Active), cmp.Compare(a.Address, b.Address))
	})
	return cands[:min(max(n, 0), len(cands))]
}
