// Package e2e runs Spillway end to end: a real Consul agent, Serve in the
// same process, and an xDS client on a real gRPC stream that subscribes the
// way Envoy does. Its tests check what reaches the client when instances
// change in Consul and when the agent goes away; its benchmark measures how
// long a change takes to get from Consul to the client.
//
// Client, the xDS client, is exported so that other tests and benchmarks
// can watch what Spillway serves without running an Envoy.
package e2e
