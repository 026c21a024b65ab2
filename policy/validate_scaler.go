package policy

import (
	"strings"
	"time"
)

func (ck *checker) scaler(s *Scaler) {
	ck.stats(&s.Stats)
	ck.listenAddr("scaler.admin.listen", s.Admin.Listen)
	if s.KEDA != nil {
		ck.listenAddr("scaler.keda.listen", s.KEDA.Listen)
	}
	if len(s.Pools) == 0 {
		ck.errorf("scaler.pools", "", "at least one pool to scale is required")
	}
	for _, name := range sortedKeys(s.Pools) {
		path := keyPath("scaler.pools", name)
		if _, ok := ck.cfg.Pools[name]; !ok {
			ck.unknownPool(path, name)
		}
		ck.scalerPool(s.Pools[name], path)
		if s.Pools[name].Actuator.KEDA != nil && s.KEDA == nil {
			ck.errorf(path+".actuator.keda", "",
				"needs scaler.keda with a listen address: KEDA reads the pool's signal there")
		}
	}
}

// stats checks the sources: the signal from Prometheus, else from the
// Envoys, named by a list or by a Consul service but not both.
func (ck *checker) stats(s *Stats) {
	envoys := len(s.EnvoyAdmin) > 0 || s.EnvoyService != ""
	switch {
	case !envoys && s.Prometheus == "":
		ck.errorf("scaler.stats", "",
			"name envoy_admin addresses, an envoy_service or a prometheus URL")
	case len(s.EnvoyAdmin) > 0 && s.EnvoyService != "":
		ck.errorf("scaler.stats", "", "set envoy_admin or envoy_service, not both")
	}
	for i, a := range s.EnvoyAdmin {
		ck.endpoint(itemPath("scaler.stats.envoy_admin", i), a)
	}
	if s.EnvoyService != "" {
		ck.noControl("scaler.stats.envoy_service", s.EnvoyService)
	}
	switch p := s.EnvoyAdminPort; {
	case p < 0 || p > 65535:
		ck.got("scaler.stats.envoy_admin_port", p, "want a port from 1 to 65535")
	case p != 0 && s.EnvoyService == "":
		ck.errorf("scaler.stats.envoy_admin_port", "", "only with envoy_service")
	}
	if s.Prometheus != "" {
		ck.httpURL("scaler.stats.prometheus", s.Prometheus)
	}
	ck.positive("scaler.stats.interval", s.Interval)
	if s.Interval > 0 && s.StaleAfter < s.Interval {
		ck.got("scaler.stats.stale_after", s.StaleAfter,
			"must not be shorter than interval (%s)", s.Interval)
	}
}

func (ck *checker) scalerPool(p *ScalerPool, path string) {
	ck.bounds(p, path)
	t := p.Target
	if t.QueuePerInstance < 0 {
		ck.got(path+".target.queue_per_instance", t.QueuePerInstance, "must not be negative")
	}
	if t.QueuePerInstance <= 0 && t.LatencyP95 <= 0 {
		ck.errorf(path+".target", "", "set queue_per_instance or latency_p95 above 0")
	}
	if p.Tolerance < 0 || p.Tolerance >= 1 {
		ck.got(path+".tolerance", p.Tolerance, "want at least 0 and less than 1")
	}
	ck.scaleRule(&p.ScaleUp, path+".scale_up")
	ck.scaleRule(&p.ScaleDown, path+".scale_down")
	if z := p.ToZero; z != nil {
		ck.toZero(z, p.Min, path)
	}
	ck.panicMode(&p.Panic, path+".panic")
	ck.positive(path+".start_timeout", p.StartTimeout)
	ck.notNegative(path+".drain.deadline", p.Drain.Deadline)
	ck.notNegative(path+".drain.remove_timeout", p.Drain.RemoveTimeout)
	ck.actuator(&p.Actuator, path+".actuator")
}

// panicMode checks the panic settings. A threshold of 1 or less would
// trigger on any shortage, or even on a pool larger than it needs, and
// then forbid scaling down: only 0 (off) or more than 1 make sense.
func (ck *checker) panicMode(p *Panic, path string) {
	if p.Threshold != 0 && !(p.Threshold > 1) {
		ck.got(path+".threshold", p.Threshold, "want 0 (off) or more than 1")
	}
	ck.notNegative(path+".window", p.Window)
	ck.notNegative(path+".lead", p.Lead)
}

// notNegative checks a duration for which 0s has a meaning of its own.
func (ck *checker) notNegative(path string, d time.Duration) {
	if d < 0 {
		ck.got(path, d, "must not be negative")
	}
}

// bounds checks min and max replicas.
func (ck *checker) bounds(p *ScalerPool, path string) {
	if p.Min < 0 {
		ck.got(path+".min", p.Min, "must not be negative")
	}
	if p.Max < 1 {
		ck.got(path+".max", p.Max, "must be at least 1")
	}
	if p.Min > p.Max && p.Max >= 1 {
		ck.got(path+".min", p.Min, "must not exceed max (%d)", p.Max)
	}
}

// scaleRule checks the limits of one direction; 0 turns a limit off.
func (ck *checker) scaleRule(r *ScaleRule, path string) {
	if r.MaxStep < 0 {
		ck.got(path+".max_step", r.MaxStep, "must not be negative")
	}
	if r.MaxPercent < 0 {
		ck.got(path+".max_percent", r.MaxPercent, "must not be negative")
	}
	if r.MaxStep > 0 || r.MaxPercent > 0 {
		ck.positive(path+".period", r.Period)
	}
}

func (ck *checker) toZero(z *ToZero, min int, path string) {
	if min != 0 {
		ck.errorf(path+".to_zero", "", "needs min 0, but min is %d", min)
	}
	ck.positive(path+".to_zero.idle_after", z.IdleAfter)
	if z.Activation < 0 {
		ck.got(path+".to_zero.activation", z.Activation, "must not be negative")
	}
}

func (ck *checker) actuator(a *Actuator, path string) {
	set := 0
	for _, on := range []bool{a.Exec != nil, a.Webhook != nil, a.Kubernetes != nil,
		a.KEDA != nil} {
		if on {
			set++
		}
	}
	if set != 1 {
		ck.errorf(path, "", "set exactly one of exec, webhook, kubernetes or keda")
	}
	if e := a.Exec; e != nil {
		if len(e.Command) == 0 || e.Command[0] == "" {
			ck.errorf(path+".exec.command", "", "required: the program and its arguments")
		}
		ck.positive(path+".exec.timeout", e.Timeout)
	}
	if w := a.Webhook; w != nil {
		if w.URL == "" {
			ck.errorf(path+".webhook.url", "", "required")
		} else {
			ck.httpURL(path+".webhook.url", w.URL)
		}
		ck.positive(path+".webhook.timeout", w.Timeout)
	}
	if k := a.Kubernetes; k != nil {
		kind, name, ok := strings.Cut(k.Resource, "/")
		if !ok || kind == "" || name == "" || strings.Contains(name, "/") {
			ck.got(path+".kubernetes.resource", k.Resource, "want kind/name, such as deployment/gpu")
		}
	}
}
