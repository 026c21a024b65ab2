package app

import (
	"context"
	"log/slog"
	"net"

	"github.com/spillway/spillway/internal/demo"
)

// Demo runs `spillway demo` (see internal/demo) with Spillway's serve
// in-process, logging to opts.Log.
func Demo(ctx context.Context, opts demo.Options) (demo.Summary, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Serve = func(ctx context.Context, path string, started func(xds, admin net.Addr)) error {
		return Serve(ctx, ServeOptions{ConfigPath: path, Log: log, Started: started})
	}
	return demo.Run(ctx, opts)
}
