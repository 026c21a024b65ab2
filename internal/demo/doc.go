// Package demo runs `spillway demo`: a whole inference fleet in one
// process, for a newcomer with nothing installed.
//
// It writes a catalog file and a Spillway config into a temporary
// directory, starts example inference servers (A100-like and T4-like, in
// gRPC mode, each warming up before it is ready), runs Spillway's serve
// in-process on free loopback ports, and drives a repeating schedule of
// traffic (baseline, a tenfold spike, a lull) through a proxyless gRPC
// client that dials xds:///gpu through Spillway. Every tick a scale loop
// runs the scaler's own decide step for the gpu pool and carries the
// decision out with a local actuator, and a status line shows the fleet,
// the load and the last decision with its reason.
//
// How the demo differs from production:
//
//   - The signal. `spillway scale` reads queue depth and latency from the
//     Envoys that carry the traffic. The demo has no Envoy, so the queue is
//     the sum over instances of the model servers' own gauges (requests
//     waiting plus running, as vLLM's num_requests_waiting and
//     num_requests_running), scraped from their /metrics, and the latency
//     quantiles are the ones the demo's client observed since the last
//     tick. The decide step and the policy are the production ones.
//   - The catalog. The demo is its own platform and registry: an instance
//     is listed as critical while its model warms (so no client is sent
//     there), as passing from the first time its readiness passes, and in
//     maintenance while it drains (Spillway then publishes it DRAINING).
//     Overload, when readiness fails on a long queue, does not change the
//     listing: in production Envoy's active health check takes an
//     overloaded instance out, and a proxyless client has none.
//   - Scale-in. As the scaler does, the demo picks the victims that get no
//     traffic or the least, puts them into maintenance, and waits until
//     Spillway has published them DRAINING, no new request has reached
//     them for a poll and none is in flight; only then does its actuator
//     stop them (gracefully: a stopping server finishes whatever it
//     admitted) and take them out of the catalog.
//   - Slow start. Spillway publishes the pool's slow start, which Envoy
//     honours; grpc-go's proxyless client does not ramp new instances.
//
// When an `envoy` binary is on PATH, the demo also starts Envoy with a
// copy of envoy-configs/demo.yaml pointed at the in-process ADS server and
// sends a fifth of the requests through Envoy's listener. That path has not
// been run where this package was written and tested, which has no Envoy.
// A `consul` binary is not used: the catalog file stands in for Consul.
package demo
