package scaler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spillway/spillway/policy"
)

// DefaultExecTimeout bounds a scale command when the config sets none.
const DefaultExecTimeout = 30 * time.Second

// maxStderr is how much of a failed command's stderr goes into the error.
const maxStderr = 1024

// Exec is the actuator that runs a command for every change. The command
// gets the change in its environment (SPILLWAY_POOL, SPILLWAY_CURRENT,
// SPILLWAY_DESIRED, SPILLWAY_VICTIMS with the victims' addresses and
// SPILLWAY_VICTIM_IDS with their IDs, both comma-separated) and as JSON on
// stdin. A zero exit status means the platform accepted the change.
type Exec struct {
	command []string
	timeout time.Duration
	logger  *slog.Logger
}

// NewExec returns an exec actuator for cfg.
func NewExec(cfg policy.ExecActuator, logger *slog.Logger) *Exec {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultExecTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Exec{command: cfg.Command, timeout: cfg.Timeout, logger: logger}
}

// Scale runs the command and waits for it, killing it at the timeout.
func (e *Exec) Scale(ctx context.Context, req Request) error {
	if len(e.command) == 0 {
		return errors.New("exec actuator: no command")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("exec actuator: encoding request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.command[0], e.command[1:]...)
	cmd.Env = append(os.Environ(), execEnv(req)...)
	cmd.Stdin = bytes.NewReader(body)
	var stderr, stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A command whose children keep its pipes open must not hold the
	// scaler past the timeout.
	cmd.WaitDelay = time.Second

	start := time.Now()
	err = cmd.Run()
	e.logger.Debug("scale command ran", "pool", req.Pool, "command", e.command[0],
		"duration", time.Since(start), "stdout", tail(stdout.String(), maxStderr))
	if err != nil {
		return e.failure(ctx, req, err, stderr.String())
	}
	return nil
}

func (e *Exec) failure(ctx context.Context, req Request, err error, stderr string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", e.timeout, err)
	}
	msg := strings.TrimSpace(tail(stderr, maxStderr))
	if msg != "" {
		return fmt.Errorf("exec actuator: pool %s: %s: %w: %s", req.Pool, e.command[0], err, msg)
	}
	return fmt.Errorf("exec actuator: pool %s: %s: %w", req.Pool, e.command[0], err)
}

func execEnv(req Request) []string {
	return []string{
		"SPILLWAY_POOL=" + req.Pool,
		"SPILLWAY_CURRENT=" + strconv.Itoa(req.Current),
		"SPILLWAY_DESIRED=" + strconv.Itoa(req.Desired),
		"SPILLWAY_VICTIMS=" + victimList(req.Victims, false),
		"SPILLWAY_VICTIM_IDS=" + victimList(req.Victims, true),
		"SPILLWAY_REASON=" + req.Reason,
	}
}

// tail keeps the last n bytes of s: a failing command's last words are the
// ones that explain it.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
