package xdsload

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spillway/spillway/internal/bench/driver"
	"github.com/spillway/spillway/internal/bench/loadclient"
	"github.com/spillway/spillway/internal/bench/loadserver"
)

// runCmd runs the benchmark, prints the comparison and, with --markdown,
// writes it as docs/BENCHMARKS.md. It fails when any run stopped early.
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, markdown, err := runConfig(args, stderr)
	if err != nil {
		return err
	}
	rep, err := driver.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if markdown != "" {
		if err := writeMarkdown(markdown, rep); err != nil {
			return err
		}
	}
	var failed []string
	for _, res := range rep.Results {
		if res.Err != "" {
			failed = append(failed, res.Mode+" "+res.Impl)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("runs stopped early: %s", strings.Join(failed, ", "))
	}
	return nil
}

// runConfig parses the flags of `xdsload run`.
func runConfig(args []string, stderr io.Writer) (driver.Config, string, error) {
	fs := flag.NewFlagSet("xdsload run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := driver.Config{Stderr: stderr, Progress: stderr,
		Command: "xdsload run " + strings.Join(args, " ")}
	impl, mode, markdown := runFlags(fs, &cfg)
	spec := fleetFlags(fs)
	if err := parse(fs, args); err != nil {
		return cfg, "", err
	}
	cfg.Fleet = *spec
	cfg.Impls = expand(*impl, loadserver.ImplSpillway, loadserver.ImplStock)
	cfg.Modes = expand(*mode, loadclient.ModeSotW, loadclient.ModeDelta)
	launch, err := driver.SelfLauncher()
	if err != nil {
		return cfg, "", err
	}
	cfg.Launch = launch
	if err := cfg.WithDefaults().Validate(); err != nil {
		return cfg, "", usageError{err}
	}
	if cfg.CPUProfileDir != "" {
		if err := os.MkdirAll(cfg.CPUProfileDir, 0o755); err != nil {
			return cfg, "", fmt.Errorf("creating profile directory: %w", err)
		}
	}
	return cfg, *markdown, nil
}

// runFlags defines the flags of `xdsload run` but those of the fleet.
func runFlags(fs *flag.FlagSet, cfg *driver.Config) (impl, mode, markdown *string) {
	impl = fs.String("impl", "both", "spillway, stock or both")
	mode = fs.String("mode", "both", "sotw, delta or both")
	fs.IntVar(&cfg.Streams, "n", 1000, "ADS streams, each its own node")
	fs.IntVar(&cfg.StreamsPerConn, "per-conn", 100,
		"streams per gRPC connection (1: a connection per stream)")
	fs.IntVar(&cfg.Changes, "changes", 50, "changes applied one at a time")
	fs.Float64Var(&cfg.Rate, "rate", driver.TargetSustainedRate,
		"changes per second in the sustained phase")
	fs.DurationVar(&cfg.Duration, "duration", driver.TargetSustainedTime,
		"length of the sustained phase (0 skips it)")
	fs.DurationVar(&cfg.SyncTimeout, "sync-timeout", 0, "bound on the connect storm (0: 2m)")
	fs.DurationVar(&cfg.ChangeTimeout, "change-timeout", 0, "bound on each change's ACKs (0: 1m)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 0,
		"bound on the sustained phase's last ACKs (0: 1m)")
	fs.StringVar(&cfg.CPUProfileDir, "cpuprofile", "",
		"write the servers' CPU profiles, per impl, mode and phase, into `DIR`")
	markdown = fs.String("markdown", "", "also write the report as Markdown to `FILE`")
	return impl, mode, markdown
}

// expand turns "both" into both values and anything else into itself,
// which Validate then checks.
func expand(v, a, b string) []string {
	if v == "both" {
		return []string{a, b}
	}
	return []string{v}
}

func writeMarkdown(path string, rep *driver.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	err = rep.WriteMarkdown(f)
	return errors.Join(err, f.Close())
}
