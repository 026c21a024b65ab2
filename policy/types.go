// Package policy is Spillway's configuration: the YAML schema, its defaults,
// strict decoding and validation. Errors name the file, line, field path and
// value, and every problem is reported at once.
package policy

import "time"

// Config is one Spillway configuration file after decoding and defaults.
type Config struct {
	Discovery Discovery        `yaml:"discovery"`
	XDS       XDS              `yaml:"xds"`
	Admin     Admin            `yaml:"admin"`
	Pools     map[string]*Pool `yaml:"pools"`
	Listeners []*Listener      `yaml:"listeners"`
	Scaler    *Scaler          `yaml:"scaler,omitempty"`

	// Path is the file the config was loaded from, for error messages and
	// for resolving relative paths; it is not part of the YAML.
	Path string `yaml:"-"`
}

// Discovery selects the source of instances: exactly one of Consul or File.
type Discovery struct {
	Consul *ConsulDiscovery `yaml:"consul,omitempty"`
	File   *FileDiscovery   `yaml:"file,omitempty"`
}

// ConsulDiscovery configures the Consul catalog source.
type ConsulDiscovery struct {
	// Address is host:port or a URL of the Consul HTTP API. Empty means
	// CONSUL_HTTP_ADDR, else 127.0.0.1:8500.
	Address    string `yaml:"address"`
	Datacenter string `yaml:"datacenter"`
	// TokenFile holds the ACL token. Empty means CONSUL_HTTP_TOKEN, if set.
	TokenFile string `yaml:"token_file"`
	// WaitTime bounds each blocking query.
	WaitTime time.Duration `yaml:"wait_time"`
	// Stale allows any server to answer, trading freshness for load.
	Stale bool       `yaml:"stale"`
	TLS   *ConsulTLS `yaml:"tls,omitempty"`
}

// ConsulTLS configures HTTPS to the Consul agent.
type ConsulTLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// FileDiscovery reads the catalog from a YAML file that is re-read when it
// changes. A relative path is relative to the config file.
type FileDiscovery struct {
	Path string `yaml:"path"`
}

// XDS configures the ADS server.
type XDS struct {
	Listen string `yaml:"listen"`
	// Batch groups bursts of catalog changes into one snapshot.
	Batch Batch `yaml:"batch"`
	// Keepalive and stream limits of the gRPC server.
	Keepalive            Keepalive `yaml:"keepalive"`
	MaxConcurrentStreams uint32    `yaml:"max_concurrent_streams"`
	MaxMessageBytes      int       `yaml:"max_message_bytes"`
}

// Batch is the quiet period after the last change and the longest a change
// may wait before a snapshot is built.
type Batch struct {
	Quiet    time.Duration `yaml:"quiet"`
	MaxDelay time.Duration `yaml:"max_delay"`
}

// Keepalive holds the gRPC server keepalive settings.
type Keepalive struct {
	Time    time.Duration `yaml:"time"`
	Timeout time.Duration `yaml:"timeout"`
	// MinTime is the shortest client ping interval the server tolerates.
	MinTime time.Duration `yaml:"min_time"`
}

// Admin configures the admin HTTP server.
type Admin struct {
	Listen string `yaml:"listen"`
	Pprof  bool   `yaml:"pprof"`
}

// Protocol values of Pool.Protocol.
const (
	ProtocolHTTP1 = "http1"
	ProtocolHTTP2 = "http2"
	ProtocolGRPC  = "grpc"
)

// Pool selects instances by service and tags and becomes one Envoy cluster.
type Pool struct {
	Service string   `yaml:"service"`
	Tags    []string `yaml:"tags"`
	// Protocol is http1 (default), http2 or grpc. grpc implies HTTP/2
	// upstream and also publishes the resources that proxyless gRPC clients
	// need for the target xds:///<pool>.
	Protocol         string            `yaml:"protocol"`
	Balancing        Balancing         `yaml:"balancing"`
	Weights          *Weights          `yaml:"weights,omitempty"`
	SlowStart        *SlowStart        `yaml:"slow_start,omitempty"`
	HealthCheck      *HealthCheck      `yaml:"health_check,omitempty"`
	ConnectTimeout   time.Duration     `yaml:"connect_timeout"`
	CircuitBreakers  *CircuitBreakers  `yaml:"circuit_breakers,omitempty"`
	OutlierDetection *OutlierDetection `yaml:"outlier_detection,omitempty"`
	TLS              *UpstreamTLS      `yaml:"tls,omitempty"`

	// Name is the key of the pool in Config.Pools; set by the loader.
	Name string `yaml:"-"`
}

// Balancing policy names.
const (
	LeastRequest = "least_request"
	RoundRobin   = "round_robin"
	RingHash     = "ring_hash"
	Maglev       = "maglev"
)

// Balancing chooses the load-balancing policy of a pool.
type Balancing struct {
	Policy            string  `yaml:"policy"`
	ChoiceCount       uint32  `yaml:"choice_count"`
	ActiveRequestBias float64 `yaml:"active_request_bias"`
	// MinRingSize applies to ring_hash.
	MinRingSize uint64 `yaml:"min_ring_size"`
	// TableSize applies to maglev and must be prime.
	TableSize uint64 `yaml:"table_size"`
}

// Weights maps an instance meta value to an endpoint weight, for example
// meta gpu=a100 to 3 and gpu=t4 to 1. Instances whose meta value is not in
// Values get Default; with Default 0 they get their Consul weights.
type Weights struct {
	MetaKey string            `yaml:"meta_key"`
	Values  map[string]uint32 `yaml:"values"`
	Default uint32            `yaml:"default"`
}

// SlowStart ramps up traffic to instances that have just become healthy.
type SlowStart struct {
	Window           time.Duration `yaml:"window"`
	Aggression       float64       `yaml:"aggression"`
	MinWeightPercent float64       `yaml:"min_weight_percent"`
}

// HealthCheck is the active HTTP health check Envoy runs against each
// instance.
type HealthCheck struct {
	Path               string        `yaml:"path"`
	Host               string        `yaml:"host"`
	Interval           time.Duration `yaml:"interval"`
	Timeout            time.Duration `yaml:"timeout"`
	NoTrafficInterval  time.Duration `yaml:"no_traffic_interval"`
	HealthyThreshold   uint32        `yaml:"healthy_threshold"`
	UnhealthyThreshold uint32        `yaml:"unhealthy_threshold"`
}

// CircuitBreakers are the default-priority thresholds of a cluster.
type CircuitBreakers struct {
	MaxConnections     uint32 `yaml:"max_connections"`
	MaxPendingRequests uint32 `yaml:"max_pending_requests"`
	MaxRequests        uint32 `yaml:"max_requests"`
	MaxRetries         uint32 `yaml:"max_retries"`
}

// OutlierDetection ejects instances that keep failing.
type OutlierDetection struct {
	Consecutive5xx     uint32        `yaml:"consecutive_5xx"`
	Interval           time.Duration `yaml:"interval"`
	BaseEjectionTime   time.Duration `yaml:"base_ejection_time"`
	MaxEjectionPercent uint32        `yaml:"max_ejection_percent"`
}

// UpstreamTLS makes Envoy speak TLS to the pool's instances.
type UpstreamTLS struct {
	SNI      string `yaml:"sni"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Listener is one Envoy listener with ordered routes.
type Listener struct {
	Name              string        `yaml:"name"`
	Address           string        `yaml:"address"`
	Port              uint32        `yaml:"port"`
	Domains           []string      `yaml:"domains"`
	StreamIdleTimeout time.Duration `yaml:"stream_idle_timeout"`
	TLS               *ListenerTLS  `yaml:"tls,omitempty"`
	Routes            []*Route      `yaml:"routes"`
}

// ListenerTLS terminates TLS on a listener with certificate files.
type ListenerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires and verifies client certificates.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Route sends matching requests to a pool. Routes are tried in order.
type Route struct {
	Match Match  `yaml:"match"`
	Pool  string `yaml:"pool"`
	// Timeout is the whole-request timeout; 0s disables it, which streams
	// need. Nil means the default.
	Timeout *time.Duration `yaml:"timeout,omitempty"`
	// IdleTimeout bounds the silence on a stream; nil leaves Envoy's.
	IdleTimeout *time.Duration `yaml:"idle_timeout,omitempty"`
	Retries     *Retries       `yaml:"retries,omitempty"`
	Affinity    *Affinity      `yaml:"affinity,omitempty"`
}

// Match selects requests: exactly one of Prefix or Path, plus headers that
// must all match.
type Match struct {
	Prefix  string        `yaml:"prefix"`
	Path    string        `yaml:"path"`
	Headers []HeaderMatch `yaml:"headers"`
}

// HeaderMatch matches one request header: by exact value, or by presence
// when Exact is empty.
type HeaderMatch struct {
	Name  string `yaml:"name"`
	Exact string `yaml:"exact"`
}

// Retries is a route's retry policy.
type Retries struct {
	Attempts      uint32        `yaml:"attempts"`
	On            string        `yaml:"on"`
	PerTryTimeout time.Duration `yaml:"per_try_timeout"`
}

// Affinity keeps a client on one instance through a hash policy: exactly
// one of Cookie, Header or SourceIP. It needs a ring_hash or maglev pool.
type Affinity struct {
	Cookie   *CookieAffinity `yaml:"cookie,omitempty"`
	Header   string          `yaml:"header"`
	SourceIP bool            `yaml:"source_ip"`
}

// CookieAffinity hashes on a cookie, which Envoy sets when it is absent and
// TTL is non-zero.
type CookieAffinity struct {
	Name string        `yaml:"name"`
	TTL  time.Duration `yaml:"ttl"`
	Path string        `yaml:"path"`
}
