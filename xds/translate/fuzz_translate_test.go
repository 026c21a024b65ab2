package translate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/xds/translate"
)

// FuzzTranslate builds a config and a catalog from the fuzz bytes, keeps
// the configs that policy.Parse accepts, and checks that Translate never
// panics, never refuses what policy accepted, and returns resources that
// each pass Validate, sorted, uniquely named and the same whatever order
// the catalog's instances come in.
func FuzzTranslate(f *testing.F) {
	for _, seed := range translateSeeds {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	pemFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(pemFile, nil, 0o600); err != nil {
		f.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "spillway.yaml")

	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data, pemFile: pemFile}
		cfgYAML, instances := g.config(), g.catalog()
		cfg, err := policy.Parse(cfgPath, cfgYAML)
		if err != nil {
			return // not a valid config; policy's own fuzz target covers these
		}
		res, err := translate.Translate(cfg, discovery.NewCatalog(instances))
		if err != nil {
			t.Fatalf("Translate rejected a config that policy accepted: %v\n%s", err, cfgYAML)
		}
		checkResources(t, res, cfgYAML)

		slices.Reverse(instances)
		again, err := translate.Translate(cfg, discovery.NewCatalog(instances))
		if err != nil {
			t.Fatalf("second Translate: %v", err)
		}
		if !sameResources(res, again) {
			t.Fatalf("Translate depends on the order of the catalog's instances\n%s", cfgYAML)
		}
	})
}

// checkResources validates every resource again and checks that each list
// is sorted by name without repeats.
func checkResources(t *testing.T, res *translate.Resources, cfgYAML []byte) {
	t.Helper()
	lists := map[string][]proto.Message{
		"clusters": msgs(res.Clusters), "endpoints": msgs(res.Endpoints),
		"listeners": msgs(res.Listeners), "api listeners": msgs(res.APIListeners),
		"routes": msgs(res.Routes),
	}
	for kind, list := range lists {
		var names []string
		for _, m := range list {
			if err := translate.Validate(m); err != nil {
				t.Fatalf("%s: invalid resource: %v\n%s", kind, err, cfgYAML)
			}
			names = append(names, resourceName(m))
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("%s: names %q are not sorted and unique\n%s", kind, names, cfgYAML)
		}
	}
}

func msgs[M proto.Message](list []M) []proto.Message {
	out := make([]proto.Message, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

func resourceName(m proto.Message) string {
	type named interface{ GetName() string }
	type assignment interface{ GetClusterName() string }
	switch m := m.(type) {
	case named:
		return m.GetName()
	case assignment:
		return m.GetClusterName()
	}
	return ""
}

// sameResources reports whether two translations hold equal resources in
// the same order.
func sameResources(a, b *translate.Resources) bool {
	return slices.EqualFunc(all(a), all(b), proto.Equal)
}

func all(r *translate.Resources) []proto.Message {
	return slices.Concat(msgs(r.Clusters), msgs(r.Endpoints), msgs(r.Listeners),
		msgs(r.APIListeners), msgs(r.Routes))
}

// gen turns fuzz bytes into config and catalog choices. Once the bytes run
// out every choice is the first option, so that short inputs still make a
// whole config.
type gen struct {
	data    []byte
	pemFile string
	// services are the services the pools select, which the catalog
	// fills.
	services []string
	// policies is each pool's balancing policy, so that routes ask for
	// affinity only where policy allows it.
	policies map[string]string
	// grpc is set once a pool has protocol grpc, which lets a config have
	// no listener.
	grpc bool
}

func (g *gen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *gen) intn(n int) int { return int(g.byte()) % n }

// maybe is true for about one choice in n.
func (g *gen) maybe(n int) bool { return g.intn(n) == n-1 }

func pick[T any](g *gen, options ...T) T { return options[g.intn(len(options))] }

// text is one of options, or now and then raw bytes from the input: the
// fields policy checks loosely are where translation could still fail.
func (g *gen) text(options ...string) string {
	b := g.byte()
	if b < 224 {
		return options[int(b)%len(options)]
	}
	n := min(int(b-224), len(g.data))
	raw := string(g.data[:n])
	g.data = g.data[n:]
	return strings.ToValidUTF8(raw, "?")
}

// config returns a config file with one to four pools and up to three
// listeners.
func (g *gen) config() []byte {
	pools := map[string]any{}
	var names []string
	g.policies = map[string]string{}
	for range 1 + g.intn(4) {
		name := pick(g, "gpu", "api", "rpc", "public", "grpc.gpu", "a-b_c.d")
		pools[name] = g.pool(name)
		names = append(names, name)
	}
	n := g.intn(4)
	if n == 0 && !g.grpc {
		n = 1 // policy wants a listener unless a pool is for gRPC
	}
	var listeners []any
	for i := range n {
		listeners = append(listeners, g.listener(i, names))
	}
	doc := map[string]any{
		"discovery": map[string]any{"file": map[string]any{"path": "catalog.yaml"}},
		"pools":     pools,
	}
	if listeners != nil {
		doc["listeners"] = listeners
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("marshalling a generated config: %v", err))
	}
	return out
}

func (g *gen) pool(name string) map[string]any {
	service := g.text("inference", "api", "rpc")
	g.services = append(g.services, service)
	p := map[string]any{"service": service}
	if g.maybe(2) {
		p["tags"] = []string{g.text("gpu", "cpu", "a100")}
	}
	if proto := pick(g, "", "http1", "http2", "grpc"); proto != "" {
		p["protocol"] = proto
		g.grpc = g.grpc || proto == "grpc"
	}
	policyName := pick(g, "", "least_request", "round_robin", "ring_hash", "maglev")
	g.policies[name] = policyName
	p["balancing"] = g.balancing(policyName)
	if g.maybe(2) {
		p["weights"] = g.weights()
	}
	if (policyName == "" || policyName == "least_request" || policyName == "round_robin") &&
		g.maybe(2) {
		p["slow_start"] = map[string]any{
			"window":             pick(g, "1s", "120s", "1ms", "2562047h"),
			"aggression":         pick(g, 1.0, 0.01, 3.5, 1e300),
			"min_weight_percent": pick(g, 10.0, 0.0, 100.0, 33.3),
		}
	}
	g.optionalSections(p)
	return p
}

func (g *gen) balancing(policyName string) map[string]any {
	b := map[string]any{}
	if policyName != "" {
		b["policy"] = policyName
	}
	switch policyName {
	case "", "least_request":
		if g.maybe(2) {
			b["choice_count"] = 2 + g.intn(200)
			b["active_request_bias"] = pick(g, 0.0, 1.0, 2.5, 1e300)
		}
	case "ring_hash":
		if g.maybe(2) {
			b["min_ring_size"] = pick(g, 1, 1024, 8<<20)
		}
	case "maglev":
		if g.maybe(2) {
			b["table_size"] = pick(g, 2, 65537, 5000011, 7)
		}
	}
	return b
}

func (g *gen) weights() map[string]any {
	values := map[string]any{}
	for range g.intn(3) {
		values[g.text("a100", "t4", "h100")] = 1 + g.intn(128)
	}
	return map[string]any{
		"meta_key": g.text("gpu", "class"),
		"values":   values,
		"default":  pick(g, 0, 1, 128),
	}
}

// optionalSections adds the health check, circuit breakers, outlier
// detection, connect timeout and upstream TLS of a pool, each now and then.
func (g *gen) optionalSections(p map[string]any) {
	if g.maybe(2) {
		p["health_check"] = map[string]any{
			"path":                "/" + g.text("health", "health/ready", "", "a b"),
			"host":                g.text("", "inference.local", "x"),
			"interval":            pick(g, "15s", "5s", "1h"),
			"timeout":             pick(g, "1s", "5s", "10ms"),
			"no_traffic_interval": pick(g, "60s", "1s"),
			"healthy_threshold":   1 + g.intn(5),
			"unhealthy_threshold": 1 + g.intn(5),
		}
	}
	if g.maybe(3) {
		p["circuit_breakers"] = map[string]any{
			"max_connections": g.intn(3) * 1000, "max_pending_requests": g.intn(3),
			"max_requests": pick(g, 0, 1, 4294967295), "max_retries": g.intn(4),
		}
	}
	if g.maybe(3) {
		p["outlier_detection"] = map[string]any{
			"consecutive_5xx": 1 + g.intn(10), "interval": pick(g, "10s", "1ms"),
			"base_ejection_time": pick(g, "30s", "1h"), "max_ejection_percent": 1 + g.intn(100),
		}
	}
	if g.maybe(2) {
		p["connect_timeout"] = pick(g, "5s", "250ms", "1h")
	}
	if g.maybe(4) {
		p["tls"] = map[string]any{"sni": g.text("", "gpu.internal"),
			"ca_file": g.pemFile, "cert_file": g.pemFile, "key_file": g.pemFile}
	}
}

func (g *gen) listener(i int, pools []string) map[string]any {
	l := map[string]any{
		"name": pick(g, "public", "internal", "rpc", "grpc.rpc", "grpc.gpu", "l"+fmt.Sprint(i)),
		"port": 8080 + i,
	}
	if g.maybe(2) {
		l["address"] = pick(g, "0.0.0.0", "127.0.0.1", "::", "::1")
	}
	if g.maybe(3) {
		l["domains"] = []string{g.text("*", "example.com", "*.example.com", "a:80")}
	}
	if g.maybe(3) {
		l["stream_idle_timeout"] = pick(g, "300s", "0s", "1ms")
	}
	if g.maybe(4) {
		l["tls"] = map[string]any{"cert_file": g.pemFile, "key_file": g.pemFile,
			"client_ca_file": pick(g, "", g.pemFile)}
	}
	var routes []any
	for range 1 + g.intn(4) {
		routes = append(routes, g.route(pools))
	}
	l["routes"] = routes
	return l
}

func (g *gen) route(pools []string) map[string]any {
	match := map[string]any{}
	path := "/" + g.text("", "api/", "predict", "stream", "v1/models")
	if g.maybe(3) {
		match["path"] = path
	} else {
		match["prefix"] = path
	}
	if g.maybe(3) {
		match["headers"] = []any{map[string]any{
			"name":  g.text("x-model", ":authority", "content-type", "x-tenant"),
			"exact": g.text("", "gpt", "a b"),
		}}
	}
	pool := pick(g, pools...)
	r := map[string]any{"match": match, "pool": pool}
	if g.maybe(2) {
		r["timeout"] = pick(g, "30s", "0s", "60s", "2562047h")
	}
	if g.maybe(3) {
		r["idle_timeout"] = pick(g, "300s", "1ms")
	}
	if g.maybe(3) {
		retries := map[string]any{
			"attempts": 1 + g.intn(5), "per_try_timeout": pick(g, "0s", "10s"),
		}
		if g.maybe(2) {
			retries["on"] = pick(g, "5xx", "reset,connect-failure", "unavailable")
		}
		r["retries"] = retries
	}
	if b := g.policies[pool]; (b == "ring_hash" || b == "maglev") && !g.maybe(3) {
		r["affinity"] = g.affinity()
	}
	return r
}

func (g *gen) affinity() map[string]any {
	switch g.intn(3) {
	case 0:
		return map[string]any{"cookie": map[string]any{
			"name": g.text("session", "s"), "ttl": pick(g, "0s", "1h"),
			"path": g.text("", "/"),
		}}
	case 1:
		return map[string]any{"header": g.text("x-session", "x-user")}
	}
	return map[string]any{"source_ip": true}
}

// catalog returns up to eleven instances of the pools' services and one
// other service, with IDs unique within each service as both sources
// guarantee, and anything else as a source might report it: repeated or
// unusable addresses, ports out of range, odd weights and unknown health.
func (g *gen) catalog() []discovery.Instance {
	services := append(slices.Clone(g.services), "other")
	var out []discovery.Instance
	for i := range g.intn(12) {
		out = append(out, discovery.Instance{
			ID:      fmt.Sprintf("node-%d/i-%d", g.intn(3), i),
			Service: pick(g, services...),
			Node:    pick(g, "node-a", "node-b", ""),
			Address: g.text("10.0.0.1", "10.0.0.2", "::1", "10.0.0.3", "gpu.internal", ""),
			Port:    pick(g, 8000, 8001, 9000, 65535, 0, -1, 65536),
			Tags: pick(g, []string{"gpu"}, []string{"gpu", "cpu", "a100"}, nil,
				[]string{"cpu", "a100"}),
			Meta: map[string]string{
				pick(g, "gpu", "class"): pick(g, "a100", "t4", "h100", ""),
			},
			Weights: discovery.Weights{
				Passing: pick(g, 1, 0, -5, 3, 65535, 1<<40),
				Warning: pick(g, 1, 0, -1, 200),
			},
			Health: discovery.Health(g.intn(6) - 1),
			Zone:   pick(g, "", "zone-a", "zone-b"),
		})
	}
	return out
}

// translateSeeds are run by every `go test`. The short ones make configs
// from the generator's first choices; the long ones were found by fuzzing
// and each reaches what its comment says, with several endpoints.
var translateSeeds = []string{
	"",
	"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
	strings.Repeat("\x03", 64),
	// a grpc pool, its API listener and affinity routes on ring_hash.
	"\xb5\x1b\xa3PK\xa7[\xfd\xdc\x10)\xed\xe2\x1a9\xbd\xeelFr" +
		"\xbf\x9cbIko\xdf\x1b\xa1\xc5\u01b1\x15b\xc7\x1b\xceW!'" +
		"=\t\xf1\xf42\x1a\x9c|0WP\"\xa4\xba\xc5\x10%\xee\xb3X" +
		"\xd8\u04f3\x97\xf7. /\xa0\x85\xac\x05\xc5\xfc0\xbc\x0fU\x11\x91" +
		"\x99k\x94\xec\x92/\tgg\xd9\\\x99\xbb\xb1\x9a#\xf7\xae3\xc8" +
		"\xfc\xba",
	// listener and upstream TLS, slow start and meta weights.
	"!\ffC\xd5%M/\x15\xde'\x9a|\xcc\xc6\u03b2\xa7\xa2\b" +
		"\xd2x\x11%M<!I\xf2J\x9fp\x8c\x9b(\x06\u0386\xcav" +
		"\x98\xff\xe9\xeb\xac.\x92Y\xc2\xda\xe5\u03a9\t2\xfa\xd2\x13\ax" +
		"\"\x11\xb8z+\x9a\x1b,2\xed\xaeK\x01\xc6|\xfb\xd7\x01c",
	// health checks, outlier detection, circuit breakers, retries and header matches.
	"%\u0517`\xb1\x9b\xc4\x15\u03d1\xf28\xf3\x1d\xbd\u0689\x83\x03\xc3" +
		"\xa0\b\xa1\xb9\r\x99\x10\x90yR\x0f\x99\xe5C\xc2(&5\xb0\xc3" +
		"\x8d\xc0f\xb2r@\x9a6\x9f\xd0\xfd\xc3 =\xbdHYX\xba\xb1" +
		"tA\xcf12\xfe\xa5y\xb4\x0f\x0e\xa8J\xfc\n\xd6\f\x83\x17\x90" +
		"D\x11\x81\xb5\xfb\x11\xb8s\xb7\u0246\x97N\x93HM\\\xe1\xec\xee" +
		"\x04\xa3\xac\x98\xd2\xc0\x0e\x1d\xf6!\xef\xef\xc8%!\xcb=\xa3",
	// a maglev grpc pool, which falls back to ring_hash for gRPC clients.
	"\xff'\x02\xb2Z\xbd\x0f\x84>\xefb\x04]\xeec\x9c;(\xf3\x06" +
		"*]K(\xe7#\xbb/8'a\xdcrn\bso;\xd3B" +
		"\x91\xa9\xac\x90F\v\x96\xb1\xf9\xb3m\x12\xaaoy}\xbb`\xd1m" +
		"\xf0F\x122\xfbd<R4\xc3\xce^\xcc\xfa\xe2\xcc\x05\x9b\xe3\xad" +
		"\xb0\xa0S\xcb\x18V\x1c\xb8\xe3\x82\xf5\xf3Q\xa6\xfe\xe8h\x1cY\x86" +
		"#AW\xbd\xe1^\xcc\x02\xc0\xcfZ\x89\x90\x94SD\xbfW",
	// the documented refusal of certificate files on a grpc pool.
	"\xdc\b\xfc\xc8\xe5&\xdf\x1dX\xbd\x11\xf7W\x1a\x1fq\x92'0E" +
		"d\x9b\xd4\xd5\x1f\xc2X\x18r\x8d\xf5T\xe3,E\x80I\x9b\xa6\x8a" +
		"\xcaw\xacu\xcc!\xbd\x83\xc4w\xfb\xb5\xd3a\xdf>\xb5\x1b\xab\x12" +
		"\x01I]\x16C\u43f4\x9c\xd2\xe1\x05\xbb\x94\x86\xdd\v\xf6\xbew" +
		"\x12\xa9\xcbf\xfc\xb6\x18H\x8b\xfeZ#\x1f\xcd;G\x86\x7f\x89\x05" +
		"t\xd7\u072d{t\xe8A\xa3\x1eO\u063e\xdbD",
	// the documented refusal of a listener named grpc.<pool>.
	"\xa56\x81QD;a@k\xdfi\xa6\xecH\u061d\xc0\xdc\x01\x17" +
		"H\x90\x03\xaa\x8a}\xe4\x05\xa9&\u07a9@T\xeb\x7f\xda\x04\"\x0e" +
		"\xeb\x12\xa7\xa3/\xa5{\xa4='\xb0\x98{\xc3\xcc\xc4\xeeBZ\xca" +
		"R\u070eZ\xfc\xff\xd5\x0e\xd2\x7f\xb7\x15?`k\x10f\x14\x9c%" +
		"\xc2\\[\u07d18^\xa6NxB\xf1\x8d\x93\xc6\a\xcc1$\x14" +
		"\x01",
	// the known gap: a control character that policy lets through.
	"O\xad\u9413\xae\x11w\x18P\xe9\x9a\x02Y\xcb^\x83\xc0\xadc" +
		"LK\x84\xc0R\xd9u\xef\xe3\x1f\xa5\x87q\xc0F$c\xf8\xf6\x03" +
		"\x0f%k\xd4z\x96M\xb7b\xc7'@",
}
