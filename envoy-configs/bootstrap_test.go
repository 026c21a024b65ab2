package envoyconfigs

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"go.yaml.in/yaml/v3"
)

// bootstrapFiles lists every bootstrap in this directory; a file added
// later is checked without touching the tests.
func bootstrapFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Both shipped files must be among them, so that the checks below
	// cannot pass by finding nothing.
	for _, want := range []string{"demo.yaml", "production.yaml"} {
		if !slices.Contains(files, want) {
			t.Fatalf("bootstrap files = %v, want %s among them", files, want)
		}
	}
	return files
}

func mustLoad(t *testing.T, path string) *bootstrapv3.Bootstrap {
	t.Helper()
	tree, err := readTree(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeBootstrap(tree)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// TestBootstrapsAreValid loads each file strictly into Envoy's Bootstrap
// and runs Envoy's validation rules on it and on every packed config.
func TestBootstrapsAreValid(t *testing.T) {
	for _, file := range bootstrapFiles(t) {
		t.Run(file, func(t *testing.T) {
			if stage, err := checkFile(file); stage != stageNone {
				t.Fatalf("rejected at stage %s: %v", stage, err)
			}
		})
	}
}

// TestBootstrapsReachSpillway checks what each file must say to work with
// Spillway: the ADS cluster and its address, TLS where it is meant, the
// node identity, and a loopback-only admin server.
func TestBootstrapsReachSpillway(t *testing.T) {
	tests := []struct {
		file       string
		wantType   clusterv3.Cluster_DiscoveryType
		wantAddr   string
		wantTLS    bool
		wantNodeID string // production leaves it to --service-node
	}{
		{"demo.yaml", clusterv3.Cluster_STATIC, quickstartXDS(t), false, "edge-1"},
		{"production.yaml", clusterv3.Cluster_STRICT_DNS, "spillway.internal:18000", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := mustLoad(t, tt.file)

			if got := b.GetNode().GetId(); got != tt.wantNodeID {
				t.Errorf("node.id = %q, want %q", got, tt.wantNodeID)
			}
			if got := b.GetNode().GetCluster(); got != "edge" {
				t.Errorf("node.cluster = %q, want edge", got)
			}
			c := adsCluster(t, b)
			if got := c.GetType(); got != tt.wantType {
				t.Errorf("cluster %s type = %v, want %v", c.GetName(), got, tt.wantType)
			}
			if got := clusterAddr(t, c); got != tt.wantAddr {
				t.Errorf("cluster %s address = %s, want %s", c.GetName(), got, tt.wantAddr)
			}
			if got := c.GetTransportSocket() != nil; got != tt.wantTLS {
				t.Errorf("cluster %s has TLS = %t, want %t", c.GetName(), got, tt.wantTLS)
			}
			if tt.wantTLS {
				checkTLS(t, c.GetTransportSocket())
			}
			if _, ok := c.GetTypedExtensionProtocolOptions()[httpOptionsKey]; !ok {
				t.Errorf("cluster %s sets no %s: gRPC needs HTTP/2", c.GetName(), httpOptionsKey)
			}
			checkAdminLoopback(t, b)
			checkHistogramBuckets(t, b)
		})
	}
}

const httpOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// quickstartXDS returns the address the quickstart config serves xDS on,
// so that the demo bootstrap cannot drift away from it.
func quickstartXDS(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		XDS struct {
			Listen string `yaml:"listen"`
		} `yaml:"xds"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("parsing quickstart.yaml: %v", err)
	}
	if cfg.XDS.Listen == "" {
		t.Fatal("quickstart.yaml sets no xds.listen")
	}
	return cfg.XDS.Listen
}

// adsCluster returns the static cluster that ADS names.
func adsCluster(t *testing.T, b *bootstrapv3.Bootstrap) *clusterv3.Cluster {
	t.Helper()
	ads := b.GetDynamicResources().GetAdsConfig()
	if ads.GetApiType() != corev3.ApiConfigSource_GRPC || len(ads.GetGrpcServices()) != 1 {
		t.Fatalf("ads_config = %v, want one gRPC service", ads)
	}
	if !ads.GetSetNodeOnFirstMessageOnly() {
		t.Error("ads_config.set_node_on_first_message_only is false")
	}
	for _, cs := range []*corev3.ConfigSource{
		b.GetDynamicResources().GetLdsConfig(), b.GetDynamicResources().GetCdsConfig(),
	} {
		if cs.GetAds() == nil || cs.GetResourceApiVersion() != corev3.ApiVersion_V3 {
			t.Errorf("config source %v, want ADS with V3 resources", cs)
		}
	}
	name := ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("ADS names cluster %q, which is not among the static clusters", name)
	return nil
}

// clusterAddr returns host:port of the only endpoint of c.
func clusterAddr(t *testing.T, c *clusterv3.Cluster) string {
	t.Helper()
	var addrs []string
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		for _, e := range le.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			port := strconv.Itoa(int(sa.GetPortValue()))
			addrs = append(addrs, net.JoinHostPort(sa.GetAddress(), port))
		}
	}
	if len(addrs) != 1 {
		t.Fatalf("cluster %s endpoints = %v, want exactly one", c.GetName(), addrs)
	}
	return addrs[0]
}

func checkTLS(t *testing.T, ts *corev3.TransportSocket) {
	t.Helper()
	tls := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(tls); err != nil {
		t.Fatalf("transport socket %s: %v", ts.GetName(), err)
	}
	ctx := tls.GetCommonTlsContext()
	if tls.GetSni() != "spillway.internal" {
		t.Errorf("sni = %q, want spillway.internal", tls.GetSni())
	}
	if !slices.Equal(ctx.GetAlpnProtocols(), []string{"h2"}) {
		t.Errorf("alpn_protocols = %v, want [h2]", ctx.GetAlpnProtocols())
	}
	if len(ctx.GetTlsCertificates()) != 1 {
		t.Errorf("tls_certificates = %v, want one client certificate", ctx.GetTlsCertificates())
	}
	vc := ctx.GetValidationContext()
	if vc.GetTrustedCa().GetFilename() == "" || len(vc.GetMatchTypedSubjectAltNames()) == 0 {
		t.Errorf("validation_context = %v, want a CA file and a SAN to match", vc)
	}
}

// checkAdminLoopback fails unless the admin server listens on loopback
// only: it can change Envoy's state and shut it down.
func checkAdminLoopback(t *testing.T, b *bootstrapv3.Bootstrap) {
	t.Helper()
	sa := b.GetAdmin().GetAddress().GetSocketAddress()
	ip := net.ParseIP(sa.GetAddress())
	if ip == nil || !ip.IsLoopback() {
		t.Errorf("admin address = %q, want a loopback IP", sa.GetAddress())
	}
	if sa.GetPortValue() != 9901 {
		t.Errorf("admin port = %d, want 9901 (the scaler's default)", sa.GetPortValue())
	}
}

// checkHistogramBuckets fails unless upstream request times, which the
// scaler reads, get buckets from 10 ms to 5 minutes.
func checkHistogramBuckets(t *testing.T, b *bootstrapv3.Bootstrap) {
	t.Helper()
	const stat = "cluster.gpu.upstream_rq_time"
	for _, s := range b.GetStatsConfig().GetHistogramBucketSettings() {
		if !strings.HasSuffix(stat, s.GetMatch().GetSuffix()) || s.GetMatch().GetSuffix() == "" {
			continue
		}
		got := s.GetBuckets()
		if !slices.IsSorted(got) || got[0] != 10 || got[len(got)-1] != 300000 {
			t.Errorf("buckets for %s = %v, want sorted from 10 to 300000", stat, got)
		}
		return
	}
	t.Errorf("no histogram_bucket_settings match %s", stat)
}
