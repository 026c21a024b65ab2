package translate

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	maglevv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/maglev/v3"
	ringhashv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/ring_hash/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway/spillway/policy"
)

// httpProtocolOptionsKey is the typed_extension_protocol_options key under
// which Envoy looks for the upstream HTTP protocol options.
const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// buildCluster returns the EDS cluster of one pool.
func buildCluster(cfg *policy.Config, name string, pool *policy.Pool) (*clusterv3.Cluster, error) {
	lb, err := loadBalancingPolicy(name, pool)
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()},
		ConnectTimeout:       optionalDuration(pool.ConnectTimeout),
		LoadBalancingPolicy:  lb,
		HealthChecks:         healthChecks(pool),
		// An instance that leaves the catalog is gone, so Envoy should drop
		// it at once rather than keep it until its health check fails. An
		// instance that is leaving gracefully is sent as DRAINING instead.
		IgnoreHealthOnHostRemoval: true,
		CircuitBreakers:           circuitBreakers(pool.CircuitBreakers),
		OutlierDetection:          outlierDetection(pool.OutlierDetection),
	}

	if err := setUpstreamProtocol(c, pool); err != nil {
		return nil, err
	}
	if err := setUpstreamTLS(c, cfg, pool); err != nil {
		return nil, err
	}
	return c, nil
}

// loadBalancingPolicy returns the typed load-balancing policy of a pool.
// The legacy lb_policy enum is left at its zero value: proxyless gRPC
// clients reject any other value, and Envoy ignores it once
// load_balancing_policy is set.
func loadBalancingPolicy(name string, pool *policy.Pool) (*clusterv3.LoadBalancingPolicy, error) {
	first, err := lbPolicy(name, pool)
	if err != nil {
		return nil, err
	}
	policies := []*clusterv3.LoadBalancingPolicy_Policy{first}

	// Clients use the first policy in the list that they support. gRPC has
	// no maglev, so gRPC pools list ring hash after it: Envoy keeps maglev
	// and proxyless clients fall back to the other consistent hash.
	if pool.Protocol == policy.ProtocolGRPC && pool.Balancing.Policy == policy.Maglev {
		fallback, err := lbExtension("envoy.load_balancing_policies.ring_hash",
			&ringhashv3.RingHash{HashFunction: ringhashv3.RingHash_XX_HASH})
		if err != nil {
			return nil, err
		}
		policies = append(policies, fallback)
	}
	return &clusterv3.LoadBalancingPolicy{Policies: policies}, nil
}

// lbPolicy returns the policy named by pool.Balancing.Policy; empty means
// least request.
func lbPolicy(name string, pool *policy.Pool) (*clusterv3.LoadBalancingPolicy_Policy, error) {
	b := pool.Balancing
	switch b.Policy {
	case "", policy.LeastRequest:
		return lbExtension("envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{
			ChoiceCount: optionalUInt32(b.ChoiceCount),
			ActiveRequestBias: &corev3.RuntimeDouble{
				DefaultValue: b.ActiveRequestBias,
				RuntimeKey:   runtimeKey(name, "active_request_bias"),
			},
			SlowStartConfig: slowStart(name, pool.SlowStart),
		})
	case policy.RoundRobin:
		return lbExtension("envoy.load_balancing_policies.round_robin", &roundrobinv3.RoundRobin{
			SlowStartConfig: slowStart(name, pool.SlowStart),
		})
	}

	// Envoy has no slow start for the consistent hashes.
	if pool.SlowStart != nil && pool.SlowStart.Window > 0 {
		return nil, fmt.Errorf("balancing policy %q cannot have slow_start", b.Policy)
	}
	switch b.Policy {
	case policy.RingHash:
		// gRPC accepts only XX_HASH, which is also Envoy's default; the
		// zero value DEFAULT_HASH would be rejected by gRPC clients.
		return lbExtension("envoy.load_balancing_policies.ring_hash", &ringhashv3.RingHash{
			HashFunction:    ringhashv3.RingHash_XX_HASH,
			MinimumRingSize: optionalUInt64(b.MinRingSize),
		})
	case policy.Maglev:
		return lbExtension("envoy.load_balancing_policies.maglev", &maglevv3.Maglev{
			TableSize: optionalUInt64(b.TableSize),
		})
	}
	return nil, fmt.Errorf("unknown balancing policy %q", b.Policy)
}

func lbExtension(name string, cfg proto.Message) (*clusterv3.LoadBalancingPolicy_Policy, error) {
	a, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &clusterv3.LoadBalancingPolicy_Policy{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: name, TypedConfig: a},
	}, nil
}

// slowStart returns nil when slow start is off. Zero aggression and
// minimum weight leave Envoy's defaults (1.0 and 10%).
func slowStart(pool string, s *policy.SlowStart) *commonv3.SlowStartConfig {
	if s == nil || s.Window <= 0 {
		return nil
	}
	c := &commonv3.SlowStartConfig{SlowStartWindow: durationpb.New(s.Window)}
	if s.Aggression > 0 {
		c.Aggression = &corev3.RuntimeDouble{
			DefaultValue: s.Aggression,
			RuntimeKey:   runtimeKey(pool, "slow_start_aggression"),
		}
	}
	if s.MinWeightPercent > 0 {
		c.MinWeightPercent = &typev3.Percent{Value: s.MinWeightPercent}
	}
	return c
}

// runtimeKey names an Envoy runtime override, so that an operator can tune
// a live value without a config change.
func runtimeKey(pool, field string) string {
	return "spillway." + pool + "." + field
}

// healthChecks returns the active HTTP health check of a pool. HTTP/2
// pools are checked over HTTP/2, since they may not speak HTTP/1.1.
func healthChecks(pool *policy.Pool) []*corev3.HealthCheck {
	hc := pool.HealthCheck
	if hc == nil {
		return nil
	}
	codec := typev3.CodecClientType_HTTP1
	if speaksHTTP2(pool) {
		codec = typev3.CodecClientType_HTTP2
	}
	check := &corev3.HealthCheck{
		Timeout:            durationpb.New(hc.Timeout),
		Interval:           durationpb.New(hc.Interval),
		NoTrafficInterval:  optionalDuration(hc.NoTrafficInterval),
		HealthyThreshold:   wrapperspb.UInt32(hc.HealthyThreshold),
		UnhealthyThreshold: wrapperspb.UInt32(hc.UnhealthyThreshold),
		HealthChecker: &corev3.HealthCheck_HttpHealthCheck_{
			HttpHealthCheck: &corev3.HealthCheck_HttpHealthCheck{
				Host:            hc.Host,
				Path:            hc.Path,
				CodecClientType: codec,
			},
		},
	}
	if hc.Protocol == policy.HealthGRPC {
		// gRPC servers answer plain GETs with an error, so they are checked
		// through the standard health service instead.
		check.HealthChecker = &corev3.HealthCheck_GrpcHealthCheck_{
			GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{
				ServiceName: hc.GRPCService,
				Authority:   hc.Host,
			},
		}
	}
	return []*corev3.HealthCheck{check}
}

// circuitBreakers returns the default-priority thresholds; a zero field
// keeps Envoy's default.
func circuitBreakers(cb *policy.CircuitBreakers) *clusterv3.CircuitBreakers {
	if cb == nil {
		return nil
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		Priority:           corev3.RoutingPriority_DEFAULT,
		MaxConnections:     optionalUInt32(cb.MaxConnections),
		MaxPendingRequests: optionalUInt32(cb.MaxPendingRequests),
		MaxRequests:        optionalUInt32(cb.MaxRequests),
		MaxRetries:         optionalUInt32(cb.MaxRetries),
	}}}
}

// outlierDetection returns nil when it is off; a zero field keeps Envoy's
// default.
func outlierDetection(od *policy.OutlierDetection) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	return &clusterv3.OutlierDetection{
		Consecutive_5Xx:    optionalUInt32(od.Consecutive5xx),
		Interval:           optionalDuration(od.Interval),
		BaseEjectionTime:   optionalDuration(od.BaseEjectionTime),
		MaxEjectionPercent: optionalUInt32(od.MaxEjectionPercent),
	}
}

// setUpstreamProtocol makes Envoy speak HTTP/2 to http2 and grpc pools.
func setUpstreamProtocol(c *clusterv3.Cluster, pool *policy.Pool) error {
	switch pool.Protocol {
	case "", policy.ProtocolHTTP1:
		return nil
	case policy.ProtocolHTTP2, policy.ProtocolGRPC:
	default:
		return fmt.Errorf("unknown protocol %q", pool.Protocol)
	}
	opts, err := pack(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return err
	}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: opts}
	return nil
}

func speaksHTTP2(pool *policy.Pool) bool {
	return pool.Protocol == policy.ProtocolHTTP2 || pool.Protocol == policy.ProtocolGRPC
}

func optionalDuration(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

func optionalUInt32(v uint32) *wrapperspb.UInt32Value {
	if v == 0 {
		return nil
	}
	return wrapperspb.UInt32(v)
}

func optionalUInt64(v uint64) *wrapperspb.UInt64Value {
	if v == 0 {
		return nil
	}
	return wrapperspb.UInt64(v)
}
