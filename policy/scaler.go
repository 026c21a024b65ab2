package policy

import "time"

// Scaler configures `spillway scale`: where the Envoy stats come from and
// the targets and limits of each pool.
type Scaler struct {
	Stats Stats                  `yaml:"stats"`
	Pools map[string]*ScalerPool `yaml:"pools"`
	// LockKey is the Consul KV key that several scalers lock to elect one
	// leader; empty disables election.
	LockKey string `yaml:"lock_key"`
}

// Stats names the Envoys to scrape, or a Prometheus server to query.
type Stats struct {
	EnvoyAdmin []string      `yaml:"envoy_admin"`
	Prometheus string        `yaml:"prometheus"`
	Interval   time.Duration `yaml:"interval"`
	// StaleAfter marks a signal stale when no good scrape is newer.
	StaleAfter time.Duration `yaml:"stale_after"`
}

// ScalerPool holds the targets and limits of one pool.
type ScalerPool struct {
	Min       int       `yaml:"min"`
	Max       int       `yaml:"max"`
	Target    Target    `yaml:"target"`
	Tolerance float64   `yaml:"tolerance"`
	ScaleUp   ScaleRule `yaml:"scale_up"`
	ScaleDown ScaleRule `yaml:"scale_down"`
	ToZero    *ToZero   `yaml:"to_zero,omitempty"`
	Drain     Drain     `yaml:"drain"`
	Actuator  Actuator  `yaml:"actuator"`
}

// Target is what the scaler keeps each pool at.
type Target struct {
	QueuePerInstance float64       `yaml:"queue_per_instance"`
	LatencyP95       time.Duration `yaml:"latency_p95"`
}

// ScaleRule limits one direction of scaling.
type ScaleRule struct {
	Stabilization time.Duration `yaml:"stabilization"`
	MaxStep       int           `yaml:"max_step"`
	MaxPercent    float64       `yaml:"max_percent"`
	Period        time.Duration `yaml:"period"`
}

// ToZero lets an idle pool scale to zero and come back on demand.
type ToZero struct {
	IdleAfter  time.Duration `yaml:"idle_after"`
	Activation float64       `yaml:"activation"`
}

// Drain bounds how long scale-in waits for a victim's requests to finish.
type Drain struct {
	Deadline time.Duration `yaml:"deadline"`
}

// Actuator is how the scaler changes a pool's replica count: exactly one
// of its fields.
type Actuator struct {
	Exec       *ExecActuator       `yaml:"exec,omitempty"`
	Webhook    *WebhookActuator    `yaml:"webhook,omitempty"`
	Kubernetes *KubernetesActuator `yaml:"kubernetes,omitempty"`
}

// ExecActuator runs a command with the pool, counts and victims.
type ExecActuator struct {
	Command []string      `yaml:"command"`
	Timeout time.Duration `yaml:"timeout"`
}

// WebhookActuator posts the decision as JSON to a URL.
type WebhookActuator struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
}

// KubernetesActuator sets replicas through the scale subresource.
type KubernetesActuator struct {
	Kubeconfig string `yaml:"kubeconfig"`
	Namespace  string `yaml:"namespace"`
	// Resource is kind/name, e.g. deployment/gpu-inference.
	Resource string `yaml:"resource"`
}
