package policy

import "strings"

// Limits that Envoy puts on balancing settings.
const (
	maxRingSize     = 8 << 20
	maxMaglevTable  = 5000011
	maxEndpointLoad = 128
)

func (ck *checker) pools() {
	if len(ck.cfg.Pools) == 0 {
		ck.errorf("pools", "", "at least one pool is required")
		return
	}
	for _, name := range ck.cfg.PoolNames() {
		ck.pool(ck.cfg.Pools[name], keyPath("pools", name))
	}
}

func (ck *checker) pool(p *Pool, path string) {
	ck.poolIdentity(p, path)
	ck.balancing(&p.Balancing, path+".balancing")
	ck.positive(path+".connect_timeout", p.ConnectTimeout)
	ck.poolSections(p, path)
}

// poolIdentity checks what a pool is: its name, selector and protocol.
func (ck *checker) poolIdentity(p *Pool, path string) {
	ck.name(path, "pool", p.Name)
	if p.Service == "" {
		ck.errorf(path+".service", "", "required: the service whose instances form the pool")
	}
	for i, t := range p.Tags {
		if t == "" {
			ck.errorf(itemPath(path+".tags", i), "", "tag must not be empty")
		}
	}
	switch p.Protocol {
	case ProtocolHTTP1, ProtocolHTTP2, ProtocolGRPC:
	default:
		ck.got(path+".protocol", p.Protocol, "want http1, http2 or grpc")
	}
}

// poolSections checks the optional sections of a pool.
func (ck *checker) poolSections(p *Pool, path string) {
	if p.Weights != nil {
		ck.weights(p.Weights, path+".weights")
	}
	if p.SlowStart != nil {
		ck.slowStart(p.SlowStart, path+".slow_start")
		if pol := p.Balancing.Policy; pol == RingHash || pol == Maglev {
			ck.errorf(path+".slow_start", "", "needs policy least_request or round_robin, not %s", pol)
		}
	}
	if p.HealthCheck != nil {
		ck.healthCheck(p.HealthCheck, path+".health_check")
	}
	if p.OutlierDetection != nil {
		ck.outlier(p.OutlierDetection, path+".outlier_detection")
	}
	if t := p.TLS; t != nil {
		ck.certFiles(path+".tls", t.CAFile, t.CertFile, t.KeyFile)
		if p.Protocol == ProtocolGRPC {
			ck.errorf(path+".tls", "", "not supported on a grpc pool: proxyless gRPC "+
				"clients take certificates from their own providers, not from files")
		}
	}
}

func (ck *checker) balancing(b *Balancing, path string) {
	switch b.Policy {
	case LeastRequest, RoundRobin, RingHash, Maglev:
	default:
		ck.got(path+".policy", b.Policy, "want least_request, round_robin, ring_hash or maglev")
		return
	}
	ck.onlyFor(b.Policy, path+".choice_count", LeastRequest)
	ck.onlyFor(b.Policy, path+".active_request_bias", LeastRequest)
	ck.onlyFor(b.Policy, path+".min_ring_size", RingHash)
	ck.onlyFor(b.Policy, path+".table_size", Maglev)
	switch b.Policy {
	case LeastRequest:
		if b.ChoiceCount < 2 {
			ck.got(path+".choice_count", b.ChoiceCount, "must be at least 2")
		}
		if b.ActiveRequestBias < 0 {
			ck.got(path+".active_request_bias", b.ActiveRequestBias, "must not be negative")
		}
	case RingHash:
		if b.MinRingSize < 1 || b.MinRingSize > maxRingSize {
			ck.got(path+".min_ring_size", b.MinRingSize, "want 1 to %d", maxRingSize)
		}
	case Maglev:
		if b.TableSize > maxMaglevTable || !isPrime(b.TableSize) {
			ck.got(path+".table_size", b.TableSize,
				"want a prime number no larger than %d", maxMaglevTable)
		}
	}
}

// onlyFor reports a balancing setting written for a policy it does not
// belong to, which Envoy would silently ignore.
func (ck *checker) onlyFor(policy, path, owner string) {
	if policy != owner && ck.index.has(path) {
		field := path[strings.LastIndexByte(path, '.')+1:]
		ck.errorf(path, "", "%s applies only to policy %s, not %s", field, owner, policy)
	}
}

// isPrime reports whether n is prime, by trial division; n is at most
// maxMaglevTable here, so that is quick.
func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func (ck *checker) weights(w *Weights, path string) {
	if w.MetaKey == "" {
		ck.errorf(path+".meta_key", "", "required: the instance meta key whose value picks the weight")
	}
	for _, k := range sortedKeys(w.Values) {
		if v := w.Values[k]; v < 1 || v > maxEndpointLoad {
			ck.got(keyPath(path+".values", k), v, "want a weight from 1 to %d", maxEndpointLoad)
		}
	}
	if w.Default > maxEndpointLoad {
		ck.got(path+".default", w.Default,
			"want 0 (the instance's own weight) or a weight from 1 to %d", maxEndpointLoad)
	}
}

func (ck *checker) slowStart(s *SlowStart, path string) {
	ck.positive(path+".window", s.Window)
	if s.Aggression <= 0 {
		ck.got(path+".aggression", s.Aggression, "must be more than 0")
	}
	if s.MinWeightPercent < 0 || s.MinWeightPercent > 100 {
		ck.got(path+".min_weight_percent", s.MinWeightPercent, "want 0 to 100")
	}
}

func (ck *checker) healthCheck(h *HealthCheck, path string) {
	switch {
	case h.Protocol != HealthHTTP && h.Protocol != HealthGRPC:
		ck.got(path+".protocol", h.Protocol, "want http or grpc")
	case h.Protocol == HealthGRPC && h.Path != "":
		ck.got(path+".path", h.Path, "applies to http checks only; grpc checks name a grpc_service")
	case h.Protocol == HealthHTTP && h.GRPCService != "":
		ck.got(path+".grpc_service", h.GRPCService, "applies to grpc checks only")
	case h.Protocol == HealthGRPC:
	case h.Path == "":
		ck.errorf(path+".path", "", "required: the HTTP path to check, such as /health")
	case !strings.HasPrefix(h.Path, "/"):
		ck.got(path+".path", h.Path, `must start with "/"`)
	}
	ck.noControl(path+".path", h.Path)
	ck.noControl(path+".host", h.Host)
	ck.positive(path+".interval", h.Interval)
	ck.positive(path+".timeout", h.Timeout)
	ck.positive(path+".no_traffic_interval", h.NoTrafficInterval)
	if h.Interval > 0 && h.Timeout > h.Interval {
		ck.got(path+".timeout", h.Timeout, "must not be longer than interval (%s)", h.Interval)
	}
	if h.HealthyThreshold < 1 {
		ck.got(path+".healthy_threshold", h.HealthyThreshold, "must be at least 1")
	}
	if h.UnhealthyThreshold < 1 {
		ck.got(path+".unhealthy_threshold", h.UnhealthyThreshold, "must be at least 1")
	}
}

func (ck *checker) outlier(o *OutlierDetection, path string) {
	if o.Consecutive5xx < 1 {
		ck.got(path+".consecutive_5xx", o.Consecutive5xx, "must be at least 1")
	}
	ck.positive(path+".interval", o.Interval)
	ck.positive(path+".base_ejection_time", o.BaseEjectionTime)
	if o.MaxEjectionPercent < 1 || o.MaxEjectionPercent > 100 {
		ck.got(path+".max_ejection_percent", o.MaxEjectionPercent, "want 1 to 100")
	}
}
