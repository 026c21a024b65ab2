package consultest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// findOnce caches the binary lookup for the whole test process: running
// scripts/consul.sh may build Consul, which must happen at most once.
var findOnce = sync.OnceValues(findBinary)

// found is the outcome of the lookup: the path, and a note for the test
// log when $SPILLWAY_CONSUL_BIN was set but unusable.
type found struct {
	path string
	note string
}

// binary returns the path of the Consul binary, or ends the test: skipped
// when there is none, failed when there is none and CI is set.
func binary(t testing.TB) string {
	t.Helper()
	f, err := findOnce()
	if err == nil {
		if f.note != "" {
			t.Log(f.note)
		}
		return f.path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no consul binary (CI is set, so this fails rather than skips): %v", err)
	}
	t.Skipf("no consul binary: %v", err)
	return ""
}

// findBinary returns $SPILLWAY_CONSUL_BIN if it names a file, else the
// path that scripts/consul.sh prints.
func findBinary() (found, error) {
	var envErr error
	if bin := os.Getenv(BinEnv); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return found{path: bin}, nil
		}
		envErr = fmt.Errorf("%s=%s is not usable", BinEnv, bin)
	}
	bin, err := fromScript()
	switch {
	case err != nil:
		return found{}, errors.Join(envErr, err)
	case envErr != nil:
		return found{path: bin, note: fmt.Sprintf("%v; using %s", envErr, bin)}, nil
	default:
		return found{path: bin}, nil
	}
}

func fromScript() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return runScript(filepath.Join(root, "scripts", "consul.sh"))
}

// repoRoot walks up from the working directory to the directory holding
// go.mod; go test runs each package in its own directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// runScript runs the install script and returns the last line it prints.
func runScript(script string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("running %s: %w: %s", script, err, tail(stderr.String(), 2000))
	}
	out := strings.TrimSpace(stdout.String())
	bin := out[strings.LastIndexByte(out, '\n')+1:]
	if bin == "" {
		return "", fmt.Errorf("running %s: it printed no path", script)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("running %s: %w", script, err)
	}
	return bin, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Binary returns the path of the Consul binary the agents run, for tests
// that use Consul's own CLI. Like Start, it skips the test when there is
// no binary, and fails it instead when CI is set.
func Binary(t testing.TB) string {
	t.Helper()
	return binary(t)
}
