package policy

import (
	"strings"
	"testing"
)

// TestValidateErrors covers the checks made after decoding and defaults.
func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{{
		name: "empty file",
		yaml: "# nothing yet\n",
		want: []string{
			"1: discovery: name one source: consul or file",
			"1: listeners: at least one listener is required unless a pool has protocol grpc",
			"1: pools: at least one pool is required",
		},
	}, {
		name: "both discovery sources",
		yaml: `discovery:
  consul: {address: "127.0.0.1:8500", tls: {cert_file: certs/ca.pem}}
  file: {}
pools:
  rpc: {service: api, protocol: grpc}
`,
		want: []string{
			"1: discovery: name one source, consul or file, not both",
			"2: discovery.consul.tls.key_file: required with cert_file",
			"3: discovery.file.path: required: the catalog file to read",
		},
	}, {
		name: "no discovery source",
		yaml: `discovery: {}
pools:
  rpc: {service: api, protocol: grpc}
`,
		want: []string{"1: discovery: name one source: consul or file"},
	}, {
		name: "servers",
		yaml: `discovery: {consul: {address: "consul:port"}}
xds:
  listen: ":http"
  batch: {quiet: 2s}
  keepalive: {time: 0s}
  max_concurrent_streams: 0
admin: {listen: ""}
pools:
  rpc: {service: api, protocol: grpc}
`,
		want: []string{
			`1: discovery.consul.address: want host:port or an http(s) URL, got "consul:port"`,
			`3: xds.listen: want host:port, got ":http"`,
			`4: xds.batch.max_delay: must not be shorter than quiet (2s), got "1s"`,
			`5: xds.keepalive.time: must be more than 0s, got "0s"`,
			`6: xds.max_concurrent_streams: must be at least 1, got "0"`,
			`7: admin.listen: required: host:port to listen on`,
		},
	}, {
		name: "pool basics and balancing",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  GPU:
    protocol: http3
    connect_timeout: 0s
    tags: [""]
  rr:
    service: s
    balancing: {policy: round_robin, choice_count: 3}
  ring:
    service: s
    balancing: {policy: ringhash}
  mag:
    service: s
    balancing: {policy: maglev, table_size: 65536}
    slow_start: {window: 10s}
  lr:
    service: s
    balancing: {choice_count: 1, active_request_bias: -0.5}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: lr}]}
`,
		want: []string{
			`3: pools.GPU: pool name "GPU" may hold only a-z, 0-9, '_', '.' and '-'`,
			`3: pools.GPU.service: required: the service whose instances form the pool`,
			`4: pools.GPU.protocol: want http1, http2 or grpc, got "http3"`,
			`5: pools.GPU.connect_timeout: must be more than 0s, got "0s"`,
			`6: pools.GPU.tags[0]: tag must not be empty`,
			`9: pools.rr.balancing.choice_count: choice_count applies only to policy least_request, not round_robin`,
			`12: pools.ring.balancing.policy: want least_request, round_robin, ring_hash or maglev, got "ringhash"`,
			`15: pools.mag.balancing.table_size: want a prime number no larger than 5000011, got "65536"`,
			`16: pools.mag.slow_start: needs policy least_request or round_robin, not maglev`,
			`19: pools.lr.balancing.active_request_bias: must not be negative, got "-0.5"`,
			`19: pools.lr.balancing.choice_count: must be at least 2, got "1"`,
		},
	}, {
		name: "pool sections",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  lr:
    service: s
    weights: {values: {a100: 0, t4: 200}, default: 129}
    slow_start: {aggression: 0, min_weight_percent: 150}
    health_check: {path: health, interval: 5s, timeout: 6s, healthy_threshold: 0}
    outlier_detection: {consecutive_5xx: 0, max_ejection_percent: 101}
    tls: {ca_file: certs/absent.pem, cert_file: /nonexistent/cert.pem}
  hc:
    service: s
    health_check:
    balancing: {policy: maglev, table_size: 5000012}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: lr}]}
`,
		want: []string{
			`5: pools.lr.weights.default: want 0 (the instance's own weight) or a weight from 1 to 128, got "129"`,
			`5: pools.lr.weights.meta_key: required: the instance meta key whose value picks the weight`,
			`5: pools.lr.weights.values.a100: want a weight from 1 to 128, got "0"`,
			`5: pools.lr.weights.values.t4: want a weight from 1 to 128, got "200"`,
			`6: pools.lr.slow_start.aggression: must be more than 0, got "0"`,
			`6: pools.lr.slow_start.min_weight_percent: want 0 to 100, got "150"`,
			`6: pools.lr.slow_start.window: required`,
			`7: pools.lr.health_check.healthy_threshold: must be at least 1, got "0"`,
			`7: pools.lr.health_check.path: must start with "/", got "health"`,
			`7: pools.lr.health_check.timeout: must not be longer than interval (5s), got "6s"`,
			`8: pools.lr.outlier_detection.consecutive_5xx: must be at least 1, got "0"`,
			`8: pools.lr.outlier_detection.max_ejection_percent: want 1 to 100, got "101"`,
			`9: pools.lr.tls.ca_file: file "certs/absent.pem" (resolved to "$DIR/certs/absent.pem") does not exist`,
			`9: pools.lr.tls.cert_file: file "/nonexistent/cert.pem" does not exist`,
			`9: pools.lr.tls.key_file: required with cert_file`,
			`12: pools.hc.health_check.path: required: the HTTP path to check, such as /health`,
			`13: pools.hc.balancing.table_size: want a prime number no larger than 5000011, got "5000012"`,
		},
	}, {
		name: "health check protocols",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  rpc:
    service: s
    protocol: grpc
    health_check: {path: /health}
    tls: {sni: rpc.internal}
  web:
    service: s
    health_check: {path: /health, grpc_service: x, host: "a\x01b"}
  odd:
    service: s
    health_check: {protocol: tcp}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: web}]}
`,
		want: []string{
			`6: pools.rpc.health_check.path: applies to http checks only; grpc checks name a grpc_service, got "/health"`,
			`7: pools.rpc.tls: not supported on a grpc pool: proxyless gRPC clients ` +
				`take certificates from their own providers, not from files`,
			`10: pools.web.health_check.grpc_service: applies to grpc checks only, got "x"`,
			`10: pools.web.health_check.host: must not contain control characters, got "a\x01b"`,
			`13: pools.odd.health_check.protocol: want http or grpc, got "tcp"`,
		},
	}, {
		name: "listeners",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
  rpc: {service: rpc, protocol: grpc}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
  - {name: public, port: 8080, address: localhost, routes: []}
  - {name: rpc, port: 0, domains: [], tls: {key_file: k.pem}}
  - {name: "Bad Name", port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
  - {domains: [""], tls: {cert_file: certs, key_file: certs/ca.pem}, routes: [{pool: gpu}]}
`,
		want: []string{
			`7: listeners[1].address: want an IP address, got "localhost"`,
			`7: listeners[1].name: duplicate listener name "public", first used by listeners[0]`,
			`7: listeners[1].routes: at least one route is required`,
			`8: listeners[2].domains: at least one domain is required; "*" matches all`,
			`8: listeners[2].name: listener name "rpc" is also a grpc pool: both would be Envoy listeners of that name`,
			`8: listeners[2].port: want a port from 1 to 65535, got "0"`,
			`8: listeners[2].routes: at least one route is required`,
			`8: listeners[2].tls.cert_file: required`,
			`8: listeners[2].tls.key_file: file "k.pem" (resolved to "$DIR/k.pem") does not exist`,
			`9: listeners[3].name: listener name "Bad Name" may hold only a-z, 0-9, '_', '.' and '-'`,
			`9: listeners[3].port: 0.0.0.0:8080 is already used by listeners[0]`,
			`10: listeners[4].domains[0]: domain must not be empty`,
			`10: listeners[4].name: listener name must not be empty`,
			`10: listeners[4].port: required`,
			`10: listeners[4].routes[0].match: set prefix or path; prefix "/" matches everything`,
			`10: listeners[4].tls.cert_file: file "certs" (resolved to "$DIR/certs") is a directory`,
		},
	}, {
		name: "routes",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
  hash: {service: s, balancing: {policy: ring_hash}}
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /a, path: /b}, pool: gpux}
      - {match: {path: b}, pool: gpu, idle_timeout: 0s}
      - match: {prefix: /api, headers: [{exact: x}]}
        pool: gpu
        retries: {attempts: 0, on: "5xx,bogus"}
        affinity: {header: x-user, source_ip: true}
      - {match: {prefix: /c}, pool: hash, affinity: {cookie: {ttl: 1h}}}
      - {match: {prefix: /d}, retries: {attempts: 1, on: ""}, affinity: {}}
`,
		want: []string{
			`9: listeners[0].routes[0].match: set prefix or path, not both`,
			`9: listeners[0].routes[0].pool: unknown pool "gpux"; defined pools: gpu, hash`,
			`10: listeners[0].routes[1].idle_timeout: must be more than 0s when set, got "0s"`,
			`10: listeners[0].routes[1].match.path: must start with "/", got "b"`,
			`11: listeners[0].routes[2].match.headers[0].name: required: the header to match`,
			`13: listeners[0].routes[2].retries.attempts: must be at least 1, got "0"`,
			`13: listeners[0].routes[2].retries.on: unknown retry condition "bogus"; known: ` +
				strings.Join(retryOn, ", "),
			`14: listeners[0].routes[2].affinity: set exactly one of cookie, header or source_ip`,
			`14: listeners[0].routes[2].affinity: needs a pool balanced by ring_hash or maglev; pool "gpu" uses least_request`,
			`15: listeners[0].routes[3].affinity.cookie.name: required: the cookie to hash on`,
			`16: listeners[0].routes[4].affinity: set exactly one of cookie, header or source_ip`,
			`16: listeners[0].routes[4].pool: required: the pool that serves the route`,
			`16: listeners[0].routes[4].retries.on: must name at least one retry condition, such as "` +
				DefaultRetryOn + `"`,
		},
	}, {
		name: "scaler",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  stats: {interval: 0s}
  pools:
    gpu:
      min: 3
      max: 2
      tolerance: 1
      to_zero: {activation: -1}
      scale_up: {max_step: -1}
      actuator:
        exec: {command: []}
        webhook: {url: /hook}
    cpu:
      max: 0
      target: {queue_per_instance: -1}
      actuator: {kubernetes: {resource: gpu}}
`,
		want: []string{
			`7: scaler.stats: name envoy_admin addresses, an envoy_service or a prometheus URL`,
			`7: scaler.stats.interval: must be more than 0s, got "0s"`,
			`9: scaler.pools.gpu.target: set queue_per_instance or latency_p95 above 0`,
			`10: scaler.pools.gpu.min: must not exceed max (2), got "3"`,
			`12: scaler.pools.gpu.tolerance: want at least 0 and less than 1, got "1"`,
			`13: scaler.pools.gpu.to_zero: needs min 0, but min is 3`,
			`13: scaler.pools.gpu.to_zero.activation: must not be negative, got "-1"`,
			`13: scaler.pools.gpu.to_zero.idle_after: required`,
			`14: scaler.pools.gpu.scale_up.max_step: must not be negative, got "-1"`,
			`15: scaler.pools.gpu.actuator: set exactly one of exec, webhook, kubernetes or keda`,
			`16: scaler.pools.gpu.actuator.exec.command: required: the program and its arguments`,
			`17: scaler.pools.gpu.actuator.webhook.url: want an absolute http:// or https:// URL, got "/hook"`,
			`18: scaler.pools.cpu: unknown pool "cpu"; defined pools: gpu`,
			`19: scaler.pools.cpu.max: must be at least 1, got "0"`,
			`20: scaler.pools.cpu.target: set queue_per_instance or latency_p95 above 0`,
			`20: scaler.pools.cpu.target.queue_per_instance: must not be negative, got "-1"`,
			`21: scaler.pools.cpu.actuator.kubernetes.resource: want kind/name, such as deployment/gpu, got "gpu"`,
		},
	}, {
		name: "scaler stats sources",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  stats:
    envoy_admin: ["127.0.0.1:9901", "envoy"]
    envoy_service: envoy
    envoy_admin_port: 70000
    prometheus: "prom:9090"
    stale_after: 1s
  pools: {}
`,
		want: []string{
			`7: scaler.stats: set envoy_admin or envoy_service, not both`,
			`8: scaler.stats.envoy_admin[1]: want host:port or an http(s) URL, got "envoy"`,
			`10: scaler.stats.envoy_admin_port: want a port from 1 to 65535, got "70000"`,
			`11: scaler.stats.prometheus: want an absolute http:// or https:// URL, got "prom:9090"`,
			`12: scaler.stats.stale_after: must not be shorter than interval (5s), got "1s"`,
			`13: scaler.pools: at least one pool to scale is required`,
		},
	}, {
		name: "scaler stats admin port without a service",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
scaler:
  stats: {envoy_admin: ["127.0.0.1:9901"], envoy_admin_port: 9901}
  pools: {gpu: {max: 2, target: {queue_per_instance: 5}, actuator: {exec: {command: [x]}}}}
`,
		want: []string{
			`7: scaler.stats.envoy_admin_port: only with envoy_service`,
		},
	}, {
		name: "a decode error is not reported again by validation",
		yaml: `discovery: {file: {path: c.yaml}}
pools:
  gpu:
    service: [inference]
    health_check: {path: /h, interval: 1, timeout: 5s}
listeners:
  - {name: a, port: 80, routes: [{match: {prefix: /}, pool: gpu}]}
`,
		want: []string{
			`4: pools.gpu.service: want a string, got a list`,
			`5: pools.gpu.health_check.interval: want a duration with a unit, such as "15s", got "1"`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, tt.yaml, tt.want)
		})
	}
}

// TestEveryProblemAtOnce checks that five independent problems give five
// lines, in the order of the file.
func TestEveryProblemAtOnce(t *testing.T) {
	checkErrors(t, `discovery: {file: {path: c.yaml}}
pools:
  gpu:
    service: inference
    protocol: http9
    health_check: {path: /h, interval: 15}
listeners:
  - name: public
    port: 70000
    routes:
      - {match: {prefix: /}, pool: gpux, timout: 5s}
`, []string{
		`5: pools.gpu.protocol: want http1, http2 or grpc, got "http9"`,
		`6: pools.gpu.health_check.interval: want a duration with a unit, such as "15s", got "15"`,
		`9: listeners[0].port: want a port from 1 to 65535, got "70000"`,
		`11: listeners[0].routes[0].pool: unknown pool "gpux"; defined pools: gpu`,
		`11: listeners[0].routes[0].timout: unknown field "timout"; did you mean "timeout"?`,
	})
}

// TestGRPCOnlyNeedsNoListener checks that a config serving only proxyless
// gRPC clients is valid without listeners.
func TestGRPCOnlyNeedsNoListener(t *testing.T) {
	cfg, err := Load(writeConfig(t, `discovery: {consul: {}}
pools:
  rpc: {service: api, protocol: grpc}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := "1 pool, 0 listeners, 0 routes, discovery consul (address from the environment)"
	if got := cfg.Summary(); got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}
