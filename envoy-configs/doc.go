// Package envoyconfigs holds the Envoy bootstrap files that point an Envoy
// at Spillway over ADS: demo.yaml for the quickstart on one machine and
// production.yaml for a fleet talking to Spillway over mutual TLS.
//
// The package has no code of its own. Its tests load every *.yaml file in
// this directory into Envoy's generated Bootstrap message, rejecting
// unknown fields, run Envoy's validation rules on it and on every
// extension config packed inside it, and refuse fields and values that
// Envoy marks deprecated, since Envoy itself cannot be run where the tests
// run.
package envoyconfigs
