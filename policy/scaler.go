package policy

import "time"

// Scaler configures `spillway scale`: where the Envoy stats come from and
// the targets and limits of each pool. The scaler reads each pool's
// instances from, drains them through, and elects its leader in the Consul
// of discovery.consul in the same file, so `spillway scale` needs that
// section; `spillway simulate` needs neither Consul nor Envoy.
type Scaler struct {
	// Stats is where the signals come from.
	Stats Stats `yaml:"stats"`
	// Pools are the pools to scale, by the name of a pool in Config.Pools;
	// at least one.
	Pools map[string]*ScalerPool `yaml:"pools"`
	// LockKey is the Consul KV key that several scalers lock to elect one
	// leader; empty disables election. The lock, like drain's maintenance
	// mode, goes through the Consul agent of discovery.consul.
	LockKey string `yaml:"lock_key"`
	// Admin is the scaler's own admin server (/healthz, /readyz,
	// /metrics); default listen 127.0.0.1:19001, so that serve and scale
	// can run side by side from one config file.
	Admin Admin `yaml:"admin"`
	// KEDA, when set, serves KEDA's external scaler protocol, through which
	// KEDA learns the signal of the pools whose actuator is keda; such a
	// pool needs it.
	KEDA *KEDA `yaml:"keda,omitempty"`
}

// KEDA is the gRPC server that KEDA's operator asks, as an external
// scaler, whether a pool should run and how many replicas it wants. Every
// scaler process serves it, but only the leader answers with a signal: a
// follower answers UNAVAILABLE, on which KEDA keeps the replicas as they
// are.
type KEDA struct {
	// Listen is the host:port of the gRPC server; required. KEDA's
	// operator runs in its own pods, so on Kubernetes this is usually
	// 0.0.0.0 with the port of the Service that a ScaledObject's
	// scalerAddress names. It serves without TLS.
	Listen string `yaml:"listen"`
}

// Stats says where the signal comes from and where the scaler sees each
// host's requests. The signal comes from Prometheus when `prometheus` is
// set, else from the Envoys themselves, named by exactly one of
// `envoy_admin` (a fixed list) or `envoy_service` (a Consul service).
// With `prometheus`, either Envoy field may still be set, and then serves
// only to see each host's active requests, which Prometheus does not
// have: scale-in then picks the least busy victims and waits for them to
// drain. Without one, victims are picked by address alone and every
// drain waits its whole deadline.
type Stats struct {
	// EnvoyAdmin lists the admin addresses of the Envoys, as host:port or
	// http(s) URLs; their stats are summed. Not with EnvoyService.
	EnvoyAdmin []string `yaml:"envoy_admin"`
	// EnvoyService is the Consul service the Envoys are registered as:
	// every round the scaler reads the admin APIs of its passing
	// instances (a warning or critical check, or maintenance, leaves one
	// out) at the service's address, else the node's. Not with
	// EnvoyAdmin.
	EnvoyService string `yaml:"envoy_service"`
	// EnvoyAdminPort is the Envoys' admin port, when it is not the port
	// the service is registered with; 0 means the registered port. Only
	// with EnvoyService.
	EnvoyAdminPort int `yaml:"envoy_admin_port"`
	// Prometheus is the http(s) URL of a Prometheus server that scrapes
	// the Envoys' /stats/prometheus, with the label envoy_cluster_name
	// kept. Rates and latency quantiles are taken over Interval, which
	// should therefore be at least twice Prometheus's scrape interval:
	// a shorter window holds fewer than two samples, the query answers
	// nothing and the pools freeze as stale.
	Prometheus string `yaml:"prometheus"`
	// Interval is the time between scrapes; default 5s.
	Interval time.Duration `yaml:"interval"`
	// StaleAfter marks a signal stale when no good scrape is newer; stale
	// signals freeze the pool. Default 3 × Interval, at least Interval.
	StaleAfter time.Duration `yaml:"stale_after"`
}

// ScalerPool holds the targets and limits of one pool.
type ScalerPool struct {
	// Min is the fewest replicas; at least 0, at most Max.
	Min int `yaml:"min"`
	// Max is the most replicas; at least 1.
	Max int `yaml:"max"`
	// Target is what each instance should carry.
	Target Target `yaml:"target"`
	// Tolerance is the relative distance from target within which nothing
	// changes, against flapping; at least 0 and below 1, default 0.1.
	Tolerance float64 `yaml:"tolerance"`
	// ScaleUp limits scaling out; defaults: stabilization 0s, max_step 4,
	// max_percent 100, period 60s.
	ScaleUp ScaleRule `yaml:"scale_up"`
	// ScaleDown limits scaling in; defaults: stabilization 300s,
	// max_step 2, max_percent 50, period 120s.
	ScaleDown ScaleRule `yaml:"scale_down"`
	// ToZero, when set, lets the pool scale to zero; it needs Min 0.
	ToZero *ToZero `yaml:"to_zero,omitempty"`
	// Panic sizes the pool for a spike; defaults: threshold 2, window 60s,
	// lead 30s.
	Panic Panic `yaml:"panic"`
	// StartTimeout is how long an instance may take from the actuator
	// accepting it to passing its health checks; default 10m. Until then
	// an instance asked for but not yet registered, or registered but not
	// yet passing, counts as starting: capacity on the way, not asked for
	// again. After it, such an instance no longer counts as starting.
	StartTimeout time.Duration `yaml:"start_timeout"`
	// Drain is how scale-in empties the instances it removes.
	Drain Drain `yaml:"drain"`
	// Actuator changes the replica count.
	Actuator Actuator `yaml:"actuator"`
}

// Target is what the scaler keeps each pool at: at least one of its fields
// above 0. With both, the pool gets the larger of the two answers.
type Target struct {
	// QueuePerInstance is the wanted number of active plus pending
	// requests per healthy instance.
	QueuePerInstance float64 `yaml:"queue_per_instance"`
	// LatencyP95 is the wanted 95th percentile of request latency.
	LatencyP95 time.Duration `yaml:"latency_p95"`
}

// ScaleRule limits one direction of scaling.
type ScaleRule struct {
	// Stabilization is how far back the scaler looks for the most cautious
	// recommendation before acting: the highest when scaling in, the
	// lowest when scaling out. 0s acts at once.
	Stabilization time.Duration `yaml:"stabilization"`
	// MaxStep is the most replicas added or removed per Period; 0 turns
	// this limit off.
	MaxStep int `yaml:"max_step"`
	// MaxPercent is the most replicas added or removed per Period, as a
	// percentage of the count at the start of the period; 0 turns this
	// limit off. With both limits on, the one allowing the larger change
	// applies; with both off the direction is unlimited.
	MaxPercent float64 `yaml:"max_percent"`
	// Period is the time over which MaxStep and MaxPercent count; more
	// than 0s.
	Period time.Duration `yaml:"period"`
}

// Panic is the scaler's answer to a spike: when the queue answer exceeds
// Threshold times the ready instances, the pool skips scale-up
// stabilization, does not scale down for Window, and is sized for the
// demand expected Lead ahead, the demand's growth over the last round
// carried forward (at most tenfold).
type Panic struct {
	// Threshold enters panic mode when the queue answer exceeds this
	// multiple of the ready instances; 0 turns panic mode off, otherwise
	// more than 1.
	Threshold float64 `yaml:"threshold"`
	// Window is how long panic mode lasts after it was last triggered; 0s
	// ends it as soon as the trigger does.
	Window time.Duration `yaml:"window"`
	// Lead is how far ahead panic mode sizes the pool; 0s sizes it for the
	// present demand. It should cover the time from asking for an instance
	// to its serving at full speed. Replaying examples/traces/spike.csv
	// (100× in one minute) with a warm pool of 15 s starts, the share of
	// requests that waited at most 2 s was 51% with lead 0s, 86% with 15s
	// and 99.5% with 30s, the default; longer leads gained nothing more,
	// since demand that doubles every few seconds outruns any pool sized
	// for the present before the instances asked for can serve.
	Lead time.Duration `yaml:"lead"`
}

// ToZero lets an idle pool scale to zero and come back on demand.
type ToZero struct {
	// IdleAfter is how long the pool must see no requests before it
	// scales to zero, whatever Min; required.
	IdleAfter time.Duration `yaml:"idle_after"`
	// Activation is the demand (active plus pending requests) at which a
	// pool at zero scales back up; 0 means 1.
	Activation float64 `yaml:"activation"`
}

// Drain bounds how long scale-in waits for a victim's requests to finish.
type Drain struct {
	// Deadline is the longest wait for a draining instance's active
	// requests to reach zero before it is removed anyway; default 5m.
	// 0s removes it without waiting.
	Deadline time.Duration `yaml:"deadline"`
	// RemoveTimeout is how long the platform has, once the actuator has
	// accepted a scale-in, to take the drained instances out of Consul;
	// default 2m. An instance still registered after it is taken out of
	// maintenance and serves again, so that nothing stays drained forever
	// when the platform kept it.
	RemoveTimeout time.Duration `yaml:"remove_timeout"`
}

// Actuator is how the scaler changes a pool's replica count: exactly one
// of `exec`, `webhook`, `kubernetes` or `keda`.
type Actuator struct {
	// Exec runs a command.
	Exec *ExecActuator `yaml:"exec,omitempty"`
	// Webhook posts to a URL.
	Webhook *WebhookActuator `yaml:"webhook,omitempty"`
	// Kubernetes sets the replicas of a workload.
	Kubernetes *KubernetesActuator `yaml:"kubernetes,omitempty"`
	// KEDA leaves the replicas to KEDA, which reads the pool's signal from
	// the server of `scaler.keda`; written `keda: {}`.
	KEDA *KEDAActuator `yaml:"keda,omitempty"`
}

// ExecActuator runs a command with the pool, counts and victims.
type ExecActuator struct {
	// Command is the program and its arguments, not run through a shell;
	// required. A relative program path with a slash in it, such as
	// ./scale.sh, is relative to the config file; a bare name is looked up
	// in PATH. `spillway scale` refuses to start when the program is not
	// there.
	Command []string `yaml:"command"`
	// Timeout kills the command when it runs longer; default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// WebhookActuator posts the decision as JSON to a URL.
type WebhookActuator struct {
	// URL is the absolute http(s) URL to post to; required.
	URL string `yaml:"url"`
	// Timeout bounds each request; default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// KubernetesActuator sets replicas through the scale subresource.
type KubernetesActuator struct {
	// Kubeconfig is the kubeconfig file; empty uses the in-cluster
	// service account.
	Kubeconfig string `yaml:"kubeconfig"`
	// Namespace of the resource; empty means the kubeconfig's, or the
	// pod's own in a cluster.
	Namespace string `yaml:"namespace"`
	// Resource is kind/name, e.g. deployment/gpu-inference; required.
	Resource string `yaml:"resource"`
}

// KEDAActuator marks a pool whose replicas KEDA owns. The scaler still
// decides every round, publishes the decision in its metrics and serves it
// to KEDA, but it changes nothing itself and never drains: KEDA's HPA
// picks the pods to remove on scale-in, so in-flight requests are
// protected only by the workload's own graceful shutdown. It has no
// settings.
type KEDAActuator struct{}
