// Command spillway is the Spillway control plane: an xDS server for
// inference fleets behind Envoy, and its companion scaler.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spillway/spillway/internal/app"
	"github.com/spillway/spillway/internal/demo"
	"github.com/spillway/spillway/internal/version"
)

const usage = `usage: spillway <command> [flags]

commands:
  serve     run the xDS (ADS) server and the admin server
  scale     run the scaler of the config's scaler section
  simulate  replay a trace through a pool's scaler policy and baselines
  demo      run a whole fleet in one process: Spillway, model servers, scaler, traffic
  check     validate a config file
  render    print the resources a config produces, as JSON
  version   print the version

Run 'spillway <command> -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "scale":
		return scale(args, stderr)
	case "simulate":
		return simulate(args, stdout, stderr)
	case "demo":
		return runDemo(args, stdout, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "render":
		return render(args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "spillway", version.String())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "spillway: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// commonFlags are the flags every command takes.
type commonFlags struct {
	config    string
	logLevel  string
	logFormat string
}

func newFlagSet(name string, stderr io.Writer, c *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("spillway "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "", "config file (YAML)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	return fs
}

func parse(fs *flag.FlagSet, args []string, c *commonFlags) (*slog.Logger, int, bool) {
	if err := fs.Parse(args); err != nil {
		return nil, 2, false
	}
	if c.config == "" {
		fmt.Fprintf(fs.Output(), "%s: --config is required\n", fs.Name())
		return nil, 2, false
	}
	log, err := newLogger(fs.Output(), c.logLevel, c.logFormat)
	if err != nil {
		fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
		return nil, 2, false
	}
	return log, 0, true
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
}

func serve(args []string, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("serve", stderr, &c)
	log, code, ok := parse(fs, args, &c)
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{})
	go func() {
		for range hup {
			reload <- struct{}{}
		}
	}()
	err := app.Serve(ctx, app.ServeOptions{ConfigPath: c.config, Log: log, Reload: reload})
	return exitCode(err, stderr)
}

func scale(args []string, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("scale", stderr, &c)
	log, code, ok := parse(fs, args, &c)
	if !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return exitCode(app.Scale(ctx, app.ScaleOptions{ConfigPath: c.config, Log: log}), stderr)
}

func simulate(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	var o app.SimulateOptions
	fs := newFlagSet("simulate", stderr, &c)
	fs.StringVar(&o.Pool, "pool", "", "the pool whose scaler policy runs (required)")
	fs.StringVar(&o.Trace, "trace", "", "the trace file (required)")
	fs.StringVar(&o.Timeline, "timeline", "", "write every run's pool every 5s to this CSV file")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of a rate trace's requests (default 1)")
	fs.IntVar(&o.WarmPool, "warm-pool", 0, "pre-initialised instances that start in 15s")
	fs.DurationVar(&o.ColdStart, "cold-start", 0,
		"time from asking for an instance to ready (default 1m30s)")
	fs.IntVar(&o.Slots, "slots", 0, "requests one instance serves at once (default 8)")
	if _, code, ok := parse(fs, args, &c); !ok {
		return code
	}
	for _, f := range []struct{ name, value string }{{"pool", o.Pool}, {"trace", o.Trace}} {
		if f.value == "" {
			fmt.Fprintf(stderr, "%s: --%s is required\n", fs.Name(), f.name)
			return 2
		}
	}
	o.ConfigPath = c.config
	return exitCode(app.Simulate(o, stdout), stderr)
}

func check(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("check", stderr, &c)
	if _, code, ok := parse(fs, args, &c); !ok {
		return code
	}
	return app.Check(c.config, stdout, stderr)
}

func render(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("render", stderr, &c)
	log, code, ok := parse(fs, args, &c)
	if !ok {
		return code
	}
	return exitCode(app.Render(context.Background(), c.config, log, stdout), stderr)
}

// runDemo runs `spillway demo`, which needs no config: its logs go to
// stderr (warn and above by default, so that the status table stays
// readable) and its table and summary to stdout.
func runDemo(args []string, stdout, stderr io.Writer) int {
	var o demo.Options
	var logLevel, logFormat string
	fs := flag.NewFlagSet("spillway demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", 0,
		"stop after this long; 0 runs until Ctrl-C, the phases repeating")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the requests' arrival times")
	fs.BoolVar(&o.Quiet, "quiet", false, "print no status table, only the summary")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: spillway demo [flags]\n\n"+
			"Runs Spillway, example model servers, the scaler's decide step and a proxyless\n"+
			"gRPC client in one process, with nothing else installed. Ctrl-C stops it.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || o.Duration < 0 {
		fmt.Fprintf(stderr, "%s: want only flags and a --duration of at least 0s\n", fs.Name())
		return 2
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Out, o.Log = stdout, log
	_, err = app.Demo(ctx, o)
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return 0
	}
	fmt.Fprintln(stderr, err)
	return 1
}
