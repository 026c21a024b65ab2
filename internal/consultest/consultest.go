// Package consultest runs a real Consul agent in development mode for tests.
// Each agent listens on free loopback ports, keeps its data and log in the
// test's temporary directory and is stopped when the test ends.
package consultest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-cleanhttp"
)

// BinEnv names the environment variable that points at a Consul binary.
// When it is unset, the binary comes from scripts/consul.sh.
const BinEnv = "SPILLWAY_CONSUL_BIN"

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	logTailLines = 60
)

// Agent is one running (or stopped) Consul development agent.
type Agent struct {
	bin     string
	dir     string
	logPath string
	ports   ports
	client  *api.Client
	tr      *http.Transport

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

// ports are the agent's listening ports. DNS, HTTPS and gRPC are disabled:
// the tests need only the HTTP API, and fewer ports mean fewer collisions.
type ports struct {
	http, serfLAN, serfWAN, server int
}

// Start runs a Consul agent with -dev and waits until it has elected itself
// leader and registered its node. The agent is stopped when the test ends,
// and the tail of its log is written to the test log if the test failed.
// Without a Consul binary the test is skipped, unless the environment
// variable CI is set, in which case it fails.
func Start(t testing.TB) *Agent {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	a := &Agent{
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, "consul.log"),
		ports:   freePorts(t),
		tr:      cleanhttp.DefaultPooledTransport(),
	}
	client, err := api.NewClient(&api.Config{Address: a.Addr(), Transport: a.tr})
	if err != nil {
		t.Fatalf("creating consul client: %v", err)
	}
	a.client = client
	t.Cleanup(func() {
		a.Stop()
		a.tr.CloseIdleConnections()
		if t.Failed() {
			a.dumpLog(t)
		}
	})
	a.start(t)
	return a
}

// Addr returns host:port of the agent's HTTP API.
func (a *Agent) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.http))
}

// Client returns a client of the agent's HTTP API. It stays valid across
// Stop and Restart, since the address does not change.
func (a *Agent) Client() *api.Client {
	return a.client
}

// NodeName returns the name the agent registers its node under.
func (a *Agent) NodeName() string {
	return "spillway-test"
}

// Stop ends the agent: SIGTERM, then SIGKILL if it has not exited in time.
// Stopping a stopped agent does nothing.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(stopTimeout):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.cmd = nil
	a.tr.CloseIdleConnections()
}

// Restart stops the agent if it runs and starts it again on the same ports.
// Each start gets a fresh data directory: an agent persists the services
// registered with it in its data directory even in -dev mode, and a
// restarted test agent must start as empty as a new one, so everything
// registered before is gone and must be registered again.
func (a *Agent) Restart(t testing.TB) {
	t.Helper()
	a.Stop()
	a.start(t)
}

// start launches the process and waits until it is ready.
func (a *Agent) start(t testing.TB) {
	t.Helper()
	logFile, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("opening consul log: %v", err)
	}
	defer logFile.Close()
	a.starts++
	args := a.args(filepath.Join(a.dir, fmt.Sprintf("data-%d", a.starts)))
	fmt.Fprintf(logFile, "==> consultest: starting %s %s\n", a.bin, strings.Join(args, " "))
	cmd := exec.Command(a.bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting consul agent: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	a.mu.Lock()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()

	if err := a.waitReady(done); err != nil {
		a.Stop()
		a.dumpLog(t)
		t.Fatalf("consul agent on %s not ready: %v", a.Addr(), err)
	}
}

func (a *Agent) args(dataDir string) []string {
	p := a.ports
	return []string{
		"agent", "-dev",
		"-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", a.NodeName(),
		"-data-dir", dataDir,
		"-http-port", strconv.Itoa(p.http),
		"-serf-lan-port", strconv.Itoa(p.serfLAN),
		"-serf-wan-port", strconv.Itoa(p.serfWAN),
		"-server-port", strconv.Itoa(p.server),
		"-dns-port=-1", "-https-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
	}
}

// waitReady polls until the agent has a leader and its node is in the
// catalog, or fails when the process exits or the time is up.
func (a *Agent) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := errors.New("no answer yet")
	for {
		select {
		case <-exited:
			return errors.New("agent process exited")
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v: %w", readyTimeout, last)
		case <-tick.C:
		}
		if last = a.ready(ctx); last == nil {
			return nil
		}
	}
}

func (a *Agent) ready(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	leader, err := a.client.Status().LeaderWithQueryOptions(q)
	if err != nil {
		return fmt.Errorf("reading leader: %w", err)
	}
	if leader == "" {
		return errors.New("no leader elected")
	}
	node, _, err := a.client.Catalog().Node(a.NodeName(), q)
	if err != nil {
		return fmt.Errorf("reading node %s: %w", a.NodeName(), err)
	}
	if node == nil || node.Node == nil {
		return fmt.Errorf("node %s not registered", a.NodeName())
	}
	return nil
}

// dumpLog writes the last lines of the agent's log to the test log.
func (a *Agent) dumpLog(t testing.TB) {
	data, err := os.ReadFile(a.logPath)
	if err != nil {
		t.Logf("reading consul log: %v", err)
		return
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	t.Logf("last %d lines of %s:\n%s", len(lines), a.logPath, bytes.Join(lines, []byte("\n")))
}
