package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/spillway/spillway/internal/testcerts"
	"github.com/spillway/spillway/policy"
)

// lockedBuffer collects log output that tests read while Serve writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a Serve started by serveLogged.
type running struct {
	xds, admin string
	logs       *lockedBuffer
	stop       func() error // ends Serve and returns its error
}

// serveLogged runs Serve on cfgPath with every log line, debug included,
// kept in a buffer.
func serveLogged(t *testing.T, cfgPath string) *running {
	t.Helper()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ xds, admin net.Addr }
	started := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{ConfigPath: cfgPath, Log: log,
			Started: func(x, a net.Addr) { started <- addrs{x, a} }})
	}()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case a := <-started:
		return &running{xds: a.xds.String(), admin: a.admin.String(), logs: logs, stop: stop}
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs)
	}
	return nil
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	tests := []struct {
		name  string
		admin string
		want  int
	}{
		{name: "default", admin: "admin: {listen: 127.0.0.1:0}", want: http.StatusNotFound},
		{name: "pprof on", admin: "admin: {listen: 127.0.0.1:0, pprof: true}", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := strings.Replace(reloadConfig, "admin: {listen: 127.0.0.1:0}", tt.admin, 1)
			writeAtomic(t, filepath.Join(dir, "catalog.yaml"), reloadCatalog)
			writeAtomic(t, filepath.Join(dir, "spillway.yaml"), cfg)
			r := serveLogged(t, filepath.Join(dir, "spillway.yaml"))
			if code, body := httpGet(t, "http://"+r.admin+"/debug/pprof/"); code != tt.want {
				t.Errorf("/debug/pprof/ = %d, want %d: %.200s", code, tt.want, body)
			}
		})
	}
}

// TestAdminListensOnLoopbackByDefault checks the default that keeps
// metrics, debug pages and pprof off the network.
func TestAdminListensOnLoopbackByDefault(t *testing.T) {
	dir := t.TempDir()
	writeAtomic(t, filepath.Join(dir, "spillway.yaml"), `discovery: {file: {path: c.yaml}}
pools: {gpu: {service: inference}}
listeners: [{name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}]
`)
	cfg, err := policy.Load(filepath.Join(dir, "spillway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.Admin.Listen)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("admin.listen defaults to %q, want a loopback address", cfg.Admin.Listen)
	}
}

// TestTokenNeverShown runs Serve against a Consul that cannot be reached,
// with an ACL token from a file, and looks for the token in everything
// Serve shows: its logs at every level, its admin pages and its error.
func TestTokenNeverShown(t *testing.T) {
	const token = "7f3c9e1a-token-must-stay-secret-5b2d"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback refuses connections at once.
	writeAtomic(t, filepath.Join(dir, "spillway.yaml"), `discovery:
  consul: {address: "127.0.0.1:1", token_file: token, wait_time: 1s}
xds: {listen: 127.0.0.1:0}
admin: {listen: 127.0.0.1:0}
pools:
  gpu: {service: inference}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
`)
	r := serveLogged(t, filepath.Join(dir, "spillway.yaml"))
	waitLogged(t, r.logs, "consul watch failed")

	shown := map[string]string{"logs": r.logs.String()}
	for _, page := range []string{"/debug/resources", "/readyz", "/metrics", "/healthz"} {
		code, body := httpGet(t, "http://"+r.admin+page)
		shown[page] = fmt.Sprintf("%d %s", code, body)
	}
	if !strings.Contains(shown["/readyz"], "down") {
		t.Errorf("/readyz does not report the lost Consul: %s", shown["/readyz"])
	}
	err := r.stop()
	shown["serve error"] = fmt.Sprint(err)
	shown["logs after stop"] = r.logs.String()
	for what, text := range shown {
		if strings.Contains(text, token) {
			t.Errorf("the token appears in %s:\n%s", what, text)
		}
	}
	if !strings.Contains(shown["logs"], "token=") {
		t.Error("the consul config is not logged at all, so the check above proves little")
	}
}

// waitLogged waits until a log line contains s.
func waitLogged(t *testing.T, logs *lockedBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs within 10s:\n%s", s, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const secureCatalog = `services:
  inference: [{id: i1, address: 127.0.0.1, port: 9101}]
  api: [{id: a1, address: 127.0.0.1, port: 9201}]
  grpc-svc: [{id: g1, address: 127.0.0.1, port: 9301}]
`

const secureConfig = `discovery: {file: {path: catalog.yaml}}
xds:
  listen: 127.0.0.1:0
  batch: {quiet: 10ms, max_delay: 100ms}
  tls:
    cert_file: server.pem
    key_file: server-key.pem
    client_ca_file: ca.pem
    allowed_identities: ["spiffe://fleet/edge", "spiffe://fleet/core"]
  access:
    rules:
      - match: {node_cluster: edge}
        listeners: [public]
        pools: [gpu, rpc]
admin: {listen: 127.0.0.1:0}
pools:
  gpu: {service: inference}
  api: {service: api}
  rpc: {service: grpc-svc, protocol: grpc}
listeners:
  - {name: public, port: 8080, routes: [{match: {prefix: /}, pool: gpu}]}
  - {name: internal, port: 8081, routes: [{match: {prefix: /}, pool: api}]}
`

// TestServeSecured wires xds.tls and xds.access through Serve: only
// allowed identities connect, and an edge node receives only its
// listener, its pools and the proxyless resources of its grpc pool.
func TestServeSecured(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "test-ca")
	cert, key := ca.Issue(t, testcerts.Leaf{CN: "spillway", Server: true})
	for name, data := range map[string][]byte{"server.pem": cert, "server-key.pem": key,
		"ca.pem": ca.PEM, "catalog.yaml": []byte(secureCatalog),
		"spillway.yaml": []byte(secureConfig)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := serveLogged(t, filepath.Join(dir, "spillway.yaml"))
	edge := mtlsClient(t, ca, r.xds, "spiffe://fleet/edge")
	core := mtlsClient(t, ca, r.xds, "spiffe://fleet/core")

	tests := []struct {
		name    string
		conn    *grpc.ClientConn
		cluster string
		typeURL string
		names   []string
		want    []string
	}{
		{"edge clusters", edge, "edge", resourcev3.ClusterType, nil, []string{"gpu", "rpc"}},
		{"edge listeners", edge, "edge", resourcev3.ListenerType, nil, []string{"public"}},
		{"edge asks for listeners by name", edge, "edge", resourcev3.ListenerType,
			[]string{"internal", "rpc"}, []string{"rpc"}},
		{"edge routes", edge, "edge", resourcev3.RouteType,
			[]string{"grpc.rpc", "internal", "public"}, []string{"grpc.rpc", "public"}},
		{"core clusters", core, "core", resourcev3.ClusterType, nil,
			[]string{"api", "gpu", "rpc"}},
		{"core listeners", core, "core", resourcev3.ListenerType, nil,
			[]string{"internal", "public"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &corev3.Node{Id: tt.cluster + "-1", Cluster: tt.cluster}
			got, err := adsNames(tt.conn, node, tt.typeURL, tt.names)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("identity not on the list", func(t *testing.T) {
		batch := mtlsClient(t, ca, r.xds, "spiffe://fleet/batch")
		_, err := adsNames(batch, &corev3.Node{Id: "b"}, resourcev3.ClusterType, nil)
		if err == nil {
			t.Fatal("a client whose identity is not allowed got clusters")
		}
	})
}

// adsNames opens an ADS stream, asks for names of typeURL (none: all) and
// returns the names in the first response.
func adsNames(
	conn *grpc.ClientConn, node *corev3.Node, typeURL string, names []string,
) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}
	if err := st.Send(req); err != nil {
		return nil, err
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range resp.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			return nil, err
		}
		out = append(out, cachev3.GetResourceName(m))
	}
	return out, nil
}

// mtlsClient dials addr over mutual TLS with a certificate from ca whose
// URI SAN is identity.
func mtlsClient(t *testing.T, ca *testcerts.CA, addr, identity string) *grpc.ClientConn {
	t.Helper()
	pair := ca.KeyPair(t, testcerts.Leaf{CN: "client", URIs: []string{identity}})
	creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(),
		Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
