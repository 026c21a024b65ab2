package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// probeConfig is a minimal config that policy.Parse accepts, written to
// switch sections on so that their defaults get filled in. It writes only
// what validation demands: a written field is never read as a default.
type probeConfig struct {
	name string
	yaml string
}

// probes switch on, between them, every optional section. Several are
// needed where the config allows one choice only (Consul or a file; one
// actuator per scaler pool) or where defaults depend on a choice (the
// balancing policy). A section added to policy later is switched on
// automatically in a copy of the first probe; when that copy fails
// validation, the generator says so, and the section belongs here.
var probes = []probeConfig{
	{name: "consul.yaml", yaml: `
discovery:
  consul:
    tls: {}
xds:
  tls: {cert_file: cert.pem, key_file: key.pem}
  access:
    rules:
      - match: {node_id: probe}
pools:
  least:
    service: probe
    weights: {meta_key: probe}
    slow_start: {window: 1s}
    health_check: {path: /}
    circuit_breakers: {}
    outlier_detection: {}
    tls: {}
  round: {service: probe, balancing: {policy: round_robin}}
  ring: {service: probe, balancing: {policy: ring_hash}}
  maglev: {service: probe, balancing: {policy: maglev}}
listeners:
  - name: probe
    port: 1
    tls: {cert_file: cert.pem, key_file: key.pem}
    routes:
      - match: {prefix: /, headers: [{name: probe}]}
        pool: least
        retries: {attempts: 1}
      - match: {prefix: /}
        pool: ring
        affinity: {cookie: {name: probe}}
scaler:
  stats: {envoy_admin: ["127.0.0.1:1"]}
  keda: {listen: "127.0.0.1:1"}
  pools:
    least:
      max: 1
      target: {queue_per_instance: 1}
      to_zero: {idle_after: 1s}
      actuator: {exec: {command: [probe]}}
    ring:
      max: 1
      target: {queue_per_instance: 1}
      actuator: {webhook: {url: "http://127.0.0.1:1"}}
    maglev:
      max: 1
      target: {queue_per_instance: 1}
      actuator: {kubernetes: {resource: deployment/probe}}
    round:
      max: 1
      target: {queue_per_instance: 1}
      actuator: {keda: {}}
`},
	{name: "file.yaml", yaml: `
discovery:
  file: {path: catalog.yaml}
pools:
  probe: {service: probe}
listeners:
  - name: probe
    port: 1
    routes: [{match: {prefix: /}, pool: probe}]
`},
}

// writeCertFiles writes cert.pem, key.pem and ca.pem into dir for the
// probes' TLS sections. They are a real self-signed pair, so that the
// probes keep passing should validation ever load the files rather than
// only look for them.
func writeCertFiles(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating a probe key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "configdoc probe"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("creating a probe certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding the probe key: %w", err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := map[string][]byte{
		"cert.pem": cert,
		"ca.pem":   cert,
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("writing probe file: %w", err)
		}
	}
	return nil
}
