package policy

import (
	"time"
)

// DefaultRetryOn is the retry condition list of a route that sets retry
// attempts but no conditions: failures where the request most likely never
// reached the model, so retrying does not run it twice.
const DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,reset"

// DefaultRouteTimeout is the whole-request timeout of a route that does not
// set one.
const DefaultRouteTimeout = 15 * time.Second

// applyDefaults fills in every field that the file left out. It is the one
// place where defaults live. A default applies only when the field was not
// written (set tells which were), so that an explicit zero such as
// "stabilization: 0s" or "active_request_bias: 0" keeps its meaning and is
// checked by validation instead of being replaced. The defaults:
//
//	xds.listen                      127.0.0.1:18000
//	xds.batch                       quiet 100ms, max_delay 1s
//	xds.keepalive                   time 30s, timeout 10s, min_time 10s
//	xds.max_concurrent_streams      100
//	xds.max_message_bytes           4 MiB
//	xds.access.default (if present) allow
//	admin.listen                    127.0.0.1:19000
//	pool.protocol                   http1
//	pool.balancing.policy           least_request
//	  least_request                 choice_count 2, active_request_bias 1.0
//	  ring_hash                     min_ring_size 1024
//	  maglev                        table_size 65537
//	pool.connect_timeout            5s
//	pool.health_check (if present)  interval 15s, timeout 5s, healthy_threshold 2,
//	                                unhealthy_threshold 3, no_traffic_interval 60s
//	pool.slow_start (if present)    aggression 1.0, min_weight_percent 10
//	pool.outlier_detection (if present)
//	                                consecutive_5xx 5, interval 10s,
//	                                base_ejection_time 30s, max_ejection_percent 50
//	pool.weights.default            0 (the instance's own weights)
//	listener                        address 0.0.0.0, domains ["*"]
//	route.timeout                   15s (0s disables it)
//	route.retries.on                DefaultRetryOn, when attempts > 0
//	scaler.stats                    interval 5s, stale_after 3 × interval
//	scaler.admin.listen             127.0.0.1:19001
//	scaler pool                     tolerance 0.1, start_timeout 10m
//	  drain                         deadline 5m, remove_timeout 2m
//	  panic                         threshold 2, window 60s, lead 30s
//	  scale_up                      stabilization 0s, max_step 4, max_percent 100, period 60s
//	  scale_down                    stabilization 300s, max_step 2, max_percent 50, period 120s
//	  actuator exec / webhook       timeout 30s
func applyDefaults(c *Config, set fieldIndex) {
	defaultServers(c, set)
	for name, p := range c.Pools {
		defaultPool(p, keyPath("pools", name), set)
	}
	for i, l := range c.Listeners {
		defaultListener(l, itemPath("listeners", i), set)
	}
	if c.Scaler != nil {
		defaultScaler(c.Scaler, set)
	}
}

// def sets *field to value unless the file wrote the field at path.
func def[T any](set fieldIndex, path string, field *T, value T) {
	if !set.has(path) {
		*field = value
	}
}

func defaultServers(c *Config, set fieldIndex) {
	x := &c.XDS
	def(set, "xds.listen", &x.Listen, "127.0.0.1:18000")
	def(set, "xds.batch.quiet", &x.Batch.Quiet, 100*time.Millisecond)
	def(set, "xds.batch.max_delay", &x.Batch.MaxDelay, time.Second)
	def(set, "xds.keepalive.time", &x.Keepalive.Time, 30*time.Second)
	def(set, "xds.keepalive.timeout", &x.Keepalive.Timeout, 10*time.Second)
	def(set, "xds.keepalive.min_time", &x.Keepalive.MinTime, 10*time.Second)
	def(set, "xds.max_concurrent_streams", &x.MaxConcurrentStreams, 100)
	def(set, "xds.max_message_bytes", &x.MaxMessageBytes, 4<<20)
	if a := x.Access; a != nil {
		def(set, "xds.access.default", &a.Default, AccessAllow)
	}
	def(set, "admin.listen", &c.Admin.Listen, "127.0.0.1:19000")
}

func defaultPool(p *Pool, path string, set fieldIndex) {
	def(set, path+".protocol", &p.Protocol, ProtocolHTTP1)
	def(set, path+".connect_timeout", &p.ConnectTimeout, 5*time.Second)
	defaultBalancing(&p.Balancing, path+".balancing", set)
	if h := p.HealthCheck; h != nil {
		hp := path + ".health_check"
		proto := HealthHTTP
		if p.Protocol == ProtocolGRPC {
			proto = HealthGRPC
		}
		def(set, hp+".protocol", &h.Protocol, proto)
		def(set, hp+".interval", &h.Interval, 15*time.Second)
		def(set, hp+".timeout", &h.Timeout, 5*time.Second)
		def(set, hp+".healthy_threshold", &h.HealthyThreshold, 2)
		def(set, hp+".unhealthy_threshold", &h.UnhealthyThreshold, 3)
		def(set, hp+".no_traffic_interval", &h.NoTrafficInterval, 60*time.Second)
	}
	if s := p.SlowStart; s != nil {
		def(set, path+".slow_start.aggression", &s.Aggression, 1.0)
		def(set, path+".slow_start.min_weight_percent", &s.MinWeightPercent, 10)
	}
	if o := p.OutlierDetection; o != nil {
		op := path + ".outlier_detection"
		def(set, op+".consecutive_5xx", &o.Consecutive5xx, 5)
		def(set, op+".interval", &o.Interval, 10*time.Second)
		def(set, op+".base_ejection_time", &o.BaseEjectionTime, 30*time.Second)
		def(set, op+".max_ejection_percent", &o.MaxEjectionPercent, 50)
	}
}

// defaultBalancing fills in the settings of the chosen policy only, so that
// validation can tell a setting that does not belong to the policy.
func defaultBalancing(b *Balancing, path string, set fieldIndex) {
	def(set, path+".policy", &b.Policy, LeastRequest)
	switch b.Policy {
	case LeastRequest:
		def(set, path+".choice_count", &b.ChoiceCount, 2)
		def(set, path+".active_request_bias", &b.ActiveRequestBias, 1.0)
	case RingHash:
		def(set, path+".min_ring_size", &b.MinRingSize, 1024)
	case Maglev:
		def(set, path+".table_size", &b.TableSize, 65537)
	}
}

func defaultListener(l *Listener, path string, set fieldIndex) {
	def(set, path+".address", &l.Address, "0.0.0.0")
	def(set, path+".domains", &l.Domains, []string{"*"})
	for i, r := range l.Routes {
		rp := itemPath(path+".routes", i)
		if r.Timeout == nil {
			t := DefaultRouteTimeout
			r.Timeout = &t
		}
		if r.Retries != nil && r.Retries.Attempts > 0 {
			def(set, rp+".retries.on", &r.Retries.On, DefaultRetryOn)
		}
	}
}

func defaultScaler(s *Scaler, set fieldIndex) {
	def(set, "scaler.stats.interval", &s.Stats.Interval, 5*time.Second)
	def(set, "scaler.stats.stale_after", &s.Stats.StaleAfter, 3*s.Stats.Interval)
	def(set, "scaler.admin.listen", &s.Admin.Listen, "127.0.0.1:19001")
	for name, p := range s.Pools {
		path := keyPath("scaler.pools", name)
		def(set, path+".tolerance", &p.Tolerance, 0.1)
		def(set, path+".start_timeout", &p.StartTimeout, 10*time.Minute)
		def(set, path+".panic.threshold", &p.Panic.Threshold, 2.0)
		def(set, path+".panic.window", &p.Panic.Window, 60*time.Second)
		def(set, path+".panic.lead", &p.Panic.Lead, 30*time.Second)
		defaultRule(&p.ScaleUp, path+".scale_up", set, ScaleRule{
			MaxStep: 4, MaxPercent: 100, Period: 60 * time.Second,
		})
		defaultRule(&p.ScaleDown, path+".scale_down", set, ScaleRule{
			Stabilization: 300 * time.Second, MaxStep: 2, MaxPercent: 50,
			Period: 120 * time.Second,
		})
		def(set, path+".drain.deadline", &p.Drain.Deadline, 5*time.Minute)
		def(set, path+".drain.remove_timeout", &p.Drain.RemoveTimeout, 2*time.Minute)
		if e := p.Actuator.Exec; e != nil {
			def(set, path+".actuator.exec.timeout", &e.Timeout, 30*time.Second)
		}
		if w := p.Actuator.Webhook; w != nil {
			def(set, path+".actuator.webhook.timeout", &w.Timeout, 30*time.Second)
		}
	}
}

// defaultRule fills each field of r left out of the file from d.
func defaultRule(r *ScaleRule, path string, set fieldIndex, d ScaleRule) {
	def(set, path+".stabilization", &r.Stabilization, d.Stabilization)
	def(set, path+".max_step", &r.MaxStep, d.MaxStep)
	def(set, path+".max_percent", &r.MaxPercent, d.MaxPercent)
	def(set, path+".period", &r.Period, d.Period)
}
