package driver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Roles are the child commands the driver starts.
const (
	RoleServer  = "server"
	RoleClients = "clients"
)

// exitTimeout bounds how long a child may take to exit once told to.
const exitTimeout = 15 * time.Second

// Launcher returns the command that runs one role of the harness with
// args, such as `xdsload server --impl stock ...`.
type Launcher func(ctx context.Context, role string, args ...string) *exec.Cmd

// SelfLauncher runs roles by starting the running executable again.
func SelfLauncher() (Launcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding own executable: %w", err)
	}
	return func(ctx context.Context, role string, args ...string) *exec.Cmd {
		return exec.CommandContext(ctx, exe, append([]string{role}, args...)...)
	}, nil
}

// child is a started role with its stdin and stdout.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
}

// startChild starts cmd with pipes to its stdin and stdout and its stderr
// sent to stderr. The child dies with the driver.
func startChild(name string, cmd *exec.Cmd, stderr io.Writer) (*child, error) {
	cmd.Stderr = stderr
	setParentDeathSignal(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin,
		stdout: bufio.NewReaderSize(stdout, 1<<16), done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop closes the child's stdin, which tells it to exit, and kills it if
// it has not within exitTimeout.
func (c *child) stop() error {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(exitTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not exit within %v; killed", c.name, exitTimeout)
	}
	var exit *exec.ExitError
	if errors.As(c.err, &exit) {
		return fmt.Errorf("%s: %w", c.name, c.err)
	}
	return nil
}
