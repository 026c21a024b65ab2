package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/spillway/spillway/internal/consultest"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
	"github.com/spillway/spillway/scaler/keda"
	pb "github.com/spillway/spillway/scaler/keda/externalscaler"
)

// kedaConfig scales pool gpu of service inference through KEDA and pool
// api through an exec script, from the Consul agent at %[1]s, with stats
// from the Envoy admin at %[2]s. gpu may shrink all the way at once, so
// that its decisions would drain every instance if the loop acted on them.
const kedaConfig = `discovery: {consul: {address: "%[1]s"}}
admin: {listen: 127.0.0.1:0}
pools:
  gpu: {service: inference}
  api: {service: api}
listeners:
  - name: public
    port: 8080
    routes:
      - {match: {prefix: /api/}, pool: api}
      - {match: {prefix: /}, pool: gpu}
scaler:
  stats: {envoy_admin: ["%[2]s"], interval: 1s}
  admin: {listen: 127.0.0.1:0}
  keda: {listen: 127.0.0.1:0}
  lock_key: spillway/test/keda
  pools:
    gpu:
      min: 0
      max: 10
      target: {queue_per_instance: 5}
      scale_down: {stabilization: 0s, max_step: 0, max_percent: 0}
      actuator: {keda: {}}
    api:
      min: 1
      max: 2
      target: {queue_per_instance: 5}
      actuator: {exec: {command: [./scale.sh], timeout: 10s}}
`

// kedaFixture is a Consul agent with three instances of service inference,
// an Envoy admin stand-in that reports them, and kedaConfig for both.
type kedaFixture struct {
	agent   *consultest.Agent
	envoy   *envoyAdmin
	hosts   []string
	cfgPath string
	logPath string // where scale.sh, the exec actuator, writes when it runs
}

func newKEDAFixture(t *testing.T) *kedaFixture {
	t.Helper()
	f := &kedaFixture{agent: consultest.Start(t)}
	registerInference(t, f.agent.Client(), 3)

	// No xDS server runs here: the Envoy's view of the pool is set by hand,
	// each host healthy, 10 requests in flight on each.
	eds := &edsClient{health: map[string]corev3.HealthStatus{}, changed: make(chan struct{})}
	active := map[string]uint64{}
	for i := 1; i <= 3; i++ {
		addr := "127.0.0.1:" + strconv.Itoa(9100+i)
		f.hosts = append(f.hosts, addr)
		eds.health[addr], active[addr] = corev3.HealthStatus_HEALTHY, 10
	}
	f.envoy = startEnvoyAdmin(t, eds, "gpu", active)

	dir := t.TempDir()
	f.cfgPath, f.logPath = filepath.Join(dir, "spillway.yaml"), filepath.Join(dir, "scaled.log")
	writeAtomic(t, f.cfgPath, fmt.Sprintf(kedaConfig, f.agent.Addr(), f.envoy.srv.URL))
	if err := os.WriteFile(filepath.Join(dir, "scale.sh"), []byte(scaleScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// kedaProcess is one running `spillway scale` with its two addresses.
type kedaProcess struct {
	admin string
	keda  pb.ExternalScalerClient
}

// startScaleKEDA runs Scale in-process with its KEDA server and returns
// its addresses, with a gRPC client of the KEDA server, and a function
// that stops it, failing the test if Scale did not end cleanly.
func startScaleKEDA(t *testing.T, cfgPath string) (*kedaProcess, func()) {
	t.Helper()
	kedaAddr := make(chan net.Addr, 1)
	admin, stop := runScale(t, ScaleOptions{ConfigPath: cfgPath,
		StartedKEDA: func(a net.Addr) { kedaAddr <- a }})
	return &kedaProcess{admin: admin, keda: dialKEDA(t, <-kedaAddr)}, stop
}

// dialKEDA is a client of the KEDA server at addr, as KEDA's operator
// holds one: plain gRPC on a real connection.
func dialKEDA(t *testing.T, addr net.Addr) pb.ExternalScalerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr.String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewExternalScalerClient(conn)
}

// scaledObject is the reference a ScaledObject's trigger sends for pool
// and metric.
func scaledObject(pool, metric string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Name: "gpu-inference", Namespace: "inference",
		ScalerMetadata: map[string]string{"pool": pool, "metric": metric}}
}

// kedaAnswers is what KEDA learns of one pool and metric in one go.
type kedaAnswers struct {
	active bool
	spec   *pb.GetMetricSpecResponse
	values *pb.GetMetricsResponse
}

func askKEDA(ctx context.Context, c pb.ExternalScalerClient, ref *pb.ScaledObjectRef) (
	kedaAnswers, error) {
	var a kedaAnswers
	act, err := c.IsActive(ctx, ref)
	if err != nil {
		return a, err
	}
	a.active = act.GetResult()
	if a.spec, err = c.GetMetricSpec(ctx, ref); err != nil {
		return a, err
	}
	name := a.spec.GetMetricSpecs()[0].GetMetricName()
	a.values, err = c.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: name})
	return a, err
}

// waitKEDA asks the KEDA server until the pool's metric has the given
// value, for up to 20 s, and returns the answers.
func waitKEDA(t *testing.T, c pb.ExternalScalerClient, ref *pb.ScaledObjectRef,
	value float64) kedaAnswers {
	t.Helper()
	var got kedaAnswers
	var err error
	eventually(t, 20*time.Second, fmt.Sprintf("KEDA reads %s %v", ref.ScalerMetadata, value),
		func() bool {
			got, err = askKEDA(context.Background(), c, ref)
			return err == nil && got.values.GetMetricValues()[0].GetMetricValueFloat() == value
		})
	return got
}

func metricSpec(name string, target float64) *pb.GetMetricSpecResponse {
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{MetricName: name,
		TargetSize: int64(target), TargetSizeFloat: target}}}
}

func metricValues(name string, v float64) *pb.GetMetricsResponse {
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{MetricName: name,
		MetricValue: int64(v), MetricValueFloat: v}}}
}

// TestScaleServesKEDA runs spillway scale on a real Consul agent with a
// pool whose replicas KEDA owns, and asks its KEDA server over gRPC as
// KEDA's operator would. The answers follow the Envoy stats: the queue,
// its target and the replicas the loop wants, and activity. The loop acts
// on none of it: no instance is drained and no actuator runs, even when
// it wants no replicas at all. A second, following scaler answers
// UNAVAILABLE, so that KEDA holds.
func TestScaleServesKEDA(t *testing.T) {
	f := newKEDAFixture(t)
	consul := f.agent.Client()
	leader, _ := startScaleKEDA(t, f.cfgPath)

	// Queue 30 for 3 instances at 5 each: 6 wanted.
	queue, desired := scaledObject("gpu", "queue"), scaledObject("gpu", "desired")
	checkKEDA(t, waitKEDA(t, leader.keda, queue, 30),
		kedaAnswers{true, metricSpec("spillway-gpu-queue", 5), metricValues("spillway-gpu-queue", 30)})
	checkKEDA(t, waitKEDA(t, leader.keda, desired, 6), kedaAnswers{true,
		metricSpec("spillway-gpu-desired", 1), metricValues("spillway-gpu-desired", 6)})

	// No requests: the loop wants none, and KEDA may scale to zero.
	for _, addr := range f.hosts {
		f.envoy.setActive(addr, 0)
	}
	checkKEDA(t, waitKEDA(t, leader.keda, desired, 0), kedaAnswers{false,
		metricSpec("spillway-gpu-desired", 1), metricValues("spillway-gpu-desired", 0)})
	scaleIns := `spillway_scaler_decisions_total{direction="down",pool="gpu",reason_kind="queue"}`
	eventually(t, 20*time.Second, "three rounds decided to scale in", func() bool {
		n, _ := strconv.Atoi(metricValue(t, leader.admin, scaleIns))
		return n >= 3
	})
	checkNothingActed(t, leader.admin, f.logPath, func(id string) string {
		return drainNote(t, consul, id)
	})

	// Pools KEDA does not own are not served.
	_, err := leader.keda.IsActive(context.Background(), scaledObject("api", ""))
	if status.Code(err) != codes.NotFound {
		t.Errorf("IsActive of pool api, which an exec script scales: %v, want NotFound", err)
	}
	follower, _ := startScaleKEDA(t, f.cfgPath)
	_, err = askKEDA(context.Background(), follower.keda, queue)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("the follower answered %v, want Unavailable", err)
	}
}

// checkKEDA compares KEDA's answers with want.
func checkKEDA(t *testing.T, got, want kedaAnswers) {
	t.Helper()
	if got.active != want.active {
		t.Errorf("IsActive = %v, want %v", got.active, want.active)
	}
	if diff := cmp.Diff(want.spec, got.spec, protocmp.Transform()); diff != "" {
		t.Errorf("GetMetricSpec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.values, got.values, protocmp.Transform()); diff != "" {
		t.Errorf("GetMetrics (-want +got):\n%s", diff)
	}
}

// checkNothingActed checks that the scaler drained no instance, ran no
// actuator and counted no actuation.
func checkNothingActed(t *testing.T, adminAddr, logPath string, note func(id string) string) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("inference-%d", i)
		if n := note(id); n != "" {
			t.Errorf("%s is in maintenance (%q); KEDA's pools are never drained", id, n)
		}
	}
	if _, err := os.Stat(logPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the exec actuator ran (log: %v)", err)
	}
	for _, dir := range []string{"up", "down"} {
		for _, result := range []string{"ok", "error"} {
			series := fmt.Sprintf(
				`spillway_scaler_actuations_total{direction=%q,pool="gpu",result=%q}`, dir, result)
			if got := metricValue(t, adminAddr, series); got != "" {
				t.Errorf("%s = %s, want no actuation", series, got)
			}
		}
	}
	if got := metricValue(t, adminAddr, `spillway_scaler_desired_replicas{pool="gpu"}`); got != "0" {
		t.Errorf("desired replicas gauge = %q, want 0", got)
	}
}

// TestKEDAView checks how a round of the loop becomes KEDA's signal, in
// particular when a pool counts as active.
func TestKEDAView(t *testing.T) {
	tests := []struct {
		name    string
		toZero  *policy.ToZero
		demand  float64
		desired int
		stale   bool
		active  bool
	}{
		{"idle, no to_zero", nil, 0, 0, false, false},
		{"one request, no to_zero", nil, 1, 0, false, true},
		{"activation 0 means 1", &policy.ToZero{}, 1, 0, false, true},
		{"below activation", &policy.ToZero{Activation: 3}, 2, 0, false, false},
		{"at activation", &policy.ToZero{Activation: 3}, 3, 0, false, true},
		{"replicas wanted", &policy.ToZero{Activation: 3}, 0, 2, false, true},
		{"stale", nil, 4, 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := &policy.ScalerPool{Target: policy.Target{QueuePerInstance: 5}, ToZero: tt.toZero}
			sig := scaler.Signal{Active: tt.demand / 2, Pending: tt.demand / 2, Stale: tt.stale}
			got := kedaView(sp, sig, scaler.Decision{Current: 1, Desired: tt.desired})
			want := keda.Signal{Queue: tt.demand, QueueTarget: 5, Desired: tt.desired,
				Active: tt.active}
			if tt.stale {
				want = keda.Signal{Stale: true}
			}
			if got != want {
				t.Errorf("kedaView = %+v, want %+v", got, want)
			}
		})
	}
}

// TestKEDASignalFollowsLead checks what the KEDA server is told about each
// pool: the loop's last round while this process leads, stale before the
// first round and once the lead is lost, even though the old term's loop
// is still there, and nothing for a pool KEDA does not own.
func TestKEDASignalFollowsLead(t *testing.T) {
	f := newKEDAFixture(t)
	cfg, err := policy.Load(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newScaleRun(cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	loop, err := scaler.NewLoop(s.loopCfg)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.loop = loop
	s.mu.Unlock()

	stale := keda.Signal{Stale: true}
	fresh := keda.Signal{Queue: 30, QueueTarget: 5, Desired: 6, Active: true}
	steps := []struct {
		name    string
		leading bool
		round   bool
		want    keda.Signal
	}{
		{"following", false, false, stale},
		{"leading before the first round", true, false, stale},
		{"leading after a round", true, true, fresh},
		{"lead lost", false, false, stale},
	}
	for _, st := range steps {
		s.setLeading(st.leading)
		if st.round {
			loop.Round(context.Background())
		}
		got, ok := s.kedaSignal("gpu")
		if !ok || got != st.want {
			t.Errorf("%s: signal of gpu = %+v, %v; want %+v", st.name, got, ok, st.want)
		}
		for _, pool := range []string{"api", "nope"} {
			if got, ok := s.kedaSignal(pool); ok {
				t.Errorf("%s: signal of %s = %+v, want none", st.name, pool, got)
			}
		}
	}
}
