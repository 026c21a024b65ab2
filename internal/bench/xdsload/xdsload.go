// Package xdsload is the load harness's command line: `xdsload server`,
// `xdsload clients` and `xdsload run`, which starts the other two as child
// processes and reports. cmd/xdsload only hands it the process's
// arguments, streams and signals, so that tests run the same code.
package xdsload

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Main runs the command in args (without the program name) and returns
// the process's exit status: 0 on success, 1 on failure, 2 on bad usage.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "server":
		err = serverCmd(ctx, args[1:], stdin, stdout, stderr)
	case "clients":
		err = clientsCmd(ctx, args[1:], stdin, stdout, stderr)
	case "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "xdsload: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp), errors.As(err, new(usageError)):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "xdsload %s: %v\n", args[0], err)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "xdsload %s: %v\n", args[0], err)
		return 1
	}
}

const usage = `usage: xdsload <command> [flags]

commands:
  run       start servers and clients, measure, and report (the benchmark)
  server    serve the fleet over ADS with Spillway's or the stock cache
  clients   open many Envoy-like ADS streams against a server

Run "xdsload <command> -h" for the flags of a command.
`

// usageError is a bad flag value.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parse parses args into fs, reporting stray arguments as bad usage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

// newLogger logs to w at level, one of debug, info, warn or error.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("log level %q: %w", level, err)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
