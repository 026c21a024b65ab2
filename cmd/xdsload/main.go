// Command xdsload is Spillway's xDS load harness. `xdsload run` measures
// Spillway's ADS server against go-control-plane's stock one with many
// Envoy-like streams, starting its own `xdsload server` and `xdsload
// clients` processes; see docs/BENCHMARKS.md for what it measures.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spillway/spillway/internal/bench/xdsload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := xdsload.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
