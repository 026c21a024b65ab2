package scaler

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// host is one upstream host as a fake Envoy reports it.
type host struct {
	addr   string
	active uint64
	health corev3.HealthStatus
}

// clustersBody renders hosts of cluster as Envoy's /clusters?format=json
// does: the admin Clusters message in protobuf JSON.
func clustersBody(t testing.TB, cluster string, hosts []host) []byte {
	t.Helper()
	cs := &adminv3.ClusterStatus{Name: cluster}
	for _, h := range hosts {
		ip, port, err := net.SplitHostPort(h.addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		cs.HostStatuses = append(cs.HostStatuses, &adminv3.HostStatus{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: ip,
					PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)}}}},
			Stats: []*adminv3.SimpleMetric{
				{Name: "rq_total", Value: 100},
				{Name: "rq_active", Value: h.active, Type: adminv3.SimpleMetric_GAUGE},
			},
			HealthStatus: &adminv3.HostHealthStatus{EdsHealthStatus: h.health},
		})
	}
	body, err := protojson.Marshal(&adminv3.Clusters{ClusterStatuses: []*adminv3.ClusterStatus{cs}})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// adminEnvoy serves the two admin pages the scaler reads. It stands in for
// Envoy's admin API, since no Envoy can run in these tests; the bodies are
// in Envoy's formats. The test sets what it reports.
type adminEnvoy struct {
	t       testing.TB
	srv     *httptest.Server
	cluster string

	mu      sync.Mutex
	hosts   []host
	pending int
}

func startAdmin(t testing.TB, cluster string, hosts ...host) *adminEnvoy {
	t.Helper()
	e := &adminEnvoy{t: t, cluster: cluster, hosts: hosts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clusters", func(w http.ResponseWriter, _ *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		_, _ = w.Write(clustersBody(t, e.cluster, e.hosts))
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(e.stats()))
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// setPending sets the requests waiting in the fake for a connection.
func (e *adminEnvoy) setPending(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending = n
}

// stats renders the cluster's gauges in Envoy's Prometheus format: the
// hosts' active requests summed, and their membership.
func (e *adminEnvoy) stats() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var active uint64
	healthy := 0
	for _, h := range e.hosts {
		active += h.active
		if h.health == corev3.HealthStatus_HEALTHY {
			healthy++
		}
	}
	var b strings.Builder
	gauge := func(name string, v any) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n%s{envoy_cluster_name=%q} %v\n", name, name, e.cluster, v)
	}
	gauge(metricActive, active)
	gauge(metricPending, e.pending)
	gauge(metricHealthy, healthy)
	gauge(metricMembers, len(e.hosts))
	return b.String()
}

func (e *adminEnvoy) admin() string { return e.srv.URL }
