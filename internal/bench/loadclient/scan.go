package loadclient

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/internal/bench/fleet"
)

// Field numbers read without decoding whole messages: a client holds a
// thousand streams on two cores shared with the server, so it reads only
// the names it needs.
const (
	fieldClusterName      = 1 // Cluster.name
	fieldClusterEDSConfig = 3 // Cluster.eds_cluster_config
	fieldEDSServiceName   = 2 // Cluster.EdsClusterConfig.service_name
	fieldResourceName     = 1 // ClusterLoadAssignment.cluster_name, RouteConfiguration.name

	fieldCLAEndpoints    = 2 // ClusterLoadAssignment.endpoints
	fieldLocalityLbEPs   = 2 // LocalityLbEndpoints.lb_endpoints
	fieldLbEndpoint      = 1 // LbEndpoint.endpoint
	fieldEndpointAddress = 1 // Endpoint.address
	fieldSocketAddress   = 1 // Address.socket_address
	fieldSocketIP        = 2 // SocketAddress.address
)

// markerPrefix starts every marker address; other addresses are skipped
// without being parsed.
var markerPrefix = []byte("100.")

// bytesField returns the first length-delimited field num of the message
// in b, and whether it is there.
func bytesField(b []byte, num protowire.Number) ([]byte, bool, error) {
	for len(b) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return nil, false, protowire.ParseError(tagLen)
		}
		b = b[tagLen:]
		if n == num && typ == protowire.BytesType {
			v, vLen := protowire.ConsumeBytes(b)
			if vLen < 0 {
				return nil, false, protowire.ParseError(vLen)
			}
			return v, true, nil
		}
		vLen := protowire.ConsumeFieldValue(n, typ, b)
		if vLen < 0 {
			return nil, false, protowire.ParseError(vLen)
		}
		b = b[vLen:]
	}
	return nil, false, nil
}

// eachBytesField calls fn with every length-delimited field num of the
// message in b, in order.
func eachBytesField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return protowire.ParseError(tagLen)
		}
		b = b[tagLen:]
		vLen := protowire.ConsumeFieldValue(n, typ, b)
		if vLen < 0 {
			return protowire.ParseError(vLen)
		}
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[:vLen])
			if err := fn(v); err != nil {
				return err
			}
		}
		b = b[vLen:]
	}
	return nil
}

// loadAssignmentMarker is fleet.Marker of an encoded load assignment,
// read without decoding it: a client of a busy fleet receives every
// changed assignment, and decoding each whole would cost the shared cores
// more than the server under test does.
func loadAssignmentMarker(cla []byte) (int64, error) {
	var marker int64
	err := eachBytesField(cla, fieldCLAEndpoints, func(loc []byte) error {
		return eachBytesField(loc, fieldLocalityLbEPs, func(lbEP []byte) error {
			ip, err := socketIP(lbEP)
			if err != nil || !bytes.HasPrefix(ip, markerPrefix) {
				return err
			}
			if seq, ok := fleet.ParseMarker(string(ip)); ok {
				marker = max(marker, seq)
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("reading load assignment: %w", err)
	}
	return marker, nil
}

// socketIP reads endpoint.address.socket_address.address of an encoded
// LbEndpoint; it is empty when any of them is missing.
func socketIP(lbEP []byte) ([]byte, error) {
	path := []protowire.Number{fieldLbEndpoint, fieldEndpointAddress, fieldSocketAddress,
		fieldSocketIP}
	b := lbEP
	for _, num := range path {
		v, ok, err := bytesField(b, num)
		if err != nil || !ok {
			return nil, err
		}
		b = v
	}
	return b, nil
}

// resourceName reads the name of a load assignment or route configuration.
func resourceName(b []byte) ([]byte, error) {
	name, ok, err := bytesField(b, fieldResourceName)
	if err != nil {
		return nil, fmt.Errorf("reading resource name: %w", err)
	}
	if !ok {
		return nil, errors.New("resource has no name")
	}
	return name, nil
}

// clusterNames reads a cluster's own name and the name Envoy asks EDS for:
// its eds_cluster_config.service_name when set, else its name.
func clusterNames(b []byte) (name, eds []byte, err error) {
	name, err = resourceName(b)
	if err != nil {
		return nil, nil, fmt.Errorf("reading cluster: %w", err)
	}
	cfg, ok, err := bytesField(b, fieldClusterEDSConfig)
	if err != nil || !ok {
		return name, name, err
	}
	svc, ok, err := bytesField(cfg, fieldEDSServiceName)
	if err != nil {
		return nil, nil, fmt.Errorf("reading cluster %q: %w", name, err)
	}
	if !ok || len(svc) == 0 {
		return name, name, nil
	}
	return name, svc, nil
}

// listenerRoutes decodes a listener and returns its name and the route
// configurations its HTTP connection managers ask RDS for.
func listenerRoutes(b []byte) (string, []string, error) {
	var l listenerv3.Listener
	if err := proto.Unmarshal(b, &l); err != nil {
		return "", nil, fmt.Errorf("decoding listener: %w", err)
	}
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(chains, l.GetDefaultFilterChain())
	}
	var routes []string
	for _, fc := range chains {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc == nil || !tc.MessageIs(&hcmv3.HttpConnectionManager{}) {
				continue
			}
			var hcm hcmv3.HttpConnectionManager
			if err := tc.UnmarshalTo(&hcm); err != nil {
				return "", nil, fmt.Errorf("decoding listener %q: %w", l.GetName(), err)
			}
			if rds := hcm.GetRds(); rds != nil {
				routes = append(routes, rds.GetRouteConfigName())
			}
		}
	}
	return l.GetName(), routes, nil
}

// interner shares one copy of each resource name among all streams, and
// lets a response's buffer go once its names are read.
type interner struct {
	mu    sync.Mutex
	names map[string]string
}

func newInterner() *interner {
	return &interner{names: map[string]string{}}
}

func (in *interner) bytes(b []byte) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.names[string(b)]; ok {
		return s
	}
	s := string(b)
	in.names[s] = s
	return s
}

func (in *interner) string(s string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.names[s]; ok {
		return v
	}
	in.names[s] = s
	return s
}

// sortedDiff compares two sorted, duplicate-free lists.
func sortedDiff(old, cur []string) (added, removed []string) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && old[i] < cur[j]):
			removed = append(removed, old[i])
			i++
		case i == len(old) || cur[j] < old[i]:
			added = append(added, cur[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return added, removed
}

// sortedValues lists the distinct values of m, sorted.
func sortedValues[V string | []string](m map[string]V) []string {
	var out []string
	for _, v := range m {
		switch v := any(v).(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
