package policy

import (
	"net"
	"slices"
	"strconv"
	"strings"
)

// retryOn is Envoy's vocabulary of HTTP and gRPC retry conditions.
var retryOn = []string{
	"5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx",
	"refused-stream", "retriable-status-codes", "retriable-headers",
	"envoy-ratelimited", "http3-post-connect-failure", "reset-before-request",
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
}

func (ck *checker) listeners() {
	ls := ck.cfg.Listeners
	if len(ls) == 0 && !ck.cfg.hasGRPCPool() {
		ck.errorf("listeners", "", "at least one listener is required unless a pool has protocol grpc")
	}
	names := map[string]string{}
	addrs := map[string]string{}
	for i, l := range ls {
		path := itemPath("listeners", i)
		ck.listener(l, path)
		if first, dup := names[l.Name]; dup && l.Name != "" {
			ck.errorf(path+".name", l.Name, "duplicate listener name %q, first used by %s",
				l.Name, first)
		}
		names[l.Name] = path
		addr := net.JoinHostPort(l.Address, strconv.FormatUint(uint64(l.Port), 10))
		if first, dup := addrs[addr]; dup && l.Port != 0 {
			ck.errorf(path+".port", addr, "%s is already used by %s", addr, first)
		}
		addrs[addr] = path
	}
}

func (ck *checker) listener(l *Listener, path string) {
	ck.name(path+".name", "listener", l.Name)
	if p, ok := ck.cfg.Pools[l.Name]; ok && p.Protocol == ProtocolGRPC {
		ck.errorf(path+".name", l.Name,
			"listener name %q is also a grpc pool: both would be Envoy listeners of that name",
			l.Name)
	}
	if p, ok := ck.cfg.Pools[strings.TrimPrefix(l.Name, "grpc.")]; ok &&
		strings.HasPrefix(l.Name, "grpc.") && p.Protocol == ProtocolGRPC {
		ck.errorf(path+".name", l.Name, "listener name %q is the route configuration "+
			"name of grpc pool %q", l.Name, p.Name)
	}
	if net.ParseIP(l.Address) == nil {
		ck.got(path+".address", l.Address, "want an IP address")
	}
	switch {
	case !ck.index.has(path + ".port"):
		ck.errorf(path+".port", "", "required")
	case l.Port < 1 || l.Port > 65535:
		ck.got(path+".port", l.Port, "want a port from 1 to 65535")
	}
	for i, d := range l.Domains {
		if d == "" {
			ck.errorf(itemPath(path+".domains", i), "", "domain must not be empty")
		}
		ck.noLineBreaks(itemPath(path+".domains", i), d)
	}
	if len(l.Domains) == 0 {
		ck.errorf(path+".domains", "", `at least one domain is required; "*" matches all`)
	}
	if t := l.TLS; t != nil {
		ck.listenerTLS(t, path+".tls")
	}
	if len(l.Routes) == 0 {
		ck.errorf(path+".routes", "", "at least one route is required")
	}
	for i, r := range l.Routes {
		ck.route(r, itemPath(path+".routes", i))
	}
}

func (ck *checker) listenerTLS(t *ListenerTLS, path string) {
	if t.CertFile == "" {
		ck.errorf(path+".cert_file", "", "required")
	}
	if t.KeyFile == "" {
		ck.errorf(path+".key_file", "", "required")
	}
	ck.file(path+".cert_file", t.CertFile)
	ck.file(path+".key_file", t.KeyFile)
	ck.file(path+".client_ca_file", t.ClientCAFile)
}

func (ck *checker) route(r *Route, path string) {
	pool := ck.routePool(r.Pool, path+".pool")
	ck.match(&r.Match, path+".match")
	if r.IdleTimeout != nil && *r.IdleTimeout <= 0 {
		ck.got(path+".idle_timeout", *r.IdleTimeout, "must be more than 0s when set")
	}
	if r.Retries != nil {
		ck.retries(r.Retries, path+".retries")
	}
	if r.Affinity != nil {
		ck.affinity(r.Affinity, pool, path+".affinity")
	}
}

// routePool checks that a route names a defined pool and returns it, or nil.
func (ck *checker) routePool(name, path string) *Pool {
	if name == "" {
		ck.errorf(path, "", "required: the pool that serves the route")
		return nil
	}
	p, ok := ck.cfg.Pools[name]
	if !ok {
		ck.unknownPool(path, name)
	}
	return p
}

// unknownPool reports a name that is not a key of pools.
func (ck *checker) unknownPool(path, name string) {
	defined := "none"
	if len(ck.cfg.Pools) > 0 {
		defined = strings.Join(ck.cfg.PoolNames(), ", ")
	}
	ck.errorf(path, name, "unknown pool %q; defined pools: %s", name, defined)
}

func (ck *checker) match(m *Match, path string) {
	switch {
	case m.Prefix != "" && m.Path != "":
		ck.errorf(path, "", "set prefix or path, not both")
	case m.Prefix == "" && m.Path == "":
		ck.errorf(path, "", `set prefix or path; prefix "/" matches everything`)
	}
	for _, f := range []struct{ name, value string }{{"prefix", m.Prefix}, {"path", m.Path}} {
		if f.value != "" && !strings.HasPrefix(f.value, "/") {
			ck.got(path+"."+f.name, f.value, `must start with "/"`)
		}
	}
	for i, h := range m.Headers {
		if h.Name == "" {
			ck.errorf(itemPath(path+".headers", i)+".name", "", "required: the header to match")
		}
		ck.noLineBreaks(itemPath(path+".headers", i)+".name", h.Name)
	}
}

func (ck *checker) retries(r *Retries, path string) {
	if r.Attempts < 1 {
		ck.got(path+".attempts", r.Attempts, "must be at least 1")
	}
	if r.Attempts > 0 && strings.TrimSpace(r.On) == "" {
		ck.errorf(path+".on", "", "must name at least one retry condition, such as %q",
			DefaultRetryOn)
	}
	for _, cond := range strings.Split(r.On, ",") {
		cond = strings.TrimSpace(cond)
		if r.On != "" && !slices.Contains(retryOn, cond) {
			ck.errorf(path+".on", cond, "unknown retry condition %q; known: %s",
				cond, strings.Join(retryOn, ", "))
		}
	}
}

func (ck *checker) affinity(a *Affinity, pool *Pool, path string) {
	set := 0
	for _, on := range []bool{a.Cookie != nil, a.Header != "", a.SourceIP} {
		if on {
			set++
		}
	}
	if set != 1 {
		ck.errorf(path, "", "set exactly one of cookie, header or source_ip")
	}
	ck.noLineBreaks(path+".header", a.Header)
	if a.Cookie != nil && a.Cookie.Name == "" {
		ck.errorf(path+".cookie.name", "", "required: the cookie to hash on")
	}
	if pool != nil && pool.Balancing.Policy != RingHash && pool.Balancing.Policy != Maglev {
		ck.errorf(path, "", "needs a pool balanced by ring_hash or maglev; pool %q uses %s",
			pool.Name, pool.Balancing.Policy)
	}
}
