package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

// edsClient is a raw ADS client on a real gRPC stream that subscribes to
// the endpoints of one cluster, as an Envoy does once it has the cluster,
// ACKs every response and keeps the latest health of each endpoint.
type edsClient struct {
	mu      sync.Mutex
	health  map[string]corev3.HealthStatus // by host:port
	changed chan struct{}
}

func subscribeEDS(t *testing.T, xdsAddr, cluster string) *edsClient {
	t.Helper()
	conn, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &edsClient{health: map[string]corev3.HealthStatus{}, changed: make(chan struct{})}
	node := &corev3.Node{Id: "scale-test", Cluster: "tests"}
	send := func(version, nonce string) error {
		return stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType,
			ResourceNames: []string{cluster}, VersionInfo: version, ResponseNonce: nonce})
	}
	if err := send("", ""); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			c.apply(t, resp)
			if send(resp.GetVersionInfo(), resp.GetNonce()) != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		conn.Close()
	})
	return c
}

func (c *edsClient) apply(t *testing.T, resp *discoveryv3.DiscoveryResponse) {
	health := map[string]corev3.HealthStatus{}
	for _, res := range resp.GetResources() {
		var cla endpointv3.ClusterLoadAssignment
		if err := res.UnmarshalTo(&cla); err != nil {
			t.Errorf("decoding endpoints: %v", err)
			return
		}
		for _, loc := range cla.GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				addr := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
				health[addr] = ep.GetHealthStatus()
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.health = health
	close(c.changed)
	c.changed = make(chan struct{})
}

// snapshot returns the latest health of every endpoint.
func (c *edsClient) snapshot() map[string]corev3.HealthStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]corev3.HealthStatus, len(c.health))
	for k, v := range c.health {
		out[k] = v
	}
	return out
}

// waitHealth waits up to 20 s until addr has the given health.
func (c *edsClient) waitHealth(t *testing.T, addr string, want corev3.HealthStatus) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		got, changed := c.health[addr], c.changed
		c.mu.Unlock()
		if got == want {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("endpoint %s is %v at the ADS client, want %v (all: %v)", addr, got, want,
				c.snapshot())
		}
	}
}

// envoyAdmin serves /clusters?format=json and /stats/prometheus for one
// cluster as an Envoy fed by the edsClient would: each host with the health
// its last EDS update gave it, and the requests in flight the test sets.
// It stands in for Envoy's admin API, since no Envoy can run in these
// tests; the bodies are in Envoy's formats.
type envoyAdmin struct {
	eds     *edsClient
	cluster string
	srv     *httptest.Server

	mu     sync.Mutex
	active map[string]uint64
}

func startEnvoyAdmin(t *testing.T, eds *edsClient, cluster string,
	active map[string]uint64) *envoyAdmin {
	t.Helper()
	e := &envoyAdmin{eds: eds, cluster: cluster, active: active}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clusters", e.clusters)
	mux.HandleFunc("GET /stats/prometheus", e.stats)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *envoyAdmin) setActive(addr string, n uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.active[addr] = n
}

func (e *envoyAdmin) activeOf(addr string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active[addr]
}

func (e *envoyAdmin) clusters(w http.ResponseWriter, _ *http.Request) {
	cs := &adminv3.ClusterStatus{Name: e.cluster}
	for addr, health := range e.eds.snapshot() {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		cs.HostStatuses = append(cs.HostStatuses, &adminv3.HostStatus{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: host,
					PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}},
			Stats: []*adminv3.SimpleMetric{{Name: "rq_active", Value: e.activeOf(addr),
				Type: adminv3.SimpleMetric_GAUGE}},
			HealthStatus: &adminv3.HostHealthStatus{EdsHealthStatus: health},
		})
	}
	body, err := protojson.Marshal(&adminv3.Clusters{ClusterStatuses: []*adminv3.ClusterStatus{cs}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(body)
}

func (e *envoyAdmin) stats(w http.ResponseWriter, _ *http.Request) {
	var active uint64
	health := e.eds.snapshot()
	for addr := range health {
		active += e.activeOf(addr)
	}
	var b strings.Builder
	for _, g := range []struct {
		name  string
		value uint64
	}{
		{"envoy_cluster_upstream_rq_active", active},
		{"envoy_cluster_upstream_rq_pending_active", 0},
		{"envoy_cluster_membership_total", uint64(len(health))},
	} {
		fmt.Fprintf(&b, "# TYPE %s gauge\n%s{envoy_cluster_name=%q} %d\n", g.name, g.name,
			e.cluster, g.value)
	}
	_, _ = w.Write([]byte(b.String()))
}

// startScale runs Scale in-process and returns its admin address and a
// function that stops it, failing the test if Scale did not end cleanly.
func startScale(t *testing.T, cfgPath string) (string, func()) {
	t.Helper()
	return runScale(t, ScaleOptions{ConfigPath: cfgPath})
}

// runScale runs Scale in-process with opts, its Log and Started set here,
// and returns the admin address and a function that stops it, failing
// the test if Scale did not end cleanly.
func runScale(t *testing.T, opts ScaleOptions) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan net.Addr, 1)
	done := make(chan error, 1)
	opts.Log = testLogger(t)
	opts.Started = func(a net.Addr) { started <- a }
	go func() { done <- Scale(ctx, opts) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("scale returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-started:
		return a.String(), stop
	case err := <-done:
		t.Fatalf("scale failed to start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("scale did not start within 10s")
	}
	return "", stop
}

// metricValue returns the value of the sample line that starts with
// series in the admin server's /metrics, or "" when there is none.
func metricValue(t *testing.T, adminAddr, series string) string {
	t.Helper()
	_, body := httpGet(t, "http://"+adminAddr+"/metrics")
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	return ""
}

// eventually polls cond every 50 ms for up to within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
