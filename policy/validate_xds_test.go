package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// xdsBase is a valid config that the xds security cases extend; its lines
// are 1 to 8, so the xds section of a case starts on line 9.
const xdsBase = `discovery: {file: {path: c.yaml}}
pools:
  gpu: {service: inference}
  api: {service: api}
  rpc: {service: rpc, protocol: grpc}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
  - {name: internal, port: 8081, routes: [{match: {prefix: /}, pool: api}]}
`

func TestValidateXDSSecurity(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{{
		name: "tls",
		yaml: `xds:
  tls:
    client_ca_file: certs/none.pem
    allowed_identities: ["spiffe://fleet/edge", "", "spiffe://fleet/edge"]
`,
		want: []string{
			`10: xds.tls.cert_file: required: the server certificate chain`,
			`10: xds.tls.key_file: required: the private key of cert_file`,
			`11: xds.tls.client_ca_file: file "certs/none.pem" (resolved to "$DIR/certs/none.pem") does not exist`,
			`12: xds.tls.allowed_identities[1]: identity must not be empty`,
			`12: xds.tls.allowed_identities[2]: duplicate identity "spiffe://fleet/edge"`,
		},
	}, {
		name: "identities need a client CA",
		yaml: `xds:
  tls:
    cert_file: certs/ca.pem
    key_file: certs
    allowed_identities: [edge]
`,
		want: []string{
			`12: xds.tls.key_file: file "certs" (resolved to "$DIR/certs") is a directory`,
			`13: xds.tls.allowed_identities: needs client_ca_file: identities are read from verified client certificates`,
		},
	}, {
		name: "access",
		yaml: `xds:
  access:
    default: block
    rules:
      - {listeners: [public]}
      - match: {node_id: "edge-[", node_cluster: edge}
        listeners: [public, nope]
        pools: [gpu, gpux]
      - match: {node_cluster: core}
        pools: [api]
      -
`,
		want: []string{
			`11: xds.access.default: want allow or deny, got "block"`,
			`13: xds.access.rules[0].match: set node_id, node_cluster or both`,
			`14: xds.access.rules[1].match.node_id: bad pattern "edge-[": syntax error in pattern`,
			`15: xds.access.rules[1].listeners[1]: unknown listener "nope"; defined listeners: internal, public`,
			`16: xds.access.rules[1].pools[1]: unknown pool "gpux"; defined pools: api, gpu, rpc`,
			`18: xds.access.rules[2].pools: listener "public" routes to pool "gpu", which the rule's pools leave out`,
			`19: xds.access.rules[3].match: set node_id, node_cluster or both`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrors(t, xdsBase+tt.yaml, tt.want)
		})
	}
}

func TestXDSSecurityLoads(t *testing.T) {
	path := writeConfig(t, xdsBase+`xds:
  tls:
    cert_file: certs/ca.pem
    key_file: certs/ca.pem
    client_ca_file: certs/ca.pem
    allowed_identities: ["spiffe://fleet/edge", edge.example.com]
  access:
    rules:
      - match: {node_cluster: edge, node_id: "edge-*"}
        listeners: [public]
        pools: [gpu, rpc]
      - match: {node_id: "*"}
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wantTLS := &XDSTLS{CertFile: "certs/ca.pem", KeyFile: "certs/ca.pem",
		ClientCAFile:      "certs/ca.pem",
		AllowedIdentities: []string{"spiffe://fleet/edge", "edge.example.com"}}
	if diff := cmp.Diff(wantTLS, cfg.XDS.TLS); diff != "" {
		t.Errorf("xds.tls (-want +got):\n%s", diff)
	}
	wantAccess := &Access{Default: AccessAllow, Rules: []*AccessRule{
		{Match: AccessMatch{NodeID: "edge-*", NodeCluster: "edge"},
			Listeners: []string{"public"}, Pools: []string{"gpu", "rpc"}},
		{Match: AccessMatch{NodeID: "*"}},
	}}
	if diff := cmp.Diff(wantAccess, cfg.XDS.Access); diff != "" {
		t.Errorf("xds.access (-want +got):\n%s", diff)
	}
}

func TestXDSSecurityDefaults(t *testing.T) {
	tests := []struct {
		name string
		xds  string
		want *Access
	}{
		{name: "no access section", xds: "", want: nil},
		{name: "empty access section", xds: "xds: {access: }\n",
			want: &Access{Default: AccessAllow}},
		{name: "deny kept", xds: "xds: {access: {default: deny}}\n",
			want: &Access{Default: AccessDeny}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeConfig(t, xdsBase+tt.xds))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, cfg.XDS.Access); diff != "" {
				t.Errorf("xds.access (-want +got):\n%s", diff)
			}
			if cfg.XDS.TLS != nil {
				t.Errorf("xds.tls = %+v without the section", cfg.XDS.TLS)
			}
		})
	}
}

// TestXDSTLSFileResolvedAgainstConfig checks that the files of xds.tls are
// looked for next to the config file, not in the working directory.
func TestXDSTLSFileResolvedAgainstConfig(t *testing.T) {
	path := writeConfig(t, xdsBase+"xds: {tls: {cert_file: server.pem, key_file: certs/ca.pem}}\n")
	if _, err := Load(path); err == nil {
		t.Fatal("Load accepted a missing server.pem")
	}
	err := os.WriteFile(filepath.Join(filepath.Dir(path), "server.pem"), nil, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("Load with server.pem next to the config: %v", err)
	}
}
