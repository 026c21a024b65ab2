package fleet

import (
	"fmt"
	"net/netip"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
)

// MaxSeq is the highest change number a marker address can carry: 22 bits
// of the 100.64.0.0/10 range.
const MaxSeq = 1<<22 - 1

// poolStride spreads consecutive changes over the pools; it is prime, so it
// visits every pool before it repeats one unless the pool count is a
// multiple of it.
const poolStride = 7919

// Change is one endpoint change: instance Endpoint of pool Pool is replaced
// by one at the marker address of Seq. Changes are numbered from 1, and the
// driver, the server and the clients all derive the same pool from Seq.
type Change struct {
	Seq      int64
	Pool     int
	Endpoint int
}

// ChangeOf returns the seq-th change of the fleet.
func (s Spec) ChangeOf(seq int64) Change {
	stride := int64(poolStride)
	if s.Pools%poolStride == 0 {
		stride = 1
	}
	return Change{
		Seq:      seq,
		Pool:     int((seq * stride) % int64(s.Pools)),
		Endpoint: int(seq % int64(s.Endpoints)),
	}
}

// Cluster is the name of the cluster whose endpoints the change touches.
func (c Change) Cluster() string {
	return PoolName(c.Pool)
}

// MarkerAddress is the address that change seq gives its endpoint. It lies
// in 100.64.0.0/10, which no pool instance uses, so a client can tell from
// a load assignment alone which changes it carries.
func MarkerAddress(seq int64) (string, error) {
	if seq < 1 || seq > MaxSeq {
		return "", fmt.Errorf("change %d is not within 1..%d", seq, MaxSeq)
	}
	return fmt.Sprintf("100.%d.%d.%d", 64+seq>>16, seq>>8&0xff, seq&0xff), nil
}

// ParseMarker decodes a marker address, reporting whether addr is one.
func ParseMarker(addr string) (int64, bool) {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	if b[0] != 100 || b[1] < 64 || b[1] >= 128 {
		return 0, false
	}
	return int64(b[1]-64)<<16 | int64(b[2])<<8 | int64(b[3]), true
}

// Apply returns a copy of cla with the change applied: its Endpoint-th
// endpoint, counted across localities, moves to the change's marker
// address. cla itself is left as it is, since servers share it.
func Apply(
	cla *endpointv3.ClusterLoadAssignment, c Change,
) (*endpointv3.ClusterLoadAssignment, error) {
	addr, err := MarkerAddress(c.Seq)
	if err != nil {
		return nil, err
	}
	out := proto.Clone(cla).(*endpointv3.ClusterLoadAssignment)
	var all []*endpointv3.LbEndpoint
	for _, loc := range out.GetEndpoints() {
		all = append(all, loc.GetLbEndpoints()...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("cluster %q has no endpoint to change", cla.GetClusterName())
	}
	sa := all[c.Endpoint%len(all)].GetEndpoint().GetAddress().GetSocketAddress()
	if sa == nil {
		return nil, fmt.Errorf("cluster %q: endpoint %d has no socket address",
			cla.GetClusterName(), c.Endpoint%len(all))
	}
	sa.Address = addr
	return out, nil
}

// Marker is the highest change that cla carries, or 0 when it carries
// none. A load assignment that carries change n is at least as new as
// every earlier change of its cluster.
func Marker(cla *endpointv3.ClusterLoadAssignment) int64 {
	var max int64
	for _, loc := range cla.GetEndpoints() {
		for _, ep := range loc.GetLbEndpoints() {
			if seq, ok := ParseMarker(socketAddress(ep)); ok && seq > max {
				max = seq
			}
		}
	}
	return max
}

func socketAddress(ep *endpointv3.LbEndpoint) string {
	return ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
}
