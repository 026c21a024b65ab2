package demo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The Envoy part of the demo runs only where an envoy binary is on PATH.
// It has not been run where this package was written, which has no Envoy:
// it is kept small, and a failure to start Envoy only leaves it out.

// envoyBootstrap is the bootstrap the demo copies, relative to the
// repository root, and the two ports it rewrites in the copy.
const (
	envoyBootstrap = "envoy-configs/demo.yaml"
	bootstrapADS   = "port_value: 18000"
	bootstrapAdmin = "port_value: 9901"
)

// envoyPlan is whether the demo runs Envoy, and on which ports.
type envoyPlan struct {
	bin          string // empty: no Envoy, for why
	why          string
	listenerPort int
	adminPort    int
}

// planEnvoy looks for envoy and the bootstrap, and picks free ports.
func planEnvoy() envoyPlan {
	bin, err := exec.LookPath("envoy")
	if err != nil {
		return envoyPlan{why: "not on PATH: all traffic goes through the proxyless client"}
	}
	if _, err := os.Stat(envoyBootstrap); err != nil {
		return envoyPlan{why: "found, but " + envoyBootstrap + " is not under the working " +
			"directory; run the demo from the repository root to include Envoy"}
	}
	listener, err1 := freePort()
	admin, err2 := freePort()
	if err := errors.Join(err1, err2); err != nil {
		return envoyPlan{why: "found, but no free port for it: " + err.Error()}
	}
	return envoyPlan{bin: bin, listenerPort: listener, adminPort: admin}
}

// adminAddr is the Envoy admin address the config's scaler section names:
// the demo's Envoy, or the one envoy-configs/demo.yaml sets up.
func (p envoyPlan) adminAddr() string {
	if p.bin == "" {
		return "127.0.0.1:9901"
	}
	return "127.0.0.1:" + strconv.Itoa(p.adminPort)
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before Envoy binds it; the demo then runs without Envoy's path.
func freePort() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port, nil
}

// pointBootstrap points the demo bootstrap's text at the ADS server on
// adsPort and moves its admin server to adminPort.
func pointBootstrap(text string, adsPort, adminPort int) (string, error) {
	for _, s := range []string{bootstrapADS, bootstrapAdmin} {
		if strings.Count(text, s) != 1 {
			return "", fmt.Errorf("%s: want %q exactly once, to set its port", envoyBootstrap, s)
		}
	}
	text = strings.Replace(text, bootstrapADS, "port_value: "+strconv.Itoa(adsPort), 1)
	return strings.Replace(text, bootstrapAdmin, "port_value: "+strconv.Itoa(adminPort), 1), nil
}

// envoyProc is a running Envoy.
type envoyProc struct {
	cmd  *exec.Cmd
	done chan error
}

// startEnvoy writes a copy of the demo bootstrap pointed at the ADS server
// on adsPort and the plan's admin port into dir, and starts Envoy on it,
// its output going to dir/envoy.log.
func startEnvoy(p envoyPlan, dir string, adsPort int) (*envoyProc, error) {
	data, err := os.ReadFile(envoyBootstrap)
	if err != nil {
		return nil, fmt.Errorf("reading the envoy bootstrap: %w", err)
	}
	text, err := pointBootstrap(string(data), adsPort, p.adminPort)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("writing the envoy bootstrap: %w", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "envoy.log"))
	if err != nil {
		return nil, fmt.Errorf("creating the envoy log: %w", err)
	}
	cmd := exec.Command(p.bin, "-c", path, "--use-dynamic-base-id", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting envoy: %w", err)
	}
	e := &envoyProc{cmd: cmd, done: make(chan error, 1)}
	go func() {
		e.done <- cmd.Wait()
		logFile.Close()
	}()
	return e, nil
}

// stop asks Envoy to exit, and kills it after timeout.
func (e *envoyProc) stop(timeout time.Duration) {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(timeout):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}
