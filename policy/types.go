// Package policy is Spillway's configuration: the YAML schema, its defaults,
// strict decoding and validation. Errors name the file, line, field path and
// value, and every problem is reported at once.
//
// Durations are Go duration strings such as "15s" or "2m30s"; a bare number
// is refused. A field left out, or written as null, gets its default (see
// the field docs); a field written with an explicit zero keeps it. An
// optional section written with no value, such as "health_check:", is
// switched on with all its defaults.
package policy

import "time"

// Config is one Spillway configuration file after decoding and defaults.
type Config struct {
	// Discovery is where instances come from.
	Discovery Discovery `yaml:"discovery"`
	// XDS configures the ADS server that Envoys and gRPC clients reach.
	XDS XDS `yaml:"xds"`
	// Admin configures the HTTP server of health, metrics and debug pages.
	Admin Admin `yaml:"admin"`
	// Pools are the groups of instances, by name; each becomes one Envoy
	// cluster of that name. At least one is required. Names may hold only
	// a-z, 0-9, '_', '.' and '-'.
	Pools map[string]*Pool `yaml:"pools"`
	// Listeners are the Envoy listeners with their routes. At least one is
	// required unless a pool has protocol grpc.
	Listeners []*Listener `yaml:"listeners"`
	// Scaler configures `spillway scale`; serve ignores it.
	Scaler *Scaler `yaml:"scaler,omitempty"`

	// Path is the file the config was loaded from, for error messages and
	// for resolving relative paths; it is not part of the YAML.
	Path string `yaml:"-"`
}

// Discovery selects the source of instances: exactly one of Consul or File.
type Discovery struct {
	// Consul reads instances and their health from a Consul catalog;
	// "consul: {}" uses the defaults of every field.
	Consul *ConsulDiscovery `yaml:"consul,omitempty"`
	// File reads instances from a catalog file, for development and for
	// sites without Consul.
	File *FileDiscovery `yaml:"file,omitempty"`
}

// ConsulDiscovery configures the Consul catalog source.
type ConsulDiscovery struct {
	// Address is host:port or a URL of the Consul HTTP API. Empty means
	// CONSUL_HTTP_ADDR, else 127.0.0.1:8500.
	Address string `yaml:"address"`
	// Datacenter to read; empty means the agent's own.
	Datacenter string `yaml:"datacenter"`
	// TokenFile holds the ACL token. Empty means the file named by
	// CONSUL_HTTP_TOKEN_FILE, else CONSUL_HTTP_TOKEN, if set. A relative
	// path is relative to the config file. The token is read at start and
	// never logged.
	TokenFile string `yaml:"token_file"`
	// WaitTime bounds each blocking query; 0 means 5m, and more than 10m
	// is cut to 10m.
	WaitTime time.Duration `yaml:"wait_time"`
	// Stale allows any server to answer, trading freshness for load.
	Stale bool `yaml:"stale"`
	// TLS, when set, makes the source speak HTTPS to Consul.
	TLS *ConsulTLS `yaml:"tls,omitempty"`
}

// ConsulTLS configures HTTPS to the Consul agent. Files are PEM; relative
// paths are relative to the config file, and each named file must exist.
type ConsulTLS struct {
	// CAFile verifies the agent's certificate; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate; it needs KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key of CertFile.
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the name checked in the agent's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns off certificate checks; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// FileDiscovery reads the catalog from a YAML file that is re-read when it
// changes. A relative path is relative to the config file.
type FileDiscovery struct {
	// Path of the catalog file; required. It need not exist yet.
	Path string `yaml:"path"`
}

// XDS configures the ADS server.
type XDS struct {
	// Listen is the host:port of the gRPC server; default 127.0.0.1:18000.
	// Port 0 picks a free port.
	Listen string `yaml:"listen"`
	// Batch groups bursts of catalog changes into one snapshot.
	Batch Batch `yaml:"batch"`
	// Keepalive holds the gRPC server keepalive settings.
	Keepalive Keepalive `yaml:"keepalive"`
	// MaxConcurrentStreams caps the streams of one client connection;
	// default 100.
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams"`
	// MaxMessageBytes caps a message the server receives, such as a
	// request naming many resources; default 4 MiB. A larger request ends
	// its stream with RESOURCE_EXHAUSTED. Responses are not capped.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// TLS, when set, serves ADS over TLS and can require client
	// certificates; without it ADS is plaintext, fit only for loopback or a
	// trusted network.
	TLS *XDSTLS `yaml:"tls,omitempty"`
	// Access, when set, limits which listeners and pools each node
	// receives; without it every node receives everything.
	Access *Access `yaml:"access,omitempty"`
}

// XDSTLS serves ADS over TLS from PEM files. Relative paths are relative to
// the config file, and each named file must exist. The files are read again
// when their modification time changes (checked at most every few seconds),
// so certificates can be rotated without a restart.
type XDSTLS struct {
	// CertFile is the server certificate chain; required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key of CertFile; required.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, makes the server require a client
	// certificate signed by one of the CAs in it (mutual TLS); a client
	// without one fails the TLS handshake.
	ClientCAFile string `yaml:"client_ca_file"`
	// AllowedIdentities, when not empty, admits only the clients whose
	// certificate carries one of these identities, compared exactly with
	// each URI SAN (such as spiffe://fleet/edge), each DNS SAN and the
	// subject common name. Any other client fails the TLS handshake, and
	// the refusal is logged and counted. It needs ClientCAFile.
	AllowedIdentities []string `yaml:"allowed_identities"`
}

// Access defaults.
const (
	AccessAllow = "allow"
	AccessDeny  = "deny"
)

// Access limits what each node receives over xDS, by its node ID or node
// cluster. A node that is limited never receives, and cannot fetch by
// name, a resource outside its allowance.
//
// Node IDs and clusters are what each client says it is. Access scopes
// configuration to the nodes that should have it; only xds.tls with
// allowed_identities vets who may connect at all.
type Access struct {
	// Default is what a node that matches no rule receives: allow
	// (default) for everything, deny for nothing at all.
	Default string `yaml:"default"`
	// Rules are tried in order; the first whose match fits the node
	// decides what it receives.
	Rules []*AccessRule `yaml:"rules"`
}

// AccessRule grants the nodes it matches a part of the configuration. With
// neither Listeners nor Pools the nodes receive everything.
type AccessRule struct {
	// Match selects the nodes of the rule; required.
	Match AccessMatch `yaml:"match"`
	// Listeners are the names of the listeners (with their route
	// configurations) the nodes receive; empty means all. Each must be a
	// listener of this config.
	Listeners []string `yaml:"listeners"`
	// Pools are the names of the pools whose clusters and endpoints the
	// nodes receive, with the resources proxyless gRPC clients read for a
	// grpc pool; empty means all. Each must be a pool of this config, and
	// when set it must hold every pool the rule's listeners route to.
	Pools []string `yaml:"pools"`
}

// AccessMatch selects nodes by patterns in the syntax of Go's path.Match:
// "*" matches any run of characters other than "/", and "?" matches any
// one character. A node must match every pattern that is set, and at least
// one must be set.
type AccessMatch struct {
	// NodeID matches the node's ID, such as "edge-*".
	NodeID string `yaml:"node_id"`
	// NodeCluster matches the node's cluster, such as "edge".
	NodeCluster string `yaml:"node_cluster"`
}

// Batch is the quiet period after the last change and the longest a change
// may wait before a snapshot is built.
type Batch struct {
	// Quiet is how long the catalog must stay unchanged before a snapshot
	// is built; default 100ms. 0s builds one on every change.
	Quiet time.Duration `yaml:"quiet"`
	// MaxDelay is the longest a change waits while changes keep coming;
	// default 1s. It must not be shorter than Quiet.
	MaxDelay time.Duration `yaml:"max_delay"`
}

// Keepalive holds the gRPC server keepalive settings.
type Keepalive struct {
	// Time is the idle time after which the server pings a client;
	// default 30s.
	Time time.Duration `yaml:"time"`
	// Timeout is how long the server waits for the ping's answer before it
	// closes the connection; default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MinTime is the shortest client ping interval the server tolerates;
	// default 10s.
	MinTime time.Duration `yaml:"min_time"`
}

// Admin configures the admin HTTP server.
type Admin struct {
	// Listen is the host:port of the admin server, on loopback by default
	// so that metrics, readiness and debug output are not exposed.
	Listen string `yaml:"listen"`
	// Pprof serves /debug/pprof/ when true.
	Pprof bool `yaml:"pprof"`
}

// Protocol values of Pool.Protocol.
const (
	ProtocolHTTP1 = "http1"
	ProtocolHTTP2 = "http2"
	ProtocolGRPC  = "grpc"
)

// Protocol values of HealthCheck.Protocol.
const (
	HealthHTTP = "http"
	HealthGRPC = "grpc"
)

// Pool selects instances by service and tags and becomes one Envoy cluster.
type Pool struct {
	// Service is the discovery service name of the instances; required.
	Service string `yaml:"service"`
	// Tags must all be carried by an instance for it to join the pool.
	Tags []string `yaml:"tags"`
	// Protocol is http1 (default), http2 or grpc. grpc implies HTTP/2
	// upstream and also publishes the resources that proxyless gRPC clients
	// need for the target xds:///<pool>.
	Protocol string `yaml:"protocol"`
	// Balancing is the load-balancing policy; default least_request.
	Balancing Balancing `yaml:"balancing"`
	// Weights, when set, weight instances by a meta value such as the GPU
	// class.
	Weights *Weights `yaml:"weights,omitempty"`
	// SlowStart, when set, ramps up traffic to newly healthy instances.
	SlowStart *SlowStart `yaml:"slow_start,omitempty"`
	// HealthCheck, when set, makes Envoy check each instance actively.
	HealthCheck *HealthCheck `yaml:"health_check,omitempty"`
	// ConnectTimeout bounds each new connection to an instance; default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// CircuitBreakers, when set, cap what Envoy sends to the pool at once.
	CircuitBreakers *CircuitBreakers `yaml:"circuit_breakers,omitempty"`
	// OutlierDetection, when set, ejects instances that keep failing.
	OutlierDetection *OutlierDetection `yaml:"outlier_detection,omitempty"`
	// TLS, when set, makes Envoy speak TLS to the instances.
	TLS *UpstreamTLS `yaml:"tls,omitempty"`

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

// Balancing chooses the load-balancing policy of a pool. Each setting
// belongs to one policy; writing it for another policy is an error.
type Balancing struct {
	// Policy is least_request (default), round_robin, or ring_hash or
	// maglev, which routes with affinity need.
	Policy string `yaml:"policy"`
	// ChoiceCount is how many random instances least_request compares;
	// at least 2, default 2.
	ChoiceCount uint32 `yaml:"choice_count"`
	// ActiveRequestBias is how strongly least_request shuns instances with
	// many active requests when weights differ; at least 0, default 1.0.
	ActiveRequestBias float64 `yaml:"active_request_bias"`
	// MinRingSize applies to ring_hash: the fewest entries on the hash
	// ring; 1 to 8388608, default 1024.
	MinRingSize uint64 `yaml:"min_ring_size"`
	// TableSize applies to maglev: the lookup table size, which must be a
	// prime no larger than 5000011; default 65537.
	TableSize uint64 `yaml:"table_size"`
}

// Weights maps an instance meta value to an endpoint weight, for example
// meta gpu=a100 to 3 and gpu=t4 to 1. Instances whose meta value is not in
// Values get Default; with Default 0 they get their Consul weights.
type Weights struct {
	// MetaKey is the instance meta key whose value picks the weight;
	// required.
	MetaKey string `yaml:"meta_key"`
	// Values maps a meta value to a weight from 1 to 128.
	Values map[string]uint32 `yaml:"values"`
	// Default is the weight of instances whose value is not in Values:
	// 0 (default) for their own weights, else 1 to 128.
	Default uint32 `yaml:"default"`
}

// SlowStart ramps up traffic to instances that have just become healthy.
// Envoy supports it with least_request and round_robin balancing only.
type SlowStart struct {
	// Window is how long the ramp lasts; required, more than 0s.
	Window time.Duration `yaml:"window"`
	// Aggression shapes the ramp: 1.0 (default) is linear, larger values
	// give a new instance more of its share early, smaller ones less;
	// more than 0.
	Aggression float64 `yaml:"aggression"`
	// MinWeightPercent is the share of its weight an instance gets at the
	// start of the ramp; 0 to 100, default 10.
	MinWeightPercent float64 `yaml:"min_weight_percent"`
}

// HealthCheck is the active HTTP health check Envoy runs against each
// instance.
type HealthCheck struct {
	// Protocol is http, which requests Path and expects a 2xx answer, or
	// grpc, which calls the gRPC health checking service
	// (grpc.health.v1.Health/Check) and expects SERVING. Default grpc for
	// pools whose protocol is grpc, else http.
	Protocol string `yaml:"protocol"`
	// Path is the HTTP path to request, starting with "/"; required for
	// http checks, not allowed for grpc ones.
	Path string `yaml:"path"`
	// GRPCService is the service name a grpc check asks about; empty asks
	// for the health of the whole server.
	GRPCService string `yaml:"grpc_service"`
	// Host is the Host header (http) or authority (grpc) to send; empty
	// sends the pool's name.
	Host string `yaml:"host"`
	// Interval is the time between checks; default 15s.
	Interval time.Duration `yaml:"interval"`
	// Timeout is how long a check may take; default 5s, at most Interval.
	Timeout time.Duration `yaml:"timeout"`
	// NoTrafficInterval is the time between checks of a pool that gets no
	// traffic; default 60s.
	NoTrafficInterval time.Duration `yaml:"no_traffic_interval"`
	// HealthyThreshold is how many passes in a row mark an instance
	// healthy; at least 1, default 2.
	HealthyThreshold uint32 `yaml:"healthy_threshold"`
	// UnhealthyThreshold is how many failures in a row mark an instance
	// unhealthy; at least 1, default 3.
	UnhealthyThreshold uint32 `yaml:"unhealthy_threshold"`
}

// CircuitBreakers are the default-priority thresholds of a cluster. A zero
// or missing field leaves Envoy's default.
type CircuitBreakers struct {
	// MaxConnections caps the connections to the whole pool.
	MaxConnections uint32 `yaml:"max_connections"`
	// MaxPendingRequests caps the requests waiting for a connection.
	MaxPendingRequests uint32 `yaml:"max_pending_requests"`
	// MaxRequests caps the requests in flight to the whole pool.
	MaxRequests uint32 `yaml:"max_requests"`
	// MaxRetries caps the retries in flight to the whole pool.
	MaxRetries uint32 `yaml:"max_retries"`
}

// OutlierDetection ejects instances that keep failing.
type OutlierDetection struct {
	// Consecutive5xx is how many 5xx answers in a row eject an instance;
	// at least 1, default 5.
	Consecutive5xx uint32 `yaml:"consecutive_5xx"`
	// Interval is the time between ejection sweeps; default 10s.
	Interval time.Duration `yaml:"interval"`
	// BaseEjectionTime is the first ejection's length, which grows with
	// each repeat; default 30s.
	BaseEjectionTime time.Duration `yaml:"base_ejection_time"`
	// MaxEjectionPercent is the largest share of the pool ejected at once;
	// 1 to 100, default 50.
	MaxEjectionPercent uint32 `yaml:"max_ejection_percent"`
}

// UpstreamTLS makes Envoy speak TLS to the pool's instances. Files are PEM;
// relative paths are relative to the config file, and each named file must
// exist.
type UpstreamTLS struct {
	// SNI is the server name to send; empty sends none.
	SNI string `yaml:"sni"`
	// CAFile verifies the instances' certificates; empty skips the check.
	CAFile string `yaml:"ca_file"`
	// CertFile is Envoy's client certificate; it needs KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key of CertFile.
	KeyFile string `yaml:"key_file"`
}

// Listener is one Envoy listener with ordered routes.
type Listener struct {
	// Name of the Envoy listener; required and unique, of a-z, 0-9, '_',
	// '.' and '-'. It must not be the name of a grpc pool, whose resources
	// use the same name.
	Name string `yaml:"name"`
	// Address is the IP to listen on; default 0.0.0.0.
	Address string `yaml:"address"`
	// Port to listen on, 1 to 65535; required. Address and port together
	// are unique among listeners.
	Port uint32 `yaml:"port"`
	// Domains are the Host header values served; default ["*"], any.
	Domains []string `yaml:"domains"`
	// StreamIdleTimeout closes a downstream stream silent for this long;
	// 0 leaves Envoy's default.
	StreamIdleTimeout time.Duration `yaml:"stream_idle_timeout"`
	// TLS, when set, terminates TLS on the listener.
	TLS *ListenerTLS `yaml:"tls,omitempty"`
	// Routes are tried in order; the first match wins. At least one.
	Routes []*Route `yaml:"routes"`
}

// ListenerTLS terminates TLS on a listener with certificate files. Files are
// PEM; relative paths are relative to the config file, and each named file
// must exist.
type ListenerTLS struct {
	// CertFile is the server certificate chain; required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the private key of CertFile; required.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, requires and verifies client certificates.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Route sends matching requests to a pool. Routes are tried in order.
type Route struct {
	// Match selects the requests of the route.
	Match Match `yaml:"match"`
	// Pool is the name of the pool that serves them; required.
	Pool string `yaml:"pool"`
	// Timeout is the whole-request timeout; 0s disables it, which streams
	// need. Nil means the default, 15s.
	Timeout *time.Duration `yaml:"timeout,omitempty"`
	// IdleTimeout bounds the silence on a stream; nil leaves Envoy's. When
	// set it must be more than 0s.
	IdleTimeout *time.Duration `yaml:"idle_timeout,omitempty"`
	// Retries, when set, retries failed requests.
	Retries *Retries `yaml:"retries,omitempty"`
	// Affinity, when set, keeps a client on one instance.
	Affinity *Affinity `yaml:"affinity,omitempty"`
}

// Match selects requests: exactly one of Prefix or Path, plus headers that
// must all match.
type Match struct {
	// Prefix matches paths that start with it; it starts with "/".
	Prefix string `yaml:"prefix"`
	// Path matches one exact path; it starts with "/".
	Path string `yaml:"path"`
	// Headers must all match as well.
	Headers []HeaderMatch `yaml:"headers"`
}

// HeaderMatch matches one request header: by exact value, or by presence
// when Exact is empty.
type HeaderMatch struct {
	// Name of the header; required.
	Name string `yaml:"name"`
	// Exact is the value the header must have; empty only needs the header
	// to be present.
	Exact string `yaml:"exact"`
}

// Retries is a route's retry policy.
type Retries struct {
	// Attempts is how many retries a request may get; at least 1.
	Attempts uint32 `yaml:"attempts"`
	// On is a comma-separated list of Envoy retry_on conditions, such as
	// "5xx,reset"; default DefaultRetryOn.
	On string `yaml:"on"`
	// PerTryTimeout bounds each try; 0 leaves only the route timeout.
	PerTryTimeout time.Duration `yaml:"per_try_timeout"`
}

// Affinity keeps a client on one instance through a hash policy: exactly
// one of Cookie, Header or SourceIP. It needs a ring_hash or maglev pool.
type Affinity struct {
	// Cookie hashes on a cookie.
	Cookie *CookieAffinity `yaml:"cookie,omitempty"`
	// Header hashes on the value of the named request header.
	Header string `yaml:"header"`
	// SourceIP hashes on the client's address.
	SourceIP bool `yaml:"source_ip"`
}

// CookieAffinity hashes on a cookie, which Envoy sets when it is absent and
// TTL is non-zero.
type CookieAffinity struct {
	// Name of the cookie; required.
	Name string `yaml:"name"`
	// TTL is the lifetime of the cookie Envoy sets; 0 sets none.
	TTL time.Duration `yaml:"ttl"`
	// Path is the path attribute of the cookie Envoy sets.
	Path string `yaml:"path"`
}
