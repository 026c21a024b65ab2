package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds"
)

// backend is a real gRPC server on loopback that counts the RPCs it serves.
type backend struct {
	testgrpc.UnimplementedTestServiceServer
	port  int
	calls atomic.Int64
}

func (b *backend) EmptyCall(context.Context, *testgrpc.Empty) (*testgrpc.Empty, error) {
	b.calls.Add(1)
	return &testgrpc.Empty{}, nil
}

func startBackends(t *testing.T, n int) []*backend {
	t.Helper()
	out := make([]*backend, n)
	for i := range out {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		b := &backend{port: lis.Addr().(*net.TCPAddr).Port}
		s := grpc.NewServer()
		testgrpc.RegisterTestServiceServer(s, b)
		go func() { _ = s.Serve(lis) }()
		t.Cleanup(s.Stop)
		out[i] = b
	}
	return out
}

// writeAtomic replaces path the way careful tools do: write, then rename.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startServe runs Serve in-process on kernel-chosen ports and returns the
// ADS and admin addresses. It stops Serve at cleanup and fails the test if
// Serve did not return cleanly.
func startServe(t *testing.T, configPath string) (xdsAddr, adminAddr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type addrs struct{ xds, admin net.Addr }
	started := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{
			ConfigPath: configPath,
			Log:        testLogger(t),
			Started:    func(x, a net.Addr) { started <- addrs{x, a} },
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	select {
	case a := <-started:
		return a.xds.String(), a.admin.String()
	case err := <-done:
		t.Fatalf("serve failed to start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start within 10s")
	}
	return "", ""
}

// dialXDS dials xds:///<pool> with grpc-go's own xDS client, bootstrapped
// to the Spillway ADS server at xdsAddr.
func dialXDS(t *testing.T, xdsAddr, pool string) *grpc.ClientConn {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}],
		                 "server_features": ["xds_v3"]}],
		"node": {"id": "proxyless-test", "cluster": "tests"}
	}`, xdsAddr)
	rb, err := xds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///"+pool, grpc.WithResolvers(rb),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

const grpcTestConfig = `
discovery: {file: {path: catalog.yaml}}
xds: {listen: 127.0.0.1:0, batch: {quiet: 20ms, max_delay: 200ms}}
admin: {listen: 127.0.0.1:0}
pools:
  infer:
    service: infer
    protocol: grpc
  hashed:
    service: hashed
    protocol: grpc
    balancing: {policy: ring_hash}
    weights: {meta_key: gpu, values: {a100: 3, t4: 1}}
`

// catalogYAML lists the backends: infer[i] with the given health, and the
// two hashed backends as an a100 and a t4.
func catalogYAML(infer []*backend, health []string, hashed []*backend) string {
	var b strings.Builder
	b.WriteString("services:\n  infer:\n")
	for i, be := range infer {
		fmt.Fprintf(&b, "    - {id: infer-%d, address: 127.0.0.1, port: %d, health: %s}\n",
			i, be.port, health[i])
	}
	b.WriteString("  hashed:\n")
	for i, gpu := range []string{"a100", "t4"} {
		fmt.Fprintf(&b, "    - {id: hashed-%d, address: 127.0.0.1, port: %d, meta: {gpu: %s}}\n",
			i, hashed[i].port, gpu)
	}
	return b.String()
}

func call(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := testgrpc.NewTestServiceClient(cc).EmptyCall(ctx, &testgrpc.Empty{})
	return err
}

// waitServing sends RPCs until one succeeds: the client has received
// listener, route, cluster and endpoints and connected.
func waitServing(t *testing.T, cc *grpc.ClientConn) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := call(ctx, cc)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful RPC through xds within 20s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func resetCalls(bs ...*backend) {
	for _, b := range bs {
		b.calls.Store(0)
	}
}

func TestProxylessGRPC(t *testing.T) {
	infer := startBackends(t, 3)
	hashed := startBackends(t, 2)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "spillway.yaml")
	catPath := filepath.Join(dir, "catalog.yaml")
	writeAtomic(t, catPath, catalogYAML(infer, []string{"passing", "passing", "critical"}, hashed))
	writeAtomic(t, cfgPath, grpcTestConfig)
	xdsAddr, _ := startServe(t, cfgPath)

	inferCC := dialXDS(t, xdsAddr, "infer")
	waitServing(t, inferCC)

	t.Run("critical instance gets no RPCs", func(t *testing.T) {
		resetCalls(infer...)
		for range 300 {
			if err := call(context.Background(), inferCC); err != nil {
				t.Fatal(err)
			}
		}
		if got := infer[2].calls.Load(); got != 0 {
			t.Errorf("critical instance served %d RPCs, want 0", got)
		}
		for i := range 2 {
			if infer[i].calls.Load() == 0 {
				t.Errorf("healthy instance %d served no RPCs", i)
			}
		}
	})

	t.Run("ring_hash share follows weights 3:1", func(t *testing.T) {
		cc := dialXDS(t, xdsAddr, "hashed")
		waitServing(t, cc)
		resetCalls(hashed...)
		const n = 2000
		for range n {
			if err := call(context.Background(), cc); err != nil {
				t.Fatal(err)
			}
		}
		// Each RPC hashes randomly onto a ring whose points follow the
		// weights, so the a100 share is 0.75 with a binomial spread of
		// about 0.01 at n=2000 plus the ring's own granularity.
		share := float64(hashed[0].calls.Load()) / n
		if share < 0.68 || share > 0.82 {
			t.Errorf("a100 share = %.3f, want 0.75 ± 0.07 (a100 %d, t4 %d)",
				share, hashed[0].calls.Load(), hashed[1].calls.Load())
		}
	})

	t.Run("maintenance stops new RPCs within 2s", func(t *testing.T) {
		writeAtomic(t, catPath, catalogYAML(infer, []string{"maintenance", "passing", "critical"}, hashed))
		changed := time.Now()
		var last time.Time
		for time.Since(changed) < 4*time.Second {
			before := infer[0].calls.Load()
			if err := call(context.Background(), inferCC); err != nil {
				t.Fatal(err)
			}
			if infer[0].calls.Load() != before {
				last = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		if lag := last.Sub(changed); lag > 2*time.Second {
			t.Errorf("draining instance still got RPCs %v after the change, want < 2s", lag)
		}
		if infer[1].calls.Load() == 0 {
			t.Error("the remaining healthy instance served nothing")
		}
	})
}
